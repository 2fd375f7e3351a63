"""Benchmark tables (`sequence,label[,more labels]` CSV/TSV, gzip ok, as in GUE and
GenomicBenchmarks) read into tokens and labels, and sequences fitted to one declared length.

Length mismatches are never dropped: a sequence is centre-cropped or N-padded and the count of
each is returned, so the choice ends up in the manifest.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaxssl.tokens import BYTE_TO_TOKEN, N

SEQUENCE_COLUMNS = ("sequence", "seq", "sequences")
MISSING = {"", "na", "nan", "none", "null", "."}


@dataclass
class Table:
    """One table's contents; ``sequences`` are raw bytes (any length)."""

    path: Path
    sequences: list[bytes]
    labels_NT: np.ndarray
    task_names: list[str]
    line_numbers: list[int] = field(default_factory=list)


def open_text(path: str | Path) -> io.TextIOBase:
    """Text handle for plain or gzip files; newline='' lets csv handle CRLF itself."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    raw = gzip.open(path, "rt", newline="") if gz else open(path, newline="")  # noqa: SIM115
    return raw


def read_table(
    path: str | Path,
    *,
    sequence_column: str | None = None,
    label_columns: Sequence[str] | None = None,
) -> Table:
    """Reads a header-first CSV or TSV (delimiter from the header line); every column other than
    the sequence column is a label unless ``label_columns`` names them. Empty / NA labels -> NaN.
    """
    path = Path(path)
    with open_text(path) as f:
        header_line = f.readline()
        if not header_line.strip():
            raise ValueError(f"{path}: line 1: empty file; expected a header like 'sequence,label'")
        delimiter = "\t" if "\t" in header_line else ","
        header = [h.strip() for h in next(csv.reader([header_line], delimiter=delimiter))]
        lower = [h.lower() for h in header]
        if sequence_column is None:
            found = [c for c in SEQUENCE_COLUMNS if c in lower]
            if not found:
                first = header[0].upper()
                hint = (
                    " (the first line looks like data: add a header line)"
                    if first and set(first) <= set("ACGTN")
                    else ""
                )
                raise ValueError(
                    f"{path}: line 1: no sequence column in header {header}; expected a header "
                    f"like 'sequence,label' or pass --sequence-column{hint}"
                )
            seq_idx = lower.index(found[0])
        else:
            if sequence_column not in header:
                raise ValueError(f"{path}: line 1: no column {sequence_column!r} in {header}")
            seq_idx = header.index(sequence_column)
        if label_columns is None:
            label_idx = [i for i in range(len(header)) if i != seq_idx]
        else:
            if missing := [c for c in label_columns if c not in header]:
                raise ValueError(f"{path}: line 1: label columns {missing} not in {header}")
            label_idx = [header.index(c) for c in label_columns]
        tasks = [header[i] for i in label_idx]
        sequences: list[bytes] = []
        labels: list[list[float]] = []
        lines: list[int] = []
        for lineno, row in enumerate(csv.reader(f, delimiter=delimiter), start=2):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{path}: line {lineno}: {len(row)} fields, the header has {len(header)} "
                    f"({delimiter!r}-separated: {header})"
                )
            values = []
            for i in label_idx:
                text = row[i].strip()
                if text.lower() in MISSING:
                    values.append(np.nan)
                    continue
                try:
                    values.append(float(text))
                except ValueError:
                    raise ValueError(
                        f"{path}: line {lineno}: label {header[i]!r} is {text!r}; expected a "
                        "number (0/1 for classes, empty or NA for missing)"
                    ) from None
            sequences.append(row[seq_idx].strip().encode("ascii", "replace"))
            labels.append(values)
            lines.append(lineno)
    if not sequences:
        raise ValueError(f"{path}: no data rows after the header; expected one row per sequence")
    labels_NT = np.asarray(labels, np.float32).reshape(len(sequences), len(tasks))
    return Table(path, sequences, labels_NT, tasks, lines)


@dataclass
class FitStats:
    exact: int = 0
    padded: int = 0
    cropped: int = 0
    iupac_or_n: int = 0  # positions read as N because the input said N or an IUPAC code
    invalid: int = 0  # positions that were no nucleotide code at all, also read as N

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def fit_tokens(
    sequences: Sequence[bytes], seq_len: int, *, policy: str = "center", stats: FitStats
) -> np.ndarray:
    """Encodes and fits each sequence to ``seq_len``: crop or N-pad, centred (``center``) or
    keeping the start (``left``). Returns uint8 [N, seq_len]; updates ``stats``."""
    if policy not in ("center", "left"):
        raise ValueError(f"length policy must be 'center' or 'left', got {policy!r}")
    out = np.full((len(sequences), seq_len), N, np.uint8)
    lengths = np.fromiter((len(s) for s in sequences), np.int64, len(sequences))
    joined = np.frombuffer(b"".join(sequences), np.uint8)
    raw_tokens = BYTE_TO_TOKEN[joined]
    invalid = raw_tokens == 255
    stats.invalid += int(invalid.sum())
    stats.iupac_or_n += int((raw_tokens == N).sum())
    tokens = np.where(invalid, np.uint8(N), raw_tokens)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    same = lengths == seq_len
    stats.exact += int(same.sum())
    if same.all():
        return tokens.reshape(len(sequences), seq_len)
    if same.any():
        rows = np.nonzero(same)[0]
        out[rows] = tokens[offsets[rows][:, None] + np.arange(seq_len)]
    for i in np.nonzero(~same)[0]:
        seq = tokens[offsets[i] : offsets[i + 1]]
        length = len(seq)
        if length > seq_len:
            stats.cropped += 1
            lo = (length - seq_len) // 2 if policy == "center" else 0
            out[i] = seq[lo : lo + seq_len]
        else:
            stats.padded += 1
            lo = (seq_len - length) // 2 if policy == "center" else 0
            out[i, lo : lo + length] = seq
    return out
