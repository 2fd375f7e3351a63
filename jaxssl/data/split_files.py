"""Which file of a benchmark folder (GUE, GenomicBenchmarks) is which split.

One definition for every reader of such folders (``data_prep from-csv``, the ``jaxssl_gue`` TFDS
builder): ``dev`` and ``val`` become ``valid``, the split name every jaxssl verb uses.
"""

from __future__ import annotations

from pathlib import Path

# File stems recognised in a folder, and the split each becomes.
SPLIT_STEMS = {"train": "train", "dev": "valid", "valid": "valid", "val": "valid", "test": "test"}
SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
SPLIT_ORDER = {"train": 0, "valid": 1, "test": 2}


def find_split_files(input_dir: str | Path) -> dict[str, Path]:
    """``{split: file}`` for the train/dev/test tables of ``input_dir``, train first; an error
    names the folder and the expected file names."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(f"{input_dir}: no such directory")
    found: dict[str, Path] = {}
    for path in sorted(input_dir.iterdir()):
        for suffix in SUFFIXES:
            stem = path.name[: -len(suffix)] if path.name.endswith(suffix) else None
            if stem in SPLIT_STEMS:
                split = SPLIT_STEMS[stem]
                if split in found:
                    raise ValueError(
                        f"{input_dir}: both {found[split].name} and {path.name} would be split "
                        f"{split!r}; pass the files explicitly with --split"
                    )
                found[split] = path
                break
    if not found:
        raise FileNotFoundError(
            f"{input_dir}: no train/dev/test files ({', '.join(SUFFIXES)}); "
            "name them train.csv, dev.csv, test.csv or pass --split NAME=FILE"
        )
    return dict(sorted(found.items(), key=lambda kv: (SPLIT_ORDER.get(kv[0], 3), kv[0])))
