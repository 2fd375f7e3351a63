"""Noisy Student: confidence definitions, batched teacher inference, generations end to end."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from ml_collections import ConfigDict

import configs.noisy_student as noisy_student_config
from jaxssl import stage_plan
from jaxssl import train as train_lib
from jaxssl.config import with_stage_slots
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import load_split
from jaxssl.data.writer import ShardSetWriter
from jaxssl.evaluate import batched_probabilities
from jaxssl.predict import make_predict_fn
from jaxssl.pseudo_labels import agreement_confidence, label_weight_field, make_pseudo_labels
from jaxssl.sharding import make_mesh
from jaxssl.teacher import load_trained_model
from tests.multiprocess import requires_opt_in, run_in_two_processes
from tests.synthetic import make_motif_shards
from tests.test_train import small_config


def test_confidence_follows_its_definition():
    labels = np.array([[1.0, 0.0, np.nan]], np.float32)
    probs = np.array([[0.9, 0.8, 0.3]], np.float32)
    np.testing.assert_allclose(agreement_confidence(labels, probs)[0, :2], [0.9, 0.2], rtol=1e-6)

    out, w, conf = make_pseudo_labels(labels, probs, homology_mode="weight", unlabeled_mode="soft")
    np.testing.assert_allclose(out[0], [1.0, 0.0, 0.3], rtol=1e-6)
    np.testing.assert_allclose(conf[0], [0.9, 0.2, 0.7], rtol=1e-6)
    np.testing.assert_allclose(w[0], [0.9, 0.2, 0.7], rtol=1e-6)  # per label, not averaged

    out, w, _ = make_pseudo_labels(
        labels, probs, homology_mode="threshold", unlabeled_mode="hard", threshold=0.7
    )
    np.testing.assert_array_equal(np.isnan(out[0]), [False, True, False])
    assert out[0, 0] == 1.0 and out[0, 2] == 0.0
    np.testing.assert_array_equal(w[0], [1.0, 0.0, 1.0])

    out, w, _ = make_pseudo_labels(labels, probs, homology_mode="teacher", unlabeled_mode="soft")
    np.testing.assert_allclose(out[0], probs[0], rtol=1e-6)
    np.testing.assert_allclose(w[0], [0.9, 0.8, 0.7], rtol=1e-6)  # the teacher's own max(p, 1-p)
    with pytest.raises(ValueError, match="homology_mode"):
        make_pseudo_labels(labels, probs, homology_mode="vote")


def _unlabeled_set(path, seq_len=40, n=300, seed=1):
    rng = np.random.default_rng(seed)
    with ShardSetWriter(path, seq_len=seq_len, task_names=[], command="test") as writer:
        tokens = rng.integers(0, 4, (n, seq_len), dtype=np.uint8)
        writer.add_batch("train", tokens, np.zeros((n, 0), np.float32), np.ones(n, np.float32))
    return path


def noisy_config(data, sources, generations=1):
    config = noisy_student_config.get_config(f"generations={generations}")
    config.seeds = ""  # one run in the workdir itself
    base = small_config(data, steps=30)
    for key in ("data", "model", "train", "eval"):
        config[key] = base[key]
    config.supervised = ConfigDict()  # here the first teacher, not the budget-matched control
    config.stages = "supervised," + ",".join(
        f"teacher_{g},student_{g}" for g in range(1, generations + 1)
    )
    config.pseudo.sources = sources
    config.pseudo.min_teacher_auroc = 0.0  # tiny teachers: label every task (gate: own test)
    for g in range(1, generations + 1):
        teacher = "stage:" + ("supervised" if g == 1 else f"student_{g - 1}")
        config[f"student_{g}"].train.steps = 30
        config[f"student_{g}"].init_from = teacher
        config[f"teacher_{g}"].pseudo.teacher = teacher
        config[f"teacher_{g}"].run_if_better = ""
        config[f"student_{g}"].run_if_better = ""
    config.select = ""
    return with_stage_slots(config)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("ns")
    return make_motif_shards(root / "labeled"), _unlabeled_set(root / "unlabeled")


def test_generations_run_and_teacher_inference_is_exact(sets, tmp_path):
    labeled, unlabeled = sets
    config = noisy_config(labeled, f"{labeled},{unlabeled}", generations=2)
    report = train_lib.train_and_evaluate(config, tmp_path)
    names = [s["name"] for s in report["stages"]]
    assert names == ["supervised", "teacher_1", "student_1", "teacher_2", "student_2"]
    for stage in report["stages"]:
        if stage["objective"] == "supervised":
            assert stage["metrics"]["test"]["mean"]["auroc"] > 0.5

    # The teacher's output equals the teacher applied example by example.
    graphdef, rest, params, spec = load_trained_model(tmp_path / "supervised")
    out = tmp_path / "teacher_1" / "shards"
    unlabeled_out = next(out.glob("*_unlabeled"))
    written = load_split(unlabeled_out, "train")
    predict = jax.jit(make_predict_fn(graphdef, rest, loss_type="binary", rc_average=True))
    one_by_one = np.concatenate([np.asarray(predict(params, t[None])) for t in written["tokens"]])
    np.testing.assert_allclose(written["labels"], one_by_one, atol=1e-5)  # soft labels = probs
    fields = [label_weight_field(t) for t in ("ap1", "ebox")]
    label_w = np.stack([written[f] for f in fields], axis=1)
    np.testing.assert_allclose(label_w, np.maximum(one_by_one, 1 - one_by_one), atol=1e-5)
    np.testing.assert_array_equal(written["weights"], 1.0)  # the source's example weight
    batched = batched_probabilities(
        predict, params, written["tokens"][:37], batch_size=16, mesh=make_mesh()
    )
    np.testing.assert_allclose(batched, one_by_one[:37], atol=1e-6)

    # Carried labels keep their value and are weighted by the teacher's agreement.
    labeled_out = next(out.glob("*_labeled"))
    carried = load_split(labeled_out, "train")
    original = load_split(labeled, "train")
    np.testing.assert_array_equal(carried["labels"], original["labels"])
    probs = np.concatenate([np.asarray(predict(params, t[None])) for t in carried["tokens"][:50]])
    expected = agreement_confidence(original["labels"][:50], probs)
    label_w = np.stack([carried[f] for f in fields], axis=1)
    np.testing.assert_allclose(label_w[:50], expected, atol=1e-5)
    assert load_manifest(labeled_out).metadata["homology_mode"] == "weight"
    assert report["stages"][1]["teacher_seq_per_s"] > 0


class _Killed(Exception):
    pass


def test_killed_between_generations_resumes_at_the_next(sets, tmp_path, monkeypatch):
    labeled, unlabeled = sets
    config = noisy_config(labeled, str(unlabeled), generations=1)

    def kill_in_student(stage_name, step):
        if stage_name == "student_1" and step == 5:
            raise _Killed

    monkeypatch.setattr(train_lib, "_after_step", kill_in_student)
    with pytest.raises(_Killed):
        train_lib.train_and_evaluate(config, tmp_path)
    assert (tmp_path / "teacher_1" / "done.json").exists()
    assert not (tmp_path / "student_1" / "done.json").exists()

    ran = []
    original = train_lib.run_training_stage

    def record(stage, *args, **kwargs):
        ran.append(stage.stage_name)
        return original(stage, *args, **kwargs)

    monkeypatch.setattr(train_lib, "_after_step", lambda stage_name, step: None)
    monkeypatch.setattr(train_lib, "run_training_stage", record)
    report = train_lib.train_and_evaluate(config, tmp_path)
    assert ran == ["student_1"]  # supervised and the teacher were not redone
    assert report["stages"][-1]["name"] == "student_1"


def test_default_config_describes_the_method():
    config = noisy_student_config.get_config()
    assert config.stages == (
        "pretrain,pseudo_label,teacher_1,student_1,student_1_no_pseudo,"
        "teacher_2,student_2,student_2_no_pseudo,supervised"
    )
    assert config.seeds == "0,1,2" and config.train.patience > 0
    # Controls: the student without pseudo-labels (same init, steps, noise), and supervised
    # training with the whole lineage's budget (pretrain + pseudo_label + 2 students).
    control = config.student_2_no_pseudo
    assert control.control_of == "student_2" and control.data.extra_train == ""
    assert control.init_from == config.student_2.init_from
    assert control.augment.substitution_rate == config.student_2.augment.substitution_rate
    assert config.supervised.control_of == "noisy_student"
    assert config.select == "noisy_student=pseudo_label,student_1,student_2"
    assert config.student_2.run_if_better == "student_1:pseudo_label"
    assert config.supervised.augment.max_shift == config.student_2.augment.max_shift
    stages = stage_plan.resolved_stages(config)
    budget = {s.stage_name: int(s.train.steps) for s in stages}
    # The control is tuned: 1/4, 1/2 and 1 x the lineage of each generation it may bind to.
    lineage_2 = budget["pretrain"] + budget["pseudo_label"] + budget["student_1"]
    lineage_2 += budget["student_2"]
    assert "supervised" not in budget
    assert budget["supervised_student_2_x1"] == lineage_2 == 1600
    assert budget["supervised_student_2_x0.5"] == 800
    assert budget["supervised_student_2_x0.25"] == 400
    assert budget["supervised_student_1_x1"] == 1200
    assert budget["supervised_pseudo_label_x1"] == 800
    assert config.pretrain.data.extra_train == "toy:homology"
    assert config.student_2.data.extra_train == "stage:teacher_2@0.333"
    assert config.student_1.augment.substitution_rate > 0
    big = noisy_student_config.get_config("student_scale=2")
    assert big.student_1.model.hparams.num_filters == 2 * config.model.hparams.num_filters
    with pytest.raises(ValueError, match="unknown option 'generation'"):
        noisy_student_config.get_config("generation=3")
    assert isinstance(config.teacher_1, ConfigDict)


@requires_opt_in
def test_two_processes_run_a_generation_and_agree_with_one(sets, tmp_path):
    """Teacher labeling and the student in a 2-process run: the same pseudo-labels as 1 process."""
    labeled, unlabeled = sets
    body = f"""
from tests.test_noisy_student import noisy_config
from jaxssl.train import train_and_evaluate
report = train_and_evaluate(noisy_config({str(labeled)!r}, {str(unlabeled)!r}),
                            {str(tmp_path / "two")!r})
print("RESULT" + json.dumps({{"stages": [s["name"] for s in report["stages"]]}}))
"""
    results = run_in_two_processes(body, tmp_path)
    assert results[0]["stages"] == ["supervised", "teacher_1", "student_1"]
    assert results[1]["stages"] == results[0]["stages"]
    two = next((tmp_path / "two" / "teacher_1" / "shards").glob("*_unlabeled"))
    written = load_split(two, "train")
    # The teacher of the 2-process run, applied here in one process, gives the same labels.
    graphdef, rest, params, _ = load_trained_model(tmp_path / "two" / "supervised")
    predict = jax.jit(make_predict_fn(graphdef, rest, loss_type="binary", rc_average=True))
    expected = batched_probabilities(
        predict, params, written["tokens"], batch_size=64, mesh=make_mesh()
    )
    np.testing.assert_allclose(written["labels"], expected, atol=1e-5)
    report = json.loads((tmp_path / "two" / "report.json").read_text())
    assert report["stages"][2]["metrics"]["test"]["mean"]["auroc"] > 0.5


def test_controls_follow_overrides_of_their_method():
    """--config.student_1.train.steps=50 moves its control too; the budget follows the lineage."""
    config = noisy_student_config.get_config()
    config.student_1.train.steps = 50
    config.student_2.augment.max_shift = 7
    names = config.stages.split(",")
    del names
    stages = {s.stage_name: s for s in stage_plan.resolved_stages(config)}
    assert stages["student_1_no_pseudo"].train.steps == 50
    assert stages["student_1_no_pseudo"].init_from == stages["student_1"].init_from
    assert stages["student_2_no_pseudo"].augment.max_shift == 7
    # Each variant takes the noise of the generation it binds to.
    assert stages["supervised_student_2_x1"].augment.max_shift == 7
    assert stages["supervised_student_1_x1"].augment.max_shift == 5
    assert stages["supervised_student_2_x1"].init_from == ""  # still from scratch
    assert stages["supervised_student_2_x1"].train.steps == 400 + 400 + 50 + 400
    assert stages["supervised_student_1_x1"].train.steps == 400 + 400 + 50
    assert stages["student_1_no_pseudo"].data.extra_train == ""
