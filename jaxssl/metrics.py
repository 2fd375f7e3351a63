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


# A stage's MCC at the threshold chosen on validation: `metrics["dev_threshold"]` of a labeled
# stage's result (see `dev_threshold_metrics`), reported under this name.
DEV_THRESHOLD_METRIC = "mcc_dev_threshold"


def best_mcc_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold (predict positive at score >= t) of highest MCC on these rows.

    Meant for the validation split only: the threshold is then applied, unchanged, to test.
    Candidates lie midway between consecutive distinct scores (and at the lowest score);
    among equally good ones the one closest to 0.5 wins. 0.5 when only one class is present.
    """
    labels = np.asarray(labels, dtype=np.float64)
    keep = ~np.isnan(labels)
    y = labels[keep] > 0.5
    s = np.asarray(scores, dtype=np.float64)[keep]
    if len(y) == 0 or y.all() or not y.any():
        return 0.5
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]  # end of each score run
    tp = np.cumsum(y_sorted)[last].astype(np.float64)
    fp = np.cumsum(~y_sorted)[last].astype(np.float64)
    n_pos, n_neg = float(y.sum()), float((~y).sum())
    fn, tn = n_pos - tp, n_neg - fp
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mccs = np.where(denom > 0, (tp * tn - fp * fn) / np.where(denom > 0, denom, 1.0), 0.0)
    run_scores = s_sorted[last]
    below = np.r_[run_scores[1:], run_scores[-1]]  # next lower distinct score (or itself)
    thresholds = np.where(below < run_scores, (run_scores + below) / 2, run_scores)
    best = np.flatnonzero(mccs >= mccs.max() - 1e-12)
    return float(thresholds[best[np.argmin(np.abs(thresholds[best] - 0.5))]])


def _positive_scores(labels_BT: np.ndarray, probs: np.ndarray, loss_type: str) -> list | None:
    """[(labels, positive-class scores)] per task; None when no single threshold applies."""
    if loss_type == "multiclass":
        if probs.shape[-1] != 2:
            return None  # K > 2 classes: argmax, no threshold
        return [(labels_BT[:, 0], probs[:, 1])]
    return [(labels_BT[:, t], probs[:, t]) for t in range(probs.shape[-1])]


def dev_threshold_metrics(
    task_names: list[str],
    loss_type: str,
    *,
    valid: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
) -> dict[str, dict] | None:
    """MCC at the threshold chosen on validation, for validation and test.

    ``valid`` and ``test`` are (labels [B, T], probabilities) of each split. The thresholds
    are computed from ``valid`` alone; ``test`` only has them applied. Returns
    {"thresholds": {task: t}, "valid": {task: mcc, "mean": mcc}, "test": {...}}, or None
    (multi-class with more than two classes: predictions are an argmax, not a threshold).
    """
    valid_scores = _positive_scores(*valid, loss_type)
    test_scores = _positive_scores(*test, loss_type)
    if valid_scores is None or test_scores is None:
        return None
    thresholds = [best_mcc_threshold(y, s) for y, s in valid_scores]
    out: dict[str, dict] = {"thresholds": dict(zip(task_names, thresholds, strict=True))}
    for split, scores in (("valid", valid_scores), ("test", test_scores)):
        per_task = {}
        for name, threshold, (y, s) in zip(task_names, thresholds, scores, strict=True):
            y = np.asarray(y, dtype=np.float64)
            keep = ~np.isnan(y)
            per_task[name] = (
                mcc(y[keep] > 0.5, np.asarray(s)[keep] >= threshold) if keep.any() else float("nan")
            )
        finite = [v for v in per_task.values() if not np.isnan(v)]
        per_task["mean"] = float(np.mean(finite)) if finite else float("nan")
        out[split] = per_task
    return out
