"""Load a model exported by `python -m jaxssl export` and score sequences: jax + numpy only.

A ``.jaxexport`` file is the strand-averaged predict function serialized with `jax.export`
(StableHLO; the parameters are constants inside it), so it runs without jaxssl's model
classes, Flax or the checkpoint: a deployment needs this one module (it imports nothing from
jaxssl, and may be copied on its own), the file and its JSON sidecar ``<file>.json``::

    from jaxssl.use.exported import load

    model = load("model.jaxexport")
    probs = model(model.encode(["ACGT...", "TTGA..."]))  # float32 [N, len(model.task_names)]

Tokens are uint8 [B, seq_len] with A=0 C=1 G=2 T=3 N=4; B is a symbolic dimension of the
exported function, so any batch size runs (each new B compiles once). The sidecar names the
output columns (``task_names``), the window length (``seq_len``), the loss (``binary``: one
sigmoid per task; ``multiclass``: softmax over classes) and whether strands are averaged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

FORMAT = "jaxssl-export-1"
_ALPHABET = "ACGTN"
_N = 4


def sidecar_path(path: str | Path) -> Path:
    """The JSON metadata written beside an exported model (``model.jaxexport.json``)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def _byte_to_token() -> np.ndarray:
    table = np.full(256, _N, np.uint8)  # anything else (IUPAC codes, stray bytes) reads as N
    for i, base in enumerate("ACGT"):
        table[ord(base)] = table[ord(base.lower())] = i
    return table


_LOOKUP = _byte_to_token()


class ExportedModel:
    """tokens uint8 [B, seq_len] -> probabilities float32 [B, len(task_names)]."""

    def __init__(self, exported: Any, meta: dict[str, Any], source: Path):
        self.exported = exported
        self.meta = meta
        self.source = source
        self.task_names: list[str] = list(meta["task_names"])
        self.seq_len: int = int(meta["seq_len"])
        self.loss: str = str(meta["loss"])
        self._call = jax.jit(exported.call)

    def encode(self, sequences: Sequence[str | bytes]) -> np.ndarray:
        """uint8 [N, seq_len] tokens of sequences that already have the model's length (no
        cropping here: a silent crop would hide a user's off-by-one)."""
        rows = []
        for i, seq in enumerate(sequences):
            raw = seq.encode("ascii", "replace") if isinstance(seq, str) else bytes(seq)
            if len(raw) != self.seq_len:
                raise ValueError(
                    f"sequence {i} has length {len(raw)}; this model reads {self.seq_len} bp "
                    "(crop or pad it first, e.g. with `python -m jaxssl predict`)"
                )
            rows.append(_LOOKUP[np.frombuffer(raw, np.uint8)])
        return np.stack(rows) if rows else np.zeros((0, self.seq_len), np.uint8)

    def __call__(self, tokens_BL: np.ndarray) -> np.ndarray:
        tokens_BL = np.asarray(tokens_BL)
        if tokens_BL.ndim != 2 or tokens_BL.shape[1] != self.seq_len:
            raise ValueError(
                f"{self.source}: expected tokens [B, {self.seq_len}], got {tokens_BL.shape}"
            )
        if tokens_BL.dtype != np.uint8:
            if tokens_BL.size and (tokens_BL.min() < 0 or tokens_BL.max() > _N):
                raise ValueError(f"tokens must be 0..4 ({_ALPHABET}), got another value")
            tokens_BL = tokens_BL.astype(np.uint8)
        if len(tokens_BL) == 0:
            return np.zeros((0, len(self.task_names)), np.float32)
        return np.asarray(self._call(tokens_BL))


def load(path: str | Path) -> ExportedModel:
    """An exported model and its sidecar, ready to call on uint8 tokens."""
    path = Path(path)
    meta_path = sidecar_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such exported model (write one with `jaxssl export`)")
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{meta_path}: the exported model's metadata is missing; it is written beside "
            f"{path.name} by `jaxssl export` and names the tasks, length and loss"
        )
    try:
        import flatbuffers  # noqa: F401 - jax.export.deserialize needs it
    except ImportError:
        raise ImportError(
            "loading a jax.export file needs flatbuffers: pip install flatbuffers"
        ) from None
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{meta_path}: format {meta.get('format')!r}, this loader reads {FORMAT}")
    exported = jax.export.deserialize(bytearray(path.read_bytes()))
    platform = jax.default_backend()
    platforms = [p.replace("gpu", "cuda") for p in exported.platforms]
    if platform.replace("gpu", "cuda") not in platforms:
        raise ValueError(
            f"{path}: exported for {platforms}, this process runs on {platform}; re-export "
            f"with `jaxssl export --platforms {platform}` or run with JAX_PLATFORMS={platforms[0]}"
        )
    return ExportedModel(exported, meta, path)
