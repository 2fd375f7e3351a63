"""`python -m data_prep inspect DIR --to out.parquet`: one row per example, read back equal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_prep.__main__ import main as data_prep
from jaxssl.data import writer as writer_lib
from jaxssl.data.reader import load_split
from jaxssl.tokens import encode
from tests.rich_shards import rich_shards

pd = pytest.importorskip("pandas")
pq = pytest.importorskip("pyarrow.parquet")


def test_parquet_round_trip(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(writer_lib, "RECORD_TOKEN_BYTES", 30 * 16)  # several blocks
    shard_dir = rich_shards(tmp_path / "rich")
    out = tmp_path / "rich.parquet"
    assert data_prep(["inspect", str(shard_dir), "--to", str(out)]) == 0
    assert "wrote 271 rows" in capsys.readouterr().out
    table = pd.read_parquet(out)
    assert list(table.columns) == [
        "split", "sequence", "label:a", "label:b", "label:c", "weight",
        "genome", "chrom", "start", "strand", "confidence", "label_weight:a",
    ]  # fmt: skip
    assert table["split"].tolist() == ["train"] * 230 + ["valid"] * 41  # test is empty
    for split, rows in table.groupby("split", sort=False):
        ref = load_split(shard_dir, split)
        tokens = np.stack([encode(s) for s in rows["sequence"]])
        np.testing.assert_array_equal(tokens, ref["tokens"])
        labels = rows[["label:a", "label:b", "label:c"]].to_numpy(np.float32)
        np.testing.assert_array_equal(labels, ref["labels"])  # NaN where missing, too
        np.testing.assert_array_equal(rows["weight"].to_numpy(), ref["weights"])
        for key in ("genome", "chrom", "start", "strand", "confidence", "label_weight:a"):
            np.testing.assert_array_equal(rows[key].to_numpy(), ref[key], err_msg=key)
    manifest = json.loads(pq.read_schema(out).metadata[b"jaxssl.manifest"])
    assert manifest["task_names"] == ["a", "b", "c"]


def test_parquet_splits_and_errors(tmp_path, capsys):
    shard_dir = rich_shards(tmp_path / "rich")
    out = tmp_path / "valid.parquet"
    assert data_prep(["inspect", str(shard_dir), "--to", str(out), "--splits", "valid"]) == 0
    assert len(pd.read_parquet(out)) == 41
    assert data_prep(["inspect", str(shard_dir), "--to", str(out), "--splits", "dev"]) == 2
    assert "no split 'dev'" in capsys.readouterr().err
    assert len(pd.read_parquet(out)) == 41  # a failed export leaves the old file alone
    assert data_prep(["inspect", str(shard_dir), "--to", str(tmp_path / "x.csv")]) == 2
    assert "only Parquet" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
