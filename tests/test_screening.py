"""Screening that means something (issue 23 item 3): a source counts as screened only when its
manifest records a guard run against this run's validation and test splits, by content; weights
trained on this run's held-out data are refused as init_from."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from data_prep.__main__ import main as data_prep_main
from jaxssl import train as train_lib
from jaxssl.data.fingerprint import (
    FINGERPRINTS_KEY,
    held_out_fingerprints,
    screened_fingerprints,
    split_fingerprint,
)
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import Source, load_split
from jaxssl.data.writer import ShardSetWriter, content_fingerprint, sequence_keys
from jaxssl.errors import ConfigError
from jaxssl.screening import TRAINED_ON, check_screened, read_trained_on, run_held_out
from jaxssl.stage_plan import plan_stages, resolved_stages
from jaxssl.tokens import ALPHABET, reverse_complement
from tests.synthetic import make_motif_shards
from tests.test_train import small_config


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("screen")
    return {
        "labeled": make_motif_shards(root / "labeled", n_train=128, n_eval=64, seed=0),
        "other": make_motif_shards(root / "other", n_train=128, n_eval=64, seed=7),
        "root": root,
    }


def _extra(path: Path, leakage: dict, tokens: np.ndarray | None = None, seed: int = 3) -> Path:
    """A labeled extra source (the labeled set's tasks) whose manifest records `leakage`."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (96, 40), dtype=np.uint8) if tokens is None else tokens
    labels = (rng.random((len(tokens), 2)) < 0.4).astype(np.float32)
    with ShardSetWriter(
        path, seq_len=40, task_names=["ap1", "ebox"], command="test", metadata={"leakage": leakage}
    ) as w:
        w.add_batch("train", tokens, labels, np.ones(len(tokens), np.float32))
    return path


def _config(labeled: Path, extra: Path, require: bool):
    config = small_config(labeled, steps=3)
    config.seeds = ""
    config.data.extra_train = str(extra)
    config.data.require_screened = require
    return config


def test_content_fingerprint_ignores_order_and_strand_not_sequence():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, (50, 30), dtype=np.uint8)
    fp = content_fingerprint(sequence_keys(tokens), 30)
    shuffled = reverse_complement(tokens[rng.permutation(50)])
    assert content_fingerprint(sequence_keys(shuffled), 30) == fp
    changed = tokens.copy()
    changed[17, 4] = (changed[17, 4] + 1) % 4
    assert content_fingerprint(sequence_keys(changed), 30) != fp
    assert content_fingerprint(sequence_keys(tokens[:49]), 30) != fp


def test_recorded_fingerprint_equals_the_one_read_from_shards(sets, tmp_path):
    recorded = load_manifest(sets["labeled"]).splits["test"]["content"]
    tokens = load_split(sets["labeled"], "test")["tokens"]
    assert recorded == content_fingerprint(sequence_keys(tokens), 40)
    old = tmp_path / "old"  # a manifest written before fingerprints: read and hashed
    shutil.copytree(sets["labeled"], old)
    manifest = load_manifest(old)
    for entry in manifest.splits.values():
        del entry["content"]
    (old / "manifest.json").write_text(manifest.to_json())
    assert split_fingerprint(old, "test") == recorded


def test_unscreened_source_is_warned_and_refused_under_require_screened(sets, tmp_path, caplog):
    extra = _extra(tmp_path / "unscreened", {"guard": "none", "screened": 0})
    with caplog.at_level(logging.WARNING, logger="jaxssl"):
        plan_stages(_config(sets["labeled"], extra, require=False), tmp_path / "w1")
    assert "is not screened against this run's valid" in caplog.text
    with pytest.raises(ConfigError) as err:
        plan_stages(_config(sets["labeled"], extra, require=True), tmp_path / "w2")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"config.data.extra_train: {extra} is not screened")
    assert "records no run against them" in message
    assert "config.data.require_screened=True" in message
    assert f"--exclude-homologs-of {sets['labeled']}" in message


def test_source_screened_against_another_set_is_refused(sets, tmp_path):
    extra = _extra(
        tmp_path / "wrong",
        {"guard": "chains", FINGERPRINTS_KEY: held_out_fingerprints(sets["other"])},
    )
    with pytest.raises(ConfigError, match="ran against other held-out data"):
        plan_stages(_config(sets["labeled"], extra, require=True), tmp_path / "w")


def test_source_screened_against_this_run_passes(sets, tmp_path, caplog):
    extra = _extra(
        tmp_path / "right",
        {"guard": "chains", FINGERPRINTS_KEY: held_out_fingerprints(sets["labeled"])},
    )
    with caplog.at_level(logging.WARNING, logger="jaxssl"):
        plan_stages(_config(sets["labeled"], extra, require=True), tmp_path / "w")
    assert "not screened" not in caplog.text


def test_source_holding_the_test_split_is_refused_even_when_screened(sets, tmp_path):
    test = load_split(sets["labeled"], "test")["tokens"]
    extra = _extra(
        tmp_path / "copy",
        {"guard": "chains", FINGERPRINTS_KEY: held_out_fingerprints(sets["labeled"])},
        tokens=reverse_complement(test[::-1]),
    )
    with pytest.raises(ConfigError, match="holds the same sequences as this run's test split"):
        plan_stages(_config(sets["labeled"], extra, require=False), tmp_path / "w")


def _fasta(path: Path, tokens: np.ndarray) -> Path:
    path.write_text(
        "".join(f">r{i}\n{''.join(ALPHABET[t] for t in row)}\n" for i, row in enumerate(tokens))
    )
    return path


def test_corpus_counts_as_screened_only_against_the_sets_it_excluded(sets, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(9)
    genome = _fasta(tmp_path / "g.fa", rng.integers(0, 4, (4, 400), dtype=np.uint8))
    stage = resolved_stages(_config(sets["labeled"], tmp_path, require=True))[0]
    held = run_held_out(sets["labeled"], "valid", "test")
    good, bad = tmp_path / "good", tmp_path / "bad"
    shutil.copytree(sets["labeled"], tmp_path / "lab")  # relative --exclude spelling
    base = ["corpus", "--seq-len", "40", "--from", str(genome)]
    assert data_prep_main([base[0], "good", *base[1:], "--exclude", "lab"]) == 0
    assert data_prep_main([base[0], str(bad), *base[1:], "--exclude", str(sets["other"])]) == 0
    assert {h.fingerprint for h in held} <= screened_fingerprints(good)
    check_screened(stage, Source(good), held, "config.data.extra_train", sets["labeled"])
    with pytest.raises(ConfigError, match="ran against other held-out data"):
        check_screened(stage, Source(bad), held, "config.data.extra_train", sets["labeled"])


def test_corpus_records_its_excluded_splits_by_content_and_survives_their_move(sets, tmp_path):
    """`data_prep corpus --exclude SET` names SET's held-out splits by fingerprint, so the
    corpus stays screened after SET moves; a corpus built without --exclude screens nothing."""
    rng = np.random.default_rng(5)
    genome = _fasta(tmp_path / "g.fa", rng.integers(0, 4, (4, 400), dtype=np.uint8))
    lab = tmp_path / "lab"
    shutil.copytree(sets["labeled"], lab)
    screened, plain = tmp_path / "screened", tmp_path / "plain"
    base = ["--seq-len", "40", "--from", str(genome)]
    assert data_prep_main(["corpus", str(screened), *base, "--exclude", f"{lab}:test"]) == 0
    assert data_prep_main(["corpus", str(plain), *base]) == 0
    recorded = load_manifest(screened).metadata["leakage"][FINGERPRINTS_KEY]
    assert recorded == {f"{lab.resolve()}:test": split_fingerprint(sets["labeled"], "test")}
    lab.rename(tmp_path / "moved")  # the checksummed manifest is gone: only content can tell
    stage = resolved_stages(_config(sets["labeled"], tmp_path, require=True))[0]
    test_only = run_held_out(sets["labeled"], "", "test")
    check_screened(stage, Source(screened), test_only, "config.data.extra_train", sets["labeled"])
    with pytest.raises(ConfigError, match="records no leakage screen"):
        check_screened(stage, Source(plain), test_only, "config.data.extra_train", sets["labeled"])
    with pytest.raises(ConfigError, match=r"not screened against this run's valid "):
        held = run_held_out(sets["labeled"], "valid", "test")
        check_screened(stage, Source(screened), held, "config.data.extra_train", sets["labeled"])


def test_windows_guard_records_what_it_ran_against(sets, tmp_path):
    """An unguarded `data_prep windows` run screens nothing; a guarded one names the labeled
    set's held-out splits by content."""
    rng = np.random.default_rng(4)
    genome = _fasta(tmp_path / "g.fa", rng.integers(0, 4, (2, 600), dtype=np.uint8))
    plain = tmp_path / "plain"
    argv = ["windows", str(plain), "--fasta", str(genome), "--seq-len", "40", "--stride", "40"]
    assert data_prep_main(argv) == 0
    assert load_manifest(plain).metadata["leakage"]["guard"] == "none"
    assert screened_fingerprints(plain) == set()
    lab = tmp_path / "lab"
    meta = {"genome": "ref", "split_chroms": {"test": ["r1"]}}
    with ShardSetWriter(lab, seq_len=40, task_names=["tf"], command="test", metadata=meta) as w:
        one = np.ones((1, 1), np.float32)
        tokens = load_split(plain, "train")["tokens"]
        w.add_batch("train", tokens[:1], one, genome="ref", chrom="r0", start=0)
        w.add_batch("valid", tokens[1:2], one, genome="ref", chrom="r0", start=40)
        w.add_batch("test", tokens[-1:], one, genome="ref", chrom="r1", start=0)
    guarded = tmp_path / "guarded"
    assert data_prep_main([*argv[:1], str(guarded), *argv[2:], "--exclude-homologs-of", str(lab),
                           "--reference-fasta", str(genome)]) == 0  # fmt: skip
    recorded = load_manifest(guarded).metadata["leakage"][FINGERPRINTS_KEY]
    assert recorded == {
        f"{lab.resolve()}:valid": split_fingerprint(lab, "valid"),
        f"{lab.resolve()}:test": split_fingerprint(lab, "test"),
    }


def test_init_from_weights_trained_on_this_runs_test_split_are_refused(sets, tmp_path, caplog):
    # A set whose train split is the labeled set's test split (another name, same sequences).
    leak = tmp_path / "leak"
    cols = load_split(sets["labeled"], "test")
    val = load_split(sets["labeled"], "valid")
    with ShardSetWriter(leak, seq_len=40, task_names=["ap1", "ebox"], command="test") as w:
        w.add_batch("train", cols["tokens"], cols["labels"], cols["weights"])
        w.add_batch("valid", val["tokens"][:32], val["labels"][:32], val["weights"][:32])
        w.add_batch("test", val["tokens"][32:], val["labels"][32:], val["weights"][32:])
    config = small_config(leak, steps=2)
    config.seeds = ""
    train_lib.train_and_evaluate(config, tmp_path / "pre")
    trained = read_trained_on(tmp_path / "pre" / "supervised")
    assert trained == {f"{leak.resolve()}:train": split_fingerprint(sets["labeled"], "test")}

    config = small_config(sets["labeled"], steps=2)
    config.seeds = ""
    config.init_from = str(tmp_path / "pre" / "supervised")
    with pytest.raises(ConfigError) as err:
        plan_stages(config, tmp_path / "run")
    message = str(err.value)
    assert message.startswith(f"config.supervised.init_from={config.init_from}: those weights")
    assert f"trained on {leak.resolve()}:train" in message
    assert f"test split {sets['labeled'].resolve()}:test" in message and "\n" not in message

    (tmp_path / "pre" / "supervised" / TRAINED_ON).unlink()  # weights with no record: a warning
    with caplog.at_level(logging.WARNING, logger="jaxssl"):
        plan_stages(config, tmp_path / "run")
    assert "records no training data" in caplog.text
