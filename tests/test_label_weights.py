"""Per-label pseudo-label weights: made and stored per task, batched [B, T], used by the loss."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxssl import train as train_lib
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import Source, eval_batches, load_split, train_iterator
from jaxssl.data.writer import ShardSetWriter
from jaxssl.losses import masked_binary_cross_entropy
from jaxssl.objectives.supervised import compute_loss
from jaxssl.pseudo_labels import label_weight_field, make_pseudo_labels, trusted_tasks
from tests.synthetic import make_motif_shards

LOGITS = jnp.array([[2.0, -1.0], [0.5, 3.0], [-0.3, 0.2]])
LABELS = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.3, 0.9]])


def test_zero_label_weight_equals_missing_label_and_differs_from_uniform():
    weights_BT = jnp.array([[1.0, 0.0], [0.5, 1.0], [2.0, 0.7]])
    missing = LABELS.at[0, 1].set(jnp.nan)
    with_zero, _ = masked_binary_cross_entropy(LOGITS, LABELS, weights_BT)
    as_nan, _ = masked_binary_cross_entropy(LOGITS, missing, weights_BT.at[0, 1].set(1.0))
    uniform, _ = masked_binary_cross_entropy(LOGITS, LABELS, jnp.ones((3, 2)))
    assert float(with_zero) == pytest.approx(float(as_nan), rel=1e-6)
    assert abs(float(with_zero) - float(uniform)) > 1e-3
    # a [B] weight is the same as that weight on every task
    per_example, _ = masked_binary_cross_entropy(LOGITS, LABELS, jnp.array([1.0, 2.0, 0.5]))
    broadcast, _ = masked_binary_cross_entropy(
        LOGITS, LABELS, jnp.array([[1.0, 1.0], [2.0, 2.0], [0.5, 0.5]])
    )
    assert float(per_example) == pytest.approx(float(broadcast), rel=1e-6)
    # a NaN weight on a missing label does not poison the loss
    nan_weight, _ = masked_binary_cross_entropy(LOGITS, missing, weights_BT.at[0, 1].set(jnp.nan))
    assert float(nan_weight) == pytest.approx(float(as_nan), rel=1e-6)


def test_multiclass_takes_the_first_column_of_per_label_weights():
    logits = jnp.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    labels = jnp.array([[0.0], [2.0]])
    loss_bt, _ = compute_loss("multiclass", logits, labels, jnp.array([[1.0], [0.0]]))
    only_first, _ = compute_loss("multiclass", logits[:1], labels[:1], jnp.ones((1, 1)))
    assert float(loss_bt) == pytest.approx(float(only_first), rel=1e-6)


def test_pseudo_label_weights_are_per_task_not_averaged():
    probs = np.array([[0.99, 0.10]], np.float32)
    free = np.full((1, 2), np.nan, np.float32)
    out, w, _ = make_pseudo_labels(free, probs, unlabeled_mode="soft")
    np.testing.assert_allclose(out, probs)
    np.testing.assert_allclose(w, [[0.99, 0.90]], rtol=1e-6)
    # carried labels in "weight" mode: each weighted by its own agreement
    carried = np.array([[1.0, 1.0]], np.float32)
    _, w, _ = make_pseudo_labels(carried, probs, homology_mode="weight")
    np.testing.assert_allclose(w, [[0.99, 0.10]], rtol=1e-6)
    # threshold / hard: kept labels weigh 1, dropped ones 0
    _, w, _ = make_pseudo_labels(carried, probs, homology_mode="threshold", threshold=0.7)
    np.testing.assert_array_equal(w, [[1.0, 0.0]])


def test_teacher_mode_weight_is_the_teachers_own_confidence():
    carried = np.array([[1.0, 0.0, np.nan]], np.float32)
    probs = np.array([[0.05, 0.6, 0.3]], np.float32)
    out, w, conf = make_pseudo_labels(carried, probs, homology_mode="teacher")
    np.testing.assert_allclose(out, probs)
    np.testing.assert_allclose(w, np.maximum(probs, 1 - probs), rtol=1e-6)  # 0.95, not 0.05
    np.testing.assert_allclose(conf[0, :2], [0.05, 0.4], rtol=1e-5)  # agreement, for reports


def test_untrusted_task_keeps_carried_labels_and_gets_no_pseudo_labels():
    valid = {"a": {"auroc": 0.93}, "b": {"auroc": 0.56}, "c": {"auroc": float("nan")}}
    trusted = trusted_tasks(valid, ["a", "b", "c", "d"], 0.7)
    np.testing.assert_array_equal(trusted, [True, False, True, True])  # unknown: trusted
    carried = np.array([[1.0, 1.0], [np.nan, np.nan]], np.float32)
    probs = np.array([[0.9, 0.04], [0.2, 0.03]], np.float32)
    out, w, _ = make_pseudo_labels(carried, probs, trusted_T=np.array([True, False]))
    np.testing.assert_allclose(out[:, 0], [1.0, 0.2], rtol=1e-6)
    np.testing.assert_allclose(w[:, 0], [0.9, 0.8], rtol=1e-6)
    # the blind task: its carried positive survives at weight 1 (not 0.04), no soft labels
    assert out[0, 1] == 1.0 and w[0, 1] == 1.0
    assert np.isnan(out[1, 1]) and w[1, 1] == 0.0


def _write(path, labels, example_w, label_w=None, tasks=("a", "b"), seq_len=12):
    n = len(labels)
    fields = [label_weight_field(t) for t in tasks] if label_w is not None else []
    extra = {f: label_w[:, j] for j, f in enumerate(fields)}
    extra_fields = ["idx", *fields]
    with ShardSetWriter(
        path, seq_len=seq_len, task_names=list(tasks), command="t", extra_fields=extra_fields
    ) as w:
        tokens = np.random.default_rng(0).integers(0, 4, (n, seq_len), dtype=np.uint8)
        w.add_batch("train", tokens, labels, example_w, idx=np.arange(n), **extra)
    return path


def test_pipeline_yields_per_label_weights(tmp_path):
    n = 64
    rng = np.random.default_rng(1)
    label_w = rng.random((n, 2)).astype(np.float32)
    label_w[::5, 1] = np.nan  # not given -> 1
    example_w = np.full(n, 0.5, np.float32)
    labels = rng.random((n, 2)).astype(np.float32)
    pseudo = _write(tmp_path / "pseudo", labels, example_w, label_w)
    plain = _write(tmp_path / "plain", labels, np.full(n, 2.0, np.float32))
    expected = example_w[:, None] * np.nan_to_num(label_w, nan=1.0)

    kw = dict(batch_size=16, seed=0, shard_index=0, shard_count=1, prefetch=0)
    batch = next(train_iterator([Source(pseudo)], **kw))
    assert batch["weights"].shape == (16, 2) and batch["weights"].dtype == np.float32
    assert not any(k.startswith("label_weight") for k in batch)  # folded into weights
    rows = batch["idx"].astype(int)
    np.testing.assert_allclose(batch["weights"], expected[rows], rtol=1e-6)

    # mixed with a source without label weights: its example weight broadcast over tasks
    mixed = train_iterator([Source(pseudo), Source(plain)], **kw)
    for _ in range(4):
        b = next(mixed)
        assert b["weights"].shape == (16, 2)
        is_plain = b["weights"][:, 0] == 2.0
        assert (b["weights"][is_plain] == 2.0).all()
        np.testing.assert_allclose(
            b["weights"][~is_plain], expected[b["idx"][~is_plain].astype(int)], rtol=1e-6
        )

    batches = list(eval_batches(pseudo, "train", batch_size=24))
    assert all(b["weights"].shape == (24, 2) for b in batches)
    real = np.concatenate([b["weights"][b["mask"]] for b in batches])
    np.testing.assert_allclose(real, expected, rtol=1e-6)
    assert (batches[-1]["weights"][~batches[-1]["mask"]] == 0).all()


def test_teacher_stage_writes_per_label_weights_and_the_gate(tmp_path):
    """A real teacher stage: label_weight:<task> fields = max(p, 1 - p) in teacher mode, example
    weights untouched, batches weighted per label; a gate nobody passes keeps carried labels."""
    from tests.test_noisy_student import _unlabeled_set, noisy_config

    labeled = make_motif_shards(tmp_path / "labeled", n_train=256, n_eval=64)
    unlabeled = _unlabeled_set(tmp_path / "unlabeled", n=100)
    config = noisy_config(labeled, f"{labeled},{unlabeled}", generations=2)
    config.supervised.train.steps = 20
    config.stages = "supervised,teacher_1,teacher_2"
    config.teacher_1.pseudo.homology_mode = "teacher"
    config.teacher_2.pseudo.teacher = "stage:supervised"
    config.pseudo.min_teacher_auroc = 0.0  # off, as in base_config
    config.teacher_2.pseudo.min_teacher_auroc = 1.01  # no task passes
    report = train_lib.train_and_evaluate(config, tmp_path / "run")
    tasks = ["ap1", "ebox"]
    fields = [label_weight_field(t) for t in tasks]

    out = tmp_path / "run" / "teacher_1" / "shards"
    for name in ("labeled", "unlabeled"):
        written = load_split(next(out.glob(f"*_{name}")), "train")
        p = written["labels"]
        assert not np.isnan(p).any()  # teacher mode: every label is the teacher's p
        label_w = np.stack([written[f] for f in fields], axis=1)
        np.testing.assert_allclose(label_w, np.maximum(p, 1 - p), atol=1e-6)
        np.testing.assert_array_equal(written["weights"], 1.0)
    pseudo = next(out.glob("*_unlabeled"))
    assert set(fields) <= set(load_manifest(pseudo).extra_fields)
    batch = next(
        train_iterator([Source(pseudo)], batch_size=8, seed=0, shard_index=0, shard_count=1)
    )
    assert batch["weights"].shape == (8, 2)
    np.testing.assert_allclose(
        batch["weights"], np.maximum(batch["labels"], 1 - batch["labels"]), atol=1e-6
    )

    gated = tmp_path / "run" / "teacher_2" / "shards"
    carried = load_split(next(gated.glob("*_labeled")), "train")
    original = load_split(labeled, "train")
    np.testing.assert_array_equal(carried["labels"], original["labels"])
    np.testing.assert_array_equal(np.stack([carried[f] for f in fields], axis=1), 1.0)
    assert np.isnan(load_split(next(gated.glob("*_unlabeled")), "train")["labels"]).all()
    assert [s.get("trusted_tasks") for s in report["stages"][1:]] == [tasks, []]
