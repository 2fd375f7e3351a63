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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxssl.genome.intervals import IntervalIndex, Intervals
from jaxssl.homology.chain import ChainIndex
from jaxssl.homology.mapping import minimap_hits, tokens_to_strings

WHOLE_CHROM = np.iinfo(np.int64).max // 4


@dataclass
class HeldOut:
    """Reference regions no pseudo-label may come from: held-out chromosomes and windows."""

    chroms: list[str]  # whole chromosomes held out (manifest metadata split_chroms)
    windows: int  # held-out windows (valid/test splits) that are not on those chromosomes
    _index: IntervalIndex

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
        return cls(sorted(chroms), int(extra.sum()), IntervalIndex(intervals))

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
    Windows without provenance (no chromosome) cannot be guarded and are an error.
    """
    split_chroms = labeled["metadata"].get("split_chroms", {})
    chroms = sorted({c for split, cs in split_chroms.items() if split != source_split for c in cs})
    w_chrom, w_start = [], []
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
    w_chrom_a = np.concatenate(w_chrom) if w_chrom else np.zeros(0, object)
    w_start_a = np.concatenate(w_start) if w_start else np.zeros(0, np.int64)
    return HeldOut.build(chroms, w_chrom_a, w_start_a, w_start_a + seq_len)


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
