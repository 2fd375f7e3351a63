"""A finished stage trained by another version of its objective is stale, like a changed config.

The records are written on disk by hand (as an older jaxssl would have left them), so no
stage trains: the check runs before any training.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ml_collections import ConfigDict

from jaxssl import train as train_lib
from jaxssl.config import with_stage_slots
from jaxssl.errors import StaleStageError
from jaxssl.objectives import available_objectives, get_objective
from jaxssl.stage_plan import StagePlan, check_stored_configs, plan_stages
from jaxssl.stored_config import VERSION_KEY, record_hash, write_record
from tests.synthetic import make_motif_shards
from tests.test_self_distill_train import tiny_config
from tests.test_train import small_config


@pytest.fixture(scope="module")
def motif_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("version_data") / "motifs"
    return make_motif_shards(root, seq_len=32, n_train=128, n_eval=40)


def _finished(sp: StagePlan, record: dict) -> None:
    """The stage directory a finished run leaves: its record and done.json."""
    sp.stage_dir.mkdir(parents=True)
    write_record(sp.stage_dir, record)
    done = {"name": sp.stage.stage_name, "objective": sp.stage.objective, "metrics": {}}
    (sp.stage_dir / "done.json").write_text(json.dumps(done))


def _without_version(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != VERSION_KEY}


def test_every_objective_declares_a_version_and_records_store_it(motif_data, tmp_path):
    versions = {name: get_objective(name).VERSION for name in available_objectives()}
    assert versions == {"self_distill": 3, "supervised": 1}
    pretrain, finetune = plan_stages(tiny_config(motif_data), tmp_path / "w").stages
    assert pretrain.record[VERSION_KEY] == 3
    assert finetune.record[VERSION_KEY] == 1


@pytest.mark.parametrize(
    ("stored_version", "shown"), [(2, "stored 2"), (None, "stored none (made before versions)")]
)
def test_self_distill_stage_of_another_version_is_refused(
    motif_data, tmp_path, stored_version, shown
):
    config = tiny_config(motif_data)
    workdir = tmp_path / "w"
    pretrain, finetune = plan_stages(config, workdir).stages
    old = _without_version(pretrain.record)
    if stored_version is not None:
        old[VERSION_KEY] = stored_version
    _finished(pretrain, old)
    _finished(finetune, {**finetune.record, "upstream": {"pretrain": record_hash(old)}})
    done_before = (pretrain.stage_dir / "done.json").read_text()

    with pytest.raises(StaleStageError) as err:
        train_lib.train_and_evaluate(config, workdir)
    first = str(err.value).splitlines()[0]  # one line per stale stage, pretrain's first
    assert first.startswith(f"stage 'pretrain' in {pretrain.stage_dir}")
    assert f"objective 'self_distill' version: {shown}, now 3" in first
    assert "--config.rerun=pretrain" in first and "new --workdir" in first
    assert "stage pretrain it builds on changed" in str(err.value)  # finetune, as for a config
    assert (pretrain.stage_dir / "done.json").read_text() == done_before  # refused, not touched

    # --config.rerun=pretrain replaces it and the stage built on it, as after a config change.
    check_stored_configs(plan_stages(config, workdir), rerun={"pretrain"})
    assert not pretrain.stage_dir.exists() and not finetune.stage_dir.exists()


def test_stage_of_the_same_version_is_reused(motif_data, tmp_path):
    plan = plan_stages(tiny_config(motif_data), tmp_path / "w")
    for sp in plan.stages:
        _finished(sp, sp.record)
    check_stored_configs(plan, rerun=set())
    assert all((sp.stage_dir / "done.json").is_file() for sp in plan.stages)


def _two_supervised_stages(data: Path) -> ConfigDict:
    config = small_config(data, steps=20)
    del config["supervised"]
    config.stages = "first,second"
    config.first = ConfigDict()
    config.second = ConfigDict({"init_from": "prev"})
    return with_stage_slots(config)


def test_supervised_record_without_a_version_is_reused_with_its_dependents(motif_data, tmp_path):
    """Version 1 is what a record from before versions means; the stored record is kept as
    written, so the stage built on it still names the hash it was made with."""
    plan = plan_stages(_two_supervised_stages(motif_data), tmp_path / "w")
    first, second = plan.stages
    old_first = _without_version(first.record)
    old_second = {
        **_without_version(second.record),
        "upstream": {"first": record_hash(old_first)},
    }
    _finished(first, old_first)
    _finished(second, old_second)
    check_stored_configs(plan, rerun=set())  # nothing stale
    assert [sp.record for sp in plan.stages] == [old_first, old_second]
    assert (first.stage_dir / "done.json").is_file() and (second.stage_dir / "done.json").is_file()

    # A supervised record naming another version is refused all the same.
    other = plan_stages(_two_supervised_stages(motif_data), tmp_path / "v").stages[0]
    _finished(other, {**other.record, VERSION_KEY: 2})
    with pytest.raises(StaleStageError, match=r"objective 'supervised' version: stored 2, now 1"):
        check_stored_configs(plan_stages(_two_supervised_stages(motif_data), tmp_path / "v"), set())
