"""A small shard set with every kind of field, for the export tests (TFDS, Parquet)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxssl.data import writer as writer_lib


def rich_shards(out_dir: Path) -> Path:
    """Extra fields (one a per-label weight, its name with a colon), NaN labels, provenance of
    every kind (negative and 2**40 starts, three strands, several genomes and chromosomes) and
    an empty split. Patch ``writer_lib.RECORD_TOKEN_BYTES`` / ``RECORDS_PER_SHARD`` down for
    several blocks and shards per split."""
    rng = np.random.default_rng(1)
    with writer_lib.ShardSetWriter(
        out_dir,
        seq_len=30,
        task_names=["a", "b", "c"],
        command="tests/rich_shards.py",
        extra_fields=["confidence", "label_weight:a"],
    ) as w:
        for split, n in (("train", 230), ("valid", 41), ("test", 0)):
            labels = rng.random((n, 3)).astype(np.float32)
            labels[rng.random((n, 3)) < 0.2] = np.nan
            w.add_batch(
                split,
                rng.integers(0, 5, (n, 30), dtype=np.uint8),
                labels,
                rng.random(n).astype(np.float32),
                genome=rng.choice(["hg38", "mm10", ""], n).tolist(),
                chrom=rng.choice(["chr1", "chrX", "scaffold_12"], n).tolist(),
                start=rng.choice([-1, 0, 127, 128, 2**40], n),
                strand=rng.choice(["+", "-", "."], n).tolist(),
                confidence=rng.random(n),
                **{"label_weight:a": rng.random(n)},
            )
    return out_dir
