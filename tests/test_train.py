"""The trainer end to end on a tiny planted-motif shard set (CPU, seconds per run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import configs.supervised as supervised_config
from jaxssl import train as train_lib
from jaxssl.config import ConfigError
from jaxssl.metric_writer import read_metrics
from tests.multiprocess import requires_opt_in, run_in_two_processes
from tests.synthetic import make_motif_shards

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def motif_data(tmp_path_factory) -> Path:
    return make_motif_shards(tmp_path_factory.mktemp("data") / "motifs")


def small_config(data: Path, steps: int = 60, **hparams):
    config = supervised_config.get_config()
    config.data.path = str(data)
    config.model.hparams.num_filters = 32
    for key, value in hparams.items():
        config.model.hparams[key] = value
    config.train.steps = steps
    config.train.batch_size = 64
    config.train.warmup_steps = 5
    config.train.learning_rate = 3e-3
    config.train.log_every = 10
    config.train.eval_every = 20
    config.train.checkpoint_every = 10
    config.train.progress_bar = False
    config.eval.batch_size = 64
    return config


def test_learns_planted_motifs_and_writes_outputs(motif_data, tmp_path, capsys):
    report = train_lib.train_and_evaluate(small_config(motif_data, steps=120), tmp_path)
    stage = report["stages"][0]
    assert stage["name"] == "supervised" and stage["objective"] == "supervised"
    test = stage["metrics"]["test"]
    assert set(test) == {"ap1", "ebox", "mean"}
    assert set(test["mean"]) == {"auroc", "auprc", "mcc", "accuracy"}
    assert test["mean"]["auroc"] > 0.75, test  # random guessing gives 0.5
    assert test["ap1"]["count"] == 128
    assert json.loads((tmp_path / "report.json").read_text())["stages"][0]["name"] == "supervised"
    out = capsys.readouterr().out
    assert "test metrics" in out and "ebox" in out
    assert (tmp_path / "report.png").stat().st_size > 0
    stage_dir = tmp_path / "supervised"
    for name in ("training_curves.png", "test_roc_pr.png", "model.json", "done.json"):
        assert (stage_dir / name).stat().st_size > 0, name
    assert list((stage_dir / "tensorboard").glob("events.out.tfevents.*"))
    records = read_metrics(stage_dir)
    train_steps = [r["step"] for r in records if r["split"] == "train"]
    assert train_steps == list(range(10, 121, 10))
    assert [r["step"] for r in records if r["split"] == "valid"] == [20, 40, 60, 80, 100, 120]
    losses = [r["training_loss"] for r in records if r["split"] == "train"]
    assert losses[-1] < losses[0]
    assert 0 < stage["best_step"] <= 120


def test_completed_stage_is_skipped(motif_data, tmp_path, monkeypatch):
    config = small_config(motif_data, steps=20)
    first = train_lib.train_and_evaluate(config, tmp_path)

    def fail(*args, **kwargs):
        raise AssertionError("a completed stage must not run again")

    monkeypatch.setattr(train_lib, "run_training_stage", fail)
    assert train_lib.train_and_evaluate(config, tmp_path) == first


class _Killed(Exception):
    pass


def test_resume_after_kill_matches_uninterrupted_run(motif_data, tmp_path, monkeypatch):
    config = small_config(motif_data, steps=40)
    straight = train_lib.train_and_evaluate(config, tmp_path / "straight")

    def kill_at_25(stage_name: str, step: int) -> None:
        if step == 25:  # after checkpoint 20, before checkpoint 30: steps 21-25 are lost
            raise _Killed

    monkeypatch.setattr(train_lib, "_after_step", kill_at_25)
    with pytest.raises(_Killed):
        train_lib.train_and_evaluate(config, tmp_path / "resumed")
    assert not (tmp_path / "resumed" / "supervised" / "done.json").exists()
    monkeypatch.setattr(train_lib, "_after_step", lambda stage_name, step: None)
    resumed = train_lib.train_and_evaluate(config, tmp_path / "resumed")

    a, b = straight["stages"][0], resumed["stages"][0]
    assert a["best_step"] == b["best_step"]
    for split in ("valid", "test"):
        for task in ("ap1", "ebox", "mean"):
            for metric in ("auroc", "auprc", "mcc"):
                assert a["metrics"][split][task][metric] == pytest.approx(
                    b["metrics"][split][task][metric], abs=1e-6
                )
    train_records = [
        [r for r in read_metrics(d / "supervised") if r["split"] == "train"]
        for d in (tmp_path / "straight", tmp_path / "resumed")
    ]
    losses = [{r["step"]: r["training_loss"] for r in records} for records in train_records]
    assert losses[0][40] > 0
    assert losses[0][40] == pytest.approx(losses[1][40], rel=1e-5)


def test_config_errors_name_the_key(motif_data, tmp_path):
    config = small_config(motif_data)
    config.model.name = "transformer9000"
    with pytest.raises(ConfigError, match="config.model.name='transformer9000'"):
        train_lib.train_and_evaluate(config, tmp_path)
    config = small_config(motif_data)
    config.data.path = str(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="config.data.path=.*no manifest.json"):
        train_lib.train_and_evaluate(config, tmp_path)
    config = small_config(motif_data)
    config.train.selection_metric = "f1"
    with pytest.raises(ConfigError, match="selection_metric"):
        train_lib.train_and_evaluate(config, tmp_path)
    config = small_config(motif_data)
    config.supervised = {"train": {"stepz": 3}}
    with pytest.raises(ConfigError, match="config.supervised.train.stepz is not a known setting"):
        train_lib.train_and_evaluate(config, tmp_path)
    config = small_config(motif_data)
    config.supervised = {"init_from": "stage:pretrain"}
    with pytest.raises(ConfigError, match="names stage 'pretrain', which does not run before"):
        train_lib.train_and_evaluate(config, tmp_path)
    assert not list(tmp_path.glob("*/checkpoints"))  # nothing was trained


def test_unknown_model_hparam_is_refused(motif_data, tmp_path):
    config = small_config(motif_data)
    config.model.hparams.filter_widht = 9
    with pytest.raises(ValueError, match="filter_widht"):
        train_lib.train_and_evaluate(config, tmp_path)


def test_diverging_loss_stops_with_the_step(motif_data, tmp_path):
    config = small_config(motif_data, steps=20)
    config.train.learning_rate = 1e30
    config.train.warmup_steps = 0
    config.train.grad_clip_norm = 1e30
    with pytest.raises(train_lib.TrainingDiverged, match=r"at step \d+"):
        train_lib.train_and_evaluate(config, tmp_path)


def test_init_from_loads_weights_and_refuses_other_architectures(motif_data, tmp_path):
    train_lib.train_and_evaluate(small_config(motif_data, steps=20), tmp_path / "pre")
    source = tmp_path / "pre" / "supervised"

    config = small_config(motif_data, steps=20)
    config.init_from = str(source)
    stage = train_lib.resolve_stage(config, "supervised")
    data = train_lib.resolve_stage_data(stage)
    model, spec = train_lib.build_stage_model(stage, data)
    fresh = train_lib.split_model(model)[1]
    loaded = train_lib.initial_params(stage, None, spec, fresh)
    expected = train_lib.restore_params(source, fresh)
    for a, b in zip(
        np.concatenate([np.ravel(x) for x in __import__("jax").tree.leaves(loaded)]),
        np.concatenate([np.ravel(x) for x in __import__("jax").tree.leaves(expected)]),
        strict=True,
    ):
        assert a == b

    stage.init_exclude = "head"
    partial = train_lib.initial_params(stage, None, spec, fresh)
    np.testing.assert_array_equal(partial["head"]["kernel"], fresh["head"]["kernel"])
    np.testing.assert_array_equal(partial["motifs"]["kernel"], expected["motifs"]["kernel"])

    other = small_config(motif_data, steps=20, num_filters=16)
    other.init_from = str(source)
    with pytest.raises(ValueError, match="architecture mismatch.*num_filters"):
        train_lib.train_and_evaluate(other, tmp_path / "other")


_MULTI_DEVICE_SCRIPT = """
import json, sys
sys.path.insert(0, {repo!r})
import jax
from tests.test_train import small_config
from jaxssl.train import train_and_evaluate
from jaxssl.metric_writer import read_metrics
config = small_config({data!r}, steps=30)
config.train.dtype = "float32"
report = train_and_evaluate(config, {workdir!r})
records = read_metrics({workdir!r} + "/supervised")
losses = [r["training_loss"] for r in records if r["split"] == "train"]
print("RESULT" + json.dumps({{"devices": jax.device_count(), "losses": losses,
      "test": report["stages"][0]["metrics"]["test"]["mean"]}}))
"""


def _run_with_devices(n: int, data: Path, workdir: Path) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
    code = _MULTI_DEVICE_SCRIPT.format(repo=str(REPO), data=str(data), workdir=str(workdir))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def test_one_and_eight_devices_give_the_same_result(motif_data, tmp_path):
    one = _run_with_devices(1, motif_data, tmp_path / "one")
    eight = _run_with_devices(8, motif_data, tmp_path / "eight")
    assert (one["devices"], eight["devices"]) == (1, 8)
    np.testing.assert_allclose(one["losses"], eight["losses"], rtol=1e-4)
    for metric in ("auroc", "auprc", "mcc", "accuracy"):
        assert one["test"][metric] == pytest.approx(eight["test"][metric], abs=1e-4)


def test_frozen_layers_do_not_move(motif_data, tmp_path):
    train_lib.train_and_evaluate(small_config(motif_data, steps=20), tmp_path / "pre")
    source = tmp_path / "pre" / "supervised"
    config = small_config(motif_data, steps=20)
    config.init_from = str(source)
    config.train.freeze = "motifs"
    train_lib.train_and_evaluate(config, tmp_path / "fine")
    stage = train_lib.resolve_stage(config, "supervised")
    model, _ = train_lib.build_stage_model(stage, train_lib.resolve_stage_data(stage))
    like = train_lib.split_model(model)[1]
    before = train_lib.restore_params(source, like)
    after = train_lib.restore_params(tmp_path / "fine" / "supervised", like)
    np.testing.assert_array_equal(before["motifs"]["kernel"], after["motifs"]["kernel"])
    assert not np.array_equal(before["head"]["kernel"], after["head"]["kernel"])

    config.train.freeze = "motif"
    with pytest.raises(ValueError, match="config.train.freeze: \\['motif'\\] match no parameter"):
        train_lib.train_and_evaluate(config, tmp_path / "typo")


@requires_opt_in
def test_two_processes_on_localhost_train_one_model(motif_data, tmp_path):
    """JAX's multi-controller runtime as on a TPU pod, with 2 CPU processes here."""
    body = f"""
from tests.test_train import small_config
from jaxssl.train import train_and_evaluate
report = train_and_evaluate(small_config({str(motif_data)!r}, steps=30), {str(tmp_path / "run")!r})
print("RESULT" + json.dumps({{"process": jax.process_index(), "devices": jax.device_count(),
      "test": report["stages"][0]["metrics"]["test"]["mean"]}}))
"""
    results = run_in_two_processes(body, tmp_path)
    assert sorted(r["process"] for r in results) == [0, 1]
    assert all(r["devices"] == 2 for r in results)
    assert results[0]["test"] == results[1]["test"]  # one model, evaluated identically
    assert results[0]["test"]["auroc"] > 0.5
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["stages"][0]["metrics"]["test"]["mean"] == pytest.approx(results[0]["test"])
    assert (tmp_path / "run" / "supervised" / "checkpoints").is_dir()
