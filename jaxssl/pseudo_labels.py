"""Teacher confidence in pseudo-labels, and how it becomes labels and example weights.

Definitions (per window and task; p = the teacher's reverse-complement-averaged probability):

* A **homology pseudo-label** y in {0, 1} (carried from the reference by alignment) has
  confidence ``c = p`` if y = 1 and ``c = 1 - p`` if y = 0: the teacher's probability that the
  carried label is right. ``homology_mode="weight"`` keeps y and weights the window by the mean
  c over its tasks; ``"threshold"`` keeps y only where c >= threshold (else missing, NaN) and
  gives the window weight 1; ``"teacher"`` replaces y by p (soft) and weights like "weight".
* A window **without labels** (plain unlabeled windows, or a task the homology could not carry)
  gets the teacher's label: ``unlabeled_mode="soft"`` uses p itself with confidence
  ``c = max(p, 1 - p)`` (in [0.5, 1]) as weight; ``"hard"`` uses round(p) where c >= threshold
  (else NaN) and weight 1.

The window weight is the mean confidence over its observed tasks (1 in threshold/hard modes),
so a window the teacher disagrees with counts less in the student's loss.
"""

from __future__ import annotations

import numpy as np

HOMOLOGY_MODES = ("weight", "threshold", "teacher")
UNLABELED_MODES = ("soft", "hard")


def agreement_confidence(labels_NT: np.ndarray, probs_NT: np.ndarray) -> np.ndarray:
    """Teacher's probability that each carried label is correct (NaN where no label)."""
    conf = np.where(labels_NT > 0.5, probs_NT, 1.0 - probs_NT)
    return np.where(np.isnan(labels_NT), np.nan, conf).astype(np.float32)


def prediction_confidence(probs_NT: np.ndarray) -> np.ndarray:
    """How sure the teacher is of its own call: max(p, 1 - p) in [0.5, 1]."""
    return np.maximum(probs_NT, 1.0 - probs_NT).astype(np.float32)


def make_pseudo_labels(
    labels_NT: np.ndarray,
    probs_NT: np.ndarray,
    *,
    homology_mode: str = "weight",
    unlabeled_mode: str = "soft",
    threshold: float = 0.7,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (student labels [N, T] with NaN = not used, weights [N], confidence [N, T])."""
    if homology_mode not in HOMOLOGY_MODES:
        raise ValueError(f"homology_mode={homology_mode!r}: expected one of {HOMOLOGY_MODES}")
    if unlabeled_mode not in UNLABELED_MODES:
        raise ValueError(f"unlabeled_mode={unlabeled_mode!r}: expected one of {UNLABELED_MODES}")
    labels_NT = np.asarray(labels_NT, np.float32)
    probs_NT = np.asarray(probs_NT, np.float32)
    carried = ~np.isnan(labels_NT)
    confidence = np.where(
        carried, agreement_confidence(labels_NT, probs_NT), prediction_confidence(probs_NT)
    )

    out = np.full_like(probs_NT, np.nan)
    use_weight = np.zeros_like(carried)  # tasks whose confidence enters the window weight
    # carried labels
    if homology_mode == "threshold":
        keep = carried & (confidence >= threshold)
        out[keep] = labels_NT[keep]
    else:
        value = labels_NT if homology_mode == "weight" else probs_NT
        out[carried] = value[carried]
        use_weight |= carried
    # teacher's own labels where nothing was carried
    free = ~carried
    if unlabeled_mode == "hard":
        keep = free & (confidence >= threshold)
        out[keep] = (probs_NT[keep] >= 0.5).astype(np.float32)
    else:
        out[free] = probs_NT[free]
        use_weight |= free

    weighted = np.where(use_weight & ~np.isnan(out), confidence, np.nan)
    n_weighted = np.sum(~np.isnan(weighted), axis=1)
    mean_conf = np.nansum(weighted, axis=1) / np.maximum(n_weighted, 1)
    weights_N = np.where(n_weighted > 0, mean_conf, 1.0).astype(np.float32)
    return out, weights_N, confidence.astype(np.float32)
