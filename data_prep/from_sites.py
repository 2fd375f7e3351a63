"""`from-sites`: genome FASTA + stranded point features (e.g. TSS) -> labeled windows.

One positive window of --seq-len per site, read 5'->3' on the site's strand (a minus-strand
window is the reverse complement of the forward slice, stored with strand '-'), centred on the
site (--anchor center: the site is token seq_len // 2) or ending at it (--anchor end: the site
is the last token). Negatives: background windows of either strand with no site within
--negative-min-distance bases, --negatives-per-positive per positive of their split.

Splits are regions, for genomes with one or few chromosomes (bacteria): --valid-regions and
--test-regions (BED files or chrom:start-end, 1-based inclusive, comma-separated; train is
the rest; overlapping valid/test regions are refused), or --split-fractions TRAIN,VALID,TEST
(each chromosome cut into three consecutive blocks in that order; default 0.8,0.1,0.1), or
--all-test (an evaluation-only set). Windows straddling a split boundary are dropped and
counted (metadata.counts). The regions go into the manifest (metadata.split_regions), so that
`data_prep homology` and `windows` keep homologs of the whole valid/test regions out.

--max-positives N keeps N training positives (drawn with --seed, negatives in proportion;
valid and test unchanged): a label budget. --clean-against REF_SET marks the windows of another
genome that do not map back (minimap2; the leakage guard decides) into REF_SET's training
region: extra field `clean` and a split `test_clean` (cross-genome evaluation without
orthologs of training windows).

  python -m data_prep from-sites shards/ref --fasta ref.fa --sites ref_tss.bed \\
      --seq-len 100 --split-fractions 0.7,0.1,0.2
  python -m data_prep from-sites shards/rel --fasta rel.fa --sites rel_tss.bed \\
      --seq-len 100 --all-test --clean-against shards/ref

The work is ``jaxssl.prep.sites.build_from_sites``; this verb parses flags and prints a summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "from-sites",
        help="genome FASTA + stranded sites (TSS BED) -> labeled window shards, region splits",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out_dir", type=Path, help="shard-set directory to create")
    p.add_argument("--fasta", type=Path, required=True, help="genome FASTA (plain or bgzip)")
    p.add_argument(
        "--sites", type=Path, required=True, help="BED of sites: chrom, pos, pos+1, ., ., strand"
    )
    p.add_argument("--task-name", default="TSS", help="the one task's name (default TSS)")
    p.add_argument("--seq-len", type=int, default=100, help="window length (default 100)")
    p.add_argument(
        "--anchor",
        choices=["center", "end"],
        default="center",
        help="site at the window's centre token (default) or its last token",
    )
    p.add_argument(
        "--negatives-per-positive", type=float, default=1.0, help="background windows per site"
    )
    p.add_argument(
        "--negative-min-distance",
        type=int,
        help="bases between a negative window and any site (default seq_len // 2)",
    )
    split = p.add_argument_group("splits (one way)")
    split.add_argument("--valid-regions", help="BED file(s) or chrom:start-end[,...]")
    split.add_argument("--test-regions", help="BED file(s) or chrom:start-end[,...]")
    split.add_argument(
        "--split-fractions",
        help="TRAIN,VALID,TEST fractions of each chromosome, consecutive blocks in that order "
        "(default 0.8,0.1,0.1)",
    )
    split.add_argument(
        "--all-test", action="store_true", help="every window is test data (evaluation only)"
    )
    p.add_argument("--max-positives", type=int, help="label budget: training positives kept")
    clean = p.add_argument_group("clean subset of another genome")
    clean.add_argument(
        "--clean-against",
        type=Path,
        help="reference labeled set: mark windows not mapping back into its training region",
    )
    clean.add_argument(
        "--reference-fasta",
        type=Path,
        help="the reference FASTA (default: the one --clean-against's manifest lists)",
    )
    clean.add_argument(
        "--leak-min-match",
        type=float,
        default=0.1,
        help="a minimap2 hit covering this fraction of a window counts (default 0.1)",
    )
    clean.add_argument("--threads", type=int, default=1, help="minimap2 threads (default 1)")
    p.add_argument("--max-n-frac", type=float, default=0.1, help="drop windows with more Ns")
    p.add_argument(
        "--fix-chrom-names", action="store_true", help="translate 'chr1' <-> '1' to the FASTA's"
    )
    p.add_argument("--genome-name", help="provenance name (default: FASTA file stem)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace out_dir on success (only an empty dir or a shard set without your inputs)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxssl.prep.sites import build_from_sites

    m = build_from_sites(
        args.out_dir,
        fasta=args.fasta,
        sites=args.sites,
        task_name=args.task_name,
        seq_len=args.seq_len,
        anchor=args.anchor,
        negatives_per_positive=args.negatives_per_positive,
        negative_min_distance=args.negative_min_distance,
        valid_regions=args.valid_regions,
        test_regions=args.test_regions,
        split_fractions=args.split_fractions,
        all_test=args.all_test,
        max_positives=args.max_positives,
        clean_against=args.clean_against,
        reference_fasta=args.reference_fasta,
        clean_min_match=args.leak_min_match,
        threads=args.threads,
        max_n_frac=args.max_n_frac,
        fix_chrom_names=args.fix_chrom_names,
        genome_name=args.genome_name,
        seed=args.seed,
        overwrite=args.overwrite,
        command=args.command_line,
    )
    meta = m.metadata
    for split, entry in m.splits.items():
        print(
            f"{split}: {entry['count']} windows, positives {entry['positives']}, "
            f"GC {entry['gc']:.3f}"
        )
    print(f"counts: {meta['counts']}; negatives: {meta['negative_counts']}")
    for split, regions in meta["split_regions"].items():
        shown = ", ".join(f"{c}:{s + 1}-{e}" for c, s, e in regions[:3])
        more = f" (+{len(regions) - 3} more)" if len(regions) > 3 else ""
        print(f"{split} regions: {shown or '-'}{more}")
    if "clean" in meta:
        clean = {k: v for k, v in meta["clean"].items() if k.endswith("_clean")}
        print(f"clean (no hit in the reference's training region): {clean}")
    print(f"wrote {args.out_dir}")
    return 0
