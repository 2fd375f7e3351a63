"""`python -m data_prep <verb> ...`: one sub-command per module, each owning its own flags.

Every verb module exposes ``register(subparsers)`` (adds its parser and sets ``func``) and keeps
heavy imports inside its ``run(args) -> int`` so that ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# verb -> module under data_prep/
VERBS = {
    "from-peaks": "from_peaks",
    "from-csv": "from_csv",
    "from-fasta": "from_fasta",
    "windows": "windows",
    "inspect": "inspect_shards",
    "toy-world": "toy_world",
    "homology": "homology",
    "tfds": "tfds_view",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep",
        description="Prepare jaxssl shard sets (ArrayRecord + manifest.json).",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for module_name in VERBS.values():
        try:
            module = importlib.import_module(f"data_prep.{module_name}")
        except ModuleNotFoundError as err:
            if err.name != f"data_prep.{module_name}":
                raise
            continue  # verb not built yet
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = " ".join(["python -m data_prep", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as err:  # OSError: FileNotFoundError, FileExistsError, disk full
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"data_prep {args.verb}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
