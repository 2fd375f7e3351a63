"""Shard sets as TFDS datasets: read by TFDS without TensorFlow, equal to load_split record for
record; the jaxssl_gue builder equals `data_prep from-csv`."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxssl.data import writer as writer_lib
from jaxssl.data.manifest import load_manifest
from jaxssl.data.reader import load_split
from jaxssl.data.tfds_export import export_tfds, has_tfds, tfds_file_names
from tests.rich_shards import rich_shards
from tests.synthetic import make_motif_shards

tfds = pytest.importorskip("tensorflow_datasets")


def assert_tfds_equals_load_split(shard_dir: Path) -> None:
    """Every split: same length, and TFDS record i == load_split example i in every field."""
    builder = tfds.builder_from_directory(str(shard_dir))
    manifest = load_manifest(shard_dir)
    splits = [s for s, entry in manifest.splits.items() if entry["count"]]
    assert set(builder.info.splits) == set(splits)
    for split in splits:
        ref = load_split(shard_dir, split)
        source = builder.as_data_source(split)
        assert len(source) == len(ref["tokens"]) == manifest.splits[split]["count"]
        records = source.__getitems__(list(range(len(source))))
        for i, record in enumerate(records):
            assert set(record) == set(ref), split
            for key, column in ref.items():
                got = record[key]
                if isinstance(got, bytes):
                    assert got.decode() == column[i], (split, i, key)
                else:
                    np.testing.assert_array_equal(got, column[i], err_msg=f"{split} {i} {key}")


def test_motif_shard_set_reads_as_tfds(tmp_path):
    shard_dir = make_motif_shards(tmp_path / "motif", n_train=300, n_eval=50)
    written = export_tfds(shard_dir)
    assert {p.name for p in written} == tfds_file_names(load_manifest(shard_dir).splits)
    assert has_tfds(shard_dir)
    assert_tfds_equals_load_split(shard_dir)


def test_many_blocks_shards_extras_and_empty_split(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_lib, "RECORD_TOKEN_BYTES", 30 * 16)  # 16 examples per block
    monkeypatch.setattr(writer_lib, "RECORDS_PER_SHARD", 4)  # 64 examples per shard
    shard_dir = rich_shards(tmp_path / "rich")
    manifest = load_manifest(shard_dir)
    assert len(manifest.splits["train"]["shards"]) == 4  # 230 examples: 4 shards, partial last
    (shard_dir / "dataset_info.json").unlink(missing_ok=True)  # the writer may have made one
    assert not has_tfds(shard_dir)
    export_tfds(shard_dir)
    assert_tfds_equals_load_split(shard_dir)
    export_tfds(shard_dir)  # repeatable: rewrites the same files
    assert_tfds_equals_load_split(shard_dir)
    assert "test" not in tfds.builder_from_directory(str(shard_dir)).info.splits  # empty


def test_tfds_reads_without_tensorflow(tmp_path):
    """TFDS's numpy path: nothing in writing or reading imports TensorFlow."""
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed here; this test needs an environment without it")
    shard_dir = make_motif_shards(tmp_path / "motif", n_train=64, n_eval=16)
    export_tfds(shard_dir)
    source = tfds.builder_from_directory(str(shard_dir)).as_data_source("valid")
    assert len(source) == 16 and source[15]["tokens"].shape == (40,)
    assert "tensorflow" not in sys.modules


def test_toy_world_shard_set_reads_as_tfds(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXSSL_CACHE", str(tmp_path / "cache"))
    from jaxssl.toy_data import toy_labeled_shards
    from tests.test_homology import SMALL

    labeled = toy_labeled_shards({**SMALL.to_dict(), "window": 200})
    shard_dir = tmp_path / "labeled"
    shutil.copytree(labeled, shard_dir)
    export_tfds(shard_dir)
    assert_tfds_equals_load_split(shard_dir)


def test_gue_builder_equals_from_csv(shared_data, tmp_path):
    gue = shared_data / "gue"
    if not (gue / "tf0").is_dir():
        pytest.skip(f"no GUE tf0 in {gue}")
    import jaxssl.data.tfds_gue  # noqa: F401  (registers jaxssl_gue)
    from data_prep.__main__ import main as data_prep

    sources = tfds.data_source(
        "jaxssl_gue/tf0",
        data_dir=str(tmp_path / "tfds"),
        download_and_prepare_kwargs={
            "download_config": tfds.download.DownloadConfig(manual_dir=str(gue))
        },
    )
    assert data_prep(["from-csv", str(tmp_path / "tf0"), "--input", str(gue / "tf0")]) == 0
    manifest = load_manifest(tmp_path / "tf0")
    assert sorted(sources) == sorted(manifest.splits) == ["test", "train", "valid"]
    for split, source in sources.items():
        ref = load_split(tmp_path / "tf0", split)
        assert len(source) == len(ref["tokens"])
        # Every example of valid/test, every 50th of train (32k examples).
        idx = list(range(0, len(source), 50 if split == "train" else 1))
        for i, record in zip(idx, source.__getitems__(idx), strict=True):
            np.testing.assert_array_equal(record["tokens"], ref["tokens"][i])
            np.testing.assert_array_equal(record["labels"], ref["labels"][i])
            assert record["weights"] == ref["weights"][i]
            assert record["start"] == ref["start"][i]
            assert record["strand"].decode() == ref["strand"][i]


def test_gue_task_folder_accepts_root_or_task(tmp_path):
    from jaxssl.data.tfds_gue import task_folder

    (tmp_path / "tf0").mkdir()
    assert task_folder(tmp_path, "tf0") == tmp_path / "tf0"
    assert task_folder(tmp_path / "tf0", "tf0") == tmp_path / "tf0"


def test_writer_makes_every_shard_set_a_tfds_directory(tmp_path):
    shard_dir = make_motif_shards(tmp_path / "motif", n_train=64, n_eval=16)
    assert has_tfds(shard_dir)
    assert_tfds_equals_load_split(shard_dir)
    # --overwrite still replaces the set: its TFDS files are its own, not foreign files.
    with writer_lib.ShardSetWriter(
        shard_dir, seq_len=40, task_names=["x"], command="t", overwrite=True
    ) as w:
        w.add_batch("train", np.zeros((3, 40), np.uint8), np.ones((3, 1), np.float32))
    assert_tfds_equals_load_split(shard_dir)
    assert not any(p.name.startswith("jaxssl-valid") for p in shard_dir.iterdir())
