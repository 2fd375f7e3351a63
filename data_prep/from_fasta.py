"""`from-fasta`: labeled FASTA files (one label per file, e.g. peaks vs background) -> shard set.

Labels, one of two ways:
- per file: each --fasta file gets the label at the same place in --labels (``--fasta pos.fa
  --fasta neg.fa --labels 1,0``), one task (--task-name);
- a multi-task table: ``--label-table labels.tsv`` (CSV or TSV, gzip ok; delimiter from the
  header line), a header then one row per record: the record name (the header's first word;
  column --name-column, default the first) and one column per task, named in the header.
  Empty, NA, NaN, '.' = not measured: stored as NaN, which every loss skips (weight 0 for that
  task only). Every FASTA record must have a row (refused naming the FASTA file, line and
  record otherwise); rows without a record are counted; a name given twice, a row of the wrong
  width or a value that is not a number is refused naming the table's line and column.
Binary labels in [0, 1], or class indices with --label-type multiclass. Files may be
gzip-compressed.

Splits. When every record name carries a chromosome (``chr8_12``, ``chr8:100-300``,
``chr8-5``, or Ensembl ``8:100-300``) whole chromosomes are held out: valid chr7, test chr8 +
chr9 by default (as in from-peaks; matched with or without the 'chr' prefix). Otherwise each
record goes by a hash of its name: SHA-1 of the name's UTF-8 bytes, first 8 bytes as an
unsigned integer u / 2^64; test if u < --test-fraction (default 0.1), else valid if
u < test + --valid-fraction (default 0.1), else train. The same name always lands in the same
split, on any machine and in any file order. --split-by chrom|hash forces one rule.

Lengths as in from-csv: other lengths than --seq-len (default: the most common length) are
centre-cropped or N-padded and counted in the manifest; none is dropped. IUPAC codes read as N.
Refused with file and line: protein or RNA sequences, records without sequence, a --labels
count that differs from the number of files, labels a loss cannot take, and contradictory
duplicates: two records (in one file or two) holding the same sequence, either strand, with
other labels (both named). Repeats are kept and counted (metadata.input_duplicates): the same
sequence with the same labels, and a record name seen before (with other labels only when the
sequences differ: files that number records per file reuse names for different regions).
Exact duplicate sequences (either strand) across splits are counted (metadata.duplicates);
--dedup removes them from train.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from data_prep.from_csv import add_length_arguments
from jaxssl.prep.splits import DEFAULT_TEST, DEFAULT_VALID, chrom_set

if TYPE_CHECKING:
    from jaxssl.data.fasta_records import FastaRecords

# `chr` + a chromosome-like word (1, 2L, X, MT, Un, roman IV) then a separator or the end;
# Ensembl names only in `N:start-end` form, so that an id such as `1_peak` or `chromatin_1` is
# not read as a chromosome.
_CHR_NAME = re.compile(r"^(chr(?:[0-9]+[A-Za-z]?|[XYZWM]|MT|Un|[IVX]+))(?:[_:\-|.]|$)")
_ENSEMBL_REGION = re.compile(r"^([0-9]+|X|Y|MT|M):([0-9,]+)-[0-9,]+$")
_REGION_START = re.compile(r"^[^:]+:([0-9,]+)-[0-9,]+")
SPLITS = ("train", "valid", "test")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "from-fasta",
        help="labeled FASTA files (one label per file) -> shards",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out_dir", type=Path, help="shard-set directory to create")
    p.add_argument(
        "--fasta",
        type=Path,
        action="append",
        required=True,
        help="a FASTA file (gzip ok); repeat once per file",
    )
    labels = p.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", help="comma-separated label per --fasta, in order, e.g. 1,0")
    labels.add_argument(
        "--label-table",
        type=Path,
        help="CSV/TSV: record name, then one column per task (empty/NA = missing)",
    )
    p.add_argument(
        "--name-column", help="--label-table: column of record names (default: the first)"
    )
    p.add_argument(
        "--task-name", help="--labels: name of the task (default: label); a table names its own"
    )
    p.add_argument(
        "--label-type",
        choices=["binary", "multiclass"],
        default="binary",
        help="binary: labels in [0, 1] (default); multiclass: class indices 0..K-1",
    )
    p.add_argument(
        "--split-by",
        choices=["auto", "chrom", "hash"],
        default="auto",
        help="auto (default): by chromosome when every record name carries one, else by hash",
    )
    p.add_argument("--valid-chroms", default=DEFAULT_VALID, help=f"default {DEFAULT_VALID}")
    p.add_argument("--test-chroms", default=DEFAULT_TEST, help=f"default {DEFAULT_TEST}")
    p.add_argument("--valid-fraction", type=float, default=0.1, help="hash split (default 0.1)")
    p.add_argument("--test-fraction", type=float, default=0.1, help="hash split (default 0.1)")
    add_length_arguments(p)
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
    p.set_defaults(func=run)


def read_fasta(path: Path) -> FastaRecords:
    """All records of a (gzip) FASTA (`jaxssl.data.fasta_records`), each with the line of its
    header for errors; a missing file names --fasta, binary or mis-named gzip data is named as
    such (`sniff_fasta`), and an empty record is refused (it has no label-worthy sequence)."""
    from jaxssl.data.fasta_records import read_fasta as read_fasta_records
    from jaxssl.genome.fasta import sniff_fasta

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such FASTA file (--fasta)")
    sniff_fasta(path)  # not gzip although named .gz, or binary: refused by name
    out = read_fasta_records(path)
    for name, seq, line in zip(out.names, out.sequences, out.lines, strict=True):
        if not seq:
            raise ValueError(f"{path}: line {line}: record {name!r} has no sequence")
    return out


_COMPLEMENT = bytes.maketrans(b"ACGTacgt", b"TGCAtgca")


def _label_text(labels) -> str:
    return "[" + ", ".join("NA" if v != v else f"{v:g}" for v in labels.tolist()) + "]"


def check_duplicates(records: list[FastaRecords], record_labels: list) -> dict[str, int]:
    """Repeated sequences (either strand, case-blind) and record names over every --fasta file.

    The same sequence with other labels is refused, naming both records: one sequence cannot
    be bound and unbound. Everything else is counted (copies beyond the first): same sequence
    and labels; a name seen before; a name seen before with other labels but another sequence
    (files that number their records per file, e.g. chr1_22 in both the positive and the
    negative file, name different regions alike, so a name alone does not make a contradiction).
    """
    import numpy as np

    by_seq: dict[bytes, tuple[int, int]] = {}
    by_name: dict[str, tuple[int, int]] = {}
    counts = {"same_sequence": 0, "same_name": 0, "same_name_other_labels": 0}
    for f, (rec, labels) in enumerate(zip(records, record_labels, strict=True)):
        for i, (name, seq) in enumerate(zip(rec.names, rec.sequences, strict=True)):
            upper = seq.upper()
            f0, i0 = by_seq.setdefault(min(upper, upper[::-1].translate(_COMPLEMENT)), (f, i))
            if (f0, i0) != (f, i):
                counts["same_sequence"] += 1
                a, b = record_labels[f0][i0], labels[i]
                if not np.array_equal(a, b, equal_nan=True):
                    r0 = records[f0]
                    raise ValueError(
                        f"{r0.path}: line {r0.lines[i0]}: record {r0.names[i0]!r} and "
                        f"{rec.path}: line {rec.lines[i]}: record {name!r} hold the same "
                        f"sequence (either strand) but are labelled {_label_text(a)} and "
                        f"{_label_text(b)}; one sequence cannot be both: remove one of them "
                        "or correct its label"
                    )
            f0, i0 = by_name.setdefault(name, (f, i))
            if (f0, i0) != (f, i):
                counts["same_name"] += 1
                if not np.array_equal(record_labels[f0][i0], labels[i], equal_nan=True):
                    counts["same_name_other_labels"] += 1
    return counts


def chrom_of(name: str) -> str | None:
    """The chromosome a record name carries (``chr8_12``, ``chr8:1-9``, ``8:1-9``), or None."""
    match = _CHR_NAME.match(name) or _ENSEMBL_REGION.match(name)
    return match.group(1) if match else None


def start_of(name: str) -> int:
    """0-based start of a ``chrom:start-end`` name (provenance), else -1."""
    match = _REGION_START.match(name)
    return int(match.group(1).replace(",", "")) if match else -1


def hash_split(name: str, valid_fraction: float, test_fraction: float) -> str:
    """Split of a record by the SHA-1 of its name (see the module doc): stable everywhere."""
    u = int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:8], "big") / 2.0**64
    if u < test_fraction:
        return "test"
    return "valid" if u < test_fraction + valid_fraction else "train"


def parse_labels(text: str, files: list[Path], label_type: str) -> list[float]:
    """One label per file, checked for the loss (binary in [0, 1]; multiclass 0, 1, 2, ...)."""
    items = [t.strip() for t in text.split(",")]
    if len(items) != len(files):
        raise ValueError(
            f"--labels {text!r} has {len(items)} labels for {len(files)} --fasta files; give "
            "one label per file, in the order of the --fasta flags"
        )
    labels = []
    for item, path in zip(items, files, strict=True):
        try:
            value = float(item)
        except ValueError:
            raise ValueError(f"--labels: {item!r} (for {path}) is not a number") from None
        if label_type == "binary" and not 0.0 <= value <= 1.0:
            raise ValueError(
                f"--labels: {item} (for {path}) is not a binary label in [0, 1]; for class "
                "indices pass --label-type multiclass"
            )
        if label_type == "multiclass" and (value < 0 or value != round(value)):
            raise ValueError(f"--labels: {item} (for {path}) is not a class index 0, 1, 2, ...")
        labels.append(value)
    return labels


@dataclass
class LabelTable:
    """Labels of a multi-task table: task names, and per record name its row and line."""

    path: Path
    tasks: list[str]
    rows: dict[str, tuple[list[float], int]]


def read_label_table(path: Path, name_column: str | None = None) -> LabelTable:
    """A header-first CSV/TSV of record name + one column per task (see the module doc)."""
    import csv
    import math

    from jaxssl.data.tables import MISSING, READ_ERRORS, open_text, read_error, read_header

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such label table (--label-table)")
    rows: dict[str, tuple[list[float], int]] = {}
    lineno = 0
    try:
        with open_text(path) as f:
            delimiter, header = read_header(f)
            lineno = 1
            if len(header) < 2:
                raise ValueError(
                    f"{path}: line 1: header {header}; expected the record-name column and at "
                    "least one task column, e.g. 'name,CTCF,RAD21' (tab or comma separated)"
                )
            if name_column is not None and name_column not in header:
                raise ValueError(f"{path}: line 1: no column {name_column!r} in {header}")
            name_idx = header.index(name_column) if name_column is not None else 0
            task_idx = [i for i in range(len(header)) if i != name_idx]
            tasks = [header[i] for i in task_idx]
            if dup := sorted({t for t in tasks if tasks.count(t) > 1}):
                raise ValueError(f"{path}: line 1: task columns {dup} named twice")
            for lineno, row in enumerate(csv.reader(f, delimiter=delimiter), start=2):
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != len(header):
                    raise ValueError(
                        f"{path}: line {lineno}: {len(row)} fields, the header has "
                        f"{len(header)} ({delimiter!r}-separated: {header})"
                    )
                name = row[name_idx].strip()
                if not name:
                    raise ValueError(f"{path}: line {lineno}: empty record name")
                if name in rows:
                    raise ValueError(
                        f"{path}: line {lineno}: record {name!r} again (first on line "
                        f"{rows[name][1]}); give each record one row"
                    )
                values = []
                for i in task_idx:
                    text = row[i].strip()
                    try:
                        value = math.nan if text.lower() in MISSING else float(text)
                    except ValueError:
                        value = None
                    if value is None or math.isinf(value):
                        raise ValueError(
                            f"{path}: line {lineno}: task {header[i]!r} of {name!r} is "
                            f"{text!r}; expected a number (empty or NA for not measured)"
                        ) from None
                    values.append(value)
                rows[name] = (values, lineno)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except READ_ERRORS as err:
        raise read_error(path, lineno, err) from None
    if not rows:
        raise ValueError(f"{path}: no rows after the header; expected one row per record")
    return LabelTable(path, tasks, rows)


def table_labels(table: LabelTable, records: list[FastaRecords], label_type: str) -> list:
    """float32 [n, tasks] labels of every file's records, looked up by name and checked."""
    import numpy as np

    from jaxssl.data.tables import Table, check_labels

    out = []
    for rec in records:
        missing = [
            (n, line) for n, line in zip(rec.names, rec.lines, strict=True) if n not in table.rows
        ]
        if missing:
            name, line = missing[0]
            raise ValueError(
                f"{rec.path}: line {line}: record {name!r} has no row in {table.path} "
                f"({len(missing)} of {len(rec.names)} records of this file have none); the "
                "table's name column must hold the header's first word of every record"
            )
        out.append(np.asarray([table.rows[n][0] for n in rec.names], np.float32))
    names = list(table.rows)
    check_labels(
        Table(
            table.path,
            [b""] * len(names),
            np.asarray([table.rows[n][0] for n in names], np.float32),
            table.tasks,
            [table.rows[n][1] for n in names],
        ),
        label_type,
    )
    return out


def table_metadata(table: LabelTable, records: list[FastaRecords], labels: list) -> dict:
    """Where the labels came from, and how many are missing per task."""
    import numpy as np

    used = {n for rec in records for n in rec.names}
    stacked = np.concatenate(labels)
    return {
        "label_table": str(table.path),
        "missing_labels": {
            t: int(np.isnan(stacked[:, j]).sum()) for j, t in enumerate(table.tasks)
        },
        "table_rows_without_record": sum(n not in used for n in table.rows),
    }


def run(args: argparse.Namespace) -> int:
    from collections import Counter

    import numpy as np

    from jaxssl.data.tables import FitStats, Table, check_nucleotides, fit_tokens
    from jaxssl.data.writer import ShardSetWriter, check_output_dir, held_out_in_train

    files: list[Path] = list(args.fasta)
    table = None
    if args.label_table is not None:
        if args.task_name is not None:
            raise ValueError(
                "--task-name names the task of --labels; a --label-table names its tasks in "
                "its header"
            )
        table = read_label_table(args.label_table, args.name_column)
        labels = [float("nan")] * len(files)
        task_names = table.tasks
    else:
        if args.name_column is not None:
            raise ValueError("--name-column needs --label-table")
        labels = parse_labels(args.labels, files, args.label_type)
        task_names = [args.task_name or "label"]
    if len(set(map(str, files))) != len(files):
        raise ValueError(f"the same --fasta file is given twice: {[str(f) for f in files]}")
    for frac in ("valid_fraction", "test_fraction"):
        if not 0.0 <= getattr(args, frac) < 1.0:
            raise ValueError(f"--{frac.replace('_', '-')} must be in [0, 1)")
    if args.valid_fraction + args.test_fraction >= 1.0:
        raise ValueError("--valid-fraction + --test-fraction leave no training records")
    sources = files if table is None else [*files, table.path]
    check_output_dir(args.out_dir, overwrite=args.overwrite, sources=sources)

    records = [read_fasta(path) for path in files]
    for rec in records:
        check_nucleotides(
            Table(rec.path, rec.sequences, np.zeros((len(rec.names), 0)), [], rec.lines)
        )
    if table is not None:
        record_labels = table_labels(table, records, args.label_type)
    else:
        record_labels = [
            np.full((len(rec.names), 1), label, np.float32)
            for rec, label in zip(records, labels, strict=True)
        ]

    duplicates = check_duplicates(records, record_labels)
    chroms = [[chrom_of(n) for n in rec.names] for rec in records]
    split_by = args.split_by
    missing = [
        (rec, i)
        for rec, cs in zip(records, chroms, strict=True)
        for i, c in enumerate(cs)
        if c is None
    ]
    if split_by == "auto":
        split_by = "hash" if missing else "chrom"
    if split_by == "chrom" and missing:
        rec, i = missing[0]
        raise ValueError(
            f"{rec.path}: line {rec.lines[i]}: record name {rec.names[i]!r} carries no "
            f"chromosome ({len(missing)} such records); --split-by chrom needs names like "
            "chr8_12 or chr8:100-300 (use --split-by hash to split by name)"
        )
    valid_chroms, test_chroms = chrom_set(args.valid_chroms), chrom_set(args.test_chroms)
    if valid_chroms & test_chroms:
        raise ValueError(f"chromosomes {sorted(valid_chroms & test_chroms)} in valid and test")

    if split_by == "chrom":
        present = {c for cs in chroms for c in cs if c}
        for flag, names in (("--valid-chroms", valid_chroms), ("--test-chroms", test_chroms)):
            if not names & present:
                raise ValueError(
                    f"{flag} {getattr(args, flag[2:].replace('-', '_'))!r}: no record name "
                    f"carries these chromosomes (the names carry {sorted(present)[:8]}); name "
                    "held-out chromosomes that occur, or pass --split-by hash"
                )

    def split_of(name: str, chrom: str | None) -> str:
        if split_by == "hash":
            return hash_split(name, args.valid_fraction, args.test_fraction)
        return "test" if chrom in test_chroms else "valid" if chrom in valid_chroms else "train"

    all_lengths = Counter(len(s) for rec in records for s in rec.sequences)
    seq_len = args.seq_len or all_lengths.most_common(1)[0][0]
    if args.strict_length:
        for rec in records:
            for seq, line in zip(rec.sequences, rec.lines, strict=True):
                if len(seq) != seq_len:
                    raise ValueError(
                        f"{rec.path}: line {line}: sequence of length {len(seq)}, expected "
                        f"{seq_len} (--strict-length; drop it to crop/pad instead)"
                    )

    stats = {split: FitStats() for split in SPLITS}
    columns: dict[str, dict[str, list]] = {
        s: {"tokens": [], "labels": [], "chrom": [], "start": []} for s in SPLITS
    }
    per_file: dict[str, dict[str, int]] = {}
    for rec, cs, rec_labels in zip(records, chroms, record_labels, strict=True):
        splits = [split_of(n, c) for n, c in zip(rec.names, cs, strict=True)]
        per_file[str(rec.path)] = {s: splits.count(s) for s in SPLITS}
        for split in SPLITS:
            rows = [i for i, s in enumerate(splits) if s == split]
            if not rows:
                continue
            seqs = [rec.sequences[i] for i in rows]
            col = columns[split]
            policy = args.length_policy
            col["tokens"].append(fit_tokens(seqs, seq_len, policy=policy, stats=stats[split]))
            col["labels"].append(rec_labels[rows])
            col["chrom"] += [cs[i] or "" for i in rows]
            col["start"] += [start_of(rec.names[i]) for i in rows]
    tokens = {s: np.concatenate(c["tokens"]) for s, c in columns.items() if c["tokens"]}
    if "train" not in tokens:
        raise ValueError(
            f"no training records: every record fell in valid/test ({split_by} split); check "
            "--valid-chroms/--test-chroms or the split fractions"
        )
    label_arr = {s: np.concatenate(columns[s]["labels"]) for s in tokens}
    chrom_arr = {s: np.asarray(columns[s]["chrom"], object) for s in tokens}
    start_arr = {s: np.asarray(columns[s]["start"], np.int64) for s in tokens}

    metadata: dict = {
        "kind": "fasta",
        "files": {str(p): lab for p, lab in zip(files, labels, strict=True)}
        if table is None
        else [str(p) for p in files],
        "label_type": args.label_type,
        "split_by": split_by,
        "per_file_splits": per_file,
        "length_policy": args.length_policy,
        "seq_len_source": "--seq-len" if args.seq_len else "most common length",
        "input_lengths": {str(k): v for k, v in sorted(all_lengths.items())},
        # Extra copies of a record name / of a sequence (either strand), same labels: kept.
        "input_duplicates": duplicates,
        **(table_metadata(table, records, record_labels) if table is not None else {}),
        "length_fit": {s: stats[s].as_dict() for s in tokens},
    }
    if split_by == "chrom":
        metadata["split_chroms"] = {
            "valid": sorted(valid_chroms & present),
            "test": sorted(test_chroms & present),
        }
    else:
        metadata["split_fractions"] = {"valid": args.valid_fraction, "test": args.test_fraction}
        metadata["split_hash"] = "sha1(name)[:8] / 2**64: test < f_test <= valid < f_test+f_valid"
    if args.dedup:
        keep, removed = held_out_in_train(tokens)
        for arrs in (tokens, label_arr, chrom_arr, start_arr):
            arrs["train"] = arrs["train"][keep]
        metadata["duplicates"] = removed
        print(f"--dedup: removed {removed['removed_from_train']} train sequences also elsewhere")

    with ShardSetWriter(
        args.out_dir,
        seq_len=seq_len,
        task_names=task_names,
        command=args.command_line,
        sources=sources,
        overwrite=args.overwrite,
        metadata=metadata,
    ) as writer:
        for split in tokens:
            writer.add_batch(
                split,
                tokens[split],
                label_arr[split],
                1.0,
                genome=args.genome,
                chrom=list(chrom_arr[split]),
                start=start_arr[split],
            )
    m = writer.manifest
    assert m is not None

    how = (
        f"by chromosome (valid {metadata['split_chroms']['valid']}, test "
        f"{metadata['split_chroms']['test']})"
        if split_by == "chrom"
        else f"by hashed name (valid {args.valid_fraction:g}, test {args.test_fraction:g})"
    )
    print(f"split {how}")
    for path, counts in per_file.items():
        label = f"label {metadata['files'][path]:g}" if table is None else "labels from the table"
        print(f"{path} ({label}): {counts}")
    for split in tokens:
        st = stats[split]
        print(
            f"{split}: {len(tokens[split])} sequences -> length {seq_len} ({st.padded} padded, "
            f"{st.cropped} cropped, {st.iupac_or_n} N/IUPAC bases, {st.invalid} non-nucleotide "
            "characters read as N)"
        )
    if table is not None:
        print(
            f"labels of {len(task_names)} tasks from {table.path}; missing (NaN, skipped by the "
            f"loss): {m.metadata['missing_labels']}; table rows without a record: "
            f"{m.metadata['table_rows_without_record']}"
        )
    if any(duplicates.values()):
        print(
            f"repeated records (kept): {duplicates['same_sequence']} with a sequence seen before "
            f"(either strand, same labels), {duplicates['same_name']} with a name seen before "
            f"({duplicates['same_name_other_labels']} of them with other labels and another "
            "sequence)"
        )
    if dup := m.metadata.get("duplicates"):
        print(f"duplicates across splits (exact, either strand): {dup}")
    print(f"wrote {args.out_dir}")
    return 0
