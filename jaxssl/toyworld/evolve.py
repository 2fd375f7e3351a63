"""Evolution of a genome along one tree branch, with every base's reference origin tracked.

Each base carries (reference chromosome, reference position, strand) or -1 when it was inserted.
Every operation (substitution, indel, inversion, translocation) updates those arrays with whole-
array numpy edits, so the true alignment to the reference falls out at the end (see
``chains.py``) instead of being re-derived by an aligner.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from jaxssl.tokens import NUM_BASES, reverse_complement

from .binding import BindingModel, Sites, plant, random_starts
from .composition import Reference, random_bases
from .motifs import sample_sites

TRANSITION_SHARE = 2 / 3  # transitions (A<->G, C<->T) outnumber transversions 2:1
MAX_INDEL = 40


@dataclass
class Chrom:
    """One chromosome with per-base origin: all arrays [L]."""

    name: str
    seq: np.ndarray  # uint8 tokens
    masked: np.ndarray  # bool, soft-masked (repeat) base
    src_chrom: np.ndarray  # int16 reference chromosome index, -1 for inserted bases
    src_pos: np.ndarray  # int64 reference position, -1 for inserted bases
    src_minus: np.ndarray  # bool, base is the complement of its reference base

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}

    def with_arrays(self, arrays: dict[str, np.ndarray]) -> Chrom:
        return replace(self, **arrays)


Genome = list[Chrom]


def reference_genome(ref: Reference) -> Genome:
    """The reference as a Genome whose origin is itself."""
    return [
        Chrom(
            name,
            seq.copy(),
            ref.masked[name].copy(),
            np.full(len(seq), i, np.int16),
            np.arange(len(seq), dtype=np.int64),
            np.zeros(len(seq), bool),
        )
        for i, (name, seq) in enumerate(ref.seqs.items())
    ]


def seqs_of(genome: Genome) -> dict[str, np.ndarray]:
    return {c.name: c.seq for c in genome}


def _substitute(
    seq: np.ndarray, prob: float, constrained: np.ndarray, selection: float,
    rng: np.random.Generator,
) -> None:  # fmt: skip
    """Point substitutions with a transition bias; constrained bases keep 1 - selection of them."""
    p = np.where(constrained, prob * (1 - selection), prob)
    hit = np.flatnonzero((rng.random(len(seq)) < p) & (seq < NUM_BASES))
    old = seq[hit]
    transversion = np.where(rng.random(len(hit)) < 0.5, 1, 3).astype(np.uint8)
    # With A=0 C=1 G=2 T=3: x^2 is the transition partner, x^1 and x^3 the two transversions.
    seq[hit] = np.where(rng.random(len(hit)) < TRANSITION_SHARE, old ^ 2, old ^ transversion)


def _turnover(
    genome: Genome, sites: list[Sites], models: list[BindingModel], fraction: float,
    constrained: list[np.ndarray], rng: np.random.Generator,
) -> None:  # fmt: skip
    """Loses a fraction of bound sites (their 3 most informative bases mutated away) and gains
    as many new strong ones elsewhere; the truth is re-derived from sequence afterwards."""
    total = sum(len(c.seq) for c in genome)
    for model, tf_sites in zip(models, sites, strict=True):
        n = int(rng.binomial(len(tf_sites), fraction))
        lost = rng.choice(len(tf_sites), size=n, replace=False)
        probs = model.motif.probs
        cols = np.argsort(-probs.max(axis=1))[:3]
        worst = probs[cols].argmin(axis=1).astype(np.uint8)  # [3]
        for i in lost:
            seq = genome[tf_sites.chrom[i]].seq
            if tf_sites.minus[i]:
                seq[tf_sites.end[i] - 1 - cols] = 3 - worst
            else:
                seq[tf_sites.start[i] + cols] = worst
        gained = rng.multinomial(n, [len(c.seq) / total for c in genome])
        for chrom, k, protect in zip(genome, gained, constrained, strict=True):
            starts = random_starts(chrom.seq, int(k), model.motif.width, rng)
            starts = starts[~protect[starts] & ~protect[starts + model.motif.width - 1]]
            new = sample_sites(model.motif, len(starts), rng, 0.8)
            plant(chrom.seq, starts, new, rng.random(len(starts)) < 0.5)


def _indels(
    chrom: Chrom, rate: float, constrained: np.ndarray, selection: float,
    rng: np.random.Generator,
) -> Chrom:  # fmt: skip
    """Small insertions and deletions (geometric lengths), mostly purged at constrained bases."""
    length = len(chrom.seq)
    n = int(rng.poisson(rate * length))
    pos = rng.integers(1, length - MAX_INDEL - 1, n)
    size = np.minimum(rng.geometric(0.35, n), MAX_INDEL)
    is_del = rng.random(n) < 0.5
    csum = np.concatenate([[0], np.cumsum(constrained, dtype=np.int64)])
    touches = csum[pos + np.where(is_del, size, 1)] - csum[pos] > 0
    keep_event = ~touches | (rng.random(n) >= selection)
    pos, size, is_del = pos[keep_event], size[keep_event], is_del[keep_event]

    delta = np.zeros(length + 1, np.int32)
    np.add.at(delta, pos[is_del], 1)
    np.add.at(delta, pos[is_del] + size[is_del], -1)
    keep = np.cumsum(delta[:-1]) == 0
    arrays = {k: v[keep] for k, v in chrom.arrays().items()}

    kept_before = np.concatenate([[0], np.cumsum(keep)])
    ins_at = np.repeat(kept_before[pos[~is_del]], size[~is_del])
    m = len(ins_at)
    inserted = {
        "seq": random_bases(np.full(m, 0.4), rng),
        "masked": np.zeros(m, bool),
        "src_chrom": np.full(m, -1, np.int16),
        "src_pos": np.full(m, -1, np.int64),
        "src_minus": np.zeros(m, bool),
    }
    return chrom.with_arrays({k: np.insert(v, ins_at, inserted[k]) for k, v in arrays.items()})


def _flip(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reverse complement of a segment, origin included."""
    out = {
        k: reverse_complement(v.astype(np.uint8)) if k == "seq" else v[::-1].copy()
        for k, v in arrays.items()
    }
    out["src_minus"] = ~out["src_minus"]
    return out


def _segment_length(rng: np.random.Generator, lo: int, hi: int, chrom_len: int) -> int:
    return int(min(np.exp(rng.uniform(np.log(lo), np.log(hi))), chrom_len // 4))


def _invert(chrom: Chrom, n: int, rng: np.random.Generator) -> Chrom:
    arrays = chrom.arrays()
    for _ in range(n):
        size = _segment_length(rng, 2_000, 50_000, len(chrom.seq))
        s = int(rng.integers(0, len(chrom.seq) - size))
        flipped = _flip({k: v[s : s + size] for k, v in arrays.items()})
        for k, v in arrays.items():
            v[s : s + size] = flipped[k]
    return chrom.with_arrays(arrays)


def _translocate(genome: Genome, n: int, rng: np.random.Generator) -> Genome:
    """Moves n segments (5-100 kb) to a random place of a random chromosome, either strand."""
    genome = list(genome)
    for _ in range(n):
        sizes = np.array([len(c.seq) for c in genome], np.float64)
        a = int(rng.choice(len(genome), p=sizes / sizes.sum()))
        size = _segment_length(rng, 5_000, 100_000, len(genome[a].seq))
        s = int(rng.integers(0, len(genome[a].seq) - size))
        src = genome[a].arrays()
        segment = {k: v[s : s + size] for k, v in src.items()}
        if rng.random() < 0.5:
            segment = _flip(segment)
        genome[a] = genome[a].with_arrays(
            {k: np.concatenate([v[:s], v[s + size :]]) for k, v in src.items()}
        )
        b = int(rng.choice(len(genome), p=sizes / sizes.sum()))
        dst = genome[b].arrays()
        at = int(rng.integers(0, len(genome[b].seq)))
        genome[b] = genome[b].with_arrays(
            {k: np.concatenate([v[:at], segment[k], v[at:]]) for k, v in dst.items()}
        )
    return genome


def evolve(
    parent: Genome, sites: list[Sites], constrained: list[np.ndarray],
    models: list[BindingModel], params, rng: np.random.Generator,
) -> Genome:  # fmt: skip
    """One branch: substitutions and site turnover, small indels, inversions, translocations.

    ``sites`` and ``constrained`` describe the parent (bound sites per TF, constrained bases per
    chromosome); purifying selection acts through them.
    """
    branch = params.branch_length
    child = [c.with_arrays({k: v.copy() for k, v in c.arrays().items()}) for c in parent]
    prob = 1 - np.exp(-branch)
    for chrom, protect in zip(child, constrained, strict=True):
        _substitute(chrom.seq, prob, protect, params.selection, rng)
    _turnover(child, sites, models, params.site_turnover * branch / 0.05, constrained, rng)
    child = [
        _indels(c, params.indel_ratio * branch, protect, params.selection, rng)
        for c, protect in zip(child, constrained, strict=True)
    ]
    child = [_invert(c, int(rng.poisson(params.inversions)), rng) for c in child]
    return _translocate(child, int(rng.poisson(params.translocations)), rng)
