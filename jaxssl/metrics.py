"""Evaluation metrics on host numpy arrays: AUROC, AUPRC, MCC and accuracy per task.

Computed exactly (rank statistics, not binned) because eval sets are small and the published
figures we compare with (DNABERT-2 MCC on GUE) are exact too. Missing labels (NaN) are ignored
per task, so multi-task sets with partial labels score each task on what it has.
"""

from __future__ import annotations

import numpy as np

METRIC_NAMES = ("auroc", "auprc", "mcc", "accuracy")


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (what Mann-Whitney U needs)."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    boundaries = np.flatnonzero(np.diff(sorted_x)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(x)]])
    avg = (starts + ends + 1) / 2.0  # mean of 1-based ranks start+1 .. end
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def auprc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision (step-wise area under precision-recall), as scikit-learn defines it."""
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    sorted_scores = np.asarray(scores, dtype=np.float64)[order]
    tp = np.cumsum(labels[order])
    fp = np.cumsum(~labels[order])
    # one point per distinct threshold: the last index of each run of equal scores
    last = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1]
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    recall_step = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_step * precision))


def mcc(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Matthews correlation of binary predictions; 0 when undefined (as scikit-learn)."""
    y = np.asarray(labels).astype(bool)
    p = np.asarray(predictions).astype(bool)
    tp = float(np.sum(y & p))
    tn = float(np.sum(~y & ~p))
    fp = float(np.sum(~y & p))
    fn = float(np.sum(y & ~p))
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / denom) if denom > 0 else 0.0


def multiclass_mcc(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Gorodkin's multi-class MCC (scikit-learn's matthews_corrcoef for K classes)."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(predictions, dtype=np.int64)
    k = int(max(y.max(initial=0), p.max(initial=0))) + 1
    confusion = np.zeros((k, k), dtype=np.float64)
    np.add.at(confusion, (y, p), 1.0)
    t_sum = confusion.sum(axis=1)
    p_sum = confusion.sum(axis=0)
    n = confusion.sum()
    correct = np.trace(confusion)
    cov_ytyp = correct * n - np.dot(t_sum, p_sum)
    cov_ypyp = n**2 - np.dot(p_sum, p_sum)
    cov_ytyt = n**2 - np.dot(t_sum, t_sum)
    denom = np.sqrt(cov_ytyt * cov_ypyp)
    return float(cov_ytyp / denom) if denom > 0 else 0.0


def binary_task_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> dict:
    """All metrics for one binary task; rows with a NaN label are ignored."""
    labels = np.asarray(labels, dtype=np.float64)
    keep = ~np.isnan(labels)
    y, s = labels[keep] > 0.5, np.asarray(probs, dtype=np.float64)[keep]
    if len(y) == 0:
        return {name: float("nan") for name in METRIC_NAMES} | {"count": 0, "positives": 0}
    pred = s >= threshold
    return {
        "auroc": auroc(y, s),
        "auprc": auprc(y, s),
        "mcc": mcc(y, pred),
        "accuracy": float(np.mean(pred == y)),
        "count": int(len(y)),
        "positives": int(y.sum()),
    }


def multiclass_metrics(labels: np.ndarray, probs_BK: np.ndarray) -> dict:
    """Accuracy, multi-class MCC and macro one-vs-rest AUROC/AUPRC for one class label."""
    labels = np.asarray(labels, dtype=np.float64)
    keep = ~np.isnan(labels)
    y = labels[keep].astype(np.int64)
    probs_BK = np.asarray(probs_BK, dtype=np.float64)[keep]
    pred = probs_BK.argmax(axis=-1)
    per_class = [
        (auroc(y == k, probs_BK[:, k]), auprc(y == k, probs_BK[:, k]))
        for k in range(probs_BK.shape[-1])
    ]
    return {
        "auroc": float(np.nanmean([a for a, _ in per_class])),
        "auprc": float(np.nanmean([p for _, p in per_class])),
        "mcc": multiclass_mcc(y, pred),
        "accuracy": float(np.mean(pred == y)),
        "count": int(len(y)),
    }


def summarize(per_task: dict[str, dict]) -> dict:
    """Adds a "mean" entry: the unweighted mean of each metric over tasks (NaNs skipped)."""
    out = dict(per_task)
    means = {}
    for name in METRIC_NAMES:
        values = [m[name] for m in per_task.values() if not np.isnan(m.get(name, np.nan))]
        means[name] = float(np.mean(values)) if values else float("nan")
    out["mean"] = means
    return out
