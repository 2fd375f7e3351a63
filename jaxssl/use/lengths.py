"""Fitting sequences of any length to a model's window: centre-crop / N-pad, or tiles.

A model sees exactly its training length. A longer sequence is centre-cropped (the middle is
where a peak-centred model looks) or, with a stride, cut into tiles that cover it end to end;
a shorter one is N-padded on both sides (N one-hots to zeros: absence of evidence). Every crop
and pad is counted so that the choice is visible in the output summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jaxssl.data.tables import FitStats, fit_tokens
from jaxssl.tokens import BYTE_TO_TOKEN, N


def fit(sequences: Sequence[bytes], seq_len: int) -> tuple[np.ndarray, FitStats]:
    """uint8[N, seq_len], centre-cropped or N-padded (as `data_prep from-csv`), with counts."""
    stats = FitStats()
    return fit_tokens(list(sequences), seq_len, policy="center", stats=stats), stats


@dataclass
class Tiles:
    tokens_NL: np.ndarray  # uint8 [tiles, seq_len]
    source: np.ndarray  # int64 [tiles]: index of the sequence each tile comes from
    start: np.ndarray  # int64 [tiles]: 0-based start of the tile in its sequence (may be < 0)
    stats: FitStats


def tile_starts(length: int, seq_len: int, stride: int) -> list[int]:
    """Starts 0, stride, 2·stride, ... plus a last tile flush with the sequence end, so every
    base is covered; a sequence shorter than the window gets one centred, N-padded tile."""
    if stride <= 0:
        raise ValueError(f"--tile stride must be positive, got {stride}")
    if length <= seq_len:
        return [-((seq_len - length) // 2)]
    starts = list(range(0, length - seq_len + 1, stride))
    if starts[-1] != length - seq_len:
        starts.append(length - seq_len)
    return starts


def tile(sequences: Sequence[bytes], seq_len: int, stride: int) -> Tiles:
    """Every tile of every sequence (see `tile_starts`), with its source index and start."""
    stats = FitStats()
    rows, source, starts = [], [], []
    for i, seq in enumerate(sequences):
        raw = BYTE_TO_TOKEN[np.frombuffer(seq, np.uint8)]
        stats.invalid += int((raw == 255).sum())
        stats.iupac_or_n += int((raw == N).sum())
        tokens = np.where(raw == 255, np.uint8(N), raw)
        if len(tokens) == seq_len:
            stats.exact += 1
        elif len(tokens) < seq_len:
            stats.padded += 1
        for s in tile_starts(len(tokens), seq_len, stride):
            row = np.full(seq_len, N, np.uint8)
            lo, hi = max(s, 0), min(s + seq_len, len(tokens))
            row[lo - s : hi - s] = tokens[lo:hi]
            rows.append(row)
            source.append(i)
            starts.append(s)
    tokens_NL = np.stack(rows) if rows else np.zeros((0, seq_len), np.uint8)
    return Tiles(tokens_NL, np.asarray(source, np.int64), np.asarray(starts, np.int64), stats)
