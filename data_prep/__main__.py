"""`python -m data_prep <verb> ...`: one sub-command per module, each owning its own flags.

Every verb module exposes ``register(subparsers)`` (adds its parser and sets ``func``) and keeps
heavy imports inside its ``run(args) -> int`` so that ``--help`` stays instant. A verb parses
flags and calls the library (``jaxssl.prep``, ``jaxssl.homology``, ...), which the library
itself calls the same way: nothing under ``jaxssl/`` runs this command line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# verb -> module under data_prep/
VERBS = {
    "from-peaks": "from_peaks",
    "from-sites": "from_sites",
    "from-csv": "from_csv",
    "from-fasta": "from_fasta",
    "windows": "windows",
    "corpus": "corpus",
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


class _VerbFormatter(logging.Formatter):
    """The library's warnings as the verb's own: ``data_prep windows: warning: ...``."""

    def __init__(self, verb: str):
        super().__init__()
        self.verb = verb

    def format(self, record: logging.LogRecord) -> str:
        return f"data_prep {self.verb}: {record.levelname.lower()}: {record.getMessage()}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = " ".join(["python -m data_prep", *(sys.argv[1:] if argv is None else argv)])
    # The library (jaxssl.prep, jaxssl.homology) warns through the "jaxssl" logger.
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_VerbFormatter(args.verb))
    library_log = logging.getLogger("jaxssl")
    library_log.addHandler(handler)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as err:  # OSError: FileNotFoundError, FileExistsError, disk full
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"data_prep {args.verb}: error: {message}", file=sys.stderr)
        return 2
    finally:
        library_log.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
