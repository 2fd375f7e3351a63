"""ChIP-seq-like observation of the reference truth: what users actually train on.

Peaks are a few hundred bp wide with the summit jittered around the bound motif, a signal that
tracks occupancy, weak sites sometimes missed and a few peaks over nothing: labels are noisy
the way real ones are, while the truth/ folder keeps the noise-free answer for evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .binding import Sites, random_starts


@dataclass
class Peaks:
    """narrowPeak rows for one TF, all arrays [n], sorted by (chrom, start)."""

    chrom: np.ndarray  # int32 index into the reference chromosome order
    start: np.ndarray
    end: np.ndarray
    summit: np.ndarray  # offset of the summit from start (narrowPeak column 10)
    signal: np.ndarray
    is_false: np.ndarray  # bool, no bound site under it (never written, only counted)
    n_missed: int  # bound sites without a peak


def observe_peaks(
    sites: Sites, seqs: dict[str, np.ndarray], false_fraction: float, miss_rate: float,
    rng: np.random.Generator,
) -> Peaks:  # fmt: skip
    """Draws peaks over the bound sites of one TF, plus false ones at random places."""
    # Occupancy 1/2 (barely bound) is missed at miss_rate, full occupancy never.
    p_miss = miss_rate * np.clip((1 - sites.occupancy) * 2, 0, 1)
    seen = rng.random(len(sites)) >= p_miss
    chrom = sites.chrom[seen]
    center = (sites.start[seen] + sites.end[seen]) // 2
    signal = 5 + 95 * sites.occupancy[seen] ** 2 * rng.lognormal(0, 0.25, int(seen.sum()))

    n_false = int(rng.binomial(int(seen.sum()), false_fraction))
    sizes = np.array([len(s) for s in seqs.values()], np.float64)
    per_chrom = rng.multinomial(n_false, sizes / sizes.sum())
    false_chrom, false_center = [], []
    for index, (seq, k) in enumerate(zip(seqs.values(), per_chrom, strict=True)):
        starts = random_starts(seq, int(k), 1, rng)
        false_chrom.append(np.full(len(starts), index, np.int32))
        false_center.append(starts)
    false_chrom = np.concatenate(false_chrom)
    false_center = np.concatenate(false_center)
    false_signal = 5 + 15 * rng.lognormal(0, 0.4, len(false_center))

    chrom = np.concatenate([chrom, false_chrom]).astype(np.int32)
    center = np.concatenate([center, false_center]).astype(np.int64)
    signal = np.concatenate([signal, false_signal])
    is_false = np.concatenate([np.zeros(int(seen.sum()), bool), np.ones(len(false_center), bool)])

    n = len(center)
    width = np.clip(rng.normal(320, 60, n), 160, 600).astype(np.int64)
    summit = center + np.round(rng.normal(0, 10, n)).astype(np.int64)
    lengths = sizes.astype(np.int64)[chrom]
    start = np.clip(summit - np.round(width * rng.uniform(0.35, 0.65, n)).astype(np.int64), 0, None)
    end = np.minimum(start + width, lengths)
    summit = np.clip(summit, start, end - 1)
    order = np.lexsort((start, chrom))
    return Peaks(
        chrom[order], start[order], end[order], (summit - start)[order], signal[order],
        is_false[order], int((~seen).sum()),
    )  # fmt: skip


def narrowpeak_lines(peaks: Peaks, names: list[str], tf: str) -> str:
    """10-column narrowPeak text; score, p and q values rise with the signal."""
    score = np.minimum(1000, np.round(peaks.signal * 10)).astype(np.int64)
    p_value = peaks.signal * 0.8
    q_value = np.maximum(p_value - 1.0, 0.0)
    return "".join(
        f"{names[c]}\t{s}\t{e}\t{tf}_peak{i + 1}\t{sc}\t.\t{sig:.3f}\t{p:.3f}\t{q:.3f}\t{off}\n"
        for i, (c, s, e, sc, sig, p, q, off) in enumerate(
            zip(
                peaks.chrom.tolist(),
                peaks.start.tolist(),
                peaks.end.tolist(),
                score.tolist(),
                peaks.signal.tolist(),
                p_value.tolist(),
                q_value.tolist(),
                peaks.summit.tolist(),
                strict=True,
            )  # fmt: skip
        )
    )
