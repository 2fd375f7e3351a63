"""The floor every sequence model must clear: logistic regression on k-mer frequencies.

A model that cannot beat a bag of short words has learnt nothing a motif count would not;
reporting the floor beside a table (``benchmarks/gue.py``) shows how much of a figure is
the architecture's. Features are the frequencies of every k-mer for k = 1..K on the forward
strand (promoters are oriented; a k-mer and its reverse complement stay separate),
standardised on the train split; the L2 strength is chosen on the validation split (MCC at
0.5), never on test. Fitted by Newton's method (exact for a convex loss, no learning rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxssl.metrics import binary_task_metrics
from jaxssl.tokens import NUM_BASES

L2_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def kmer_frequencies(tokens_NL: np.ndarray, max_k: int = 5) -> np.ndarray:
    """float32[N, 4 + 16 + ... + 4**max_k]: each k-mer's share of the windows' k-mers with
    no N; a window too short for a k, or all N, gets zeros for that k."""
    tokens_NL = np.asarray(tokens_NL)
    if tokens_NL.ndim != 2:
        raise ValueError(f"kmer_frequencies: expected tokens [N, L], got {tokens_NL.shape}")
    n, length = tokens_NL.shape
    blocks = []
    for k in range(1, max_k + 1):
        out = np.zeros((n, NUM_BASES**k), np.float32)
        if length >= k:
            windows = np.lib.stride_tricks.sliding_window_view(tokens_NL, k, axis=1)
            valid = (windows < NUM_BASES).all(axis=-1)
            codes = (windows.astype(np.int64) * NUM_BASES ** np.arange(k - 1, -1, -1)).sum(-1)
            rows = np.broadcast_to(np.arange(n)[:, None], codes.shape)
            np.add.at(out, (rows[valid], codes[valid]), 1.0)
            out /= np.maximum(valid.sum(axis=1, keepdims=True), 1)
        blocks.append(out)
    return np.concatenate(blocks, axis=1)


def fit_logistic(
    x_ND: np.ndarray, y_N: np.ndarray, l2: float, iters: int = 25, init: np.ndarray | None = None
) -> np.ndarray:
    """Weights [D + 1] (bias last) minimising mean log-loss + l2/2 |w|^2 (bias unpenalised)."""
    x = np.concatenate([np.asarray(x_ND, np.float64), np.ones((len(x_ND), 1))], axis=1)
    y = np.asarray(y_N, np.float64)
    w = np.zeros(x.shape[1]) if init is None else np.array(init, np.float64)
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) / len(y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x / len(y) + np.diag(penalty + 1e-8)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w


def predict_logistic(w: np.ndarray, x_ND: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(np.asarray(x_ND, np.float64) @ w[:-1] + w[-1])))


@dataclass
class KmerResult:
    l2: float
    valid: dict[str, float]
    test: dict[str, float]


def kmer_floor(
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    max_k: int = 5,
    l2_grid: tuple[float, ...] = L2_GRID,
) -> KmerResult:
    """(tokens, binary labels) per split -> metrics of the L2 strength best on valid MCC."""
    feats = [kmer_frequencies(tokens, max_k) for tokens, _ in (train, valid, test)]
    mean, sd = feats[0].mean(0), feats[0].std(0) + 1e-6
    x_train, x_valid, x_test = ((f - mean) / sd for f in feats)
    labels = [np.asarray(y).reshape(len(y), -1)[:, 0] for _, y in (train, valid, test)]
    best, w = None, None
    for l2 in sorted(l2_grid, reverse=True):  # strongest first: each fit warm-starts the next
        w = fit_logistic(x_train, labels[0], l2, init=w)
        score = binary_task_metrics(labels[1], predict_logistic(w, x_valid))
        if best is None or score["mcc"] > best[1]["mcc"]:
            best = (l2, score, w)
    l2, valid_metrics, w = best
    test_metrics = binary_task_metrics(labels[2], predict_logistic(w, x_test))
    return KmerResult(l2, valid_metrics, test_metrics)
