"""`inspect`: what a shard set holds: manifest, counts per split and label, length, GC content,
exact duplicate sequences across splits, and a few decoded examples, so a user can check a set
before training on it. A truncated or corrupt shard is named (exit code 2).

With ``--to out.parquet`` it writes the examples as one table instead (one row per example:
split, sequence, label:<task>..., weight, genome, chrom, start, strand, extra fields), for
analysis in pandas (``pd.read_parquet``), polars or DuckDB; needs pyarrow."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("inspect", help="summarise a shard set", description=__doc__)
    p.add_argument("shard_dir", type=Path)
    p.add_argument("--examples", type=int, default=3, help="decoded examples per split")
    p.add_argument("--width", type=int, default=60, help="bases shown per example")
    p.add_argument(
        "--count-duplicates",
        action="store_true",
        help="count duplicates across splits from the shards (sets made before they were "
        "recorded in the manifest; reads every shard)",
    )
    p.add_argument(
        "--to",
        type=Path,
        metavar="OUT.parquet",
        help="write every example as a row of a Parquet table instead of the summary",
    )
    p.add_argument(
        "--splits", help="comma-separated splits for --to (default: all, in manifest order)"
    )
    p.set_defaults(func=run)


def count_duplicates(shard_dir: Path, splits: list[str]) -> dict[str, int]:
    """Duplicate counts recomputed from the shards, as the writer records them."""
    import numpy as np

    from jaxssl.data.reader import SplitReader
    from jaxssl.data.writer import duplicate_counts, sequence_keys

    keys = {}
    for split in splits:
        reader = SplitReader(shard_dir, split, random_access=False)
        parts = [sequence_keys(b["tokens"]) for b in reader.iter_blocks()]
        reader.close()
        keys[split] = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
    return duplicate_counts(keys)


def format_duplicates(counts: dict) -> str:
    """``valid_in_train 0, test_in_train 42, ...``: one line."""
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def export_table(args: argparse.Namespace) -> int:
    from jaxssl.data.parquet import export_parquet

    if args.to.suffix != ".parquet":
        raise ValueError(f"--to {args.to}: only Parquet is written; name it OUT.parquet")
    splits = args.splits.split(",") if args.splits else None
    rows = export_parquet(args.shard_dir, args.to, splits=splits)
    print(f"wrote {rows} rows to {args.to}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.to is not None:
        return export_table(args)
    if args.splits:
        raise ValueError("--splits chooses the splits of --to OUT.parquet; pass --to as well")
    import numpy as np

    from jaxssl.data.manifest import load_manifest
    from jaxssl.data.reader import SplitReader
    from jaxssl.data.tfds_export import has_tfds
    from jaxssl.tokens import decode, gc_fraction

    m = load_manifest(args.shard_dir)
    print(f"shard set  {args.shard_dir}")
    print(f"schema     {m.schema_version} ({m.format}), jaxssl {m.jaxssl_version}, {m.created}")
    print(f"seq_len    {m.seq_len}   examples/record {m.examples_per_record}")
    print(f"tasks      {m.task_names or '(unlabeled)'}")
    if m.extra_fields:
        print(f"extra      {m.extra_fields}")
    print(f"command    {m.command}")
    if has_tfds(args.shard_dir):
        print("tfds       yes: tfds.builder_from_directory(DIR).as_data_source(SPLIT)")
    else:
        print("tfds       no view (`python -m data_prep tfds DIR` adds one)")
    for s in m.sources:
        print(f"source     {s['path']}  {s['bytes']} B  sha256 {s['sha256'][:16]}...")
    for key, value in m.metadata.items():
        if key != "duplicates":
            print(f"metadata   {key}: {value}")
    dup = m.metadata.get("duplicates")
    if args.count_duplicates:
        dup = {**(dup or {}), **count_duplicates(args.shard_dir, list(m.splits))}
    if dup:
        print(
            f"duplicates {format_duplicates(dup)} "
            "(examples of a split whose exact sequence, either strand, is in train / valid)"
        )
    elif len(m.splits) > 1:
        print("duplicates not recorded in this manifest; pass --count-duplicates to count them")
    for split, entry in m.splits.items():
        n = entry["count"]
        gc = f"{entry['gc']:.3f}" if entry.get("gc") is not None else "n/a"
        role = m.role(split) + ("" if entry.get("role") else ", inferred from the name")
        print(f"\n[{split}] role {role}; {n} examples in {len(entry['shards'])} shard(s), GC {gc}")
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
