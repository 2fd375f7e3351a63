"""Held-out regions for genomes with one or few chromosomes (a bacterium has one): splits
are regions of chromosomes, not whole chromosomes (``jaxssl.prep.splits``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SPLITS = ("train", "valid", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class RegionSplits:
    """Disjoint valid/test regions; train is the rest of every chromosome.

    ``regions[split]`` is a sorted, merged list of 0-based half-open (chrom, start, end). A
    window belongs to a split when it lies wholly inside that split's regions; a window that
    touches two splits straddles a boundary and belongs to none (callers drop and count it).
    """

    lengths: dict[str, int]
    regions: dict[str, list[tuple[str, int, int]]]

    @classmethod
    def from_regions(
        cls,
        lengths: dict[str, int],
        valid: Sequence[tuple[str, int, int]],
        test: Sequence[tuple[str, int, int]],
        *,
        valid_flag: str = "--valid-regions",
        test_flag: str = "--test-regions",
    ) -> RegionSplits:
        """Valid and test regions as given; refuses unknown chromosomes and any overlap."""
        held = {"valid": _merge(valid), "test": _merge(test)}
        for split, flag in (("valid", valid_flag), ("test", test_flag)):
            for chrom, start, end in held[split]:
                if chrom not in lengths:
                    raise ValueError(
                        f"{flag}: chromosome {chrom!r} is not in the FASTA (it has e.g. "
                        f"{list(lengths)[:5]})"
                    )
                if end > lengths[chrom]:
                    raise ValueError(
                        f"{flag}: {chrom}:{start + 1}-{end} ends beyond {chrom} "
                        f"({lengths[chrom]} bp)"
                    )
        for chrom, start, end in held["valid"]:
            for c2, s2, e2 in held["test"]:
                if c2 == chrom and s2 < end and start < e2:
                    lo, hi = max(start, s2), min(end, e2)
                    raise ValueError(
                        f"{valid_flag} and {test_flag} overlap on {chrom}:{lo + 1}-{hi} "
                        f"({hi - lo} bp): a window there would be both validation and test "
                        "data; give disjoint regions"
                    )
        train = []
        for chrom, length in lengths.items():
            cuts = sorted((s, e) for split in held.values() for c, s, e in split if c == chrom)
            pos = 0
            for s, e in cuts:
                if s > pos:
                    train.append((chrom, pos, s))
                pos = max(pos, e)
            if pos < length:
                train.append((chrom, pos, length))
        return cls(dict(lengths), {"train": train, **held})

    @classmethod
    def from_fractions(
        cls, lengths: dict[str, int], fractions: Sequence[float] = DEFAULT_FRACTIONS
    ) -> RegionSplits:
        """Every chromosome cut into three consecutive blocks: train first, then valid, then
        test (fractions of its length; e.g. 0.7,0.1,0.2 tests on the last 20 %)."""
        fractions = tuple(float(f) for f in fractions)
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
            raise ValueError(
                f"--split-fractions {','.join(map(str, fractions))}: expected three "
                "non-negative fractions TRAIN,VALID,TEST summing to 1, e.g. 0.8,0.1,0.1"
            )
        valid, test = [], []
        for chrom, length in lengths.items():
            a = int(round(length * fractions[0]))
            b = int(round(length * (fractions[0] + fractions[1])))
            if b > a:
                valid.append((chrom, a, b))
            if length > b:
                test.append((chrom, b, length))
        return cls.from_regions(lengths, valid, test)

    @classmethod
    def all_test(cls, lengths: dict[str, int]) -> RegionSplits:
        """Every base is test data (an evaluation-only set, e.g. another genome's own sites)."""
        return cls.from_regions(lengths, [], [(c, 0, n) for c, n in lengths.items()])

    def assign(self, chrom: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """object[N]: the split wholly holding each window [start, end), or "" if it straddles
        a boundary between splits (or runs past the chromosome)."""
        starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
        out = np.full(len(starts), "", object)
        for split in SPLITS:
            spans = [(s, e) for c, s, e in self.regions[split] if c == chrom]
            if not spans:
                continue
            s_arr = np.asarray([s for s, _ in spans], np.int64)
            e_arr = np.asarray([e for _, e in spans], np.int64)
            k = np.searchsorted(s_arr, starts, side="right") - 1
            ok = k >= 0
            inside = np.zeros(len(starts), bool)
            inside[ok] = e_arr[k[ok]] >= ends[ok]
            out[inside] = split
        return out

    def metadata(self) -> dict[str, list[list]]:
        """Plain JSON: {split: [[chrom, start, end], ...]} (0-based, half-open)."""
        return {
            split: [[c, int(s), int(e)] for c, s, e in regs] for split, regs in self.regions.items()
        }


def _merge(regions: Sequence[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Sorted regions with overlapping or touching ones of a chromosome joined."""
    out: list[tuple[str, int, int]] = []
    for chrom, start, end in sorted((str(c), int(s), int(e)) for c, s, e in regions):
        if out and out[-1][0] == chrom and start <= out[-1][2]:
            out[-1] = (chrom, out[-1][1], max(out[-1][2], end))
        else:
            out.append((chrom, start, end))
    return out
