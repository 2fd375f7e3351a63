"""Who binds where: a fixed occupancy rule applied to sequence, and the sites it plants.

Occupancy depends on the motif score, on a partner (co-factor) motif nearby and on local GC, so
a model must learn more than one PWM. The rule is a pure function of sequence: the truth of
every genome, reference or evolved, is recomputed by scanning it, which is what makes "a
destroyed motif is unbound" hold by construction rather than by bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxssl.tokens import NUM_BASES, C, G, reverse_complement

from .motifs import Motif, Scorer, sample_sites

Z_SLOPE = 40.0  # occupancy logit per unit of relative motif score
COFACTOR_BONUS = 1.5  # logit added when the partner motif lies within COFACTOR_WINDOW bp
COFACTOR_WINDOW = 50  # bp between the site centre and the partner motif
GC_WEIGHT = 8.0  # logit per unit of local GC above the genome's mean
GC_WINDOW = 100  # half-width (bp) of the local-GC window around the site centre
NATURAL_SITES_PER_MB = 40  # calibrates each TF threshold on unplanted, unrepeated sequence
COFACTOR_HITS_PER_MB = 150  # calibrates what counts as a partner motif


@dataclass(frozen=True)
class BindingModel:
    """The occupancy rule of one TF; identical for every genome of a world."""

    tf: str
    motif: Motif
    cofactor: Motif
    threshold: float  # relative motif score where occupancy is 1/2 with no help from context
    cofactor_threshold: float
    gc_center: float

    @property
    def scorer(self) -> Scorer:
        return _scorer(self.motif)

    @property
    def cofactor_scorer(self) -> Scorer:
        return _scorer(self.cofactor)

    def logit(self, score: np.ndarray, cofactor: np.ndarray, gc: np.ndarray) -> np.ndarray:
        """Occupancy logit; a site is bound when it is positive."""
        return (
            Z_SLOPE * (score - self.threshold)
            + COFACTOR_BONUS * cofactor
            + GC_WEIGHT * (gc - self.gc_center)
        )

    def describe(self) -> dict:
        return {
            "motif_id": self.motif.id,
            "motif_name": self.motif.name,
            "cofactor_id": self.cofactor.id,
            "cofactor_name": self.cofactor.name,
            # Exact floats (JSON round-trips them), so truth can be re-derived bit for bit.
            "threshold": float(self.threshold),
            "cofactor_threshold": float(self.cofactor_threshold),
            "gc_center": float(self.gc_center),
            "rule": (
                f"bound iff {Z_SLOPE}*(score-threshold) + {COFACTOR_BONUS}*[partner motif "
                f"within {COFACTOR_WINDOW} bp] + {GC_WEIGHT}*(GC within {GC_WINDOW} bp - "
                "gc_center) > 0; occupancy = sigmoid of that"
            ),
        }


_SCORERS: dict[int, Scorer] = {}


def _scorer(motif: Motif) -> Scorer:
    if id(motif) not in _SCORERS:
        _SCORERS[id(motif)] = Scorer(motif)
    return _SCORERS[id(motif)]


def _top_score(scores: list[np.ndarray], count: int) -> float:
    """The count-th highest score over all arrays (the calibrated threshold)."""
    allscores = np.concatenate(scores)
    count = int(np.clip(count, 1, len(allscores)))
    return float(np.partition(allscores, len(allscores) - count)[len(allscores) - count])


def calibrate(
    tf: str, motif: Motif, cofactor: Motif, seqs: dict[str, np.ndarray],
    masked: dict[str, np.ndarray],
) -> BindingModel:  # fmt: skip
    """Sets thresholds so that unplanted, non-repeat sequence has a few natural sites per Mb."""
    tf_scores, cof_scores, called, gc = [], [], 0, 0
    for name, seq in seqs.items():
        keep = ~masked[name][: len(seq) - motif.width + 1]
        tf_scores.append(_scorer(motif).scan(seq)[0][keep])
        keep_c = ~masked[name][: len(seq) - cofactor.width + 1]
        cof_scores.append(_scorer(cofactor).scan(seq)[0][keep_c])
        called += int((seq < NUM_BASES).sum())
        gc += int(((seq == C) | (seq == G)).sum())
    mb = sum(len(s) for s in tf_scores) / 1e6
    return BindingModel(
        tf,
        motif,
        cofactor,
        threshold=_top_score(tf_scores, int(NATURAL_SITES_PER_MB * mb)),
        cofactor_threshold=_top_score(cof_scores, int(COFACTOR_HITS_PER_MB * mb)),
        gc_center=gc / called,
    )


@dataclass
class Sites:
    """Bound sites of one TF in one genome, sorted by (chrom, start); arrays of equal length."""

    chrom: np.ndarray  # int32 index into the genome's chromosome order
    start: np.ndarray  # int64, motif window start
    end: np.ndarray
    minus: np.ndarray  # bool, motif on the minus strand
    score: np.ndarray  # relative motif score
    occupancy: np.ndarray  # sigmoid of the logit, > 0.5 for every bound site
    cofactor: np.ndarray  # bool, partner motif nearby

    def __len__(self) -> int:
        return len(self.start)

    @staticmethod
    def concat(parts: list[Sites]) -> Sites:
        fields = Sites.__dataclass_fields__
        return Sites(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in fields})


def _window_sum(flags: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sum of flags[lo:hi] for each pair, with lo/hi clipped to the array."""
    csum = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    lo = np.clip(lo, 0, len(flags))
    hi = np.clip(hi, 0, len(flags))
    return csum[hi] - csum[lo]


def call_sites(seqs: dict[str, np.ndarray], model: BindingModel) -> Sites:
    """Scans every chromosome and returns the bound sites (one per cluster of overlapping hits)."""
    width, cof_width = model.motif.width, model.cofactor.width
    # No site below this score can be lifted above zero by the most helpful context.
    best_boost = COFACTOR_BONUS + GC_WEIGHT * (1.0 - model.gc_center)
    floor = model.threshold - best_boost / Z_SLOPE
    parts = []
    for index, seq in enumerate(seqs.values()):
        scores, minus = model.scorer.scan(seq)
        pos = np.flatnonzero(scores > floor)
        center = pos + width // 2
        cof_hits = model.cofactor_scorer.scan(seq)[0] >= model.cofactor_threshold
        # A partner motif counts when its window starts within COFACTOR_WINDOW of the centre
        # (measured from its own centre), excluding the site's own span.
        cof_lo, cof_hi = center - COFACTOR_WINDOW - cof_width // 2, center + COFACTOR_WINDOW
        near = _window_sum(cof_hits, cof_lo, cof_hi) > 0
        lo, hi = center - GC_WINDOW, center + GC_WINDOW
        n_called = _window_sum(seq < NUM_BASES, lo, hi)
        n_gc = _window_sum((seq == C) | (seq == G), lo, hi)
        gc = n_gc / np.maximum(n_called, 1)
        z = model.logit(scores[pos], near, gc)
        bound = z > 0
        pos, z, near = pos[bound], z[bound], near[bound]
        # Overlapping hits (a palindrome, a shifted partial match) are one site: keep the best.
        cluster = np.concatenate([[0], np.cumsum(np.diff(pos) >= width)]) if len(pos) else pos
        order = np.lexsort((-z, cluster))
        first = order[np.concatenate([[True], np.diff(cluster[order]) > 0])] if len(pos) else pos
        pos, z, near = pos[first], z[first], near[first]
        parts.append(
            Sites(
                chrom=np.full(len(pos), index, np.int32),
                start=pos.astype(np.int64),
                end=(pos + width).astype(np.int64),
                minus=minus[pos],
                score=scores[pos],
                occupancy=(1 / (1 + np.exp(-z))).astype(np.float32),
                cofactor=near,
            )
        )
    return Sites.concat(parts)


def constrained_mask(
    seqs: dict[str, np.ndarray], sites: list[Sites], models: list[BindingModel]
) -> dict[str, np.ndarray]:
    """Positions under purifying selection: bound motifs and their nearby partner motifs."""
    names = list(seqs)
    masks = {name: np.zeros(len(seq), bool) for name, seq in seqs.items()}
    for model, tf_sites in zip(models, sites, strict=True):
        for index, name in enumerate(names):
            on = tf_sites.chrom == index
            delta = np.zeros(len(seqs[name]) + 1, np.int32)
            np.add.at(delta, tf_sites.start[on], 1)
            np.add.at(delta, tf_sites.end[on], -1)
            # Partner motifs only matter near bound sites: protect the whole partner window.
            helped = on & tf_sites.cofactor
            center = (tf_sites.start[helped] + tf_sites.end[helped]) // 2
            lo = np.clip(center - COFACTOR_WINDOW - model.cofactor.width, 0, len(seqs[name]))
            hi = np.clip(center + COFACTOR_WINDOW + model.cofactor.width, 0, len(seqs[name]))
            np.add.at(delta, lo, 1)
            np.add.at(delta, hi, -1)
            masks[name] |= np.cumsum(delta[:-1]) > 0
    return masks


def plant(seq: np.ndarray, starts: np.ndarray, sites_NW: np.ndarray, minus: np.ndarray) -> None:
    """Writes site sequences [n, W] at starts (reverse-complemented where minus), in place."""
    if len(starts) == 0:
        return
    width = sites_NW.shape[1]
    oriented = np.where(minus[:, None], reverse_complement(sites_NW), sites_NW)
    seq[starts[:, None] + np.arange(width)] = oriented


def random_starts(
    seq: np.ndarray, n: int, width: int, rng: np.random.Generator, margin: int = 300
) -> np.ndarray:
    """n window starts away from the ends and from N, drawn uniformly."""
    starts = rng.integers(margin, len(seq) - margin - width, 2 * n + 10)
    has_n = _window_sum(seq >= NUM_BASES, starts - GC_WINDOW, starts + width + GC_WINDOW) > 0
    return np.sort(starts[~has_n][:n])


def plant_binding(
    seqs: dict[str, np.ndarray], models: list[BindingModel], counts: list[int],
    cofactor_fraction: float, rng: np.random.Generator,
) -> None:  # fmt: skip
    """Plants TF sites of graded strength, partner motifs near some, and decoy partners (in place).

    Weak sites (drawn at a high temperature) bind only with a partner or GC-rich context, and
    decoy partners sit alone, so neither the motif nor the partner alone gives the label.
    """
    total = sum(len(s) for s in seqs.values())
    names = list(seqs)
    for model, count in zip(models, counts, strict=True):
        per_chrom = rng.multinomial(count, [len(seqs[n]) / total for n in names])
        for name, n in zip(names, per_chrom, strict=True):
            seq = seqs[name]
            starts = random_starts(seq, int(n), model.motif.width, rng)
            temps = rng.uniform(0.7, 2.2, len(starts))
            sites = sample_sites(model.motif, len(starts), rng, temps)
            plant(seq, starts, sites, rng.random(len(starts)) < 0.5)
            helped = starts[rng.random(len(starts)) < cofactor_fraction]
            side = np.where(rng.random(len(helped)) < 0.5, -1, 1)
            gap = rng.integers(0, COFACTOR_WINDOW - model.cofactor.width // 2 - 8, len(helped))
            center = helped + model.motif.width // 2
            offset = side * (model.motif.width // 2 + model.cofactor.width // 2 + 2 + gap)
            cof_starts = center + offset - model.cofactor.width // 2
            partner = sample_sites(model.cofactor, len(cof_starts), rng, 0.8)
            plant(seq, cof_starts, partner, rng.random(len(cof_starts)) < 0.5)
            decoys = random_starts(seq, len(helped) // 2, model.cofactor.width, rng)
            partner = sample_sites(model.cofactor, len(decoys), rng, 0.8)
            plant(seq, decoys, partner, rng.random(len(decoys)) < 0.5)
