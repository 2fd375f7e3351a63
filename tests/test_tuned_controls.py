"""Controls tuned as hard as their method: budgets chosen on validation, lineages, binding, keys."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx
from ml_collections import ConfigDict

import configs.noisy_student as noisy_student_config
from jaxssl import stage_plan
from jaxssl import train as train_lib
from jaxssl.config import resolve_stage, seed_variation, with_stage_slots
from jaxssl.data.pipeline import load_split
from jaxssl.data.writer import ShardSetWriter
from jaxssl.errors import ConfigError
from jaxssl.rng import PURPOSES, data_seed, purpose_key
from tests.synthetic import make_motif_shards
from tests.test_train import small_config


def test_larger_student_lineage_counts_the_teacher_chain():
    """student_scale=2 starts students from scratch, yet they owe everything to the teachers."""
    config = noisy_student_config.get_config("student_scale=2")
    stages = {s.stage_name: s for s in stage_plan.resolved_stages(config)}
    assert stages["student_2"].init_from == ""
    # pretrain + pseudo_label + student_1 + student_2 (teachers are jobs, not steps)
    assert stages["supervised_student_2_x1"].train.steps == 1600
    assert stages["supervised_student_2_x0.25"].train.steps == 400
    assert stages["supervised_student_1_x0.5"].train.steps == 600
    assert stage_plan.lineage("student_2", stages, list(stages))[:3] == [
        "student_2",
        "teacher_2",
        "student_1",
    ]
    # Each variant takes the model of the generation it binds to (the wider student's here).
    wide = stages["student_2"].model.hparams.num_filters
    assert stages["supervised_student_2_x1"].model.hparams.num_filters == wide
    assert stages["supervised_pseudo_label_x1"].model.hparams.num_filters == wide // 2


def test_budget_fractions_are_checked():
    config = noisy_student_config.get_config()
    config.supervised.train.budget_fractions = "0.5,2"
    with pytest.raises(ConfigError, match=r"supervised.train.budget_fractions='0.5,2'"):
        stage_plan.resolved_stages(config)


def _result(name, valid, test, bound="", steps=100):
    return {
        "name": name,
        "best_score": valid,
        "steps": steps,
        "bound_to": bound,
        "tuned_control_of": "noisy_student",
        "variant_of": "supervised",
        "metrics": {"valid": {"mean": {"auprc": valid}}, "test": {"mean": {"auprc": test}}},
    }


def test_control_follows_the_kept_generation_and_picks_on_validation_only():
    results = [
        {"name": "pseudo_label", "best_score": 0.60},
        {"name": "student_1", "best_score": 0.65},
        {"name": "student_2", "best_score": 0.64},  # no better than student_1: not kept
    ]
    chosen = ("noisy_student", ["pseudo_label", "student_1", "student_2"])
    assert stage_plan.kept_stage(results, chosen[1]) == "student_1"
    bound_2 = ConfigDict({"bound_to": "student_2"})
    bound_1 = ConfigDict({"bound_to": "student_1"})
    assert "kept 'student_1'" in stage_plan.unbound_reason(bound_2, results, chosen)
    assert stage_plan.unbound_reason(bound_1, results, chosen) == ""

    variants = ["s1_x0.25", "s1_x0.5", "s1_x1", "s2_x1"]
    results += [
        _result("s1_x0.25", 0.70, 0.50, "student_1", 25),
        _result("s1_x0.5", 0.72, 0.40, "student_1", 50),  # best on validation, worst on test
        _result("s1_x1", 0.71, 0.90, "student_1", 100),
        _result("s2_x1", 0.99, 0.99, "student_2", 100),  # bound to a generation not kept
    ]
    chosen_control = stage_plan.select_tuned_control(results, "supervised", variants, "student_1")
    assert chosen_control["selected"] == "s1_x0.5"
    assert chosen_control["name"] == "supervised"
    assert chosen_control["control_of"] == "noisy_student"
    assert chosen_control["metrics"]["test"]["mean"]["auprc"] == 0.40
    assert set(chosen_control["budget_choices"]) == {"s1_x0.25", "s1_x0.5", "s1_x1"}
    # A tie goes to the smaller budget.
    results[-3]["best_score"] = 0.70
    results[-2]["best_score"] = 0.70
    tie = stage_plan.select_tuned_control(results, "supervised", variants, "student_1")
    assert tie["selected"] == "s1_x0.25"


def _with_test_labels_flipped(source, out):
    with ShardSetWriter(out, seq_len=40, task_names=["ap1", "ebox"], command="test") as writer:
        for split in ("train", "valid", "test"):
            cols = load_split(source, split)
            labels = 1.0 - cols["labels"] if split == "test" else cols["labels"]
            writer.add_batch(split, cols["tokens"], labels, cols["weights"], genome="synth")
    return out


def _tuned_config(data):
    config = small_config(data, steps=40)
    config.stages = "method,control"
    config.method = ConfigDict()
    config.control = ConfigDict(
        {
            "train": {"budget_of": "method", "budget_fractions": "0.25,0.5,1"},
            "control_of": "method",
        }
    )
    return with_stage_slots(config)


@pytest.mark.slow
def test_tuned_control_end_to_end_ignores_test_labels(tmp_path):
    data = make_motif_shards(tmp_path / "data")
    flipped = _with_test_labels_flipped(data, tmp_path / "flipped")
    runs = [
        train_lib.train_and_evaluate(_tuned_config(d), tmp_path / f"run_{i}")
        for i, d in enumerate((data, flipped))
    ]
    for report in runs:
        names = [s["name"] for s in report["stages"]]
        assert names == ["method", "control_x0.25", "control_x0.5", "control_x1", "control"]
        steps = {s["name"]: s["steps"] for s in report["stages"]}
        assert (steps["control_x0.25"], steps["control_x0.5"], steps["control_x1"]) == (10, 20, 40)
        control = report["stages"][-1]
        assert control["control_of"] == "method" and control["objective"] == "selection"
        best = max(control["budget_choices"].values(), key=lambda c: c["best_score"])
        assert control["best_score"] == best["best_score"]
    a, b = (r["stages"][-1] for r in runs)
    assert a["selected"] == b["selected"]
    assert a["metrics"]["valid"]["mean"] == b["metrics"]["valid"]["mean"]
    assert a["metrics"]["test"]["mean"]["auroc"] == pytest.approx(
        1 - b["metrics"]["test"]["mean"]["auroc"], abs=1e-4
    )


def _bits(key) -> list[int]:
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key).ravel().tolist()


def test_keys_differ_by_purpose_and_seed():
    keys = {p: _bits(purpose_key(0, p)) for p in PURPOSES}
    assert len({str(k) for k in keys.values()}) == len(PURPOSES)
    assert _bits(purpose_key(1, "init")) != _bits(purpose_key(0, "init"))
    # The old collision: nnx's init draws and step t's key were both fold_in(PRNGKey(s), t).
    init_draw = nnx.Rngs(purpose_key(0, "init")).params()
    step_0 = jax.random.fold_in(purpose_key(0, "step"), 0)
    assert _bits(init_draw) != _bits(step_0)
    assert _bits(purpose_key(0, "heads")) != _bits(jax.random.PRNGKey(1))  # not seed 1's stream
    assert data_seed(0) != data_seed(1) and data_seed(0) not in (0, 1)
    with pytest.raises(KeyError, match="purpose"):
        purpose_key(0, "dropout_typo")


def test_label_subset_follows_the_seed_unless_pinned():
    config = noisy_student_config.get_config()
    config.data.max_positives = 25
    config.seed = 3
    assert resolve_stage(config, "pretrain").data.label_seed == 3
    assert (
        "label subset (data.label_seed follows the seed) and its pool"
        in (seed_variation(config)["varied"])
    )
    config.data.label_seed = 0
    assert resolve_stage(config, "pretrain").data.label_seed == 0
    assert "label subset (data.label_seed=0)" in seed_variation(config)["pinned"]
    assert any("toy world" in p for p in seed_variation(config)["pinned"])
