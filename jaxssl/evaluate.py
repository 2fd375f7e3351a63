"""Evaluation over a whole split: batched jitted prediction, metrics per task and their mean."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from jaxssl import metrics as metrics_lib
from jaxssl.data.pipeline import load_split
from jaxssl.sharding import to_global_batch
from jaxssl.tokens import N

# Batches dispatched before their outputs are fetched: the host prepares the next batches
# while the device computes, without holding a whole large split's outputs on the device.
_IN_FLIGHT = 16


@dataclass
class SplitPredictions:
    labels_BT: np.ndarray  # float32, NaN = missing
    probs: np.ndarray  # [B, T] sigmoid (binary) or [B, K] softmax (multiclass)


def predict_split(
    predict_fn: Any,
    params: dict[str, Any],
    shard_dir: Path,
    split: str,
    *,
    batch_size: int,
    mesh: Mesh,
) -> SplitPredictions:
    """Every example of `split` exactly once, in file order (see `batched_probabilities`)."""
    data = load_split(shard_dir, split)
    if not len(data["tokens"]):
        raise ValueError(f"{shard_dir}: split {split!r} is empty; nothing to evaluate")
    probs = batched_probabilities(
        predict_fn, params, data["tokens"], batch_size=batch_size, mesh=mesh
    )
    return SplitPredictions(data["labels"], probs)


def batched_probabilities(
    predict_fn: Any, params: Any, tokens_NL: np.ndarray, *, batch_size: int, mesh: Mesh
) -> np.ndarray:
    """Runs `predict_fn` over all rows in fixed-size global batches; returns probabilities [N, T].

    In a multi-process run every process holds all N rows, feeds its own slice of each global
    batch, and gets every row's output back (gathered), so all processes return the same array.
    """
    n, length = tokens_NL.shape
    processes, me = jax.process_count(), jax.process_index()
    local = batch_size // processes
    out: list[np.ndarray] = []
    in_flight: list[tuple[Any, int]] = []  # dispatched, not yet fetched: the device keeps busy

    def fetch() -> None:
        values = jax.device_get([probs for probs, _ in in_flight])
        out.extend(np.asarray(v)[:real] for v, (_, real) in zip(values, in_flight, strict=True))
        in_flight.clear()

    for lo in range(0, n, batch_size):
        chunk = tokens_NL[lo : lo + batch_size]
        real = len(chunk)
        if real < batch_size:  # pad with N so every call has the compiled shape
            chunk = np.concatenate([chunk, np.full((batch_size - real, length), N, np.uint8)])
        mine = chunk[me * local : (me + 1) * local]
        probs = predict_fn(params, to_global_batch({"tokens": mine}, mesh)["tokens"])
        if processes > 1:
            probs = multihost_utils.process_allgather(probs, tiled=True)
        in_flight.append((probs, real))
        if len(in_flight) >= _IN_FLIGHT:
            fetch()
    fetch()
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def split_metrics(pred: SplitPredictions, task_names: list[str], loss_type: str) -> dict:
    """{task: {auroc, auprc, mcc, accuracy, count, positives}, "mean": {...}}."""
    if loss_type == "multiclass":
        per_task = {task_names[0]: metrics_lib.multiclass_metrics(pred.labels_BT[:, 0], pred.probs)}
    else:
        per_task = {
            name: metrics_lib.binary_task_metrics(pred.labels_BT[:, t], pred.probs[:, t])
            for t, name in enumerate(task_names)
        }
    return metrics_lib.summarize(per_task)
