"""Result tables written atomically: TSV, or Parquet when the name ends in ``.parquet``.

A killed run must never leave a half-written table that looks finished, so every file is
written beside its target under a temporary name and renamed over it (``os.replace``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import numpy as np

FLOAT_FORMAT = "{:.7g}"  # float32 round-trips to ~1e-7 relative


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str = "") -> Iterator[Path]:
    """A temporary path in the target's folder, renamed to `path` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_text(path: str | Path) -> Iterator[IO[str]]:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        yield f


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else FLOAT_FORMAT.format(float(value))
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value).replace("\t", " ").replace("\n", " ")


def write_table(path: str | Path, columns: Mapping[str, Sequence | np.ndarray]) -> Path:
    """Writes equal-length columns as TSV (NaN/None -> empty cell) or Parquet (``.parquet``)."""
    path = Path(path)
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns of unequal length: {lengths}")
    if path.name.endswith(".parquet"):
        return _write_parquet(path, columns)
    names = list(columns)
    n = next(iter(lengths.values()), 0)
    cols = [
        columns[c].tolist() if isinstance(columns[c], np.ndarray) else columns[c] for c in names
    ]
    with atomic_text(path) as f:
        f.write("\t".join(names) + "\n")
        for i in range(n):
            f.write("\t".join(_cell(col[i]) for col in cols) + "\n")
    return path


def _write_parquet(path: Path, columns: Mapping[str, Sequence | np.ndarray]) -> Path:
    try:
        import pandas as pd
    except ImportError:
        raise ValueError(
            f"{path}: Parquet output needs pandas and pyarrow (`pip install pandas pyarrow`); "
            "or name the output .tsv"
        ) from None
    frame = pd.DataFrame(
        {k: np.asarray(v) if isinstance(v, np.ndarray) else list(v) for k, v in columns.items()}
    )
    with atomic_path(path, suffix=".parquet") as tmp:
        try:
            frame.to_parquet(tmp, index=False)
        except ImportError:
            raise ValueError(
                f"{path}: Parquet output needs pyarrow (`pip install pyarrow`); or name the "
                "output .tsv"
            ) from None
    return path


def read_tsv(path: str | Path) -> dict[str, list[str]]:
    """The columns of a TSV written by `write_table` (strings), for tests and scripts."""
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f]
    return {name: [r[i] for r in rows] for i, name in enumerate(header)}
