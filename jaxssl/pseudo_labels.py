"""Teacher confidence in pseudo-labels, and how it becomes labels and per-label weights.

Definitions (per window and task; p = the teacher's reverse-complement-averaged probability):

* A **homology pseudo-label** y in {0, 1} (carried from the reference by alignment) has
  confidence ``c = p`` if y = 1 and ``c = 1 - p`` if y = 0: the teacher's probability that the
  carried label is right. ``homology_mode="weight"`` keeps y with weight c; ``"threshold"``
  keeps y only where c >= threshold (else missing, NaN) with weight 1; ``"teacher"`` replaces
  y by p (soft) with weight ``max(p, 1 - p)``: the teacher's confidence in its *own* call (the
  carried label it replaced says nothing about how sure that call is).
* A window **without labels** (plain unlabeled windows, or a task the homology could not carry)
  gets the teacher's label: ``unlabeled_mode="soft"`` uses p itself with weight
  ``max(p, 1 - p)`` (in [0.5, 1]); ``"hard"`` uses round(p) where max(p, 1 - p) >= threshold
  (else NaN) with weight 1.

A task the teacher cannot rank (see :func:`trusted_tasks`: validation AUROC below
``pseudo.min_teacher_auroc``, or not above chance by ``pseudo.teacher_auroc_z`` standard
errors for the size of the validation split) gets no say: its carried labels are kept with
weight 1 and nothing else is pseudo-labeled. Without this gate a teacher at chance on a rare
task labels every window with its base rate at confidence ~1 - base rate (max(p, 1 - p) counts
a prior-level guess as sure), and in ``"weight"`` mode gives the carried positives the weight
p ~ base rate, which erases them: it teaches the student that the task is never bound.

Weights are **per label** ([N, T]), never averaged over a window's tasks: a window the teacher
is sure of for one TF and unsure of for another trains the first at full weight and the second
at low weight. Unused labels (NaN) get weight 0.

Storage convention (``jaxssl.teacher`` writes it, ``jaxssl.data.pipeline`` reads it): a shard
set keeps the per-example ``weights`` column for the example weight of its source, and adds one
float32 extra field per task named ``label_weight:<task>`` (see :func:`label_weight_field`)
holding the per-label weight. The training pipeline yields ``weights`` [B, T] = example weight
x per-label weight (x 1 for sources without these fields).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The objective name of a teacher pseudo-labeling stage (a job, not a training loop; its
# runner is jaxssl.teacher.run_teacher_stage, registered in jaxssl.stages).
TEACHER_OBJECTIVE = "teacher_label"
HOMOLOGY_MODES = ("weight", "threshold", "teacher")
UNLABELED_MODES = ("soft", "hard")
LABEL_WEIGHT_PREFIX = "label_weight:"


def label_weight_field(task: str) -> str:
    """Name of the extra field holding task `task`'s per-label weight."""
    return f"{LABEL_WEIGHT_PREFIX}{task}"


def is_label_weight_field(name: str) -> bool:
    return name.startswith(LABEL_WEIGHT_PREFIX)


def label_weight_columns(extra_fields: Sequence[str], task_names: Sequence[str]) -> np.ndarray:
    """Per task, the index of its label-weight field among `extra_fields` (-1 if absent)."""
    index = {f: i for i, f in enumerate(extra_fields)}
    return np.asarray([index.get(label_weight_field(t), -1) for t in task_names], np.int64)


def agreement_confidence(labels_NT: np.ndarray, probs_NT: np.ndarray) -> np.ndarray:
    """Teacher's probability that each carried label is correct (NaN where no label)."""
    conf = np.where(labels_NT > 0.5, probs_NT, 1.0 - probs_NT)
    return np.where(np.isnan(labels_NT), np.nan, conf).astype(np.float32)


def prediction_confidence(probs_NT: np.ndarray) -> np.ndarray:
    """How sure the teacher is of its own call: max(p, 1 - p) in [0.5, 1]."""
    return np.maximum(probs_NT, 1.0 - probs_NT).astype(np.float32)


# The gate's defaults (config.pseudo.min_teacher_auroc, config.pseudo.teacher_auroc_z); why
# these values: see `trusted_tasks`.
DEFAULT_MIN_TEACHER_AUROC = 0.55
DEFAULT_TEACHER_AUROC_Z = 2.33


def chance_auroc_sd(positives: int, negatives: int) -> float:
    """Standard deviation of the AUROC of a scorer at chance (Mann-Whitney null, no ties) on
    `positives` and `negatives` examples: sqrt((n1 + n0 + 1) / (12 n1 n0))."""
    if positives <= 0 or negatives <= 0:
        return float("inf")
    return float(np.sqrt((positives + negatives + 1) / (12.0 * positives * negatives)))


def teacher_auroc_bar(
    positives: int | None, negatives: int | None, min_auroc: float, z: float
) -> float:
    """The validation AUROC a teacher must reach on one task: max(min_auroc, 0.5 + z x the
    chance SD for that many positives and negatives); the floor alone when sizes are unknown."""
    if z <= 0 or positives is None or negatives is None:
        return float(min_auroc)
    return max(float(min_auroc), 0.5 + z * chance_auroc_sd(positives, negatives))


def trusted_tasks(
    valid_metrics: dict, task_names: Sequence[str], min_auroc: float, z: float = 0.0
) -> np.ndarray:
    """bool[T]: tasks whose teacher validation AUROC reaches `teacher_auroc_bar` (unknown
    AUROC: trusted).

    ``valid_metrics`` is a stage's ``metrics["valid"]`` ({task: {"auroc", "count",
    "positives"}}). The gate exists for a teacher at chance on a rare task (AUROC ~0.5): its
    probabilities sit at the base rate, which ``max(p, 1 - p)`` calls near-certain, so it would
    teach that the task is never bound. A teacher that ranks at all (AUROC 0.6-0.7, common
    with scarce labels) still orders windows better than chance, and its soft labels carry
    that order, so the defaults are two weak bars, both needed:

    * a floor ``min_auroc`` = 0.55 (DEFAULT_MIN_TEACHER_AUROC): on a large validation split a
      teacher at 0.51 is "significantly" above chance but tells the student almost nothing,
      while its base-rate labels still pull the student's outputs;
    * beating chance by ``z`` = 2.33 null standard deviations (one-sided p ~ 0.01;
      DEFAULT_TEACHER_AUROC_Z): with few validation positives the AUROC of a blind teacher
      scatters widely (4 positives in 180 windows: sd 0.15, so 0.65 is luck), and the
      validation AUROC is the best of many checkpoints, which biases it upward. On ~500
      positives and negatives the bar is the floor (0.5 + 2.33 x 0.018 = 0.54); on 20
      positives among 1,000 windows it is 0.65.

    The old default (0.7 alone) shut the method off exactly where it is meant to help: with 25
    labeled positives most teachers score 0.6-0.7. ``z`` = 0 keeps the floor only.
    """
    out = []
    for task in task_names:
        entry = valid_metrics.get(task) or {}
        auroc = entry.get("auroc")
        if auroc is None or not np.isfinite(auroc):
            out.append(True)
            continue
        positives, count = entry.get("positives"), entry.get("count")
        negatives = None if positives is None or count is None else int(count) - int(positives)
        out.append(float(auroc) >= teacher_auroc_bar(positives, negatives, min_auroc, z))
    return np.asarray(out, bool)


def make_pseudo_labels(
    labels_NT: np.ndarray,
    probs_NT: np.ndarray,
    *,
    homology_mode: str = "weight",
    unlabeled_mode: str = "soft",
    threshold: float = 0.7,
    trusted_T: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (student labels [N, T] with NaN = not used, weights [N, T] (0 where not used),
    confidence [N, T]: agreement for carried labels, max(p, 1 - p) elsewhere).

    ``trusted_T`` (bool[T], default all): tasks the teacher may label and weight; the others
    keep their carried labels at weight 1 and get no pseudo-labels.
    """
    if homology_mode not in HOMOLOGY_MODES:
        raise ValueError(f"homology_mode={homology_mode!r}: expected one of {HOMOLOGY_MODES}")
    if unlabeled_mode not in UNLABELED_MODES:
        raise ValueError(f"unlabeled_mode={unlabeled_mode!r}: expected one of {UNLABELED_MODES}")
    labels_NT = np.asarray(labels_NT, np.float32)
    probs_NT = np.asarray(probs_NT, np.float32)
    carried = ~np.isnan(labels_NT)
    free = ~carried
    agreement = agreement_confidence(labels_NT, probs_NT)
    own = prediction_confidence(probs_NT)
    confidence = np.where(carried, agreement, own)

    out = np.full_like(probs_NT, np.nan)
    weights = np.zeros_like(probs_NT)
    # carried labels
    if homology_mode == "threshold":
        keep = carried & (agreement >= threshold)
        out[keep] = labels_NT[keep]
        weights[keep] = 1.0
    elif homology_mode == "weight":
        out[carried] = labels_NT[carried]
        weights[carried] = agreement[carried]
    else:  # teacher: the teacher's soft call, weighted by its own confidence
        out[carried] = probs_NT[carried]
        weights[carried] = own[carried]
    # teacher's own labels where nothing was carried
    if unlabeled_mode == "hard":
        keep = free & (own >= threshold)
        out[keep] = (probs_NT[keep] >= 0.5).astype(np.float32)
        weights[keep] = 1.0
    else:
        out[free] = probs_NT[free]
        weights[free] = own[free]
    if trusted_T is not None:
        untrusted = ~np.broadcast_to(np.asarray(trusted_T, bool), (probs_NT.shape[1],))
        out[:, untrusted] = labels_NT[:, untrusted]
        weights[:, untrusted] = carried[:, untrusted].astype(np.float32)
    weights[np.isnan(out)] = 0.0  # e.g. NaN teacher outputs
    return out, weights.astype(np.float32), confidence.astype(np.float32)
