"""`python -m data_prep toy-world`: write a simulated genome family with known truth.

Everything (reference FASTA, peaks, evolved genomes, true chains and truth labels) comes from
one seed; see ``jaxssl.toyworld`` for the layout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "toy-world",
        help="simulate a reference genome with planted TF binding plus evolved relatives",
        description=__doc__,
    )
    parser.add_argument("--out", required=True, type=Path, help="directory to create")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--species", type=int, default=None, help="evolved genomes (default 3)")
    parser.add_argument(
        "--divergence",
        default=None,
        metavar="CLOSEST,FARTHEST",
        help="spread the relatives geometrically from CLOSEST to FARTHEST expected "
        "substitutions per neutral site from the reference (e.g. --species 12 --divergence "
        "0.02,0.5); default: a ladder of 0.05-substitution branches",
    )
    parser.add_argument("--genome-size", type=int, default=None, help="reference bp (default 3e6)")
    parser.add_argument("--chromosomes", type=int, default=None)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other ToyWorldParams field, VALUE as JSON (e.g. --set sites_per_tf=2000 "
        '--set tfs=\'["CTCF","SPI1"]\'); repeatable',
    )
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.set_defaults(func=run)


def params_from_args(args: argparse.Namespace):
    """ToyWorldParams from the flags; unknown names and bad values raise ValueError."""
    from jaxssl.toyworld import ToyWorldParams

    overrides = {}
    for flag in ("seed", "species", "genome_size", "chromosomes"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.divergence is not None:
        try:
            overrides["divergence"] = tuple(float(x) for x in args.divergence.split(","))
        except ValueError:
            raise ValueError(
                f"--divergence {args.divergence!r}: expected CLOSEST,FARTHEST, e.g. 0.02,0.5"
            ) from None
    fields = {f.name for f in dataclasses.fields(ToyWorldParams)}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise ValueError(
                f"--set {item!r}: expected NAME=VALUE with NAME one of {sorted(fields)}"
            )
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value  # a bare string such as a TF name or a path
        overrides[name] = tuple(parsed) if isinstance(parsed, list) else parsed
    return ToyWorldParams(**overrides)


def run(args: argparse.Namespace) -> int:
    from jaxssl.toyworld import generate_toy_world, load_world_info

    params = params_from_args(args)
    out = args.out
    if args.force and out.exists():
        if not (out / "world.json").is_file() and any(out.iterdir()):
            raise ValueError(f"--force refuses to delete {out}: it is not a toy world")
        shutil.rmtree(out)
    generate_toy_world(out, params)
    info = load_world_info(out)
    counts = info["counts"]
    print(f"toy world {info['key']} written to {out} in {info['build_seconds']} s")
    print(f"  species {', '.join(info['species'])}   tree {info['tree']}")
    identity = counts["identity"]
    print("  identity to the reference " + " ".join(f"{sp}={v:.3f}" for sp, v in identity.items()))
    for tf in info["tfs"]:
        rare = "  (rare)" if tf == info["rare_tf"] else ""
        print(
            f"  {tf:8s} peaks {counts['peaks'][tf]:5d}   true sites "
            + " ".join(f"{sp}={counts['true_sites'][sp][tf]}" for sp in info["species"])
            + rare
        )
    return 0
