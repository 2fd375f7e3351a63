"""`windows`: unlabeled windows from any FASTA (other genomes), for pre-training and
pseudo-labeling. Sampled uniformly over the genome (chromosomes in proportion to length) or tiled
with a stride; windows over the N-fraction limit are dropped and counted. Unlabeled: no tasks.

Leakage guard (the same test as `homology`): a window drawn from another genome that maps back
into the reference's held-out data, or a window of the reference itself in held-out data, has
been seen by any model trained on it, so it is dropped and counted (manifest metadata.leakage):

  # a relative, mapped back through reference -> relative chains (chain target = reference)
  python -m data_prep windows un/sp1 --fasta sp1.fa --seq-len 200 --count 20000 \\
      --exclude-homologs-of shards/ref --chains ref_to_sp1.chain
  # ... or aligned to the reference with minimap2 (the FASTA the labeled set lists)
  python -m data_prep windows un/sp1 --fasta sp1.fa --count 20000 --exclude-homologs-of shards/ref
  # the reference itself: held-out chromosomes are not sampled, held-out windows are dropped
  python -m data_prep windows un/ref --fasta ref.fa --count 20000 --exclude-homologs-of shards/ref
  # without a labeled set: regions of this FASTA (BED, chrom:start-end 1-based, chromosome)
  python -m data_prep windows un/ref --fasta ref.fa --count 20000 --exclude-chroms chr8,chr9 \\
      --exclude-regions valid.bed,chr1:1000001-2000000

The work is ``jaxssl.prep.windows.build_windows``; this verb parses flags and prints a summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "windows",
        help="unlabeled windows from a FASTA (sampled or tiled) -> shards",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out_dir", type=Path, help="shard-set directory to create")
    p.add_argument("--fasta", type=Path, required=True, help="genome FASTA (plain or bgzip)")
    p.add_argument("--seq-len", type=int, default=1000, help="window length (default 1000)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--count", type=int, help="sample this many windows, uniform over bases")
    mode.add_argument("--stride", type=int, help="tile every chromosome with this stride")
    p.add_argument("--max-n-frac", type=float, default=0.1, help="drop windows with more Ns")
    p.add_argument("--chroms", help="comma-separated chromosomes to use (default: all)")
    p.add_argument(
        "--exclude-chroms",
        default="",
        help="comma-separated chromosomes of --fasta not to sample from (e.g. the reference's "
        "held-out chromosomes); recorded in metadata.leakage",
    )
    p.add_argument(
        "--exclude-regions",
        action="append",
        default=[],
        metavar="REGIONS",
        help="regions of --fasta whose windows are dropped and counted (held_out_region): BED "
        "files, chrom:start-end (1-based, inclusive) or chromosome names, comma-separated; "
        "repeatable",
    )
    p.add_argument(
        "--exclude-homologs-of",
        metavar="LABELED|REGIONS",
        help="the reference's held-out data: a labeled shard set (every split but train: its "
        "valid/test chromosomes and windows) or reference regions written as for "
        "--exclude-regions. Windows of the reference itself in it are dropped (held_out_region); "
        "windows of another genome that map back into it through --chains, or by minimap2 "
        "against --reference-fasta, are dropped (held_out_ortholog)",
    )
    p.add_argument(
        "--chains",
        type=Path,
        help="reference -> --fasta chain file (target = the reference, UCSC liftOver naming) "
        "to map windows back to the reference; without it windows are aligned with minimap2",
    )
    p.add_argument(
        "--reference-fasta",
        type=Path,
        help="the reference FASTA (default: the one the labeled set lists); the same file as "
        "--fasta means the windows are the reference's own",
    )
    p.add_argument(
        "--leak-min-match",
        type=float,
        default=0.1,
        help="drop a window when a back-mapped hit covering this fraction of it lands in "
        "held-out reference data (default 0.1, as in `homology`)",
    )
    p.add_argument("--threads", type=int, default=1, help="minimap2 threads (default 1)")
    p.add_argument("--split", default="train", help="split name to write (default train)")
    p.add_argument("--genome-name", help="provenance name (default: FASTA file stem)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace out_dir on success")
    p.add_argument("--tfrecord", action="store_true", help="also export TFRecord (needs TF)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxssl.data.manifest import HELD_OUT_ROLES, role_from_name
    from jaxssl.prep.windows import build_windows

    if (role := role_from_name(args.split)) in HELD_OUT_ROLES:
        raise ValueError(
            f"--split {args.split}: the name gives the split role {role!r} (held out), but "
            "unlabeled windows are a training pool; name it e.g. train (the default)"
        )
    m = build_windows(
        args.out_dir,
        fasta=args.fasta,
        seq_len=args.seq_len,
        count=args.count,
        stride=args.stride,
        max_n_frac=args.max_n_frac,
        chroms=args.chroms.split(",") if args.chroms else None,
        exclude_chroms=args.exclude_chroms.split(","),
        exclude_regions=args.exclude_regions,
        exclude_homologs_of=args.exclude_homologs_of,
        chains=args.chains,
        reference_fasta=args.reference_fasta,
        leak_min_match=args.leak_min_match,
        threads=args.threads,
        split=args.split,
        genome_name=args.genome_name,
        seed=args.seed,
        overwrite=args.overwrite,
        command=args.command_line,
    )
    print(f"{args.split}: {m.metadata['counts']}")
    if m.metadata["leakage"]["guard"] != "none":
        print(f"leakage guard: {m.metadata['leakage']}")
    print(f"wrote {args.out_dir}")
    if args.tfrecord:
        from jaxssl.data.tfrecord import export_tfrecord

        export_tfrecord(args.out_dir)
    return 0
