"""Benchmark tables (`sequence,label[,more labels]` CSV/TSV, gzip ok, as in GUE and
GenomicBenchmarks) read into tokens and labels, and sequences fitted to one declared length.

Length mismatches are never dropped: a sequence is centre-cropped or N-padded and the count of
each is returned, so the choice ends up in the manifest. What cannot be right is refused with the
file and line: a truncated or corrupt gzip, protein or RNA instead of DNA, labels outside the
range of their type.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaxssl.tokens import BYTE_TO_TOKEN, N

SEQUENCE_COLUMNS = ("sequence", "seq", "sequences")
MISSING = {"", "na", "nan", "none", "null", "."}
# What reading a damaged (gzip) text file raises, besides the csv module's own error.
READ_ERRORS = (EOFError, OSError, zlib.error, UnicodeDecodeError, csv.Error)
# Letters that are amino acids but no DNA/IUPAC code: a sequence rich in them is a protein.
AMINO_ONLY = "EFILPQJOZ"
LABEL_TYPES = ("binary", "multiclass")


def read_error(path: str | Path, lineno: int, err: BaseException) -> ValueError:
    """A one-line error for a file that cannot be read past ``lineno``: which file, where, why."""
    if isinstance(err, UnicodeDecodeError):
        why = f"not UTF-8 text ({err.reason} at byte {err.start} of a chunk)"
        fix = "save it as UTF-8 text"
    elif isinstance(err, csv.Error):
        why, fix = f"unreadable CSV ({err})", "check the quoting of that line"
    else:
        why = f"truncated or corrupt compressed data ({type(err).__name__}: {err})"
        fix = "re-download or re-compress it (`gzip -t FILE` tests a gzip file)"
    at = f"after line {lineno}" if lineno else "at the start"
    return ValueError(f"{path}: {at}: {why}; {fix}")


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


def read_header(f: io.TextIOBase) -> tuple[str, list[str]]:
    """(delimiter, stripped column names) of a header-first table: tab if the header line has
    one, else comma. The one sniffing rule of every table jaxssl reads."""
    header_line = f.readline()
    delimiter = "\t" if "\t" in header_line else ","
    header = [h.strip() for h in next(csv.reader([header_line], delimiter=delimiter), [])]
    return delimiter, header


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
    where = {"line": 0}
    try:
        return _read_table(path, sequence_column, label_columns, where)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise  # already name the file and say what is wrong
    except READ_ERRORS as err:
        raise read_error(path, where["line"], err) from None


def _read_table(
    path: Path,
    sequence_column: str | None,
    label_columns: Sequence[str] | None,
    where: dict[str, int],
) -> Table:
    with open_text(path) as f:
        delimiter, header = read_header(f)
        where["line"] = 1
        if not any(header):
            raise ValueError(f"{path}: line 1: empty file; expected a header like 'sequence,label'")
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
            where["line"] = lineno  # the last line read completely
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


def _char_classes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte -> (is A/C/G/T/N, is an amino-acid-only letter, is U), either case."""
    acgtn, amino, uracil = (np.zeros(256, bool) for _ in range(3))
    for table, letters in ((acgtn, "ACGTN"), (amino, AMINO_ONLY), (uracil, "U")):
        for ch in letters:
            table[ord(ch)] = table[ord(ch.lower())] = True
    return acgtn, amino, uracil


_ACGTN, _AMINO, _URACIL = _char_classes()


def check_nucleotides(table: Table) -> None:
    """Refuses a table whose sequences are not DNA: most characters not A/C/G/T/N, or more than
    10% amino-acid-only letters (protein), or more than 10% U (RNA). Read as DNA, such a set
    would train on a third or more of N and fail silently."""
    if not table.sequences:
        return
    raw = np.frombuffer(b"".join(table.sequences), np.uint8)
    total = max(1, len(raw))
    not_acgtn = float((~_ACGTN[raw]).sum()) / total
    amino = float(_AMINO[raw].sum()) / total
    uracil = float(_URACIL[raw].sum()) / total
    if not_acgtn <= 0.5 and amino <= 0.1 and uracil <= 0.1:
        return
    lengths = np.fromiter((len(s) for s in table.sequences), np.int64, len(table.sequences))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flags = _AMINO[raw] if amino > 0.1 else _URACIL[raw] if uracil > 0.1 else ~_ACGTN[raw]
    nonempty = lengths > 0
    per_row = np.zeros(len(lengths), np.int64)
    per_row[nonempty] = np.add.reduceat(flags.astype(np.int64), starts[nonempty])
    row = int(np.argmax(per_row > 0))
    line = table.line_numbers[row] if table.line_numbers else row + 2
    example = table.sequences[row][:40].decode("ascii", "replace")
    if amino > 0.1 or (not_acgtn > 0.5 and uracil <= 0.1):
        what = (
            f"{not_acgtn:.0%} of the sequence characters are not A/C/G/T/N and {amino:.0%} are "
            f"amino-acid letters ({', '.join(AMINO_ONLY[:6])}, ...): these look like protein "
            "sequences"
        )
        fix = "jaxssl reads DNA (ACGT, N and IUPAC codes); give it nucleotide sequences"
    else:
        what = f"{uracil:.0%} of the sequence characters are U: these look like RNA sequences"
        fix = "jaxssl reads DNA; replace U by T (e.g. `sed 's/U/T/g'`) if RNA is meant"
    raise ValueError(f"{table.path}: line {line}: {what} (e.g. {example!r}); {fix}")


def check_labels(table: Table, label_type: str = "binary") -> None:
    """Refuses labels a loss cannot take: binary labels outside [0, 1], multiclass labels that
    are not non-negative integers (NaN = missing is fine for both), naming file, line, column."""
    if label_type not in LABEL_TYPES:
        raise ValueError(f"label type must be one of {LABEL_TYPES}, got {label_type!r}")
    y = table.labels_NT
    known = ~np.isnan(y)
    if label_type == "binary":
        bad = known & ((y < 0) | (y > 1))
        expected = "a binary label in [0, 1] (empty or NA for missing)"
    else:
        bad = known & ((y < 0) | (y != np.round(y)) | ~np.isfinite(y))
        expected = "a class index 0, 1, 2, ... (empty or NA for missing)"
    if not bad.any():
        return
    row, col = (int(i) for i in np.argwhere(bad)[0])
    line = table.line_numbers[row] if table.line_numbers else row + 2
    hint = ""
    if label_type == "binary":
        values = y[known]
        if (values >= 0).all() and (values == np.round(values)).all() and y.shape[1] == 1:
            hint = "; for class indices (0..K-1) pass --label-type multiclass"
    raise ValueError(
        f"{table.path}: line {line}: label {table.task_names[col]!r} is {y[row, col]:g} "
        f"({int(bad.sum())} such labels); expected {expected}{hint}"
    )


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
