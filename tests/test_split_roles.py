"""Splits by role (issue 23 item 1): the doors check a split's role, never its name.

Each case plants a shard set and checks one door; everything is refused while planning, so no
test trains (a few seconds in all).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ml_collections import ConfigDict

from data_prep.__main__ import main as data_prep_main
from jaxssl import train as train_lib
from jaxssl.data.manifest import load_manifest, role_from_name
from jaxssl.data.writer import ShardSetWriter
from jaxssl.datasets import parse_sources
from jaxssl.errors import ConfigError
from tests.test_train import small_config

SPLITS = ("train", "valid", "test", "valid_clean", "test_clean")


def _labeled_set(path: Path, splits=SPLITS, seq_len: int = 24, n: int = 32) -> Path:
    rng = np.random.default_rng(0)
    with ShardSetWriter(
        path, seq_len=seq_len, task_names=["a"], command="test", tfds=False
    ) as writer:
        for split in splits:
            tokens = rng.integers(0, 4, (n, seq_len), dtype=np.uint8)
            labels = (np.arange(n) % 2)[:, None].astype(np.float32)
            writer.add_batch(split, tokens, labels, np.ones(n, np.float32), genome="g")
    return path


@pytest.fixture(scope="module")
def labeled(tmp_path_factory) -> Path:
    return _labeled_set(tmp_path_factory.mktemp("roles") / "set")


def _refused(config: ConfigDict, workdir: Path, pattern: str) -> str:
    with pytest.raises(ConfigError, match=pattern) as err:
        train_lib.train_and_evaluate(config, workdir)
    assert not list(workdir.glob("**/checkpoints"))  # refused before anything trained
    return str(err.value)


def test_new_manifests_record_every_split_role(labeled):
    raw = json.loads((labeled / "manifest.json").read_text())
    roles = {name: entry["role"] for name, entry in raw["splits"].items()}
    assert roles == {
        "train": "train",
        "valid": "valid",
        "test": "test",
        "valid_clean": "valid",
        "test_clean": "test",
    }


def test_roles_of_old_manifests_are_inferred_from_the_name(tmp_path):
    path = _labeled_set(tmp_path / "old", splits=("train", "dev", "test_b", "heldout"))
    raw = json.loads((path / "manifest.json").read_text())
    for entry in raw["splits"].values():
        del entry["role"]  # a manifest written before roles existed
    (path / "manifest.json").write_text(json.dumps(raw))
    manifest = load_manifest(path)
    roles = {s: manifest.role(s) for s in manifest.splits}
    assert roles == {"train": "train", "dev": "valid", "test_b": "test", "heldout": "test"}
    assert [role_from_name(n) for n in ("valid2", "val", "training")] == ["valid", "valid", "train"]


def test_a_recorded_role_wins_over_the_name(tmp_path):
    path = _labeled_set(tmp_path / "set", splits=("train", "valid", "test", "extra"))
    raw = json.loads((path / "manifest.json").read_text())
    raw["splits"]["extra"]["role"] = "test"  # a held-out split with a harmless name
    (path / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=r"split 'extra' of .* is held out \(role 'test'\)"):
        parse_sources(f"{path}:extra", small_config(path).data)


@pytest.mark.parametrize("split", ["test_clean", "valid_clean"])
def test_clean_splits_are_refused_as_extra_train(labeled, tmp_path, split):
    config = small_config(labeled, steps=5)
    config.data.extra_train = f"{labeled}:{split}"
    message = _refused(config, tmp_path / "run", r"^config\.data\.extra_train=")
    assert f"split {split!r} of {labeled} is held out" in message


def test_a_clean_split_is_refused_as_a_teacher_source(labeled):
    data = small_config(labeled).data
    with pytest.raises(ConfigError, match=r"^config\.pseudo\.sources=.*'test_clean'.*held out"):
        parse_sources(f"{labeled}:test_clean", data, key="config.pseudo.sources")


def test_train_split_with_a_held_out_role_is_refused(labeled, tmp_path):
    config = small_config(labeled, steps=5)
    config.data.train_split = "test_clean"
    _refused(config, tmp_path / "run", r"^config\.data\.train_split='test_clean'.*role 'test'")


def test_valid_split_must_have_the_valid_role(labeled, tmp_path):
    config = small_config(labeled, steps=5)
    config.data.valid_split = "test"
    message = _refused(config, tmp_path / "run", r"^config\.data\.valid_split='test': ")
    assert "role 'test', not 'valid'" in message and str(labeled) in message
    config.data.valid_split = "test_clean"
    _refused(config, tmp_path / "run", r"^config\.data\.valid_split='test_clean'")


def test_test_split_must_have_the_test_role(labeled, tmp_path):
    config = small_config(labeled, steps=5)
    config.data.test_split = "valid"
    _refused(config, tmp_path / "run", r"^config\.data\.test_split='valid': .*role 'valid'")


def test_valid_and_test_may_not_be_the_same_split(labeled, tmp_path):
    config = small_config(labeled, steps=5)
    config.data.valid_split = config.data.test_split = "valid"
    _refused(config, tmp_path / "run", r"^config\.data\.test_split='valid': .*role 'valid'")


def test_a_stage_override_is_named_by_its_own_key(labeled, tmp_path):
    config = small_config(labeled, steps=5)
    config.supervised = ConfigDict({"data": {"valid_split": "test"}})
    _refused(config, tmp_path / "run", r"^config\.supervised\.data\.valid_split='test'")


@pytest.mark.parametrize("split", ["test", "test_clean", "valid+train"])
def test_data_prep_corpus_refuses_a_held_out_source(labeled, tmp_path, capsys, split):
    out = tmp_path / "corpus"
    code = data_prep_main(["corpus", str(out), "--seq-len", "24", "--from", f"{labeled}:{split}"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"data_prep corpus: error: --from {labeled}:{split}: split ")
    assert "held out" in err and not out.exists()


def test_data_prep_corpus_takes_a_train_split(labeled, tmp_path, capsys):
    out = tmp_path / "corpus"
    code = data_prep_main(["corpus", str(out), "--seq-len", "24", "--from", f"{labeled}:train"])
    assert code == 0, capsys.readouterr().err
    manifest = load_manifest(out)
    assert manifest.splits["train"]["count"] > 0
    assert manifest.role("train") == "unlabeled"  # no tasks: a pre-training pool


def test_data_prep_homology_refuses_to_carry_a_held_out_split(labeled, tmp_path, capsys):
    fasta = tmp_path / "target.fa"
    fasta.write_text(">c\n" + "ACGT" * 50 + "\n")
    out = tmp_path / "out"
    argv = ["homology", str(out), "--labeled", str(labeled), "--targets", str(fasta)]
    code = data_prep_main([*argv, "--split", "test_clean"])
    err = capsys.readouterr().err
    assert code == 2 and "--split test_clean: split 'test_clean'" in err and "held out" in err


def test_data_prep_windows_refuses_a_held_out_output_split_name(tmp_path, capsys):
    fasta = tmp_path / "g.fa"
    fasta.write_text(">c\n" + "ACGT" * 50 + "\n")
    out = tmp_path / "w"
    argv = ["windows", str(out), "--fasta", str(fasta), "--seq-len", "24", "--count", "4"]
    code = data_prep_main([*argv, "--split", "test_pool"])
    err = capsys.readouterr().err
    assert code == 2 and "--split test_pool: the name gives the split role 'test'" in err
    assert not out.exists()


def test_data_prep_inspect_shows_each_role(labeled, capsys):
    assert data_prep_main(["inspect", str(labeled), "--examples", "0"]) == 0
    out = capsys.readouterr().out
    assert "[test_clean] role test; 32 examples" in out
    assert "[valid_clean] role valid; 32 examples" in out
