"""`from-csv`: benchmark tables (GUE / GenomicBenchmarks `sequence,label[,...]`) -> shard set.

Given train/dev/test files stay the splits (dev is stored as split ``valid``, the name every
jaxssl verb uses). Sequences of another length are centre-cropped or N-padded to ``--seq-len``
and counted in the manifest's metadata; none is dropped.

Refused with file and line: tables that are not DNA (protein, RNA), labels outside [0, 1]
(--label-type binary, the default; NaN/empty = missing) or that are not class indices
(--label-type multiclass), truncated or corrupt gzip files. Exact duplicate sequences (either
strand) of valid/test that also occur in train are counted in the manifest
(metadata.duplicates); --dedup removes them from train.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxssl.data.split_files import SPLIT_STEMS, find_split_files


def add_length_arguments(p: argparse.ArgumentParser) -> None:
    """--seq-len / --length-policy / --strict-length, shared by the sequence-file verbs."""
    p.add_argument(
        "--seq-len",
        type=int,
        help="declared length; other lengths are cropped/padded (default: most common length)",
    )
    p.add_argument(
        "--length-policy",
        choices=["center", "left"],
        default="center",
        help="crop/pad around the centre (default) or keep the sequence start",
    )
    p.add_argument(
        "--strict-length",
        action="store_true",
        help="fail instead of cropping/padding when a sequence has another length",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "from-csv",
        help="CSV/TSV tables (sequence,label[,more labels]) -> shards",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out_dir", type=Path, help="shard-set directory to create")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--input", type=Path, help="directory holding train/dev/test .csv[.gz] or .tsv[.gz]"
    )
    src.add_argument(
        "--split",
        action="append",
        metavar="NAME=FILE",
        help="one split per flag, e.g. --split train=a.csv --split valid=b.csv (repeatable)",
    )
    add_length_arguments(p)
    p.add_argument("--sequence-column", help="name of the sequence column (default: sequence)")
    p.add_argument("--label-columns", help="comma-separated label columns (default: all others)")
    p.add_argument("--task-names", help="comma-separated names to store for the label columns")
    p.add_argument(
        "--label-type",
        choices=["binary", "multiclass"],
        default="binary",
        help="binary: labels in [0, 1] per column (default); multiclass: class indices 0..K-1",
    )
    p.add_argument(
        "--dedup",
        action="store_true",
        help="drop train sequences that (either strand) also occur in another split",
    )
    p.add_argument("--genome", default="", help="provenance: genome/assembly name to record")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace out_dir on success (only an empty dir or a shard set without your inputs)",
    )
    p.add_argument("--tfrecord", action="store_true", help="also export TFRecord (needs TF)")
    p.set_defaults(func=run)


def parse_split_flags(flags: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for flag in flags:
        name, sep, file = flag.partition("=")
        if not sep or not name or not file:
            raise ValueError(f"--split {flag!r}: expected NAME=FILE, e.g. train=train.csv")
        name = SPLIT_STEMS.get(name, name)
        if name in out:
            raise ValueError(f"--split {name} given twice")
        out[name] = Path(file)
    return out


def run(args: argparse.Namespace) -> int:
    from collections import Counter

    from jaxssl.data.tables import (
        FitStats,
        check_labels,
        check_nucleotides,
        fit_tokens,
        read_table,
    )
    from jaxssl.data.writer import ShardSetWriter, check_output_dir, held_out_in_train

    files = find_split_files(args.input) if args.input else parse_split_flags(args.split)
    check_output_dir(args.out_dir, overwrite=args.overwrite, sources=list(files.values()))
    order = {"train": 0, "valid": 1, "test": 2}
    files = dict(sorted(files.items(), key=lambda kv: (order.get(kv[0], 3), kv[0])))
    label_columns = args.label_columns.split(",") if args.label_columns else None
    tables = {}
    for split, path in files.items():
        table = read_table(path, sequence_column=args.sequence_column, label_columns=label_columns)
        check_nucleotides(table)
        check_labels(table, args.label_type)
        tables[split] = table
    first_split = "train" if "train" in tables else next(iter(tables))
    tasks = tables[first_split].task_names
    for table in tables.values():
        if table.task_names != tasks:
            raise ValueError(
                f"{table.path}: label columns {table.task_names} differ from "
                f"{tables[first_split].path}'s {tasks}"
            )
    if args.task_names:
        names = args.task_names.split(",")
        if len(names) != len(tasks):
            raise ValueError(f"--task-names has {len(names)} names for {len(tasks)} label columns")
        tasks = names

    lengths = Counter(len(s) for s in tables[first_split].sequences)
    seq_len = args.seq_len or lengths.most_common(1)[0][0]
    if args.strict_length:
        for table in tables.values():
            for seq, line in zip(table.sequences, table.line_numbers, strict=True):
                if len(seq) != seq_len:
                    raise ValueError(
                        f"{table.path}: line {line}: sequence of length {len(seq)}, expected "
                        f"{seq_len} (--strict-length; drop it to crop/pad instead)"
                    )

    stats = {split: FitStats() for split in tables}
    metadata = {
        "kind": "csv",
        "split_files": {split: str(path) for split, path in files.items()},
        "length_policy": args.length_policy,
        "seq_len_source": "--seq-len" if args.seq_len else f"most common length in {first_split}",
        "input_lengths": {str(k): v for k, v in sorted(lengths.items())},
        "label_type": args.label_type,
        "length_fit": {},
    }
    tokens = {
        split: fit_tokens(table.sequences, seq_len, policy=args.length_policy, stats=stats[split])
        for split, table in tables.items()
    }
    labels = {split: table.labels_NT for split, table in tables.items()}
    for split in tables:
        metadata["length_fit"][split] = stats[split].as_dict()
    if args.dedup and "train" in tokens:
        keep, removed = held_out_in_train(tokens)
        tokens["train"], labels["train"] = tokens["train"][keep], labels["train"][keep]
        metadata["duplicates"] = removed
        print(
            f"--dedup: removed {removed['removed_from_train']} train sequences also in "
            f"another split (before: {removed['before_dedup']})"
        )
    with ShardSetWriter(
        args.out_dir,
        seq_len=seq_len,
        task_names=tasks,
        command=args.command_line,
        sources=list(files.values()),
        overwrite=args.overwrite,
        metadata=metadata,
    ) as writer:
        for split in tables:
            writer.add_batch(split, tokens[split], labels[split], 1.0, genome=args.genome)
    m = writer.manifest
    assert m is not None

    for split, st in stats.items():
        n = len(tables[split].sequences)
        print(
            f"{split}: {n} sequences -> length {seq_len} "
            f"({st.padded} padded, {st.cropped} cropped, {st.iupac_or_n} N/IUPAC bases, "
            f"{st.invalid} non-nucleotide characters read as N)"
        )
    if dup := m.metadata.get("duplicates"):
        print(f"duplicates across splits (exact, either strand): {dup}")
    print(f"wrote {args.out_dir}")
    if args.tfrecord:
        from jaxssl.data.tfrecord import export_tfrecord

        export_tfrecord(args.out_dir)
    return 0
