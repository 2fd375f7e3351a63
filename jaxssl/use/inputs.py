"""Where sequences to score come from: FASTA, BED regions of a genome, a CSV table, a shard set.

Each reader returns a `SequenceSet`: names (written as the first output column), raw sequences
(any length; `jaxssl.use.lengths` fits them) and extra columns carried to the output (a BED
region's coordinates, a shard set's split and labels). IUPAC codes and stray characters read as
N through `jaxssl.tokens` (counted).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaxssl.data.fasta_records import read_fasta as read_fasta_records
from jaxssl.data.manifest import load_manifest
from jaxssl.data.reader import load_split
from jaxssl.data.tables import (
    READ_ERRORS,
    SEQUENCE_COLUMNS,
    Table,
    check_nucleotides,
    open_text,
    read_error,
    read_header,
)
from jaxssl.genome.fasta import Genome, resolve_chroms, sniff_fasta
from jaxssl.genome.intervals import read_intervals
from jaxssl.tokens import TOKEN_TO_BYTE

NAME_COLUMNS = ("name", "id", "sequence_id", "seq_id")


@dataclass
class SequenceSet:
    names: list[str]
    sequences: list[bytes]
    columns: dict[str, list] = field(default_factory=dict)
    source: str = ""
    lines: list[int] = field(default_factory=list)  # each record's line in `source`, if a file

    def __len__(self) -> int:
        return len(self.names)


def check_dna(seqs: SequenceSet) -> SequenceSet:
    """Refuses what `data_prep` refuses: a record with no bases (it would score as all N, a
    number about nothing) and protein or RNA (`jaxssl.data.tables.check_nucleotides`)."""
    for i, seq in enumerate(seqs.sequences):
        if not seq:
            line = f"line {seqs.lines[i]}: " if seqs.lines else ""
            raise ValueError(
                f"{seqs.source}: {line}record {seqs.names[i]!r} has no sequence (0 bp); remove "
                "it or give its bases"
            )
    table = Table(
        Path(seqs.source),
        seqs.sequences,
        np.zeros((len(seqs), 0), np.float32),
        [],
        line_numbers=list(seqs.lines),
    )
    check_nucleotides(table)
    return seqs


def read_fasta(path: str | Path) -> SequenceSet:
    """All records of a (gzip) FASTA (`jaxssl.data.fasta_records`); the name is the header's
    first word. Duplicate names are kept (rows stay in file order), since paired modes match on
    names and report them. Random bytes named .gz, corrupt gzip and binary files are named as
    such first (`sniff_fasta`, as `data_prep` does), not as a FASTA format error."""
    if Path(path).is_file():  # a missing file: read_fasta_records names it
        sniff_fasta(path)
    records = read_fasta_records(path)
    return SequenceSet(
        records.names, records.sequences, source=str(records.path), lines=records.lines
    )


def read_csv(path: str | Path, *, sequence_column: str | None = None) -> SequenceSet:
    """A header-first CSV/TSV: the sequence column (``sequence``/``seq`` or as named), a name
    column if there is one (``name``/``id``), every other column carried to the output."""
    path = Path(path)
    lineno = 0
    try:
        with open_text(path) as f:
            delimiter, header = read_header(f)
            lineno = 1
            lower = [h.lower() for h in header]
            if sequence_column:
                if sequence_column not in header:
                    raise ValueError(f"{path}: line 1: no column {sequence_column!r} in {header}")
                seq_idx = header.index(sequence_column)
            else:
                found = [c for c in SEQUENCE_COLUMNS if c in lower]
                if not found:
                    raise ValueError(
                        f"{path}: line 1: no sequence column in header {header}; name it "
                        "'sequence' or pass --sequence-column"
                    )
                seq_idx = lower.index(found[0])
            name_idx = next((lower.index(c) for c in NAME_COLUMNS if c in lower), None)
            others = [i for i in range(len(header)) if i not in (seq_idx, name_idx)]
            names, seqs, lines = [], [], []
            columns: dict[str, list] = {header[i]: [] for i in others}
            for lineno, row in enumerate(csv.reader(f, delimiter=delimiter), start=2):
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != len(header):
                    raise ValueError(
                        f"{path}: line {lineno}: {len(row)} fields, the header has {len(header)}"
                    )
                names.append(row[name_idx] if name_idx is not None else f"line_{lineno}")
                seqs.append(row[seq_idx].strip().encode("ascii", "replace"))
                lines.append(lineno)
                for i in others:
                    columns[header[i]].append(row[i])
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except READ_ERRORS as err:
        raise read_error(path, lineno, err) from None
    if not names:
        raise ValueError(f"{path}: no data rows after the header")
    return SequenceSet(names, seqs, columns, source=str(path), lines=lines)


def read_bed(
    path: str | Path,
    genome_path: str | Path,
    *,
    window: int | None,
    fix_chrom_names: bool = False,
) -> SequenceSet:
    """Regions of a BED/narrowPeak file read from the genome.

    With ``window`` each region gives the ``window`` bases centred on its summit (narrowPeak)
    or centre, i.e. real flanking sequence rather than N padding; with ``window=None`` the
    region itself (for tiling). Chromosome names are reconciled as in ``from-peaks``.
    """
    intervals = read_intervals(path, dedupe=False)
    genome = Genome(genome_path)
    mapping = resolve_chroms(
        sorted(set(intervals.chrom)), genome, source=str(path), fix_names=fix_chrom_names
    )
    names, seqs = [], []
    columns: dict[str, list] = {"chrom": [], "start": [], "end": []}
    for i in range(len(intervals)):
        chrom = mapping[intervals.chrom[i]]
        if chrom is None:
            raise ValueError(
                f"{intervals.where(i)}: chromosome {intervals.chrom[i]!r} not in {genome_path} "
                f"(it has e.g. {genome.names[:5]}); check the assembly"
            )
        start, end = int(intervals.start[i]), int(intervals.end[i])
        if window is not None:
            centre = int(intervals.summit[i])
            start = centre - window // 2
            end = start + window
        tokens = genome.fetch(chrom, start, end)
        names.append(f"{intervals.chrom[i]}:{int(intervals.start[i])}-{int(intervals.end[i])}")
        seqs.append(TOKEN_TO_BYTE[tokens].tobytes())
        columns["chrom"].append(chrom)
        columns["start"].append(start)
        columns["end"].append(end)
    genome.close()
    return SequenceSet(names, seqs, columns, source=str(path))


def read_shards(path: str | Path, splits: list[str] | None = None) -> SequenceSet:
    """The examples of a shard set's splits (all, in manifest order, by default), with the
    split, provenance and each task's label as extra columns."""
    manifest = load_manifest(path)
    names, seqs = [], []
    columns: dict[str, list] = {"split": [], "chrom": [], "start": []}
    for task in manifest.task_names:
        columns[f"label_{task}"] = []
    for split in splits or list(manifest.splits):
        manifest.split(split, where=path)
        data = load_split(path, split)
        n = len(data["tokens"])
        names += [f"{split}:{i}" for i in range(n)]
        seqs += [row.tobytes() for row in TOKEN_TO_BYTE[np.minimum(data["tokens"], 4)]]
        columns["split"] += [split] * n
        columns["chrom"] += [str(c) for c in data["chrom"]]
        columns["start"] += [int(s) for s in data["start"]]
        for t, task in enumerate(manifest.task_names):
            columns[f"label_{task}"] += data["labels"][:, t].tolist()
    return SequenceSet(names, seqs, columns, source=str(path))
