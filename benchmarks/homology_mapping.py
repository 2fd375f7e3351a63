"""Homology mapping throughput in windows/s: through chains (liftOver) and through minimap2.

    JAXSSL_CACHE=/tmp/jcache python benchmarks/homology_mapping.py [--windows 20000] [--threads 1 2]

Source windows are the default toy world's labeled training windows (200 bp, built on first
use), repeated to --windows. Timed separately:

* chains: ``map_by_chains`` (liftOver of every window + its centre base) through the toy
  world's true chains, and through the real hg19->mm9 chain (``../shared/data``, 566k blocks)
  on random chr16 windows when that file is present;
* minimap2: ``map_by_minimap`` (mappy, k=13 w=5) on --threads threads, after the index build
  (reported on its own);
* end to end: ``carry_labels`` for one species by each method (mapping, cutting the target
  windows, the back-mapping leakage guard and writing the shard set).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from jaxssl.data.pipeline import load_split
from jaxssl.homology.carry import CarryOptions, Target, carry_labels
from jaxssl.homology.chain import ChainIndex
from jaxssl.homology.mapping import map_by_chains, map_by_minimap, minimap_aligner
from jaxssl.toy_data import toy_labeled_shards, toy_world_dir

TOY = {"seed": 0, "window": 200}
SHARED = Path(
    os.environ.get("JAXSSL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared/data")
)
REAL_CHAIN = SHARED / "chain" / "hg19.mm9.rBest.chain.gz"


def rate(n: int, fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return n / (time.perf_counter() - t0), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--windows", type=int, default=20_000, help="source windows per timing")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="minimap2 threads")
    ap.add_argument("--species", default="sp2", help="toy world target genome")
    args = ap.parse_args()
    world = toy_world_dir(TOY)
    labeled = toy_labeled_shards(TOY)
    src = load_split(labeled, "train")
    reps = -(-args.windows // len(src["start"]))
    cols = ("chrom", "start", "strand", "tokens")
    take = {k: np.concatenate([src[k]] * reps)[: args.windows] for k in cols}
    n = len(take["start"])
    fasta = world / "genomes" / f"{args.species}.fa"
    chain = world / "chains" / f"ref_to_{args.species}.chain"
    print(
        f"{n} windows of {src['tokens'].shape[1]} bp, target {args.species}, {os.cpu_count()} CPUs"
    )

    t0 = time.perf_counter()
    index = ChainIndex.from_file(chain)
    print(f"chains: read + index {time.perf_counter() - t0:.3f} s ({len(index.chains)} chains)")
    r, m = rate(n, lambda: map_by_chains(index, take["chrom"], take["start"], take["strand"], 200))
    print(f"chains (toy world): {r:,.0f} windows/s, {len(m.source) / n:.1%} mapped")
    if REAL_CHAIN.is_file():
        real = ChainIndex.from_file(REAL_CHAIN)
        rng = np.random.default_rng(0)
        starts = rng.integers(46_700_000, 90_000_000, n)
        chroms = np.full(n, "chr16", object)
        strands = np.full(n, "+", object)
        r, m = rate(n, lambda: map_by_chains(real, chroms, starts, strands, 200))
        print(
            f"chains (hg19->mm9 chr16, 566k blocks): {r:,.0f} windows/s, "
            f"{len(m.source) / n:.1%} mapped"
        )

    t0 = time.perf_counter()
    aligner = minimap_aligner(str(fasta))
    dt = time.perf_counter() - t0
    print(f"minimap2: index build {dt:.2f} s ({fasta.stat().st_size / 1e6:.1f} MB FASTA)")
    for threads in args.threads:
        r, m = rate(n, lambda t=threads: map_by_minimap(aligner, take["tokens"], threads=t))
        print(
            f"minimap2 ({threads} thread{'s' * (threads > 1)}): {r:,.0f} windows/s, "
            f"{len(m.source) / n:.1%} mapped"
        )

    n_src = len(src["start"])
    with tempfile.TemporaryDirectory() as tmp:
        for label, target in (("chains", Target(fasta, chain)), ("minimap2", Target(fasta))):
            opts = CarryOptions(threads=max(args.threads))
            out = Path(tmp) / label
            r, _ = rate(
                n_src, lambda t=target, o=opts, p=out: carry_labels(labeled, p, [t], options=o)
            )
            print(f"end to end, {label}: {r:,.0f} windows/s ({n_src} windows, one species)")


if __name__ == "__main__":
    main()
