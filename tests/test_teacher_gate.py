"""The teacher gate (pseudo.min_teacher_auroc, pseudo.teacher_auroc_z): which teachers may
label, that a refusal is a WARNING, and the fields the teacher stage's result reports."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from ml_collections import ConfigDict

from jaxssl import train as train_lib
from jaxssl.metrics import auroc
from jaxssl.pseudo_labels import (
    DEFAULT_MIN_TEACHER_AUROC,
    DEFAULT_TEACHER_AUROC_Z,
    chance_auroc_sd,
    teacher_auroc_bar,
    trusted_tasks,
)
from jaxssl.teacher import gate_result, teacher_trust

DEFAULTS = (DEFAULT_MIN_TEACHER_AUROC, DEFAULT_TEACHER_AUROC_Z)


def _valid(auroc_value: float, positives: int, negatives: int) -> dict:
    return {"auroc": auroc_value, "count": positives + negatives, "positives": positives}


def test_chance_sd_matches_a_blind_scorer():
    """The null SD the gate uses is the spread of a random scorer's AUROC (20 vs 200)."""
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(20, bool), np.zeros(200, bool)]
    values = [auroc(labels, rng.random(220)) for _ in range(600)]
    assert np.mean(values) == pytest.approx(0.5, abs=0.01)
    assert np.std(values) == pytest.approx(chance_auroc_sd(20, 200), rel=0.1)
    assert chance_auroc_sd(0, 10) == float("inf")


def test_default_gate_trusts_a_teacher_that_ranks_and_refuses_one_at_chance():
    tasks = ["scarce", "weak", "lucky", "blind_big", "unknown", "no_sizes"]
    valid = {
        "scarce": _valid(0.65, 500, 500),  # 25 training positives: ranks, must pass
        "weak": _valid(0.56, 500, 500),  # above the floor and above chance on 1,000
        "lucky": _valid(0.65, 4, 176),  # 4 validation positives: 0.65 is one null SD
        "blind_big": _valid(0.52, 5000, 5000),  # significant, but below the floor
        "unknown": {"auroc": float("nan")},
        "no_sizes": {"auroc": 0.56},  # an older done.json: the floor alone
    }
    trusted = trusted_tasks(valid, tasks, *DEFAULTS)
    np.testing.assert_array_equal(trusted, [True, True, False, False, True, True])
    # The old default (0.7, no size test) refused the scarce-label teacher.
    assert not trusted_tasks(valid, ["scarce"], 0.7)[0]
    # z = 0: the floor only, so the lucky teacher passes.
    assert trusted_tasks(valid, ["lucky"], DEFAULT_MIN_TEACHER_AUROC, 0.0)[0]


def test_bar_values():
    assert DEFAULTS == (0.55, 2.33)
    assert teacher_auroc_bar(500, 500, *DEFAULTS) == 0.55  # the floor binds (chance bar 0.543)
    assert teacher_auroc_bar(20, 980, *DEFAULTS) == pytest.approx(0.652, abs=0.001)
    assert teacher_auroc_bar(4, 176, *DEFAULTS) == pytest.approx(0.841, abs=0.001)
    assert teacher_auroc_bar(None, None, *DEFAULTS) == 0.55


def _teacher_dir(tmp_path, valid: dict):
    (tmp_path / "done.json").write_text(json.dumps({"metrics": {"valid": valid}}))
    return tmp_path


def _stage(**pseudo) -> ConfigDict:
    return ConfigDict({"stage_name": "teacher_1", "pseudo": pseudo})


def test_refusal_is_a_warning_naming_task_auroc_and_key(tmp_path, caplog):
    teacher = _teacher_dir(tmp_path, {"CTCF": _valid(0.9, 50, 50), "SPI1": _valid(0.57, 8, 300)})
    stage = _stage(min_teacher_auroc=0.55, teacher_auroc_z=2.33)
    with caplog.at_level(logging.WARNING, logger="jaxssl"):
        trusted = teacher_trust(stage, teacher, ["CTCF", "SPI1"])
    np.testing.assert_array_equal(trusted, [True, False])
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = record.getMessage()
    assert "SPI1" in text and "0.570" in text and "config.pseudo.min_teacher_auroc" in text
    assert "CTCF" not in text


def test_closed_gate_is_said_and_off_means_off(tmp_path, caplog):
    teacher = _teacher_dir(tmp_path, {"a": _valid(0.51, 40, 40), "b": _valid(0.5, 40, 40)})
    with caplog.at_level(logging.WARNING, logger="jaxssl"):
        trusted = teacher_trust(_stage(min_teacher_auroc=0.55), teacher, ["a", "b"])
    assert not trusted.any()
    assert any("closed on every task" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="jaxssl"):
        trusted = teacher_trust(_stage(min_teacher_auroc=0.0), teacher, ["a", "b"])
    assert trusted.all() and not caplog.records


def test_gate_result_fields():
    summaries = [{"source": "/s/pool", "labels_used": 0.0}, {"source": "/s/hom", "labels_used": 1}]
    out = gate_result(["a", "b"], np.array([False, False]), summaries)
    assert out == {
        "trusted_tasks": [],
        "untrusted_tasks": ["a", "b"],
        "gate_closed": True,
        "labels_used": {"/s/pool": 0.0, "/s/hom": 1},
    }
    out = gate_result(["a", "b"], np.array([True, False]), summaries)
    assert out["untrusted_tasks"] == ["b"] and out["gate_closed"] is False


def test_teacher_stage_reports_a_closed_gate(tmp_path):
    """A real teacher stage whose gate nobody passes: done.json says so, per source."""
    from tests.synthetic import make_motif_shards
    from tests.test_noisy_student import _unlabeled_set, noisy_config

    labeled = make_motif_shards(tmp_path / "labeled", n_train=128, n_eval=64)
    unlabeled = _unlabeled_set(tmp_path / "unlabeled", n=60)
    config = noisy_config(labeled, f"{labeled},{unlabeled}")
    config.supervised.train.steps = 8
    config.stages = "supervised,teacher_1"
    config.teacher_1.pseudo.min_teacher_auroc = 1.01  # no task passes
    train_lib.train_and_evaluate(config, tmp_path / "run")
    done = json.loads((tmp_path / "run" / "teacher_1" / "done.json").read_text())
    assert done["gate_closed"] is True
    assert done["untrusted_tasks"] == ["ap1", "ebox"] and done["trusted_tasks"] == []
    used = done["labels_used"]
    assert set(used) == {str(labeled), str(unlabeled)}
    assert used[str(unlabeled)] == 0.0  # nothing carried, nothing labeled: the method is off
    assert used[str(labeled)] == 1.0  # carried labels kept as they are
    assert [s["labels_used"] for s in done["pseudo_labels"]] == [1.0, 0.0]


def test_closed_gate_is_loud_in_the_tables():
    from jaxssl.report import format_seed_table, gate_warnings

    stages = [
        {"name": "teacher_1", "gate_closed": True, "untrusted_tasks": ["a"]},
        {"name": "teacher_2", "gate_closed": False, "untrusted_tasks": ["b"]},
    ]
    lines = gate_warnings(stages)
    assert any(line.startswith("WARNING: teacher_1: the teacher gate was closed") for line in lines)
    assert "note: teacher_2: the teacher gate refused tasks ['b'] (labels kept)" in lines
    summary = {
        "seeds": [0, 1],
        "stages": {
            "teacher_1": {"gate_closed": [True, False], "steps_run": [None, None]},
            "student_1": {
                "steps_run": [10, 10],
                "test": {"mean": {"auprc": {"mean": 0.5, "sd": 0.0, "values": [0.5, 0.5]}}},
            },
        },
        "comparisons": [],
    }
    assert "closed in 1 of 2 seeds" in format_seed_table(summary)


def test_stage_warnings_reach_the_seed_table():
    from jaxssl.report import format_seed_table, seed_summary

    def stage(warnings):
        metrics = {"mean": {"auprc": 0.5, "auroc": 0.5, "mcc": 0.0, "accuracy": 0.5}}
        return {"name": "supervised", "warnings": warnings, "metrics": {"test": metrics}}

    summary = seed_summary([[stage(["test split: one class"])], [stage([])]], [0, 1])
    assert summary["stages"]["supervised"]["warnings"] == ["test split: one class"]
    assert "WARNING: supervised: test split: one class" in format_seed_table(summary)
