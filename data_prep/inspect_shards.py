"""`inspect`: what a shard set holds: manifest, counts per split and label, length, GC content
and a few decoded examples, so a user can check a set before training on it."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("inspect", help="summarise a shard set", description=__doc__)
    p.add_argument("shard_dir", type=Path)
    p.add_argument("--examples", type=int, default=3, help="decoded examples per split")
    p.add_argument("--width", type=int, default=60, help="bases shown per example")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from jaxssl.data.manifest import load_manifest
    from jaxssl.data.reader import SplitReader
    from jaxssl.tokens import decode, gc_fraction

    m = load_manifest(args.shard_dir)
    print(f"shard set  {args.shard_dir}")
    print(f"schema     {m.schema_version} ({m.format}), jaxssl {m.jaxssl_version}, {m.created}")
    print(f"seq_len    {m.seq_len}   examples/record {m.examples_per_record}")
    print(f"tasks      {m.task_names or '(unlabeled)'}")
    if m.extra_fields:
        print(f"extra      {m.extra_fields}")
    print(f"command    {m.command}")
    for s in m.sources:
        print(f"source     {s['path']}  {s['bytes']} B  sha256 {s['sha256'][:16]}...")
    for key, value in m.metadata.items():
        print(f"metadata   {key}: {value}")
    for split, entry in m.splits.items():
        n = entry["count"]
        gc = f"{entry['gc']:.3f}" if entry.get("gc") is not None else "n/a"
        print(f"\n[{split}] {n} examples in {len(entry['shards'])} shard(s), GC {gc}")
        for t, name in enumerate(m.task_names):
            pos, miss = entry["positives"][t], entry["missing"][t]
            print(f"  {name}: {pos} positive, {n - pos - miss} other, {miss} missing")
        reader = SplitReader(args.shard_dir, split, random_access=False)
        shown = 0
        for block in reader.iter_blocks(provenance=True):
            for i in range(min(len(block["tokens"]), args.examples - shown)):
                seq = decode(block["tokens"][i])
                where = (
                    f"{block['genome'][i]}:{block['chrom'][i]}:{block['start'][i]}"
                    f"({block['strand'][i]})"
                )
                labels = np.array2string(block["labels"][i], precision=2)
                print(
                    f"  {where} labels {labels} w {block['weights'][i]:.2f} "
                    f"GC {gc_fraction(block['tokens'][i]):.2f}  {seq[: args.width]}"
                    f"{'...' if len(seq) > args.width else ''}"
                )
                shown += 1
            if shown >= args.examples:
                break
        reader.close()
    return 0
