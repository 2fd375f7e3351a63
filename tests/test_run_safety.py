"""Run safety (issues 10 and 16): workdir lock, stale-config refusal, checkpoint fallback,
up-front validation, early stopping, seeds, task-name checks, one-line CLI and save errors.

Every run is a few tens of steps on the tiny planted-motif shard set (CPU, seconds each).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp
import pytest
from ml_collections import ConfigDict

from jaxssl import train as train_lib
from jaxssl.checkpointing import check_same_architecture
from jaxssl.config import with_stage_slots
from jaxssl.data.writer import ShardSetWriter
from jaxssl.datasets import parse_sources
from jaxssl.errors import CheckpointSaveError, ConfigError, StaleStageError
from jaxssl.metric_writer import read_metrics
from jaxssl.report import format_seed_table, seed_summary
from jaxssl.workdir_lock import LOCK_NAME, WorkdirLocked
from tests.synthetic import make_motif_shards
from tests.test_train import small_config

REPO = Path(__file__).resolve().parents[1]


class _Killed(Exception):
    """Stands in for a kill -9 between two steps."""


def _kill_at(kill_step: int):
    def after_step(stage_name: str, step: int) -> None:
        if step == kill_step:
            raise _Killed

    return after_step


def _no_kill(stage_name: str, step: int) -> None:
    return None


def _config(data: Path, steps: int, **train):
    """small_config without early stopping (unless asked) and with `train` overrides."""
    config = small_config(data, steps=steps)
    config.train.patience = 0
    for key, value in train.items():
        config.train[key] = value
    return config


def _wait_for_checkpoint(ckpt_dir: Path, step: int, timeout: float = 60.0) -> None:
    """Orbax finishes a save in the background: wait until `step` is committed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = (ckpt_dir / str(step) / "commit_success.txt").exists()
        if done and not list(ckpt_dir.glob("*.orbax-checkpoint-tmp*")):
            return
        time.sleep(0.1)
    raise AssertionError(f"checkpoint {step} in {ckpt_dir} never completed")


def _assert_same_metrics(a: dict, b: dict) -> None:
    assert a["best_step"] == b["best_step"]
    for split in ("valid", "test"):
        for task in ("ap1", "ebox", "mean"):
            for metric in ("auroc", "auprc", "mcc", "accuracy"):
                assert a["metrics"][split][task][metric] == pytest.approx(
                    b["metrics"][split][task][metric], abs=1e-6
                ), (split, task, metric)


@pytest.fixture(scope="module")
def motif_data(tmp_path_factory) -> Path:
    return make_motif_shards(tmp_path_factory.mktemp("data") / "motifs")


# ---------------------------------------------------------------------------------------------
# 1. One run per workdir


def test_workdir_lock_refuses_a_live_run_and_takes_over_a_dead_one(motif_data, tmp_path, capsys):
    workdir = tmp_path / "run"
    workdir.mkdir()
    lock = workdir / LOCK_NAME
    config = _config(motif_data, steps=20)

    live = subprocess.Popen(["sleep", "60"])
    try:
        owner = {"host": socket.gethostname(), "pid": live.pid, "since": time.time()}
        lock.write_text(json.dumps(owner))
        with pytest.raises(WorkdirLocked) as err:
            train_lib.train_and_evaluate(config, workdir)
        assert isinstance(err.value, ConfigError)  # the CLI prints it as one line, exit 2
        assert str(lock) in str(err.value)
        assert f"pid {live.pid}" in str(err.value)
        assert json.loads(lock.read_text()) == owner  # the refused run leaves the lock alone
        assert not (workdir / "supervised").exists()  # and trains nothing
    finally:
        live.kill()
        live.wait()

    # Another host's lock cannot be checked: refused, with the path to delete.
    lock.write_text(json.dumps({"host": "some-other-host.invalid", "pid": 1}))
    with pytest.raises(WorkdirLocked, match=r"some-other-host\.invalid.*delete .*run\.lock"):
        train_lib.train_and_evaluate(config, workdir)

    dead = subprocess.Popen(["true"])
    dead.wait()
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid}))
    capsys.readouterr()
    report = train_lib.train_and_evaluate(config, workdir)
    assert report["stages"][0]["steps_run"] == 20
    assert f"(pid {dead.pid}) is gone; taking over" in capsys.readouterr().out
    assert not lock.exists()  # released when the run ends


# ---------------------------------------------------------------------------------------------
# 2. Stale stages refused (resume and reuse), --config.rerun replaces them


def test_changed_config_on_resume_or_reuse_is_refused(motif_data, tmp_path, monkeypatch, capsys):
    other_data = make_motif_shards(tmp_path / "other", seed=1)
    workdir = tmp_path / "run"
    stage_dir = workdir / "supervised"
    config = _config(motif_data, steps=30)

    monkeypatch.setattr(train_lib, "_after_step", _kill_at(25))
    with pytest.raises(_Killed):
        train_lib.train_and_evaluate(config, workdir)
    monkeypatch.setattr(train_lib, "_after_step", _no_kill)
    _wait_for_checkpoint(stage_dir / "checkpoints", 20)  # an in-process kill leaves it in flight
    assert not (stage_dir / "done.json").exists()
    stored = json.loads((stage_dir / "stage_config.json").read_text())
    assert stored["config"]["data.path"] == str(motif_data)

    # Other data: would resume step 20 on another shard set.
    changed = _config(other_data, steps=30)
    with pytest.raises(StaleStageError) as err:
        train_lib.train_and_evaluate(changed, workdir)
    message = str(err.value)
    assert "stage 'supervised'" in message
    assert f"config.data.path: stored {str(motif_data)!r}, now {str(other_data)!r}" in message
    assert "--config.rerun=supervised" in message

    # Another learning rate.
    changed = _config(motif_data, steps=30, learning_rate=1e-3)
    with pytest.raises(StaleStageError, match=r"config\.train\.learning_rate: stored 0\.003, now"):
        train_lib.train_and_evaluate(changed, workdir)
    assert not (stage_dir / "done.json").exists()  # refused runs train nothing

    # Settings that only change what is shown are not refused: the run resumes at step 20.
    shown = _config(motif_data, steps=30, progress_bar=True, log_every=5)
    report = train_lib.train_and_evaluate(shown, workdir)
    assert report["stages"][0]["steps_run"] == 30
    train_steps = [r["step"] for r in read_metrics(stage_dir) if r["split"] == "train"]
    assert train_steps == [10, 20, 25, 30]  # 10 and 20 from before the kill: resumed, not redone

    # A finished stage is not reused silently after a change either.
    done_before = (stage_dir / "done.json").read_text()
    changed = _config(motif_data, steps=30, learning_rate=1e-3)
    with pytest.raises(StaleStageError, match=r"config\.train\.learning_rate.*--config\.rerun"):
        train_lib.train_and_evaluate(changed, workdir)
    assert (stage_dir / "done.json").read_text() == done_before

    # --config.rerun=supervised replaces it.
    changed.rerun = "supervised"
    capsys.readouterr()
    report = train_lib.train_and_evaluate(changed, workdir)
    assert "rerun asked: removing" in capsys.readouterr().out
    assert report["stages"][0]["steps_run"] == 30
    stored = json.loads((stage_dir / "stage_config.json").read_text())
    assert stored["config"]["train.learning_rate"] == pytest.approx(1e-3)
    # ... and asking for it again with the same config keeps the new outputs.
    done_after = (stage_dir / "done.json").read_text()
    assert train_lib.train_and_evaluate(changed, workdir)["stages"] == report["stages"]
    assert (stage_dir / "done.json").read_text() == done_after


# ---------------------------------------------------------------------------------------------
# 3 + 4. A broken latest checkpoint falls back; metrics.jsonl keeps one record per step


@pytest.fixture(scope="module")
def broken_resume(motif_data, tmp_path_factory) -> dict:
    """A straight run, and one killed at step 35 whose checkpoint 30 then loses a file."""
    root = tmp_path_factory.mktemp("broken")
    config = _config(motif_data, steps=40, keep_checkpoints=3)
    with contextlib.redirect_stdout(io.StringIO()):
        straight = train_lib.train_and_evaluate(config, root / "straight")

    workdir = root / "resumed"
    ckpt_dir = workdir / "supervised" / "checkpoints"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train_lib, "_after_step", _kill_at(35))
        with pytest.raises(_Killed), contextlib.redirect_stdout(io.StringIO()):
            train_lib.train_and_evaluate(config, workdir)
    _wait_for_checkpoint(ckpt_dir, 30)
    steps_before = sorted(int(p.name) for p in ckpt_dir.iterdir() if p.name.isdigit())
    records_before = read_metrics(workdir / "supervised")
    deleted = ckpt_dir / "30" / "data" / "process_0-of-1.json"
    assert deleted.is_file(), sorted(p.name for p in (ckpt_dir / "30").rglob("*"))
    deleted.unlink()

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        resumed = train_lib.train_and_evaluate(config, workdir)
    return {
        "straight": straight["stages"][0],
        "resumed": resumed["stages"][0],
        "out": out.getvalue(),
        "workdir": workdir,
        "steps_before": steps_before,
        "records_before": records_before,
    }


def test_broken_latest_checkpoint_falls_back_with_identical_metrics(broken_resume):
    assert broken_resume["steps_before"] == [10, 20, 30]
    out = broken_resume["out"]
    assert "checkpoint of step 30 does not restore" in out, out
    assert "trying the previous one" in out
    stage_dir = broken_resume["workdir"] / "supervised"
    assert (stage_dir / "checkpoints_broken" / "30" / "state").is_dir()
    assert not (stage_dir / "checkpoints_broken" / "30" / "data" / "process_0-of-1.json").exists()
    # Resumed from 20, re-ran 21-40 and saved fresh checkpoints.
    assert (stage_dir / "checkpoints" / "30" / "data" / "process_0-of-1.json").is_file()
    assert (stage_dir / "checkpoints" / "40").is_dir()
    _assert_same_metrics(broken_resume["straight"], broken_resume["resumed"])
    assert broken_resume["resumed"]["steps_run"] == 40


def test_metrics_jsonl_has_one_record_per_step_after_kill_and_resume(broken_resume):
    before = broken_resume["records_before"]
    # The killed run wrote records past step 20 (train 30, valid 20) that the resume redoes.
    assert max(r["step"] for r in before if r["split"] == "train") == 30
    records = read_metrics(broken_resume["workdir"] / "supervised")
    keys = [(r["split"], r["step"]) for r in records]
    assert len(keys) == len(set(keys)), sorted(keys)
    assert [s for split, s in keys if split == "train"] == [10, 20, 30, 40]
    assert [s for split, s in keys if split == "valid"] == [20, 40]
    assert [s for split, s in keys if split == "test"] == [40]
    steps = [r["step"] for r in records]
    assert steps[: len(steps) - 1] == sorted(steps[: len(steps) - 1])  # in step order


def test_kill_after_the_test_record_leaves_one_test_record(motif_data, tmp_path, monkeypatch):
    config = _config(motif_data, steps=10, eval_every=10)
    stage_dir = tmp_path / "supervised"

    def killed_while_plotting(*args, **kwargs):
        raise _Killed

    with monkeypatch.context() as mp:
        mp.setattr(train_lib.plots, "training_curves", killed_while_plotting)
        with pytest.raises(_Killed):
            train_lib.train_and_evaluate(config, tmp_path)
    assert not (stage_dir / "done.json").exists()
    assert [r["step"] for r in read_metrics(stage_dir) if r["split"] == "test"] == [10]
    _wait_for_checkpoint(stage_dir / "checkpoints", 10)
    train_lib.train_and_evaluate(config, tmp_path)
    keys = [(r["split"], r["step"]) for r in read_metrics(stage_dir)]
    assert keys.count(("test", 10)) == 1, keys


# ---------------------------------------------------------------------------------------------
# 5-7. Every stage checked before the first one trains


def _two_stage_config(shards: Path, **second) -> ConfigDict:
    config = _config(shards, steps=20)
    del config["supervised"]
    config.stages = "first,second"
    config.first = ConfigDict()
    config.second = ConfigDict(second)
    return with_stage_slots(config)


def test_bad_source_of_a_later_stage_fails_before_any_training(motif_data, tmp_path):
    workdir = tmp_path / "run"
    missing = tmp_path / "no_such_set"

    config = _two_stage_config(motif_data, data={"extra_train": "stage:nope"})
    with pytest.raises(ConfigError, match=r"config\.second\.data\.extra_train=.*stage 'nope'"):
        train_lib.train_and_evaluate(config, workdir)

    config = _two_stage_config(motif_data, data={"extra_train": str(missing)})
    with pytest.raises(ConfigError) as err:
        train_lib.train_and_evaluate(config, workdir)
    assert str(err.value).startswith("config.second.data.extra_train: "), str(err.value)
    assert f"{str(missing)!r} is not a shard set" in str(err.value)

    # `stage:first` exists and runs earlier, but a supervised stage writes no shard sets.
    config = _two_stage_config(motif_data, data={"extra_train": "stage:first"})
    with pytest.raises(ConfigError, match=r"config\.second\.data\.extra_train: .*writes no shard"):
        train_lib.train_and_evaluate(config, workdir)

    # Set in the shared section, the error names the shared key.
    config = _two_stage_config(motif_data)
    config.data.extra_train = str(missing)
    with pytest.raises(ConfigError, match=r"^config\.data\.extra_train: "):
        train_lib.train_and_evaluate(config, workdir)

    assert not list(workdir.glob("**/checkpoints"))  # nothing trained
    assert not (workdir / "first").exists()


def test_held_out_splits_are_refused_as_training_sources(motif_data, tmp_path):
    for split in ("valid", "test"):
        config = _config(motif_data, steps=20)
        config.data.extra_train = f"{motif_data}:{split}"
        with pytest.raises(ConfigError, match=f"held-out split '{split}'"):
            train_lib.train_and_evaluate(config, tmp_path / "run")
    assert not list(tmp_path.glob("**/checkpoints"))

    # Renamed held-out splits too, and for any key (e.g. a teacher's sources).
    data = small_config(motif_data).data
    data.valid_split = "val2"
    with pytest.raises(ConfigError, match=r"^config\.pseudo\.sources: .*held-out split 'val2'"):
        parse_sources(f"{motif_data}:val2", data, key="config.pseudo.sources")
    (source,) = parse_sources(f"{motif_data}:train@0.5", data)
    assert (source.split, source.proportion) == ("train", 0.5)


def _single_class_validation_set(path: Path, seq_len: int = 40) -> Path:
    rng = np.random.default_rng(3)
    with ShardSetWriter(path, seq_len=seq_len, task_names=["a", "b"], command="test") as writer:
        for split, n in (("train", 256), ("valid", 64), ("test", 64)):
            tokens = rng.integers(0, 4, (n, seq_len), dtype=np.uint8)
            if split == "valid":
                labels = np.zeros((n, 2), np.float32)  # one class only, for every task
            else:
                labels = (rng.random((n, 2)) < 0.5).astype(np.float32)
            writer.add_batch(split, tokens, labels, np.ones(n, np.float32), genome="synth")
    return path


def test_single_class_validation_split_is_refused_up_front(tmp_path):
    data = _single_class_validation_set(tmp_path / "one_class")
    config = _config(data, steps=20)
    with pytest.raises(ConfigError, match=r"'valid' split .* only one class for every task"):
        train_lib.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run" / "supervised").exists()


# ---------------------------------------------------------------------------------------------
# 8. Early stopping


def test_patience_stops_a_flat_run(motif_data, tmp_path):
    config = _config(motif_data, steps=200, learning_rate=1e-9, eval_every=10, patience=2)
    stage = train_lib.train_and_evaluate(config, tmp_path / "flat")["stages"][0]
    assert stage["stopped_early"] is True
    assert stage["patience"] == 2
    assert stage["steps_run"] < 200
    assert stage["steps_run"] == stage["best_step"] + 2 * 10
    report = json.loads((tmp_path / "flat" / "report.json").read_text())["stages"][0]
    assert report["best_step"] == stage["best_step"]
    assert report["steps_run"] == stage["steps_run"] and report["steps"] == 200
    records = read_metrics(tmp_path / "flat" / "supervised")
    valid_steps = [r["step"] for r in records if r["split"] == "valid"]
    assert valid_steps == list(range(10, stage["steps_run"] + 1, 10))
    assert [r["step"] for r in records if r["split"] == "test"] == [stage["steps_run"]]

    config = _config(motif_data, steps=20, learning_rate=1e-9, eval_every=10, patience=0)
    stage = train_lib.train_and_evaluate(config, tmp_path / "all")["stages"][0]
    assert stage["stopped_early"] is False
    assert stage["steps_run"] == 20


def test_min_steps_holds_early_stopping_back(motif_data, tmp_path):
    """No stop before train.min_steps; patience counts from it when the best came earlier."""
    config = _config(
        motif_data, steps=200, learning_rate=1e-9, eval_every=10, patience=2, min_steps=60
    )
    stage = train_lib.train_and_evaluate(config, tmp_path / "held")["stages"][0]
    assert stage["stopped_early"] is True
    assert stage["best_step"] < 60
    assert stage["steps_run"] == 60 + 2 * 10


# ---------------------------------------------------------------------------------------------
# 9. Several seeds: mean ± sd and paired method − control differences


def _stage_result(name: str, auprc: float, control_of: str = "", steps_run: int = 100) -> dict:
    values = {"auprc": auprc, "auroc": auprc + 0.1, "mcc": auprc - 0.5, "accuracy": 0.9}
    return {
        "name": name,
        "objective": "supervised",
        "control_of": control_of,
        "steps_run": steps_run,
        "best_step": steps_run - 20,
        "metrics": {"test": {"t1": dict(values), "mean": dict(values)}},
    }


def test_seed_summary_on_a_hand_made_report():
    method = [0.8, 0.7, 0.9]
    control = [0.6, 0.65, 0.5]
    runs = [
        [_stage_result("method", m), _stage_result("control", c, "method", 80)]
        for m, c in zip(method, control, strict=True)
    ]
    summary = seed_summary(runs, [0, 1, 2])
    assert summary["seeds"] == [0, 1, 2]

    stats = summary["stages"]["method"]["test"]["t1"]["auprc"]
    assert stats["mean"] == pytest.approx(0.8)
    assert stats["sd"] == pytest.approx(0.1)  # ddof=1
    assert stats["n"] == 3
    stats = summary["stages"]["control"]["test"]["mean"]["auprc"]
    assert stats["mean"] == pytest.approx(np.mean(control))
    assert stats["sd"] == pytest.approx(np.std(control, ddof=1))
    assert summary["stages"]["control"]["control_of"] == "method"
    assert summary["stages"]["control"]["steps_run"] == [80, 80, 80]

    pairs = {(c["task"], c["metric"]): c for c in summary["comparisons"]}
    assert {c["method"] for c in pairs.values()} == {"method"}
    assert {c["control"] for c in pairs.values()} == {"control"}
    assert set(pairs) == {(t, m) for t in ("t1", "mean") for m in ("auprc", "auroc", "mcc")} | {
        (t, "accuracy") for t in ("t1", "mean")
    }
    diffs = [m - c for m, c in zip(method, control, strict=True)]
    pair = pairs["t1", "auprc"]
    assert pair["differences"] == pytest.approx(diffs)
    assert pair["mean"] == pytest.approx(np.mean(diffs))
    assert pair["sd"] == pytest.approx(np.std(diffs, ddof=1))
    assert pair["n"] == 3
    assert pair["method_wins"] == 3
    assert pair["sign_test_p"] == 0.25  # 2 * (1/2)**3, exactly
    tie = pairs["t1", "accuracy"]  # equal every seed: no wins, the sign test has no evidence
    assert tie["differences"] == [0.0, 0.0, 0.0]
    assert tie["method_wins"] == 0 and tie["sign_test_p"] == 1.0

    # Two of three wins: p = 2 * (C(3,0) + C(3,1)) / 8 = 1.
    runs[1][0]["metrics"]["test"]["t1"]["auprc"] = 0.6
    pair = next(
        c
        for c in seed_summary(runs, [0, 1, 2])["comparisons"]
        if (c["task"], c["metric"]) == ("t1", "auprc")
    )
    assert pair["method_wins"] == 2 and pair["sign_test_p"] == 1.0

    table = format_seed_table(summary, "test")
    assert "mean ± sd over seeds 0,1,2" in table
    assert "0.8000 ± 0.1000" in table
    expected = ", ".join(f"{d:+.4f}" for d in diffs)
    assert f"[{expected}]" in table
    assert "wins 3/3" in table and "p=0.250" in table
    assert "method − control" in table


def test_seeds_run_every_stage_per_seed(motif_data, tmp_path):
    config = _config(motif_data, steps=20)
    config.seeds = "0,1"
    result = train_lib.train_and_evaluate(config, tmp_path)
    assert result["seeds"] == [0, 1]
    for seed in (0, 1):
        assert (tmp_path / f"seed_{seed}" / "supervised" / "done.json").is_file()
        assert (tmp_path / f"seed_{seed}" / "report.json").is_file()
    assert not (tmp_path / "supervised").exists()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["seeds"] == [0, 1]
    values = [r["stages"][0]["metrics"]["test"]["mean"]["auprc"] for r in result["runs"]]
    assert values[0] != values[1]  # seeds change initialisation and data order
    stats = report["stages"]["supervised"]["test"]["mean"]["auprc"]
    assert stats["values"] == pytest.approx(values)
    assert stats["mean"] == pytest.approx(np.mean(values))
    assert stats["sd"] == pytest.approx(np.std(values, ddof=1))
    assert not (tmp_path / LOCK_NAME).exists()


# ---------------------------------------------------------------------------------------------
# 10. init_from compares task names and their order


def test_same_tasks_in_another_order_are_refused():
    spec = {
        "name": "deepbind",
        "hparams": {"num_filters": 32},
        "seq_len": 40,
        "num_outputs": 2,
        "task_names": ["ap1", "ebox"],
    }
    check_same_architecture(spec, dict(spec), Path("src"))
    swapped = {**spec, "task_names": ["ebox", "ap1"]}
    with pytest.raises(ValueError, match=r"task_names: checkpoint has \['ap1', 'ebox'\]") as err:
        check_same_architecture(spec, swapped, Path("src"))
    assert "['ebox', 'ap1']" in str(err.value)
    assert "init_exclude=head" in str(err.value)
    # A new head (init_exclude) may have other tasks.
    check_same_architecture(spec, swapped, Path("src"), ignore=("num_outputs", "task_names"))


# ---------------------------------------------------------------------------------------------
# 11. An unknown key on the command line: one short line, exit code 2


def test_unknown_config_key_on_the_command_line_is_one_short_message(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxssl.main",
            "--config=configs/supervised.py",
            "--workdir",
            str(tmp_path / "run"),
            "--config.train.stepz=5",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) < 5, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "stepz" in proc.stderr and "steps" in proc.stderr.replace("stepz", "")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------
# 12. A full disk during a checkpoint save: one line naming the path and the free space


def test_disk_full_during_checkpoint_save_is_one_clear_error(motif_data, tmp_path, monkeypatch):
    original_save = ocp.CheckpointManager.save

    def save(self, step, *args, **kwargs):
        if Path(str(self.directory)).name == "checkpoints":
            raise OSError(errno.ENOSPC, "No space left on device")
        return original_save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    config = _config(motif_data, steps=20)
    with pytest.raises(CheckpointSaveError) as err:
        train_lib.train_and_evaluate(config, tmp_path / "run")
    message = str(err.value)
    assert "\n" not in message
    ckpt_dir = tmp_path / "run" / "supervised" / "checkpoints"
    match = re.fullmatch(r"could not save a checkpoint to (.+) \((\d+) MiB free\): (.+)", message)
    assert match, message
    assert match[1] == str(ckpt_dir)
    assert int(match[2]) >= 0
    assert "No space left on device" in match[3]
    assert isinstance(err.value, OSError)
    assert isinstance(err.value.__cause__, OSError) and err.value.__cause__.errno == errno.ENOSPC
    assert not (tmp_path / "run" / LOCK_NAME).exists()  # the lock is released on failure


def test_rerun_of_an_unknown_stage_is_refused(motif_data, tmp_path):
    config = _config(motif_data, steps=20)
    config.rerun = "supervisd"
    with pytest.raises(ConfigError, match=r"config\.rerun names \['supervisd'\]"):
        train_lib.train_and_evaluate(config, tmp_path)
    assert not (tmp_path / "supervised").exists()


def test_one_data_set_spelled_two_ways_is_one_setting(motif_data, tmp_path, monkeypatch):
    """A relative and an absolute spelling of the same shard set do not make a stage stale,
    including records written before paths were stored absolute."""
    from jaxssl.stage_plan import check_stored_configs, plan_stages
    from jaxssl.stored_config import write_record

    monkeypatch.chdir(motif_data.parent)
    relative = plan_stages(_config(Path(motif_data.name), 4), tmp_path / "w")
    absolute = plan_stages(_config(motif_data.resolve(), 4), tmp_path / "w")
    (record,) = [sp.record for sp in relative.stages]
    assert record == absolute.stages[0].record
    assert record["config"]["data.path"] == str(motif_data.resolve())
    # An older record spelled the path as it was typed: still the same stage.
    stage_dir = absolute.stages[0].stage_dir
    stage_dir.mkdir(parents=True)
    old = {**record, "config": {**record["config"], "data.path": motif_data.name}}
    old["data"] = {
        k.replace(str(motif_data.resolve()), motif_data.name): v for k, v in record["data"].items()
    }
    write_record(stage_dir, old)
    check_stored_configs(absolute, rerun=set())
    # Another data set is still refused, by name.
    other = make_motif_shards(tmp_path / "other", seed=1)
    with pytest.raises(StaleStageError, match="config.data.path"):
        check_stored_configs(plan_stages(_config(other, 4), tmp_path / "w"), rerun=set())


def test_a_setting_added_since_a_stage_ran_keeps_it_and_its_dependents(motif_data, tmp_path):
    """Records written before a setting existed (at its default) still match, and the stage
    built on them still names the upstream hash it was made with."""
    from jaxssl.stage_plan import check_stored_configs, plan_stages
    from jaxssl.stored_config import record_hash, write_record

    config = _two_stage_config(motif_data, init_from="prev")
    plan = plan_stages(config, tmp_path / "w")
    first, second = plan.stages
    assert second.record["upstream"]  # second builds on first
    old_first = {**first.record, "config": dict(first.record["config"])}
    del old_first["config"]["augment.insertion_prob"]  # written before EvoAug existed
    old_second = {**second.record, "upstream": {first.stage.stage_name: record_hash(old_first)}}
    for sp, record in ((first, old_first), (second, old_second)):
        sp.stage_dir.mkdir(parents=True)
        write_record(sp.stage_dir, record)
    check_stored_configs(plan, rerun=set())  # nothing stale
    assert plan.stages[1].record["upstream"] == old_second["upstream"]
    # The same setting away from its default is a change, named.
    changed = _two_stage_config(motif_data, init_from="prev")
    changed.augment.insertion_prob = 0.5
    with pytest.raises(StaleStageError, match="augment.insertion_prob"):
        check_stored_configs(plan_stages(changed, tmp_path / "w"), rerun=set())


@pytest.mark.parametrize("key", ["patience", "min_steps"])
def test_negative_early_stopping_settings_are_refused(key):
    from jaxssl.config import base_config, resolve_stage, with_stage_slots
    from jaxssl.errors import ConfigError
    from jaxssl.stage_checks import validate_stage

    config = base_config()
    config.stages = "main"
    config.train[key] = -1
    with pytest.raises(ConfigError, match=f"config.train.{key} must be >= 0"):
        validate_stage(resolve_stage(with_stage_slots(config), "main"))


def test_a_model_hyperparameter_added_since_a_stage_ran_keeps_it(motif_data, tmp_path):
    """A model's stored record predates one of its hyperparameters (rescnn's pool_bins, added
    at 1 = the old whole-window pooling): the finished stage is still valid; set away from
    the model's default it is a change, named."""
    from jaxssl.config import base_config
    from jaxssl.stage_plan import check_stored_configs, plan_stages
    from jaxssl.stored_config import write_record

    def rescnn_config(**hparams):
        config = _config(motif_data, steps=20)
        config.model = base_config("rescnn").model
        config.model.hparams.update(hparams)
        return config

    plan = plan_stages(rescnn_config(), tmp_path / "w")
    (stage,) = plan.stages
    old = {**stage.record, "config": dict(stage.record["config"])}
    assert old["config"]["model.hparams.pool_bins"] == 1
    del old["config"]["model.hparams.pool_bins"]  # written before pool_bins existed
    stage.stage_dir.mkdir(parents=True)
    write_record(stage.stage_dir, old)
    check_stored_configs(plan, rerun=set())  # nothing stale
    with pytest.raises(StaleStageError, match="model.hparams.pool_bins"):
        check_stored_configs(plan_stages(rescnn_config(pool_bins=2), tmp_path / "w"), set())
