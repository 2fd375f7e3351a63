"""A reference genome whose composition looks genomic, so models cannot win on trivial cues.

Real regulatory-DNA models pick up GC content, CpG islands and repeats; a uniform random genome
would make planted motifs the only structure and the task too easy. Everything here is numpy over
whole chromosomes; Python loops run over repeat copies, never over bases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxssl.tokens import A, C, G, N, T, reverse_complement

from .params import ToyWorldParams


@dataclass
class Reference:
    """Chromosome tokens [L] and soft-mask (repeat) flags [L], by name in chr1..chrN order."""

    seqs: dict[str, np.ndarray]
    masked: dict[str, np.ndarray]


def chromosome_sizes(params: ToyWorldParams) -> dict[str, int]:
    """Decreasing sizes (largest about 3x the smallest) summing to genome_size."""
    weights = np.linspace(1.5, 0.5, params.chromosomes) if params.chromosomes > 1 else np.ones(1)
    sizes = np.floor(weights / weights.sum() * params.genome_size).astype(np.int64)
    sizes[0] += params.genome_size - sizes.sum()
    return {f"chr{i + 1}": int(s) for i, s in enumerate(sizes)}


def random_bases(p_gc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Independent bases with per-position GC probability p_gc [L] and strand symmetry."""
    u = rng.random(len(p_gc))
    is_gc = u < p_gc
    upper = rng.random(len(p_gc)) < 0.5
    return np.where(is_gc, np.where(upper, C, G), np.where(upper, A, T)).astype(np.uint8)


def _gc_profile(length: int, gc_mean: float, rng: np.random.Generator) -> np.ndarray:
    """Isochore-like GC: ~100 kb domains of differing GC plus kb-scale jitter."""
    n_domains = max(1, int(rng.poisson(length / 100_000)) + 1)
    cuts = np.sort(rng.integers(0, length, n_domains - 1))
    bounds = np.diff(np.concatenate([[0], cuts, [length]]))
    domain_gc = np.clip(rng.normal(gc_mean, 0.04, n_domains), 0.3, 0.6)
    p = np.repeat(domain_gc, bounds)
    kb = np.repeat(rng.normal(0, 0.03, length // 1000 + 1), 1000)[:length]
    return np.clip(p + kb, 0.2, 0.75)


def _deplete_cpg(seq: np.ndarray, protect: np.ndarray, rng: np.random.Generator) -> None:
    """Methylated CpGs deaminate: turn ~80% of CG into TG or CA, outside islands (in place)."""
    cg = np.flatnonzero((seq[:-1] == C) & (seq[1:] == G) & ~protect[:-1])
    hit = cg[rng.random(len(cg)) < 0.8]
    on_c = rng.random(len(hit)) < 0.5
    seq[hit[on_c]] = T
    seq[hit[~on_c] + 1] = A


@dataclass(frozen=True)
class RepeatFamily:
    name: str
    consensus: np.ndarray
    share: float  # fraction of repeat bases from this family
    truncate: bool  # LINE-like: most copies are 5'-truncated


def repeat_families(rng: np.random.Generator) -> list[RepeatFamily]:
    """A SINE-, LINE-, LTR- and DNA-transposon-like family with their own composition."""

    def make(length: int, gc: float) -> np.ndarray:  # fmt: skip
        return random_bases(np.full(length, gc), rng)

    sine = np.concatenate([make(280, 0.55), np.full(20, A, np.uint8)])  # Alu-like, poly-A tail
    return [
        RepeatFamily("SINE1", sine, 0.45, False),
        RepeatFamily("LINE1", make(4000, 0.38), 0.35, True),
        RepeatFamily("LTR1", make(900, 0.45), 0.12, False),
        RepeatFamily("DNA1", make(1500, 0.40), 0.08, False),
    ]


def _insert_repeats(
    seq: np.ndarray, masked: np.ndarray, families: list[RepeatFamily], fraction: float,
    rng: np.random.Generator,
) -> None:  # fmt: skip
    """Overwrites diverged, truncated, either-strand copies of each family (in place)."""
    for fam in families:
        target = fraction * fam.share * len(seq)
        covered = 0
        while covered < target:
            full = len(fam.consensus)
            length = min(full, int(rng.exponential(900)) + 200) if fam.truncate else full
            copy = fam.consensus[full - length :].copy()
            diverged = rng.random(length) < rng.uniform(0.02, 0.2)
            copy[diverged] = rng.integers(0, 4, int(diverged.sum()), dtype=np.uint8)
            if rng.random() < 0.5:
                copy = reverse_complement(copy)
            start = int(rng.integers(0, len(seq) - length))
            seq[start : start + length] = copy
            masked[start : start + length] = True
            covered += length


def _insert_microsatellites(seq: np.ndarray, masked: np.ndarray, rng: np.random.Generator) -> None:
    """Simple tandem repeats (unit 1-6 bp, 15-80 bp long), about one per 4 kb (in place)."""
    n = len(seq) // 4000
    starts = rng.integers(0, len(seq) - 100, n)
    for start, unit_len, length in zip(
        starts, rng.integers(1, 7, n), rng.integers(15, 81, n), strict=True
    ):
        unit = rng.integers(0, 4, unit_len, dtype=np.uint8)
        seq[start : start + length] = np.resize(unit, length)
        masked[start : start + length] = True


def _assembly_gaps(seq: np.ndarray, rng: np.random.Generator) -> None:
    """One run of N (an assembly gap, 100-2000 bp) in the middle half of the chromosome."""
    length = int(rng.integers(100, 2001))
    start = int(rng.integers(len(seq) // 4, 3 * len(seq) // 4 - length))
    seq[start : start + length] = N


def make_reference(params: ToyWorldParams, rng: np.random.Generator) -> Reference:
    """Builds every reference chromosome: GC domains, CpG islands, repeats, depletion, gaps."""
    families = repeat_families(rng)
    seqs, masks = {}, {}
    for name, length in chromosome_sizes(params).items():
        # CpG depletion below removes ~3% GC: start higher so the result lands near gc_mean.
        p_gc = _gc_profile(length, params.gc_mean + 0.03, rng)
        islands = np.zeros(length, bool)
        for start in rng.integers(0, length - 2000, max(1, length // 100_000)):
            islands[start : start + int(rng.integers(500, 2001))] = True
        p_gc[islands] = 0.65
        seq = random_bases(p_gc, rng)
        masked = np.zeros(length, bool)
        _insert_repeats(seq, masked, families, params.repeat_fraction, rng)
        islands &= ~masked
        _deplete_cpg(seq, islands, rng)
        _insert_microsatellites(seq, masked, rng)
        _assembly_gaps(seq, rng)
        seqs[name], masks[name] = seq, masked
    return Reference(seqs, masks)
