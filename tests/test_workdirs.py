"""Workdirs (issue 23 item 5): a workdir is empty or a jaxssl run; anything else is refused by
name, and a finished run's seeds cannot change under it.

Refusals happen before planning reads any data; the one run that trains is 10 steps.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jaxssl import train as train_lib
from jaxssl.errors import ConfigError
from jaxssl.workdir_lock import LOCK_NAME, RUN_MARKER, check_workdir, mark_run
from tests.synthetic import make_motif_shards
from tests.test_train import small_config


@pytest.fixture(scope="module")
def motif_data(tmp_path_factory) -> Path:
    return make_motif_shards(tmp_path_factory.mktemp("data") / "motifs", n_train=128, n_eval=64)


@pytest.fixture(scope="module")
def finished_run(motif_data, tmp_path_factory) -> Path:
    """A finished single-seed run (10 steps), copied by the tests that change it."""
    workdir = tmp_path_factory.mktemp("runs") / "run"
    config = small_config(motif_data, steps=10)
    config.train.eval_every = 10
    train_lib.train_and_evaluate(config, workdir)
    return workdir


def _refused(motif_data: Path, workdir: Path, pattern: str, **config_keys) -> None:
    config = small_config(motif_data, steps=10)
    for key, value in config_keys.items():
        config[key] = value
    with pytest.raises(ConfigError, match=pattern):
        train_lib.train_and_evaluate(config, workdir)


def test_a_run_marks_its_workdir_with_its_seeds(finished_run):
    marker = json.loads((finished_run / RUN_MARKER).read_text())
    assert marker["seeds"] is None
    assert (finished_run / "supervised" / "done.json").is_file()
    check_workdir(finished_run, None)  # the same run again: accepted (stages skipped)


def test_a_users_config_and_report_are_refused_and_left_alone(motif_data, tmp_path):
    workdir = tmp_path / "mine"
    workdir.mkdir()
    (workdir / "config.json").write_text('{"mine": 1}')
    (workdir / "report.json").write_text('{"mine": 2}')
    _refused(motif_data, workdir, r"^--workdir .*mine holds config\.json, report\.json that no")
    assert json.loads((workdir / "config.json").read_text()) == {"mine": 1}
    assert json.loads((workdir / "report.json").read_text()) == {"mine": 2}
    assert sorted(p.name for p in workdir.iterdir()) == ["config.json", "report.json"]


def test_a_shard_set_is_refused_as_workdir(motif_data):
    before = sorted(p.name for p in motif_data.iterdir())
    _refused(motif_data, motif_data, r"holds a shard set \(manifest\.json\)")
    assert sorted(p.name for p in motif_data.iterdir()) == before


def test_a_repository_root_is_refused_as_workdir(motif_data, tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[project]\n")
    _refused(motif_data, repo, r"holds a repository \(\.git, pyproject\.toml\)")
    assert not (repo / RUN_MARKER).exists()


def test_other_files_are_refused_naming_them(motif_data, tmp_path):
    workdir = tmp_path / "notes"
    workdir.mkdir()
    (workdir / "thesis.tex").write_text("x")
    _refused(motif_data, workdir, r"holds 1 entries that are not a jaxssl run \(thesis\.tex\)")


def test_an_existing_file_is_refused_in_one_line(motif_data, tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("keep me")
    _refused(motif_data, path, r"^--workdir .*file\.txt is an existing file, not a directory")
    assert path.read_text() == "keep me"


def test_an_empty_directory_or_a_left_lock_is_accepted(tmp_path):
    check_workdir(tmp_path / "new", None)
    (tmp_path / "empty").mkdir()
    check_workdir(tmp_path / "empty", [0, 1])
    (tmp_path / "empty" / LOCK_NAME).write_text("{}")
    check_workdir(tmp_path / "empty", None)


def test_changing_seeds_on_a_finished_run_is_refused(motif_data, finished_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(finished_run, workdir)
    before = {p: p.read_bytes() for p in (workdir / "config.json", workdir / "report.json")}
    _refused(
        motif_data,
        workdir,
        r"^config\.seeds: .* holds a run made with a single run .*this run has "
        r"config\.seeds=\[0, 1\]",
        seeds="0,1",
    )
    assert {p: p.read_bytes() for p in before} == before  # report and config untouched
    assert not list(workdir.glob("seed_*"))


def test_runs_made_before_the_marker_are_recognised_by_their_layout(finished_run, tmp_path):
    single = tmp_path / "single"
    shutil.copytree(finished_run, single)
    (single / RUN_MARKER).unlink()
    check_workdir(single, None)
    with pytest.raises(ConfigError, match=r"single run .*config\.seeds=\[3\]"):
        check_workdir(single, [3])
    multi = tmp_path / "multi"
    for seed in (0, 1):
        shutil.copytree(finished_run, multi / f"seed_{seed}")
        (multi / f"seed_{seed}" / RUN_MARKER).unlink()
    (multi / "config.json").write_text("{}")
    check_workdir(multi, [0, 1])
    check_workdir(multi, [0, 1, 2])  # a seed added: its own seed_2/, the others reused
    with pytest.raises(ConfigError, match=r"config\.seeds=\[0, 1\], this run has a single run"):
        check_workdir(multi, None)


def test_the_marker_keeps_every_seed_run_in_the_workdir(tmp_path):
    workdir = tmp_path / "run"
    mark_run(workdir, [0, 1])
    mark_run(workdir, [2])
    assert json.loads((workdir / RUN_MARKER).read_text())["seeds"] == [0, 1, 2]
    check_workdir(workdir, [1])
    with pytest.raises(ConfigError, match=r"^config\.seeds: .*\[0, 1, 2\].*a single run"):
        check_workdir(workdir, None)
