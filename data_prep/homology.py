"""`homology`: carry a reference's labeled windows to other genomes -> pseudo-labeled shards.

Every window of the labeled set's --split (positives and negatives) is mapped to each target
genome, either through UCSC chain files (liftOver semantics: one chain must align
--min-match of the window) or, without chains, by aligning the window to the target with
minimap2 (mappy). The target window of the same length is cut around the mapped centre,
reverse-complemented when the homology is on the minus strand, and inherits the labels.

Leakage guard: windows in the reference's held-out regions (valid/test chromosomes, the
valid/test regions of a region-split set such as `from-sites` makes, and valid/test windows)
are not carried, and target windows that map back into them are dropped; both counts
are in the manifest (metadata.leakage), with every other reason a window was not written
(metadata.counts). Output: OUT_DIR/<target genome>/ per target, split "train", extra fields
"mapq" (chains: round(60 x aligned fraction); minimap2: MAPQ) and "source_index" (the
window's row in the labeled split).

  python -m data_prep homology pseudo/ --labeled shards/ref --targets sp1.fa sp2.fa \\
      --chains ref_to_sp1.chain ref_to_sp2.chain
  python -m data_prep homology pseudo/ --labeled shards/ref --targets sp1.fa --threads 2
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "homology",
        help="labeled reference windows -> pseudo-labeled windows of other genomes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out_dir", type=Path, help="folder for one shard set per target genome")
    p.add_argument("--labeled", type=Path, required=True, help="the reference's labeled shards")
    p.add_argument("--targets", type=Path, nargs="+", required=True, help="target FASTA files")
    p.add_argument(
        "--chains",
        type=Path,
        nargs="+",
        help="reference->target chain files (gz ok), one per --targets entry in the same "
        "order; without them windows are aligned with minimap2",
    )
    p.add_argument("--target-names", help="comma-separated genome names (default: FASTA stems)")
    p.add_argument(
        "--reference-fasta",
        type=Path,
        help="the reference FASTA (default: the one the labeled set's manifest lists)",
    )
    p.add_argument("--split", default="train", help="labeled split to carry (default train)")
    p.add_argument(
        "--min-match",
        type=float,
        default=0.5,
        help="fraction of a window one chain must align (liftOver -minMatch) or minimap2's "
        "primary hit must cover (default 0.5)",
    )
    p.add_argument(
        "--max-length-change",
        type=float,
        default=0.1,
        help="chains: drop windows whose lifted span changes length by more than this "
        "fraction (default 0.1)",
    )
    p.add_argument("--min-mapq", type=int, default=0, help="minimap2: minimum MAPQ (default 0)")
    p.add_argument("--max-n-frac", type=float, default=0.1, help="drop target windows with more N")
    p.add_argument(
        "--leak-min-match",
        type=float,
        default=0.1,
        help="drop a target window when a hit covering this fraction of it maps back into "
        "held-out reference regions (default 0.1)",
    )
    p.add_argument("--weight-by-mapq", action="store_true", help="example weight = mapq / 60")
    p.add_argument("--threads", type=int, default=1, help="minimap2 threads (default 1)")
    p.add_argument("--mm-preset", default="map-ont", help="minimap2 preset (default map-ont)")
    p.add_argument("--mm-k", type=int, default=13, help="minimap2 k-mer size (default 13)")
    p.add_argument("--mm-w", type=int, default=5, help="minimap2 minimizer window (default 5)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs on success")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxssl.data.manifest import check_source_split
    from jaxssl.homology.carry import CarryOptions, Target, carry_labels, carry_summary

    chains = args.chains or [None] * len(args.targets)
    if len(chains) != len(args.targets):
        raise ValueError(
            f"--chains gives {len(chains)} files for {len(args.targets)} --targets; give one "
            "chain file per target, in the same order (or none, to align with minimap2)"
        )
    names = args.target_names.split(",") if args.target_names else [None] * len(args.targets)
    if len(names) != len(args.targets):
        raise ValueError(f"--target-names has {len(names)} names for {len(args.targets)} targets")
    # Carried windows train models: a held-out split (by role) may not be carried.
    check_source_split(args.labeled, args.split, f"--split {args.split}", "be carried to train")
    for path in [*args.targets, *(c for c in chains if c is not None)]:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
    options = CarryOptions(
        split=args.split,
        min_match=args.min_match,
        max_length_change=args.max_length_change,
        min_mapq=args.min_mapq,
        max_n_frac=args.max_n_frac,
        leak_min_match=args.leak_min_match,
        weight_by_mapq=args.weight_by_mapq,
        threads=args.threads,
        minimap=(("preset", args.mm_preset), ("k", args.mm_k), ("w", args.mm_w)),
    )
    written = carry_labels(
        args.labeled,
        args.out_dir,
        [Target(f, c, n) for f, c, n in zip(args.targets, chains, names, strict=True)],
        reference_fasta=args.reference_fasta,
        options=options,
        command=args.command_line,
        overwrite=args.overwrite,
    )
    for path in written:
        print(carry_summary(path))
    for path in written:
        print(f"wrote {path}")
    return 0
