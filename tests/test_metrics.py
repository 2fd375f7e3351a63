"""Metrics against brute-force definitions and hand-computed values; losses' masking."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from jaxssl import metrics
from jaxssl.losses import masked_binary_cross_entropy, masked_softmax_cross_entropy
from jaxssl.report import format_table


def brute_auroc(y, s):
    pos, neg = s[y], s[~y]
    pairs = [(p > n) + 0.5 * (p == n) for p, n in itertools.product(pos, neg)]
    return float(np.mean(pairs))


def brute_average_precision(y, s):
    ap = 0.0
    for t in np.unique(s)[::-1]:  # thresholds high to low
        sel = s >= t
        recall = (y & sel).sum() / y.sum()
        precision = (y & sel).sum() / sel.sum()
        prev = s > t
        prev_recall = (y & prev).sum() / y.sum()
        ap += (recall - prev_recall) * precision
    return ap


@pytest.mark.parametrize("seed", range(5))
def test_auroc_and_auprc_match_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(60) < 0.3
    s = np.round(rng.random(60) + 0.3 * y, 1)  # rounding makes ties
    assert metrics.auroc(y, s) == pytest.approx(brute_auroc(y, s))
    assert metrics.auprc(y, s) == pytest.approx(brute_average_precision(y, s))


def test_hand_computed_values():
    y = np.array([1, 1, 0, 0, 1, 0], bool)
    s = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.05])
    assert metrics.auroc(y, s) == pytest.approx(7 / 9)  # 3 + 3 + 1 of 9 pairs ordered
    # ranks: P R: 1/1, 2/2, (0.7 neg), ..., 3/5 at recall 1 -> AP = 1/3 + 1/3 + (1/3)(3/5)
    assert metrics.auprc(y, s) == pytest.approx(1 / 3 + 1 / 3 + 0.2)
    pred = s >= 0.5  # tp=2 fp=1 fn=1 tn=2
    assert metrics.mcc(y, pred) == pytest.approx((2 * 2 - 1 * 1) / np.sqrt(3 * 3 * 3 * 3))
    assert np.isnan(metrics.auroc(np.ones(4, bool), np.arange(4.0)))
    assert metrics.mcc(np.ones(4, bool), np.ones(4, bool)) == 0.0  # undefined -> 0


def test_binary_task_metrics_ignores_missing_labels():
    labels = np.array([1.0, 0.0, np.nan, 1.0, 0.0])
    probs = np.array([0.9, 0.1, 0.99, 0.8, 0.4])
    m = metrics.binary_task_metrics(labels, probs)
    assert m["count"] == 4 and m["positives"] == 2
    assert m["auroc"] == 1.0 and m["accuracy"] == 1.0 and m["mcc"] == pytest.approx(1.0)


def test_multiclass_mcc_reduces_to_binary_and_summary_means():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    assert metrics.multiclass_mcc(y, p) == pytest.approx(metrics.mcc(y, p))
    probs = np.eye(3)[[0, 1, 2, 1]] * 0.8 + 0.1
    m = metrics.multiclass_metrics(np.array([0, 1, 2, 1.0]), probs)
    assert m["accuracy"] == 1.0 and m["mcc"] == pytest.approx(1.0) and m["auroc"] == 1.0
    summary = metrics.summarize(
        {
            "a": {"auroc": 0.6, "auprc": 0.5, "mcc": 0.2, "accuracy": 0.7},
            "b": {"auroc": 0.8, "auprc": np.nan, "mcc": 0.4, "accuracy": 0.9},
        }
    )
    assert summary["mean"]["auroc"] == pytest.approx(0.7)
    assert summary["mean"]["auprc"] == pytest.approx(0.5)  # NaN task skipped


def test_masked_bce_ignores_nan_labels_and_applies_weights():
    logits = jnp.array([[2.0, -1.0], [0.5, 3.0]])
    labels = jnp.array([[1.0, jnp.nan], [0.0, 1.0]])
    weights = jnp.array([1.0, 3.0])
    loss, observed = masked_binary_cross_entropy(logits, labels, weights)

    def bce(x, y):
        return -(y * np.log(1 / (1 + np.exp(-x))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-x))))

    expected = (1 * bce(2.0, 1) + 3 * bce(0.5, 0) + 3 * bce(3.0, 1)) / 7
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert int(observed) == 3
    all_missing, _ = masked_binary_cross_entropy(logits, jnp.full((2, 2), jnp.nan), weights)
    assert float(all_missing) == 0.0


def test_masked_softmax_cross_entropy():
    logits = jnp.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    loss, observed = masked_softmax_cross_entropy(logits, jnp.array([0.0, jnp.nan]), jnp.ones(2))
    assert int(observed) == 1
    assert float(loss) == pytest.approx(-np.log(np.exp(2) / (np.exp(2) + 2)), rel=1e-5)


def test_report_table_lists_every_stage_and_task():
    stages = [
        {
            "name": "supervised",
            "metrics": {
                "test": {"ctcf": {"auroc": 0.9, "auprc": 0.8, "mcc": 0.5, "accuracy": 0.7}}
            },
        },
        {
            "name": "student_1",
            "metrics": {
                "test": {"ctcf": {"auroc": 0.95, "auprc": np.nan, "mcc": 0.6, "accuracy": 0.8}}
            },
        },
    ]
    table = format_table(stages)
    assert "supervised  ctcf  0.9000  0.8000  0.5000  0.7000" in table
    assert "student_1   ctcf  0.9500  -" in table


def test_best_mcc_threshold_is_the_best_on_the_rows_given():
    rng = np.random.default_rng(0)
    labels = (rng.random(300) < 0.4).astype(np.float32)
    scores = np.clip(0.25 * labels + rng.random(300) * 0.75, 0, 1)
    threshold = metrics.best_mcc_threshold(labels, scores)
    best = max(metrics.mcc(labels, scores >= t) for t in np.unique(scores))
    assert metrics.mcc(labels, scores >= threshold) == pytest.approx(best)
    assert metrics.best_mcc_threshold(np.ones(5), np.linspace(0, 1, 5)) == 0.5  # one class
    # Separable scores: a threshold between the classes, not at either edge.
    t = metrics.best_mcc_threshold(np.array([0, 0, 1, 1.0]), np.array([0.1, 0.2, 0.6, 0.9]))
    assert 0.2 < t < 0.6


def test_dev_threshold_is_never_computed_on_test():
    rng = np.random.default_rng(1)
    valid_labels = (rng.random((200, 2)) < 0.5).astype(np.float32)
    valid_probs = np.clip(0.3 * valid_labels + 0.7 * rng.random((200, 2)), 0, 1)
    test_labels = (rng.random((150, 2)) < 0.5).astype(np.float32)
    test_probs = np.clip(0.3 * test_labels + 0.7 * rng.random((150, 2)), 0, 1)
    names = ["a", "b"]
    out = metrics.dev_threshold_metrics(
        names, "binary", valid=(valid_labels, valid_probs), test=(test_labels, test_probs)
    )
    for t, name in enumerate(names):
        expected = metrics.best_mcc_threshold(valid_labels[:, t], valid_probs[:, t])
        assert out["thresholds"][name] == expected
        assert out["test"][name] == pytest.approx(
            metrics.mcc(test_labels[:, t], test_probs[:, t] >= expected)
        )
    # Other test labels and scores: the same thresholds, only the test MCC changes.
    flipped = metrics.dev_threshold_metrics(
        names, "binary", valid=(valid_labels, valid_probs), test=(1 - test_labels, test_probs[::-1])
    )
    assert flipped["thresholds"] == out["thresholds"]
    assert flipped["valid"] == out["valid"]
    assert flipped["test"]["a"] != out["test"]["a"]
    # Two-class softmax: the threshold is on p(class 1); more classes: none.
    probs_2 = np.stack([1 - valid_probs[:, 0], valid_probs[:, 0]], axis=1)
    two = metrics.dev_threshold_metrics(
        ["y"],
        "multiclass",
        valid=(valid_labels[:, :1], probs_2),
        test=(valid_labels[:, :1], probs_2),
    )
    assert two["thresholds"]["y"] == out["thresholds"]["a"]
    three = np.full((200, 3), 1 / 3)
    assert (
        metrics.dev_threshold_metrics(
            ["y"],
            "multiclass",
            valid=(valid_labels[:, :1], three),
            test=(valid_labels[:, :1], three),
        )
        is None
    )


def test_report_table_shows_mcc_at_the_dev_threshold():
    stage = {
        "name": "gue",
        "metrics": {
            "test": {"label": {"mcc": 0.5}, "mean": {"mcc": 0.5}},
            "dev_threshold": {"thresholds": {"label": 0.4}, "test": {"label": 0.6, "mean": 0.6}},
        },
    }
    table = format_table([stage], "test")
    assert "mcc_dev_threshold" in table and "0.6000" in table
    assert "mcc_dev_threshold" not in format_table([{**stage, "metrics": {"test": {}}}], "test")
