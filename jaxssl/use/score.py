"""`predict`: a table of per-sequence (or per-tile) probabilities for any sequence set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxssl.data.tables import FitStats
from jaxssl.use import lengths
from jaxssl.use.inputs import SequenceSet
from jaxssl.use.model import Predictor


@dataclass
class Scored:
    columns: dict[str, list | np.ndarray]  # output table, one row per sequence or tile
    stats: FitStats

    def summary(self, seq_len: int) -> str:
        s = self.stats
        return (
            f"length {seq_len}: {s.exact} exact, {s.cropped} centre-cropped, {s.padded} N-padded; "
            f"{s.iupac_or_n} N/IUPAC bases and {s.invalid} other characters read as N"
        )


def score_sequences(predictor: Predictor, seqs: SequenceSet, *, tile: int | None = None) -> Scored:
    """Probabilities per sequence (fitted to the model's length) or, with ``tile``, per tile
    (one row each, with the tile's start and end in its sequence)."""
    seq_len = predictor.model.seq_len
    if tile:
        tiles = lengths.tile(seqs.sequences, seq_len, tile)
        probs = predictor(tiles.tokens_NL)
        rows = tiles.source
        columns: dict[str, list | np.ndarray] = {"name": [seqs.names[i] for i in rows]}
        columns["tile_start"] = tiles.start
        columns["tile_end"] = tiles.start + seq_len
        stats = tiles.stats
    else:
        tokens, stats = lengths.fit(seqs.sequences, seq_len)
        probs = predictor(tokens)
        rows = np.arange(len(seqs))
        columns = {"name": list(seqs.names)}
    for key, values in seqs.columns.items():
        columns[key] = [values[i] for i in rows]
    for j, name in enumerate(predictor.model.output_names):
        columns[f"p_{name}"] = probs[:, j]
    return Scored(columns, stats)
