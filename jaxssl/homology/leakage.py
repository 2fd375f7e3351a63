"""Leakage guard: no pseudo-labeled window may be homologous to the reference's held-out data.

A model pre-trained on a relative's copy of a test window has seen that window's sequence (and
label) in all but name, so evaluation on the reference's held-out chromosomes would be
optimistic. Two doors are closed, and each is counted:

1. source side: reference windows that lie on a held-out chromosome or overlap a held-out
   (valid/test) window are never carried;
2. target side: every target window is mapped back to the reference (through the swapped
   chains, or by aligning it with minimap2), and dropped when any hit covering at least
   ``min_match`` of it lands in a held-out region. This catches duplications, translocations
   and windows that straddle a breakpoint next to held-out sequence.

`LeakageGuard` is the one test every door uses (homology sets, ``data_prep windows``, the toy
world's unlabeled pools): a window is dropped when it lies in a held-out region of its own
genome (``held_out_region``) or maps back into one of the reference's (``held_out_ortholog``),
and both counts go into the written set's manifest (``metadata.leakage``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jaxssl.data.manifest import load_manifest
from jaxssl.data.reader import load_split
from jaxssl.genome.intervals import IntervalIndex, Intervals, read_intervals
from jaxssl.homology.chain import Chain, ChainIndex, swap_chain
from jaxssl.homology.mapping import minimap_hits, tokens_to_strings

WHOLE_CHROM = np.iinfo(np.int64).max // 4


@dataclass
class HeldOut:
    """Reference regions no pseudo-label may come from: held-out chromosomes and windows."""

    chroms: list[str]  # whole chromosomes held out (manifest metadata split_chroms)
    windows: int  # held-out windows (valid/test splits) that are not on those chromosomes
    _index: IntervalIndex
    _regions: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # those windows' spans

    @classmethod
    def build(
        cls, chroms: list[str], w_chrom: np.ndarray, w_start: np.ndarray, w_end: np.ndarray
    ) -> HeldOut:
        w_chrom = np.asarray(w_chrom, object)
        extra = ~np.isin(w_chrom, chroms)
        all_chrom = np.concatenate([np.asarray(chroms, object), w_chrom[extra]])
        all_start = np.concatenate([np.zeros(len(chroms), np.int64), np.asarray(w_start)[extra]])
        all_end = np.concatenate([np.full(len(chroms), WHOLE_CHROM), np.asarray(w_end)[extra]])
        intervals = Intervals(
            Path("<held-out regions>"),
            all_chrom,
            all_start.astype(np.int64),
            all_end.astype(np.int64),
            all_start.astype(np.int64),
            np.zeros(len(all_start), np.int64),
        )
        regions = (w_chrom[extra], np.asarray(w_start)[extra], np.asarray(w_end)[extra])
        return cls(sorted(set(chroms)), int(extra.sum()), IntervalIndex(intervals), regions)

    def union(self, other: HeldOut) -> HeldOut:
        """Regions held out by either (e.g. a labeled set's held-out data and --exclude-regions)."""
        a = self._regions or (np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0, np.int64))
        b = other._regions or (np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0, np.int64))
        return HeldOut.build(
            [*self.chroms, *other.chroms],
            *(np.concatenate([x, y]) for x, y in zip(a, b, strict=True)),
        )

    def spans(self, lengths: dict[str, int]) -> list[tuple[str, int, int]]:
        """Every held-out region as (chrom, start, end), whole chromosomes as (chrom, 0, length)."""
        out = [(c, 0, int(lengths[c])) for c in self.chroms if c in lengths]
        if self._regions is not None:
            out += [(str(c), int(s), int(e)) for c, s, e in zip(*self._regions, strict=True)]
        return out

    def named_chroms(self) -> set[str]:
        """Every chromosome a held-out chromosome or region names."""
        return set(self.chroms) | ({str(c) for c in self._regions[0]} if self._regions else set())

    @classmethod
    def none(cls) -> HeldOut:
        """Nothing held out (a set with a train split only)."""
        return cls.build([], np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0, np.int64))

    @property
    def empty(self) -> bool:
        return not self.chroms and self.windows == 0

    def overlaps(self, chroms: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """bool[N]: does [start, end) on chrom touch a held-out region?"""
        chroms = np.asarray(chroms, object)
        starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
        out = np.zeros(len(starts), bool)
        for name in np.unique(chroms.astype(str)) if len(chroms) else []:
            sel = chroms == name
            out[sel] = self._index.overlaps(str(name), starts[sel], ends[sel])
        return out


def held_out_of(labeled: dict, seq_len: int, source_split: str) -> HeldOut:
    """Held-out regions of a labeled shard set: every split but the source split.

    `labeled` = {"metadata": manifest metadata, "splits": {name: load_split(...) columns}}.
    Held out are the other splits' whole chromosomes (metadata ``split_chroms``), their
    regions (metadata ``split_regions`` of region-split sets, e.g. from-sites: the whole
    region, not only the windows cut from it) and their windows. Windows without provenance
    (no chromosome) cannot be guarded and are an error.
    """
    split_chroms = labeled["metadata"].get("split_chroms", {})
    chroms = sorted({c for split, cs in split_chroms.items() if split != source_split for c in cs})
    w_chrom, w_start, w_end = [], [], []
    for split, regions in labeled["metadata"].get("split_regions", {}).items():
        if split != source_split and regions:
            w_chrom.append(np.asarray([r[0] for r in regions], object))
            w_start.append(np.asarray([r[1] for r in regions], np.int64))
            w_end.append(np.asarray([r[2] for r in regions], np.int64))
    for split, cols in labeled["splits"].items():
        if split == source_split:
            continue
        if len(cols["chrom"]) and (cols["chrom"] == "").any():
            raise ValueError(
                f"split {split!r} has windows without a chromosome (no provenance), so homologs "
                "of held-out data cannot be excluded; make the labeled set with from-peaks"
            )
        w_chrom.append(cols["chrom"])
        w_start.append(cols["start"])
        w_end.append(np.asarray(cols["start"], np.int64) + seq_len)
    w_chrom_a = np.concatenate(w_chrom).astype(object) if w_chrom else np.zeros(0, object)
    w_start_a = np.concatenate(w_start).astype(np.int64) if w_start else np.zeros(0, np.int64)
    w_end_a = np.concatenate(w_end).astype(np.int64) if w_end else np.zeros(0, np.int64)
    return HeldOut.build(chroms, w_chrom_a, w_start_a, w_end_a)


def chain_backmap_leaks(
    swapped: ChainIndex,
    held_out: HeldOut,
    chroms: np.ndarray,
    starts: np.ndarray,
    seq_len: int,
    *,
    min_match: float = 0.1,
) -> np.ndarray:
    """bool[N]: target windows that some (swapped) chain maps back into a held-out region."""
    n = len(starts)
    if n == 0:
        return np.zeros(0, bool)
    starts = np.asarray(starts, np.int64)
    # Windows may hang over a chromosome end (read as N there); lift the part inside.
    lo = np.maximum(starts, 0)
    back = swapped.lift(
        chroms, lo, np.maximum(starts + seq_len, lo + 1), min_match=min_match, multiple=True
    )
    on = back.mapped
    hit = held_out.overlaps(back.chrom[on], back.start[on], back.end[on])
    leaks = np.zeros(n, bool)
    leaks[back.source[on][hit]] = True
    return leaks


def minimap_backmap_leaks(
    ref_aligner,
    held_out: HeldOut,
    tokens_NL: np.ndarray,
    *,
    min_match: float = 0.1,
    threads: int = 1,
) -> np.ndarray:
    """bool[N]: target windows with a minimap2 hit (primary or not) in a held-out region."""
    tokens_NL = np.asarray(tokens_NL)
    n, seq_len = tokens_NL.shape
    leaks = np.zeros(n, bool)
    for i, hits in enumerate(minimap_hits(ref_aligner, tokens_to_strings(tokens_NL), threads)):
        good = [h for h in hits if h.q_en - h.q_st >= min_match * seq_len]
        if good:
            leaks[i] = held_out.overlaps(
                np.array([h.ctg for h in good], object),
                np.array([h.r_st for h in good]),
                np.array([h.r_en for h in good]),
            ).any()
    return leaks


def training_region_of_set(labeled: str | Path, lengths: dict[str, int]) -> HeldOut:
    """The region a labeled set's train split was cut from, as a guard's "held-out" data.

    Screening another genome's windows against it (``LeakageGuard``) finds those homologous
    to training data: the complement of a cross-genome evaluation's clean subset. Region-split
    sets (metadata ``split_regions``) give it exactly; chromosome-split sets give every
    chromosome of the reference (``lengths``) that is not held out.
    """
    metadata = load_manifest(labeled).metadata
    regions = metadata.get("split_regions", {}).get("train")
    if regions is not None:
        return HeldOut.build(
            [],
            np.asarray([r[0] for r in regions], object),
            np.asarray([r[1] for r in regions], np.int64),
            np.asarray([r[2] for r in regions], np.int64),
        )
    held = {c for cs in metadata.get("split_chroms", {}).values() for c in cs}
    none = np.zeros(0, np.int64)
    return HeldOut.build(sorted(set(lengths) - held), np.zeros(0, object), none, none)


def held_out_of_set(labeled: str | Path, source_split: str = "train") -> HeldOut:
    """Held-out regions of a labeled shard set on disk (every split but `source_split`)."""
    manifest = load_manifest(labeled)
    splits = {name: load_split(labeled, name) for name in manifest.splits if name != source_split}
    labeled_cols = {"metadata": manifest.metadata, "splits": splits}
    return held_out_of(labeled_cols, manifest.seq_len, source_split)


_REGION = re.compile(r"^(?P<chrom>[^:]+):(?P<start>\d+)-(?P<end>\d+)$")


def parse_regions(specs: str | list[str]) -> HeldOut:
    """Regions from BED files, ``chrom:start-end`` (1-based, inclusive, as samtools and genome
    browsers write them) or bare chromosome names; comma-separated, or a list of such strings."""
    items = [specs] if isinstance(specs, str) else list(specs)
    items = [x.strip() for item in items for x in str(item).split(",") if x.strip()]
    chroms: list[str] = []
    r_chrom: list[np.ndarray] = []
    r_start: list[np.ndarray] = []
    r_end: list[np.ndarray] = []
    for item in items:
        if Path(item).is_file():
            bed = read_intervals(item, dedupe=False)
            r_chrom.append(bed.chrom)
            r_start.append(bed.start)
            r_end.append(bed.end)
        elif m := _REGION.match(item):
            start, end = int(m["start"]), int(m["end"])
            if start < 1 or end < start:
                raise ValueError(
                    f"region {item!r}: need 1 <= start <= end (1-based, inclusive, as "
                    "chrom:start-end is written by samtools and genome browsers)"
                )
            r_chrom.append(np.array([m["chrom"]], object))
            r_start.append(np.array([start - 1], np.int64))
            r_end.append(np.array([end], np.int64))
        elif "/" in item or item.endswith((".bed", ".bed.gz")):
            raise FileNotFoundError(f"{item}: no such BED file")
        else:
            chroms.append(item)
    if not r_chrom:
        none = np.zeros(0, np.int64)
        return HeldOut.build(chroms, np.zeros(0, object), none, none)
    return HeldOut.build(
        chroms,
        np.concatenate(r_chrom).astype(object),
        np.concatenate(r_start).astype(np.int64),
        np.concatenate(r_end).astype(np.int64),
    )


LEAK_REASONS = ("held_out_region", "held_out_ortholog")


@dataclass
class Screen:
    """The guard's answer for one batch of windows."""

    keep: np.ndarray  # bool[N]
    counts: dict[str, int]  # windows dropped, per reason in LEAK_REASONS


@dataclass
class LeakageGuard:
    """The one leakage test of every door where a sequence enters training or a teacher.

    A window is dropped when it lies in a held-out region of its own genome (``own``: the
    reference's held-out chromosomes/windows when the windows come from the reference, or
    regions the user excludes) -> ``held_out_region``; or when it maps back (through chains
    whose target is the reference, or by aligning it to the reference with minimap2) into the
    reference's held-out regions (``held_out``) -> ``held_out_ortholog``. Counts accumulate
    over calls, so a door screens in chunks and writes `summary()` into its manifest.
    """

    held_out: HeldOut = field(default_factory=HeldOut.none)  # reference coordinates
    own: HeldOut | None = None  # the windows' own coordinates
    back_chains: ChainIndex | None = None  # window genome -> reference (target = window genome)
    ref_aligner: Any = None  # mappy.Aligner of the reference
    min_match: float = 0.1  # a back-mapped hit covering this fraction of a window counts
    threads: int = 1
    method: str = "none"
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEAK_REASONS, 0))
    screened: int = 0

    @classmethod
    def on_reference(cls, held_out: HeldOut, own: HeldOut | None = None) -> LeakageGuard:
        """Windows cut from the reference itself: only their own position matters."""
        both = held_out if own is None else held_out.union(own)
        return cls(held_out, own=both, method="reference")

    @classmethod
    def through_chains(
        cls,
        held_out: HeldOut,
        chains: list[Chain],
        *,
        own: HeldOut | None = None,
        min_match: float = 0.1,
    ) -> LeakageGuard:
        """Windows of another genome, mapped back through reference -> genome chains."""
        if held_out.chroms and not set(held_out.chroms) & {c.t_name for c in chains}:
            raise ValueError(
                f"no chain has the reference's held-out chromosomes {held_out.chroms} as its "
                "target, so no window could be screened: the chains must be reference -> this "
                "genome (target = reference), with the same chromosome names as the labeled set"
            )
        swapped = ChainIndex([swap_chain(c) for c in chains])
        return cls(held_out, own=own, back_chains=swapped, min_match=min_match, method="chains")

    @classmethod
    def through_minimap(
        cls,
        held_out: HeldOut,
        ref_aligner: Any,
        *,
        own: HeldOut | None = None,
        min_match: float = 0.1,
        threads: int = 1,
    ) -> LeakageGuard:
        """Windows of another genome, aligned to the reference with minimap2 (mappy)."""
        return cls(
            held_out,
            own=own,
            ref_aligner=ref_aligner,
            min_match=min_match,
            threads=threads,
            method="minimap2",
        )

    def screen(
        self,
        chroms: np.ndarray | str,
        starts: np.ndarray,
        seq_len: int,
        tokens: np.ndarray | None = None,
    ) -> Screen:
        """Keep-mask of windows [start, start + seq_len) on chroms (tokens for minimap2)."""
        starts = np.asarray(starts, np.int64)
        n = len(starts)
        chroms = np.full(n, chroms, object) if isinstance(chroms, str) else np.asarray(chroms)
        region = np.zeros(n, bool)
        if self.own is not None and n:
            region = self.own.overlaps(chroms, starts, starts + seq_len)
        ortholog = np.zeros(n, bool)
        rest = np.flatnonzero(~region)
        if len(rest) and not self.held_out.empty:
            if self.back_chains is not None:
                ortholog[rest] = chain_backmap_leaks(
                    self.back_chains,
                    self.held_out,
                    chroms[rest],
                    starts[rest],
                    seq_len,
                    min_match=self.min_match,
                )
            elif self.ref_aligner is not None:
                if tokens is None:
                    raise ValueError("a minimap2 leakage guard needs the windows' tokens")
                ortholog[rest] = minimap_backmap_leaks(
                    self.ref_aligner,
                    self.held_out,
                    np.asarray(tokens)[rest],
                    min_match=self.min_match,
                    threads=self.threads,
                )
        counts = {"held_out_region": int(region.sum()), "held_out_ortholog": int(ortholog.sum())}
        for key, value in counts.items():
            self.counts[key] += value
        self.screened += n
        return Screen(~(region | ortholog), counts)

    def summary(self) -> dict:
        """Plain-JSON record of what was held out and how many windows each reason dropped."""
        return {
            "guard": self.method,
            "held_out_chroms": list(self.held_out.chroms),
            "held_out_windows_elsewhere": self.held_out.windows,
            "own_held_out_chroms": list(self.own.chroms) if self.own is not None else [],
            "own_held_out_regions": self.own.windows if self.own is not None else 0,
            "min_match": self.min_match,
            "screened": self.screened,
            **self.counts,
        }
