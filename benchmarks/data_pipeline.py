"""Input-pipeline throughput, shards -> batched numpy, in sequences/s and Mbp/s per CPU core.

    python benchmarks/data_pipeline.py [--mbp 100] [--batch-size 256] [--cores 1]

Writes synthetic shard sets of 101 bp and 1 kb windows to a temporary directory, then times
``train_iterator`` (shuffled, endless, prefetch off so that one thread does all the work) and
``eval_batches`` (file order) pinned to ``--cores`` CPUs. Target: >= 50 Mbp/s per core.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from jaxssl.data.pipeline import Source, eval_batches, train_iterator
from jaxssl.data.writer import ShardSetWriter


def make_set(path: Path, n: int, seq_len: int) -> None:
    rng = np.random.default_rng(0)
    with ShardSetWriter(path, seq_len=seq_len, task_names=["t0", "t1"], command="bench") as w:
        for lo in range(0, n, 8192):
            k = min(8192, n - lo)
            w.add_batch(
                "train",
                rng.integers(0, 4, (k, seq_len), dtype=np.uint8),
                rng.integers(0, 2, (k, 2)).astype(np.float32),
                1.0,
                genome="synthetic",
                chrom="chr1",
                start=np.arange(lo, lo + k),
            )


def timed(batches, seq_len: int, min_seconds: float = 3.0) -> tuple[float, float]:
    seqs, t0 = 0, time.perf_counter()
    for b in batches:
        seqs += len(b["tokens"])
        if time.perf_counter() - t0 > min_seconds:
            break
    dt = time.perf_counter() - t0
    return seqs / dt, seqs * seq_len / dt / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mbp", type=float, default=100.0, help="Mbp of tokens per shard set")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--cores", type=int, default=1, help="CPUs to pin to (per-core figure)")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
    with tempfile.TemporaryDirectory() as tmp:
        for seq_len in (101, 1000):
            n = int(args.mbp * 1e6 / seq_len)
            path = Path(tmp) / f"L{seq_len}"
            t0 = time.perf_counter()
            make_set(path, n, seq_len)
            write_s = time.perf_counter() - t0
            size = sum(p.stat().st_size for p in path.iterdir())
            it = train_iterator(
                [Source(path)],
                batch_size=args.batch_size,
                seed=0,
                shard_index=0,
                shard_count=1,
                prefetch=0,
            )
            next(it)  # opens files
            train_sps, train_mbps = timed(it, seq_len)
            eval_sps, eval_mbps = timed(
                eval_batches(path, "train", batch_size=args.batch_size), seq_len
            )
            print(
                f"L={seq_len:5d}  {n} seqs, {size / 1e6:.0f} MB on disk, written at "
                f"{n * seq_len / write_s / 1e6:.0f} Mbp/s | train_iterator {train_sps:,.0f} seq/s "
                f"= {train_mbps / args.cores:.0f} Mbp/s/core | eval_batches {eval_sps:,.0f} "
                f"seq/s = {eval_mbps / args.cores:.0f} Mbp/s/core  (batch {args.batch_size}, "
                f"{args.cores} core)"
            )


if __name__ == "__main__":
    main()
