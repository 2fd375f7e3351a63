"""`tfds`: (re)writes the TensorFlow Datasets view of existing shard sets.

Every shard set the writer makes is already a TFDS dataset directory; this verb adds the view to
sets written before that (e.g. cached toy-world sets) or rewrites it. Afterwards
``tfds.builder_from_directory(DIR).as_data_source("train")`` reads the set without TensorFlow,
record ``i`` being example ``i`` of ``jaxssl.data.pipeline.load_split(DIR, "train")``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "tfds", help="add the TFDS view to existing shard sets", description=__doc__
    )
    p.add_argument("shard_dirs", type=Path, nargs="+", metavar="SHARD_DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxssl.data.tfds_export import export_tfds

    for shard_dir in args.shard_dirs:
        files = export_tfds(shard_dir)
        size = sum(f.stat().st_size for f in files)
        print(f"{shard_dir}: TFDS view written ({len(files)} files, {size / 1e6:.1f} MB)")
    return 0
