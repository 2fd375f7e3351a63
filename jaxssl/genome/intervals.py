"""BED / narrowPeak readers and a vectorised "does this window overlap any interval" index.

Readers keep the line number of every interval so that any later complaint (unknown chromosome,
peak beyond the chromosome end) can point at the exact line of the user's file.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SKIP_PREFIXES = ("#", "track", "browser")
# What reading a damaged (gzip) text file raises.
_READ_ERRORS = (EOFError, OSError, zlib.error, UnicodeDecodeError)


@dataclass
class Intervals:
    """Half-open 0-based intervals [start, end) with an absolute summit and source line."""

    path: Path
    chrom: np.ndarray  # object[N]
    start: np.ndarray  # int64[N]
    end: np.ndarray  # int64[N]
    summit: np.ndarray  # int64[N]: narrowPeak start + column 10, else the region centre
    line: np.ndarray  # int64[N]: 1-based line in ``path``
    has_summits: bool = False
    duplicates: int = 0  # identical (chrom, start, end, summit, strand) rows removed
    # object[N]: column 6 ('+', '-' or '.'; '.' when the file has fewer columns)
    strand: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.start)

    def select(self, keep: np.ndarray) -> Intervals:
        return Intervals(
            self.path,
            self.chrom[keep],
            self.start[keep],
            self.end[keep],
            self.summit[keep],
            self.line[keep],
            self.has_summits,
            self.duplicates,
            None if self.strand is None else self.strand[keep],
        )

    def where(self, i: int) -> str:
        return f"{self.path}: line {int(self.line[i])}"


def _open(path: Path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gz else open(path)  # noqa: SIM115


def read_intervals(path: str | Path, *, dedupe: bool = True) -> Intervals:
    """Reads BED3+ or narrowPeak (summit = start + column 10 when >= 0). CRLF, gzip, `track`,
    `browser` and `#` lines are handled; anything malformed raises with file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such peak/BED file")
    chroms: list[str] = []
    strands: list[str] = []
    cols: list[tuple[int, int, int, int]] = []
    where = {"line": 0}
    try:
        has_summits = _read_rows(path, chroms, cols, where, strands)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except _READ_ERRORS as err:
        at = f"after line {where['line']}" if where["line"] else "at the start"
        if isinstance(err, UnicodeDecodeError):
            why, fix = f"not text ({err.reason})", "give a BED/narrowPeak text file (gzip ok)"
        else:
            why = f"truncated or corrupt compressed data ({type(err).__name__}: {err})"
            fix = "re-download or re-compress it (`gzip -t FILE` tests a gzip file)"
        raise ValueError(f"{path}: {at}: {why}; {fix}") from None
    if not cols:
        raise ValueError(f"{path}: no intervals (empty file or only header/comment lines)")
    arr = np.asarray(cols, np.int64)
    strand = np.asarray(strands, object)
    out = Intervals(
        path,
        np.asarray(chroms, object),
        arr[:, 0],
        arr[:, 1],
        arr[:, 2],
        arr[:, 3],
        has_summits,
        strand=strand,
    )
    if dedupe:
        keys = np.rec.fromarrays(
            [np.asarray(chroms, str), arr[:, 0], arr[:, 1], arr[:, 2], strand.astype(str)],
            names="c,s,e,m,d",
        )
        _, first = np.unique(keys, return_index=True)
        first.sort()
        dup = len(out) - len(first)
        out = out.select(first)
        out.duplicates = dup
    return out


def _read_rows(
    path: Path,
    chroms: list[str],
    cols: list[tuple[int, int, int, int]],
    where: dict[str, int],
    strands: list[str],
) -> bool:
    """Parses ``path`` into ``chroms`` / ``cols`` / ``strands``; returns whether any row had a
    summit."""
    has_summits = False
    with _open(path) as f:
        for lineno, raw in enumerate(f, start=1):
            where["line"] = lineno
            text = raw.rstrip("\r\n")
            if not text.strip() or text.startswith(SKIP_PREFIXES):
                continue
            fields = text.split("\t")
            if len(fields) < 3:
                fields = text.split()
            if len(fields) < 3:
                raise ValueError(
                    f"{path}: line {lineno}: {len(fields)} field(s); expected tab-separated "
                    f"BED 'chrom<TAB>start<TAB>end[...]' or narrowPeak, got {text[:60]!r}"
                )
            try:
                start, end = int(fields[1]), int(fields[2])
            except ValueError:
                raise ValueError(
                    f"{path}: line {lineno}: start/end {fields[1]!r}, {fields[2]!r} are not "
                    "integers; expected 0-based BED coordinates"
                ) from None
            if start < 0 or end <= start:
                raise ValueError(
                    f"{path}: line {lineno}: interval [{start}, {end}) is empty or negative; "
                    "expected 0 <= start < end"
                )
            summit = (start + end) // 2
            if len(fields) >= 10:
                try:
                    offset = int(fields[9])
                except ValueError:
                    raise ValueError(
                        f"{path}: line {lineno}: narrowPeak column 10 (summit offset) is "
                        f"{fields[9]!r}; expected an integer (-1 for none)"
                    ) from None
                if offset >= 0:
                    if offset >= end - start:
                        raise ValueError(
                            f"{path}: line {lineno}: summit offset {offset} outside the peak "
                            f"of length {end - start}"
                        )
                    summit = start + offset
                    has_summits = True
            # Column 6 is the strand in BED6+ and narrowPeak; anything else reads as unstranded.
            strand = fields[5].strip() if len(fields) >= 6 else "."
            strand = strand if strand in ("+", "-") else "."
            chroms.append(fields[0])
            strands.append(strand)
            cols.append((start, end, summit, lineno))
    return has_summits


class IntervalIndex:
    """Per-chromosome sorted intervals answering vectorised overlap queries."""

    def __init__(self, intervals: list[Intervals] | Intervals):
        items = intervals if isinstance(intervals, list) else [intervals]
        chrom = np.concatenate([i.chrom for i in items]) if items else np.zeros(0, object)
        start = np.concatenate([i.start for i in items]) if items else np.zeros(0, np.int64)
        end = np.concatenate([i.end for i in items]) if items else np.zeros(0, np.int64)
        self._by_chrom: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for c in np.unique(chrom.astype(str)):
            sel = chrom == c
            order = np.argsort(start[sel], kind="stable")
            s, e = start[sel][order], end[sel][order]
            self._by_chrom[str(c)] = (s, np.maximum.accumulate(e))

    def overlaps(self, chrom: str, qstart: np.ndarray, qend: np.ndarray) -> np.ndarray:
        """bool[Q]: does [qstart, qend) overlap any interval on ``chrom``?"""
        qstart, qend = np.asarray(qstart), np.asarray(qend)
        if chrom not in self._by_chrom:
            return np.zeros(qstart.shape, bool)
        starts, max_end = self._by_chrom[chrom]
        k = np.searchsorted(starts, qend, side="left")  # intervals [0, k) start before qend
        hit = np.zeros(qstart.shape, bool)
        ok = k > 0
        hit[ok] = max_end[k[ok] - 1] > qstart[ok]
        return hit
