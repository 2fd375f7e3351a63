"""Late or raw failures (issue 23 item 6): each planted fault is refused while planning or in one
line naming what to do, never as a traceback after earlier stages trained.

Refusals happen before training; the runs that train are 10 steps on a tiny set.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from ml_collections import ConfigDict

from jaxssl import __main__ as cli
from jaxssl import train as train_lib
from jaxssl.checkpointing import CorruptCheckpointError, restore_params
from jaxssl.config import with_stage_slots
from jaxssl.data.writer import ShardSetWriter
from jaxssl.errors import ConfigError
from tests.synthetic import make_motif_shards
from tests.test_train import small_config


@pytest.fixture(scope="module")
def motif_data(tmp_path_factory) -> Path:
    return make_motif_shards(tmp_path_factory.mktemp("data") / "motifs", n_train=128, n_eval=64)


def _config(data: Path, steps: int = 10) -> ConfigDict:
    config = small_config(data, steps=steps)
    config.train.eval_every = steps
    config.train.patience = 0
    return config


def _two_stage_config(data: Path, **second) -> ConfigDict:
    config = _config(data)
    del config["supervised"]
    config.stages = "first,second"
    config.first = ConfigDict()
    config.second = ConfigDict({"init_from": "prev", **second})
    return with_stage_slots(config)


def _set(path: Path, splits: dict[str, np.ndarray], tasks=("ap1", "ebox"), seq_len=40) -> Path:
    """A shard set with the given labels per split (random tokens)."""
    rng = np.random.default_rng(1)
    with ShardSetWriter(
        path, seq_len=seq_len, task_names=list(tasks), command="test", tfds=False
    ) as writer:
        for split, labels in splits.items():
            n = len(labels)
            tokens = rng.integers(0, 4, (n, seq_len), dtype=np.uint8)
            writer.add_batch(split, tokens, labels, np.ones(n, np.float32), genome="g")
    return path


def _refused(config: ConfigDict, workdir: Path, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        train_lib.train_and_evaluate(config, workdir)
    assert not list(workdir.glob("**/checkpoints"))  # nothing trained first


# ---- a later stage's model mismatch --------------------------------------------------------


def test_a_later_stages_model_mismatch_is_found_while_planning(motif_data, tmp_path):
    config = _two_stage_config(motif_data, model={"hparams": {"num_filters": 64}})
    _refused(
        config,
        tmp_path / "run",
        r"^config\.second\.init_from='prev': .*stage 'first'.*"
        r"model\.hparams\.num_filters: 32 there, 64 here",
    )


def test_a_matching_later_stage_plans(motif_data, tmp_path):
    from jaxssl.stage_plan import plan_stages

    config = _two_stage_config(motif_data, model={"hparams": {"num_filters": 32}})
    plan = plan_stages(config, tmp_path / "run")
    assert [sp.stage.stage_name for sp in plan.stages] == ["first", "second"]


# ---- a corrupt best/ -------------------------------------------------------------------------


def _truncate_best(stage_dir: Path) -> Path:
    files = [p for p in (stage_dir / "best").rglob("*") if p.is_file() and "ocdbt" in str(p)]
    files = files or [p for p in (stage_dir / "best").rglob("*") if p.is_file()]
    biggest = max(files, key=lambda p: p.stat().st_size)
    biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 3])
    return biggest


def test_a_corrupt_best_is_named_in_one_line_and_rerun_retrains_it(motif_data, tmp_path, capsys):
    workdir = tmp_path / "run"
    config = _config(motif_data)
    first = train_lib.train_and_evaluate(config, workdir)["stages"][0]
    stage_dir = workdir / "supervised"
    _truncate_best(stage_dir)

    # predict: one line naming the checkpoint and the command that recovers.
    fasta = tmp_path / "x.fa"
    fasta.write_text(">a\n" + "ACGT" * 10 + "\n")
    predict = ["predict", "--model", str(stage_dir), "--fasta", str(fasta), "--no-progress"]
    code = cli.main([*predict, "--out", str(tmp_path / "p.tsv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith(f"jaxssl predict: error: {stage_dir / 'best'}: the best checkpoint")
    assert "--config.rerun=supervised" in err[-1]
    assert not (tmp_path / "p.tsv").exists()

    # the same config again: the finished stage is kept (nothing to do) ...
    train_lib.train_and_evaluate(config, workdir)
    with pytest.raises(CorruptCheckpointError, match=r"--config\.rerun=supervised"):
        restore_params(stage_dir, None)
    # ... and --config.rerun=supervised retrains it, although the config is unchanged.
    config.rerun = "supervised"
    again = train_lib.train_and_evaluate(config, workdir)["stages"][0]
    assert "best checkpoint does not restore" in capsys.readouterr().out
    assert again["best_step"] == first["best_step"]
    assert restore_params(stage_dir, None)  # readable again
    assert cli.main([*predict, "--out", str(tmp_path / "p.tsv")]) == 0


# ---- predict refuses what data_prep refuses ---------------------------------------------------


@pytest.fixture(scope="module")
def trained_stage(motif_data, tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("runs") / "run"
    train_lib.train_and_evaluate(_config(motif_data), workdir)
    return workdir / "supervised"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (">p1\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n", r"line 1: .*look like protein"),
        (">ok\nACGTACGT\n>empty\n>next\nACGT\n", r"line 3: record 'empty' has no sequence"),
    ],
)
def test_predict_refuses_protein_and_empty_records(trained_stage, tmp_path, capsys, text, pattern):
    fasta = tmp_path / "in.fa"
    fasta.write_text(text)
    out = tmp_path / "out.tsv"
    argv = ["predict", "--model", str(trained_stage), "--fasta", str(fasta), "--no-progress"]
    code = cli.main([*argv, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not out.exists()
    assert err[-1].startswith(f"jaxssl predict: error: {fasta}: ")
    assert re.search(pattern, err[-1])


def test_score_variants_refuses_an_empty_allele_window(trained_stage, tmp_path, capsys):
    ref, alt = tmp_path / "ref.fa", tmp_path / "alt.fa"
    ref.write_text(">v\nACGTACGT\n")
    alt.write_text(">v\n\n")
    argv = ["score-variants", "--model", str(trained_stage), "--ref-fasta", str(ref)]
    code = cli.main([*argv, "--alt-fasta", str(alt), "--out", str(tmp_path / "v.tsv")])
    err = capsys.readouterr().err
    assert code == 2 and "record 'v' has no sequence (0 bp)" in err


# ---- one line instead of a traceback ----------------------------------------------------------


def test_an_unknown_split_in_extra_train_is_one_line(motif_data, tmp_path):
    config = _config(motif_data)
    config.data.extra_train = f"{motif_data}:TEST"
    _refused(config, tmp_path / "run", r"^config\.data\.extra_train=.*has no split 'TEST'")


def test_a_set_without_a_train_split_as_extra_train_is_one_line(motif_data, tmp_path):
    labels = np.zeros((16, 2), np.float32)
    only_eval = _set(tmp_path / "eval_only", {"valid": labels, "test": labels})
    config = _config(motif_data)
    config.data.extra_train = str(only_eval)
    _refused(config, tmp_path / "run", r"^config\.data\.extra_train=.*has no split 'train'")


def test_an_unlabeled_corpus_as_supervised_extra_train_is_one_line(motif_data, tmp_path):
    corpus = _set(tmp_path / "corpus", {"train": np.zeros((16, 0), np.float32)}, tasks=())
    config = _config(motif_data)
    config.data.extra_train = str(corpus)
    _refused(config, tmp_path / "run", r"^config\.data\.extra_train: .*is unlabeled")


# ---- labels checked on every training source ---------------------------------------------------


def test_out_of_range_labels_in_an_extra_set_are_refused(motif_data, tmp_path):
    labels = np.zeros((16, 2), np.float32)
    labels[3, 1] = 8.0
    extra = _set(tmp_path / "extra", {"train": labels})
    config = _config(motif_data)
    config.data.extra_train = str(extra)
    _refused(config, tmp_path / "run", r"extra split 'train' has labels like \[8\.0\]")


# ---- a one-class test split is warned ----------------------------------------------------------


def test_a_one_class_test_split_is_warned_in_the_report(tmp_path, capsys):
    rng = np.random.default_rng(0)
    mixed = (rng.random((128, 2)) < 0.5).astype(np.float32)
    data = _set(
        tmp_path / "set",
        {"train": mixed, "valid": mixed[:64], "test": np.ones((64, 2), np.float32)},
    )
    workdir = tmp_path / "run"
    result = train_lib.train_and_evaluate(_config(data), workdir)["stages"][0]
    (warning,) = result["warnings"]
    assert "tasks ['ap1', 'ebox'] have one class only in the test split 'test'" in warning
    stored = json.loads((workdir / "report.json").read_text())["stages"][0]
    assert stored["warnings"] == result["warnings"]
    assert f"WARNING: supervised: {warning}" in capsys.readouterr().out


def test_a_corrupt_best_read_by_a_later_stage_is_one_line(motif_data, tmp_path):
    workdir = tmp_path / "run"
    config = _two_stage_config(motif_data)
    train_lib.train_and_evaluate(config, workdir)
    _truncate_best(workdir / "first")
    for name in ("done.json", "best.json"):  # the second stage again, from its start
        (workdir / "second" / name).unlink()
    for folder in ("checkpoints", "best"):
        shutil.rmtree(workdir / "second" / folder)
    with pytest.raises(CorruptCheckpointError, match=r"first/best: .*--config\.rerun=first"):
        train_lib.train_and_evaluate(config, workdir)
