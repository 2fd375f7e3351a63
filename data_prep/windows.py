"""`windows`: unlabeled windows from any FASTA (other genomes), for pre-training and
pseudo-labeling. Sampled uniformly over the genome (chromosomes in proportion to length) or tiled
with a stride; windows over the N-fraction limit are dropped and counted. Unlabeled: no tasks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

CHUNK = 4096  # windows gathered at a time, to bound memory on long chromosomes


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
    p.add_argument("--exclude-chroms", default="", help="comma-separated chromosomes to skip")
    p.add_argument("--split", default="train", help="split name to write (default train)")
    p.add_argument("--genome-name", help="provenance name (default: FASTA file stem)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace out_dir on success")
    p.add_argument("--tfrecord", action="store_true", help="also export TFRecord (needs TF)")
    p.set_defaults(func=run)


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
    excluded = set(args.exclude_chroms.split(",")) - {""}
    chroms = [c for c in chroms if c not in excluded and genome.lengths[c] >= L]
    if not chroms:
        raise ValueError(f"{args.fasta}: no chromosome of at least {L} bp left to sample from")
    rng = np.random.default_rng(args.seed)
    spans = np.array([genome.lengths[c] - L + 1 for c in chroms], np.int64)
    if args.count:
        per_chrom = rng.multinomial(args.count, spans / spans.sum())
    stats = {"considered": 0, "dropped_n_frac": 0, "written": 0}
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
    }
    with ShardSetWriter(
        args.out_dir,
        seq_len=L,
        task_names=[],
        command=args.command_line,
        sources=[args.fasta],
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
        if stats["written"] == 0:
            raise ValueError(
                f"{args.fasta}: every window was over --max-n-frac {args.max_n_frac}; "
                "nothing written"
            )
        writer.metadata = metadata
    genome.close()
    print(f"{args.split}: {stats}")
    print(f"wrote {args.out_dir}")
    if args.tfrecord:
        from jaxssl.data.tfrecord import export_tfrecord

        export_tfrecord(args.out_dir)
    return 0
