"""Negative (background) windows for peak sets: GC-matched genomic windows, flanks, and
dinucleotide shuffles.

GC matching matters because GC content alone predicts much of open chromatin and TF binding; a
model trained against GC-poor random background learns GC, not the motif.
"""

from __future__ import annotations

import numpy as np

from jaxssl.genome.fasta import Genome
from jaxssl.genome.intervals import IntervalIndex
from jaxssl.tokens import NUM_BASES, C, G

GC_BINS = 20


def window_stats(tokens_NL: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(GC fraction over called bases, N fraction) per window."""
    called = (tokens_NL < NUM_BASES).sum(axis=1)
    gc = ((tokens_NL == C) | (tokens_NL == G)).sum(axis=1)
    n_frac = 1.0 - called / tokens_NL.shape[1]
    return gc / np.maximum(called, 1), n_frac


def sample_background(
    genome: Genome,
    chroms: list[str],
    count: int,
    seq_len: int,
    peaks: IntervalIndex,
    rng: np.random.Generator,
    *,
    max_n_frac: float,
    oversample: int = 10,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Candidate windows (chrom, start, tokens) overlapping no peak, with few Ns, drawn uniformly
    over ``chroms`` in proportion to length. Returns up to ``oversample * count`` candidates."""
    lengths = np.array([genome.lengths[c] for c in chroms], np.int64) - seq_len + 1
    lengths = np.maximum(lengths, 0)
    if count == 0 or lengths.sum() == 0:
        return [], np.zeros(0, np.int64), np.zeros((0, seq_len), np.uint8)
    n_draw = count * oversample
    per_chrom = rng.multinomial(n_draw, lengths / lengths.sum())
    out_chrom, out_start, out_tokens = [], [], []
    for chrom, k, span in zip(chroms, per_chrom, lengths, strict=True):
        if k == 0:
            continue
        starts = np.sort(rng.integers(0, span, k))
        starts = starts[~peaks.overlaps(chrom, starts, starts + seq_len)]
        if len(starts) == 0:
            continue
        seq = genome.chromosome(chrom)
        tokens = seq[starts[:, None] + np.arange(seq_len)]
        _, n_frac = window_stats(tokens)
        keep = n_frac <= max_n_frac
        out_chrom += [chrom] * int(keep.sum())
        out_start.append(starts[keep])
        out_tokens.append(tokens[keep])
    if not out_start:
        return [], np.zeros(0, np.int64), np.zeros((0, seq_len), np.uint8)
    return out_chrom, np.concatenate(out_start), np.concatenate(out_tokens)


def match_gc(
    target_gc: np.ndarray, candidate_gc: np.ndarray, ratio: float, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Indices of candidates whose GC histogram follows ``target_gc`` (``ratio`` per target),
    without replacement; bins short of candidates borrow from the nearest bins. Returns
    (indices, shortfall)."""
    bins = np.linspace(0, 1, GC_BINS + 1)
    t_bin = np.clip(np.digitize(target_gc, bins) - 1, 0, GC_BINS - 1)
    c_bin = np.clip(np.digitize(candidate_gc, bins) - 1, 0, GC_BINS - 1)
    want = np.round(np.bincount(t_bin, minlength=GC_BINS) * ratio).astype(int)
    pools = [list(rng.permutation(np.nonzero(c_bin == b)[0])) for b in range(GC_BINS)]
    chosen: list[int] = []
    shortfall = 0
    for b in np.argsort(-want):  # fill the most demanded bins first
        need = int(want[b])
        for d in range(GC_BINS):
            for nb in {b - d, b + d}:
                if need and 0 <= nb < GC_BINS and pools[nb]:
                    take = pools[nb][:need]
                    pools[nb] = pools[nb][need:]
                    chosen += take
                    need -= len(take)
            if not need:
                break
        shortfall += need
    return np.asarray(sorted(chosen), np.int64), shortfall


def dinucleotide_shuffle(tokens_L: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random sequence with exactly the dinucleotide counts of ``tokens_L`` (Altschul-Erikson:
    a random Eulerian walk through the 5-letter transition graph, N included)."""
    seq = np.asarray(tokens_L)
    if len(seq) < 3:
        return seq.copy()
    last = int(seq[-1])
    edges: dict[int, list[int]] = {v: [] for v in range(5)}
    for a, b in zip(seq[:-1].tolist(), seq[1:].tolist(), strict=True):
        edges[a].append(b)
    present = [v for v in range(5) if edges[v]]
    while True:
        # Random "last exit" edge per vertex; valid when they form a tree rooted at ``last``.
        exit_edge = {v: edges[v][rng.integers(len(edges[v]))] for v in present if v != last}
        ok = True
        for v in exit_edge:
            seen, u = set(), v
            while u != last:
                if u in seen:
                    ok = False
                    break
                seen.add(u)
                u = exit_edge[u]
            if not ok:
                break
        if ok:
            break
    order: dict[int, list[int]] = {}
    for v in present:
        rest = list(edges[v])
        if v in exit_edge:
            rest.remove(exit_edge[v])
        rest = [rest[i] for i in rng.permutation(len(rest))]
        if v in exit_edge:
            rest.append(exit_edge[v])
        order[v] = rest
    out = [int(seq[0])]
    pos = dict.fromkeys(present, 0)
    for _ in range(len(seq) - 1):
        v = out[-1]
        out.append(order[v][pos[v]])
        pos[v] += 1
    return np.asarray(out, np.uint8)
