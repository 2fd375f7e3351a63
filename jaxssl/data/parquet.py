"""A shard set as one Parquet table, for analysis in pandas, polars or DuckDB.

One row per example: ``split``, ``sequence`` (ACGTN text), one ``label:<task>`` column per task
(NaN = missing), ``weight``, the provenance (``genome``, ``chrom``, ``start``, ``strand``) and
one column per extra field. Written a block at a time (one row group per ~1M bases), so a set of
any size fits in memory. Needs ``pyarrow`` (``pip install -e ".[tables]"``), imported only here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from jaxssl.data.manifest import Manifest, load_manifest
from jaxssl.data.reader import SplitReader
from jaxssl.optional import require
from jaxssl.tokens import TOKEN_TO_BYTE

LABEL_PREFIX = "label:"
ROW_GROUP_BASES = 1 << 20


def _pyarrow():
    pq = require("pyarrow.parquet", "Parquet export", extra="tables", package="pyarrow")
    return require("pyarrow", "Parquet export", extra="tables"), pq


def column_names(manifest: Manifest) -> list[str]:
    """The table's columns, in order; an extra field that would repeat a name is an error."""
    names = [
        "split",
        "sequence",
        *(LABEL_PREFIX + t for t in manifest.task_names),
        "weight",
        "genome",
        "chrom",
        "start",
        "strand",
    ]
    if clash := set(names) & set(manifest.extra_fields):
        raise ValueError(f"extra fields {sorted(clash)} repeat a column name of the table")
    return names + list(manifest.extra_fields)


def _sequences(pa, tokens_NL: np.ndarray):
    """Tokens -> an Arrow string array without a Python loop (fixed-length rows)."""
    n, seq_len = tokens_NL.shape
    offsets = (np.arange(n + 1, dtype=np.int64) * seq_len).astype(np.int64)
    data = TOKEN_TO_BYTE[tokens_NL].tobytes()
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def schema(pa, manifest: Manifest):
    """The table's Arrow schema: labels, weights and extras float32, start int64."""
    types = {
        "split": pa.string(),
        "sequence": pa.large_string(),
        "genome": pa.string(),
        "chrom": pa.string(),
        "start": pa.int64(),
        "strand": pa.string(),
    }
    return pa.schema([(c, types.get(c, pa.float32())) for c in column_names(manifest)])


def _batches(pa, shard_dir: Path, manifest: Manifest, split: str, schema_) -> Iterator:
    reader = SplitReader(shard_dir, split, random_access=False)
    try:
        for block in reader.iter_blocks(provenance=True):
            n = len(block["tokens"])
            columns = [
                pa.array(np.full(n, split, object), pa.string()),
                _sequences(pa, block["tokens"]),
                *(block["labels"][:, t] for t in range(manifest.num_tasks)),
                block["weights"],
                pa.array(block["genome"], pa.string()),
                pa.array(block["chrom"], pa.string()),
                block["start"],
                pa.array(block["strand"], pa.string()),
                *(block[name] for name in manifest.extra_fields),
            ]
            yield pa.RecordBatch.from_arrays(columns, schema=schema_)
    finally:
        reader.close()


def export_parquet(
    shard_dir: str | Path, out_path: str | Path, *, splits: Sequence[str] | None = None
) -> int:
    """Writes the examples of ``splits`` (default: all, in manifest order) to ``out_path``;
    returns the number of rows. Written to a temporary name and renamed when complete; the
    manifest travels in the file's metadata (``jaxssl.manifest``)."""
    pa, pq = _pyarrow()
    shard_dir, out_path = Path(shard_dir), Path(out_path)
    manifest = load_manifest(shard_dir)
    splits = list(manifest.splits) if splits is None else list(splits)
    for split in splits:
        manifest.split(split, where=shard_dir)
    schema_ = schema(pa, manifest).with_metadata(
        {"jaxssl.shard_set": str(shard_dir.resolve()), "jaxssl.manifest": manifest.to_json()}
    )
    rows_per_group = max(1, ROW_GROUP_BASES // manifest.seq_len)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    rows = 0
    try:
        with pq.ParquetWriter(tmp, schema_) as writer:
            for split in splits:
                for batch in _batches(pa, shard_dir, manifest, split, schema_):
                    writer.write_batch(batch, row_group_size=rows_per_group)
                    rows += batch.num_rows
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows
