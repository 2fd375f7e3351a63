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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHUNK = 4096  # windows gathered at a time, to bound memory on long chromosomes
# --count above this many times the genome's non-overlapping windows is warned about: the
# windows then overlap heavily (most bases in many windows) and add little beyond repetition.
MAX_COVERAGE = 10.0


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


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))


def build_guard(args: argparse.Namespace, lengths: dict[str, int]):
    """The leakage guard the options ask for, and chromosomes not to sample from at all.

    Whole held-out chromosomes of the reference are skipped when sampling the reference
    itself (so --count windows still come from the training chromosomes); everything else is
    screened window by window and counted.
    """
    from jaxssl.data.manifest import MANIFEST_NAME
    from jaxssl.genome.fasta import Genome
    from jaxssl.homology.carry import is_labeled_reference, reference_fasta_of
    from jaxssl.homology.chain import check_chain_genomes, read_chains
    from jaxssl.homology.leakage import (
        LeakageGuard,
        held_out_of_set,
        parse_regions,
    )
    from jaxssl.homology.mapping import minimap_aligner

    if not 0.0 < args.leak_min_match <= 1.0:
        raise ValueError("--leak-min-match must be in (0, 1]")
    own = parse_regions(args.exclude_regions) if args.exclude_regions else None
    if own is not None and (unknown := sorted(own.named_chroms() - set(lengths))):
        raise ValueError(
            f"--exclude-regions names chromosomes {unknown[:5]} that {args.fasta} does not "
            f"have (it has e.g. {list(lengths)[:5]}); regions are in --fasta's coordinates"
        )
    spec = args.exclude_homologs_of
    if not spec:
        if args.chains or args.reference_fasta:
            raise ValueError("--chains and --reference-fasta need --exclude-homologs-of")
        return LeakageGuard(own=own, method="regions" if own else "none"), set()
    labeled = Path(spec) if (Path(spec) / MANIFEST_NAME).is_file() else None
    if labeled is None and Path(spec).is_dir():
        raise ValueError(
            f"--exclude-homologs-of {spec}: a folder without {MANIFEST_NAME}, not a shard set"
        )
    held_out = held_out_of_set(labeled) if labeled is not None else parse_regions(spec)
    if held_out.empty:
        print(
            f"data_prep windows: warning: {spec} holds nothing out (no split but train), so "
            "no window can leak through it",
            file=sys.stderr,
        )
    if args.reference_fasta is not None:
        is_reference = _same_file(args.reference_fasta, args.fasta)
    else:
        is_reference = labeled is not None and is_labeled_reference(labeled, args.fasta)
    if is_reference:
        if args.chains:
            raise ValueError(
                f"{args.fasta} is the reference itself: its windows are screened by position, "
                "--chains is for other genomes"
            )
        return LeakageGuard.on_reference(held_out, own), set(held_out.chroms)
    reference = args.reference_fasta
    if reference is None and labeled is not None:
        try:
            reference = reference_fasta_of(labeled)
        except ValueError:
            if args.chains is None:
                raise
    if args.chains is not None:
        chains = read_chains(args.chains)
        if reference is not None:
            ref_genome = Genome(reference)
            target_sizes = dict(ref_genome.lengths)
            ref_genome.close()
        else:  # only the chain file's own word on the reference's sizes
            target_sizes = {c.t_name: c.t_size for c in chains}
        check_chain_genomes(
            chains,
            args.chains,
            target_sizes=target_sizes,
            query_sizes=lengths,
            target_what=f"the reference {reference or '(sizes from the chain file)'}",
            query_what=f"--fasta {args.fasta}",
        )
        guard = LeakageGuard.through_chains(
            held_out, chains, own=own, min_match=args.leak_min_match
        )
        return guard, set()
    if reference is None:
        raise ValueError(
            f"--exclude-homologs-of {spec}: say how windows map back to the reference: "
            "--chains (reference -> this genome) or --reference-fasta (minimap2)"
        )
    aligner = minimap_aligner(str(reference))
    guard = LeakageGuard.through_minimap(
        held_out, aligner, own=own, min_match=args.leak_min_match, threads=args.threads
    )
    return guard, set()


def guard_sources(args: argparse.Namespace) -> list[Path]:
    """Files the guard read, so the manifest records (and checksums) them too."""
    from jaxssl.data.manifest import MANIFEST_NAME

    out = []
    if args.exclude_homologs_of and (Path(args.exclude_homologs_of) / MANIFEST_NAME).is_file():
        out.append(Path(args.exclude_homologs_of) / MANIFEST_NAME)
    if args.chains is not None:
        out.append(args.chains)
    return out


def coverage_warning(count: int, seq_len: int, lengths: list[int], name: str) -> str | None:
    """A warning when --count far exceeds the distinct windows the chromosomes offer."""
    distinct = sum(max(n - seq_len + 1, 0) for n in lengths)
    tiles = sum(n // seq_len for n in lengths)
    if count <= distinct and count <= MAX_COVERAGE * tiles:
        return None
    repeat = (
        f"at least {count - distinct:,} windows will be exact repeats of others"
        if count > distinct
        else f"each base lies in ~{count * seq_len / max(sum(lengths), 1):.0f} windows"
    )
    return (
        f"--count {count:,} asks for far more windows than {name} holds: its sampled "
        f"chromosomes have only {distinct:,} distinct {seq_len} bp window positions "
        f"({tiles:,} non-overlapping windows), so {repeat}; lower --count (or tile with "
        "--stride)"
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from jaxssl.data.writer import ShardSetWriter
    from jaxssl.genome.background import window_stats
    from jaxssl.genome.fasta import Genome

    if args.out_dir.exists() and not args.overwrite:
        raise FileExistsError(f"{args.out_dir}: already exists; pass --overwrite to replace it")
    L = args.seq_len
    if L <= 0 or (args.stride is not None and args.stride <= 0) or (args.count or 1) <= 0:
        raise ValueError("--seq-len, --stride and --count must be positive")
    genome = Genome(args.fasta, name=args.genome_name)
    chroms = args.chroms.split(",") if args.chroms else genome.names
    if missing := [c for c in chroms if c not in genome.lengths]:
        raise ValueError(f"--chroms {missing} not in {args.fasta} (it has {genome.names[:8]})")
    guard, held_out_chroms = build_guard(args, genome.lengths)
    excluded = set(args.exclude_chroms.split(",")) - {""}
    excluded |= held_out_chroms & set(genome.lengths)
    chroms = [c for c in chroms if c not in excluded and genome.lengths[c] >= L]
    if not chroms:
        raise ValueError(f"{args.fasta}: no chromosome of at least {L} bp left to sample from")
    rng = np.random.default_rng(args.seed)
    spans = np.array([genome.lengths[c] - L + 1 for c in chroms], np.int64)
    warning = None
    if args.count:
        per_chrom = rng.multinomial(args.count, spans / spans.sum())
        lengths = [genome.lengths[c] for c in chroms]
        if warning := coverage_warning(args.count, L, lengths, str(args.fasta)):
            print(f"data_prep windows: warning: {warning}", file=sys.stderr)
    guarded = guard.method != "none"
    stats = {"considered": 0, "dropped_n_frac": 0, "written": 0}
    if guarded:
        stats["dropped_leakage"] = 0
    metadata = {
        "kind": "windows",
        "genome": genome.name,
        "mode": "sample" if args.count else "tile",
        "stride": args.stride,
        "requested": args.count,
        "max_n_frac": args.max_n_frac,
        "chroms": chroms,
        "seed": args.seed,
        "counts": stats,
        "distinct_positions": int(spans.sum()),
        "leakage": {},
    }
    if warning:
        metadata["warnings"] = [warning]
    with ShardSetWriter(
        args.out_dir,
        seq_len=L,
        task_names=[],
        command=args.command_line,
        sources=[args.fasta, *guard_sources(args)],
        overwrite=args.overwrite,
        metadata=metadata,
    ) as writer:
        for i, chrom in enumerate(chroms):
            if args.count:
                starts = np.sort(rng.integers(0, spans[i], per_chrom[i]))
            else:
                starts = np.arange(0, spans[i], args.stride, dtype=np.int64)
            if len(starts) == 0:
                continue
            seq = genome.chromosome(chrom)
            for lo in range(0, len(starts), CHUNK):
                s = starts[lo : lo + CHUNK]
                tokens = seq[s[:, None] + np.arange(L)]
                keep = window_stats(tokens)[1] <= args.max_n_frac
                stats["considered"] += len(s)
                stats["dropped_n_frac"] += int((~keep).sum())
                if guarded and keep.any():
                    rows = np.flatnonzero(keep)
                    screen = guard.screen(chrom, s[rows], L, tokens[rows])
                    keep[rows[~screen.keep]] = False
                    stats["dropped_leakage"] += int((~screen.keep).sum())
                stats["written"] += int(keep.sum())
                if keep.any():
                    writer.add_batch(
                        args.split,
                        tokens[keep],
                        np.zeros((int(keep.sum()), 0), np.float32),
                        1.0,
                        genome=genome.name,
                        chrom=chrom,
                        start=s[keep],
                    )
        metadata["leakage"] = {
            "excluded_chroms": sorted(excluded),
            **({"held_out_chroms_not_sampled": sorted(held_out_chroms)} if held_out_chroms else {}),
            **guard.summary(),
        }
        if stats["written"] == 0:
            raise ValueError(
                f"{args.fasta}: every window was dropped (over --max-n-frac {args.max_n_frac}: "
                f"{stats['dropped_n_frac']}, leakage guard: {stats.get('dropped_leakage', 0)});"
                " nothing written"
            )
        writer.metadata = metadata
    genome.close()
    print(f"{args.split}: {stats}")
    if guarded:
        print(f"leakage guard: {metadata['leakage']}")
    print(f"wrote {args.out_dir}")
    if args.tfrecord:
        from jaxssl.data.tfrecord import export_tfrecord

        export_tfrecord(args.out_dir)
    return 0
