"""`from-peaks`: genome FASTA + BED/narrowPeak files (one task per file) -> labeled windows.

Windows of --seq-len are centred on the narrowPeak summit (column 10) or the region centre. A
window is positive for a task when that task's peaks overlap its central --label-core bases.
Negatives are background windows overlapping no peak of any file, GC-matched to the positives
of their split (default), flanking windows, or dinucleotide shuffles of the positives.
Splits hold out whole chromosomes: valid chr7, test chr8 + chr9 by default (as in DeepSEA),
matched with or without the 'chr' prefix.

Exact duplicate sequences (either strand) of valid/test that also occur in train are counted in
the manifest (metadata.duplicates); --dedup removes them from train.

The work is ``jaxssl.prep.peaks.build_from_peaks``; this verb parses flags and prints a summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxssl.prep.splits import DEFAULT_TEST, DEFAULT_VALID


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "from-peaks",
        help="genome FASTA + BED/narrowPeak files -> labeled window shards",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out_dir", type=Path, help="shard-set directory to create")
    p.add_argument("--fasta", type=Path, required=True, help="genome FASTA (plain or bgzip)")
    p.add_argument("--peaks", type=Path, nargs="+", required=True, help="one file per task")
    p.add_argument("--task-names", help="comma-separated task names (default: file stems)")
    p.add_argument("--seq-len", type=int, default=1000, help="window length (default 1000)")
    p.add_argument(
        "--center",
        choices=["summit", "region"],
        default="summit",
        help="centre on narrowPeak summits (falls back to region centre without them)",
    )
    p.add_argument(
        "--label-core",
        type=int,
        help="central bases a peak must overlap for a positive label (default seq_len // 2)",
    )
    p.add_argument(
        "--negatives",
        choices=["gc", "flank", "shuffle", "none"],
        default="gc",
        help="background windows GC-matched to positives (default), flanks, or shuffles",
    )
    p.add_argument("--neg-ratio", type=float, default=1.0, help="negatives per positive")
    p.add_argument(
        "--flank-distance", type=int, help="flank offset from the summit (default 2 * seq_len)"
    )
    p.add_argument("--valid-chroms", default=DEFAULT_VALID, help=f"default {DEFAULT_VALID}")
    p.add_argument("--test-chroms", default=DEFAULT_TEST, help=f"default {DEFAULT_TEST}")
    p.add_argument("--max-n-frac", type=float, default=0.1, help="drop windows with more Ns")
    p.add_argument(
        "--fix-chrom-names", action="store_true", help="translate 'chr1' <-> '1' to the FASTA's"
    )
    p.add_argument(
        "--skip-bad-peaks",
        action="store_true",
        help="skip (and count) peaks on unknown chromosomes or past chromosome ends",
    )
    p.add_argument("--genome-name", help="provenance name (default: FASTA file stem)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dedup",
        action="store_true",
        help="drop train windows whose sequence (either strand) is also in valid/test",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace out_dir on success (only an empty dir or a shard set without your inputs)",
    )
    p.add_argument("--tfrecord", action="store_true", help="also export TFRecord (needs TF)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxssl.prep.peaks import build_from_peaks

    m = build_from_peaks(
        args.out_dir,
        fasta=args.fasta,
        peaks=args.peaks,
        task_names=args.task_names.split(",") if args.task_names else None,
        seq_len=args.seq_len,
        center=args.center,
        label_core=args.label_core,
        negatives=args.negatives,
        neg_ratio=args.neg_ratio,
        flank_distance=args.flank_distance,
        valid_chroms=args.valid_chroms,
        test_chroms=args.test_chroms,
        max_n_frac=args.max_n_frac,
        fix_chrom_names=args.fix_chrom_names,
        skip_bad_peaks=args.skip_bad_peaks,
        genome_name=args.genome_name,
        seed=args.seed,
        dedup=args.dedup,
        overwrite=args.overwrite,
        command=args.command_line,
    )
    meta = m.metadata
    if args.dedup and "train" in m.splits:
        removed = meta["duplicates"]["removed_from_train"]
        print(f"--dedup: removed {removed} train windows also in valid/test")
    for split, entry in m.splits.items():
        print(
            f"{split}: {entry['count']} windows, positives per task {entry['positives']}, "
            f"GC {entry['gc']:.3f}, negatives {meta['negative_counts'].get(split, {})}"
        )
    print(f"counts: {meta['counts']}; bases read as N: {meta['base_counts']}")
    print(f"wrote {args.out_dir}")
    if args.tfrecord:
        from jaxssl.data.tfrecord import export_tfrecord

        export_tfrecord(args.out_dir)
    return 0
