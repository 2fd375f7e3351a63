"""configs/pseudo_label.py: its stages, and a tiny end-to-end run on a small toy world."""

from __future__ import annotations

import json

import pytest
from ml_collections import ConfigDict

import configs.pseudo_label as pseudo_label_config
from jaxssl import stage_plan
from jaxssl import train as train_lib
from jaxssl.config import resolve_stage
from tests.test_homology import SMALL


def test_stages_compare_supervised_with_pretrain_then_finetune():
    config = pseudo_label_config.get_config()
    assert config.stages == "pretrain,finetune,supervised"
    assert config.seeds == "0,1,2"
    sup, pre, fine = (resolve_stage(config, s) for s in ("supervised", "pretrain", "finetune"))
    assert sup.data.use_labeled_train and sup.data.extra_train == "" and sup.init_from == ""
    # the matched control: every step of pretrain + finetune as its maximum budget
    assert sup.control_of == "finetune" and sup.train.budget_of == "finetune"
    # tuned: one annealed run per fraction of that budget, chosen on validation
    budgets = {s.stage_name: s.train.steps for s in stage_plan.resolved_stages(config)}
    lineage = pre.train.steps + fine.train.steps
    assert {k: v for k, v in budgets.items() if k.startswith("supervised")} == {
        "supervised_x0.25": lineage // 4,
        "supervised_x0.5": lineage // 2,
        "supervised_x1": lineage,
    }
    assert not pre.data.use_labeled_train and pre.data.extra_train == "toy:homology"
    assert pre.init_from == "" and fine.init_from == "prev" and fine.data.extra_train == ""
    assert "learning_rate" in config.finetune.train  # its own, whatever the shared one says
    config.train.learning_rate = 5e-3
    assert resolve_stage(config, "finetune").train.learning_rate == fine.train.learning_rate
    assert {s.model.name for s in (sup, pre, fine)} == {"deepbind"}
    assert resolve_stage(pseudo_label_config.get_config("basset"), "finetune").model.name == (
        "basset"
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAXSSL_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.mark.slow
def test_tiny_pretrain_then_finetune_reports_every_tf(cache, tmp_path, capsys):
    """The two pseudo-label stages for real (the supervised stage is test_train's business)."""
    config = pseudo_label_config.get_config()
    config.stages = "pretrain,finetune"
    config.seeds = ""
    config.data.toy_world = ConfigDict({**SMALL.to_dict(), "window": 200})
    config.model.hparams.num_filters = 16
    config.train.batch_size = 64
    config.train.warmup_steps = 5
    config.train.log_every = 10
    config.train.eval_every = 10
    config.train.checkpoint_every = 10
    config.train.progress_bar = False
    config.eval.batch_size = 256
    for stage in ("pretrain", "finetune"):
        config[stage].train.steps = 10
    report = train_lib.train_and_evaluate(config, tmp_path)
    stages = report["stages"]
    assert [s["name"] for s in stages] == ["pretrain", "finetune"]
    tfs = set(SMALL.tfs)
    for stage in stages:
        assert set(stage["metrics"]["test"]) == tfs | {"mean"}, stage["name"]
    sources = stages[0]["data"]["train_sources"]
    assert [s["path"].rsplit("/", 2)[1:] for s in sources] == [
        ["homology_w200", "sp1"],
        ["homology_w200", "sp2"],
    ]
    assert [s["proportion"] for s in sources] == [0.5, 0.5]
    (finetune_source,) = stages[1]["data"]["train_sources"]
    assert finetune_source["path"] == stages[0]["data"]["labeled"]
    assert finetune_source["split"] == "train" and "labeled_w200" in finetune_source["path"]
    saved = json.loads((tmp_path / "report.json").read_text())["stages"]
    assert [s["name"] for s in saved] == ["pretrain", "finetune"]
    out = capsys.readouterr().out
    assert "finetune" in out and SMALL.rare_tf in out
