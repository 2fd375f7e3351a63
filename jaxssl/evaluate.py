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
from jaxssl.data.pipeline import eval_batches
from jaxssl.sharding import to_global_batch


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
    """Every example of `split` exactly once, in file order.

    Each process reads the whole split (eval sets are small); the global batch therefore holds
    each process's copy and we keep process 0's rows, which are the first `local` rows.
    """
    local = batch_size // jax.process_count()
    labels, probs = [], []
    for batch in eval_batches(shard_dir, split, batch_size=local):
        tokens = to_global_batch({"tokens": batch["tokens"]}, mesh)["tokens"]
        out = predict_fn(params, tokens)
        if jax.process_count() > 1:
            out = multihost_utils.process_allgather(out, tiled=True)
        out = np.asarray(jax.device_get(out))[:local]
        mask = np.asarray(batch["mask"], dtype=bool)
        labels.append(np.asarray(batch["labels"])[mask])
        probs.append(out[mask])
    if not labels:
        raise ValueError(f"{shard_dir}: split {split!r} is empty; nothing to evaluate")
    return SplitPredictions(np.concatenate(labels), np.concatenate(probs))


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
