"""`from-peaks`: genome FASTA + BED/narrowPeak files (one task per file) -> labeled windows.

Windows of --seq-len are centred on the narrowPeak summit (column 10) or the region centre. A
window is positive for a task when that task's peaks overlap its central --label-core bases.
Negatives are background windows overlapping no peak of any file, GC-matched to the positives
of their split (default), flanking windows, or dinucleotide shuffles of the positives.
Splits hold out whole chromosomes: valid chr7, test chr8 + chr9 by default (as in DeepSEA),
matched with or without the 'chr' prefix.

Exact duplicate sequences (either strand) of valid/test that also occur in train are counted in
the manifest (metadata.duplicates); --dedup removes them from train.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_VALID = "chr7"
DEFAULT_TEST = "chr8,chr9"


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


def _chrom_set(text: str) -> set[str]:
    names = {c.strip() for c in text.split(",") if c.strip()}
    return names | {c[3:] if c.startswith("chr") else "chr" + c for c in names}


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from jaxssl.data.writer import ShardSetWriter, check_output_dir, held_out_in_train
    from jaxssl.genome.background import (
        dinucleotide_shuffle,
        match_gc,
        sample_background,
        window_stats,
    )
    from jaxssl.genome.fasta import Genome, resolve_chroms
    from jaxssl.genome.intervals import IntervalIndex, read_intervals

    sources = [args.fasta, *args.peaks]
    check_output_dir(args.out_dir, overwrite=args.overwrite, sources=sources)
    seq_len = args.seq_len
    if seq_len <= 0:
        raise ValueError(f"--seq-len must be positive, got {seq_len}")
    core = args.label_core or max(1, seq_len // 2)
    tasks = (
        args.task_names.split(",")
        if args.task_names
        else [p.name.split(".")[0] for p in args.peaks]
    )
    if len(tasks) != len(args.peaks):
        raise ValueError(f"--task-names has {len(tasks)} names for {len(args.peaks)} peak files")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"task names must be unique, got {tasks}; pass --task-names")
    rng = np.random.default_rng(args.seed)
    genome = Genome(args.fasta, name=args.genome_name)
    longest, longest_len = genome.longest()
    if seq_len > longest_len:
        raise ValueError(
            f"--seq-len {seq_len} is longer than every sequence in {args.fasta} (the longest, "
            f"{longest}, has {longest_len} bp); choose --seq-len {longest_len} or less"
        )
    stats: dict[str, int] = {
        "duplicate_peaks": 0,
        "skipped_unknown_chrom": 0,
        "skipped_out_of_bounds": 0,
        "dropped_n_frac": 0,
        "edge_padded": 0,
        "merged_same_centre": 0,
    }

    peak_sets = []
    for path in args.peaks:
        iv = read_intervals(path)
        stats["duplicate_peaks"] += iv.duplicates
        mapping = resolve_chroms(
            sorted(set(iv.chrom)), genome, source=str(path), fix_names=args.fix_chrom_names
        )
        iv.chrom = np.asarray([mapping[c] or "" for c in iv.chrom], object)
        unknown = iv.chrom == ""
        if unknown.any():
            i = int(np.argmax(unknown))
            if not args.skip_bad_peaks:
                raise ValueError(
                    f"{iv.where(i)}: chromosome not in {args.fasta} ({unknown.sum()} such peaks; "
                    f"FASTA has e.g. {genome.names[:5]}); check the assembly or pass "
                    "--skip-bad-peaks to skip them"
                )
            stats["skipped_unknown_chrom"] += int(unknown.sum())
            iv = iv.select(~unknown)
        chrom_len = np.asarray([genome.lengths[c] for c in iv.chrom], np.int64)
        beyond = iv.end > chrom_len
        if beyond.any():
            i = int(np.argmax(beyond))
            if not args.skip_bad_peaks:
                raise ValueError(
                    f"{iv.where(i)}: peak ends at {int(iv.end[i])}, beyond the end of "
                    f"{iv.chrom[i]} ({int(chrom_len[i])} bp in {args.fasta}); peaks and FASTA "
                    "are probably from different assemblies (pass --skip-bad-peaks to skip)"
                )
            stats["skipped_out_of_bounds"] += int(beyond.sum())
            iv = iv.select(~beyond)
        if len(iv) == 0:
            raise ValueError(f"{path}: no usable peaks left after skipping bad ones")
        peak_sets.append(iv)

    # Positive windows: one per distinct (chrom, centre) over all files.
    centres = []
    for iv in peak_sets:
        use_summit = args.center == "summit" and iv.has_summits
        centre = iv.summit if use_summit else (iv.start + iv.end) // 2
        centres += list(zip(iv.chrom.tolist(), centre.tolist(), strict=True))
    unique = sorted(set(centres))
    stats["merged_same_centre"] = len(centres) - len(unique)
    indices = [IntervalIndex(iv) for iv in peak_sets]
    any_peak = IntervalIndex(peak_sets)
    valid_chroms, test_chroms = _chrom_set(args.valid_chroms), _chrom_set(args.test_chroms)
    if valid_chroms & test_chroms:
        raise ValueError(f"chromosomes {sorted(valid_chroms & test_chroms)} in valid and test")

    def split_of(chrom: str) -> str:
        return "test" if chrom in test_chroms else "valid" if chrom in valid_chroms else "train"

    pos: dict[str, dict[str, list]] = {}
    by_chrom: dict[str, list[int]] = {}
    for chrom, centre in unique:
        by_chrom.setdefault(chrom, []).append(centre)
    for chrom, cs in by_chrom.items():
        centre = np.asarray(cs, np.int64)
        start = centre - seq_len // 2
        end = start + seq_len
        stats["edge_padded"] += int(((start < 0) | (end > genome.lengths[chrom])).sum())
        tokens = np.stack([genome.fetch(chrom, int(s), int(s) + seq_len) for s in start])
        _, n_frac = window_stats(tokens)
        keep = n_frac <= args.max_n_frac
        stats["dropped_n_frac"] += int((~keep).sum())
        lo, hi = centre - core // 2, centre - core // 2 + core
        labels = np.stack([idx.overlaps(chrom, lo, hi) for idx in indices], axis=1)
        entry = pos.setdefault(
            split_of(chrom), {"chrom": [], "start": [], "tokens": [], "labels": []}
        )
        entry["chrom"] += [chrom] * int(keep.sum())
        entry["start"].append(start[keep])
        entry["tokens"].append(tokens[keep])
        entry["labels"].append(labels[keep].astype(np.float32))
    base_counts = {"iupac_or_n": genome.counts.iupac_or_n, "invalid": genome.counts.invalid}
    if not pos or all(len(e["chrom"]) == 0 for e in pos.values()):
        if not genome.has_called_bases():
            raise ValueError(
                f"{args.fasta}: every base is N (no A/C/G/T in any of its {len(genome.names)} "
                f"sequences; the longest, {longest}, has {longest_len} bp): a placeholder or "
                "fully hard-masked genome; use the real assembly FASTA"
            )
        raise ValueError(
            f"no positive windows left: all {stats['dropped_n_frac']} peak windows have more "
            f"than --max-n-frac {args.max_n_frac} N in {args.fasta} (peaks in assembly gaps or "
            "hard-masked sequence?); check that peaks and FASTA are the same assembly, or raise "
            "--max-n-frac"
        )
    for entry in pos.values():
        for k in ("start", "tokens", "labels"):
            entry[k] = np.concatenate(entry[k])
    present = set(genome.names)
    for flag, names in (("--valid-chroms", valid_chroms), ("--test-chroms", test_chroms)):
        if not names & present:
            raise ValueError(
                f"{flag} {getattr(args, flag[2:].replace('-', '_'))!r}: none of these "
                f"chromosomes is in {args.fasta} (it has e.g. {genome.names[:5]}); name "
                "held-out chromosomes that exist"
            )

    neg_stats = {}
    metadata = {
        "kind": "peaks",
        "genome": genome.name,
        "center": args.center,
        "label_core": core,
        "negatives": args.negatives,
        "neg_ratio": args.neg_ratio,
        "split_chroms": {
            "valid": sorted(valid_chroms & present),
            "test": sorted(test_chroms & present),
        },
        "max_n_frac": args.max_n_frac,
        "seed": args.seed,
        "counts": stats,
        "base_counts": base_counts,
        "negative_counts": neg_stats,
    }
    # Every split's windows first (positives, then negatives: the same random draws as writing
    # them one split at a time), so that --dedup can look at valid/test before train is written.
    batches: dict[str, list[dict]] = {}
    for split in ("train", "valid", "test"):
        if split not in pos:
            continue
        p = pos[split]
        batches[split] = [
            {
                "tokens": p["tokens"],
                "labels": p["labels"],
                "chrom": np.asarray(p["chrom"], object),
                "start": p["start"],
                "strand": "+",
            }
        ]
        n_neg = int(round(len(p["tokens"]) * args.neg_ratio))
        if args.negatives == "none" or n_neg == 0:
            continue
        if args.negatives == "gc":
            chroms = sorted(c for c in genome.names if split_of(c) == split)
            cand_chrom, cand_start, cand_tok = sample_background(
                genome, chroms, n_neg, seq_len, any_peak, rng, max_n_frac=args.max_n_frac
            )
            gc_pos, _ = window_stats(p["tokens"])
            gc_cand, _ = window_stats(cand_tok)
            pick, short = match_gc(gc_pos, gc_cand, args.neg_ratio, rng)
            neg_chrom = [cand_chrom[i] for i in pick]
            neg_start, neg_tok = cand_start[pick], cand_tok[pick]
            strand = "+"
            neg_stats[split] = {"written": len(pick), "shortfall": short}
        elif args.negatives == "flank":
            dist = args.flank_distance or 2 * seq_len
            neg_chrom, neg_start, neg_tok = [], [], []
            for c, s in zip(p["chrom"], p["start"].tolist(), strict=True):
                for d in (-dist, dist):
                    ns = s + d
                    if ns < 0 or ns + seq_len > genome.lengths[c]:
                        continue
                    if any_peak.overlaps(c, np.array([ns]), np.array([ns + seq_len]))[0]:
                        continue
                    tok = genome.fetch(c, ns, ns + seq_len)
                    if window_stats(tok[None])[1][0] <= args.max_n_frac:
                        neg_chrom.append(c)
                        neg_start.append(ns)
                        neg_tok.append(tok)
            order = rng.permutation(len(neg_tok))[:n_neg]
            neg_chrom = [neg_chrom[i] for i in sorted(order)]
            neg_start = np.asarray(neg_start, np.int64)[np.sort(order)]
            neg_tok = (
                np.stack(neg_tok)[np.sort(order)]
                if len(order)
                else np.zeros((0, seq_len), np.uint8)
            )
            strand = "+"
            neg_stats[split] = {"written": len(order), "shortfall": n_neg - len(order)}
        else:  # shuffle
            src = rng.choice(len(p["tokens"]), n_neg, replace=n_neg > len(p["tokens"]))
            neg_tok = np.stack([dinucleotide_shuffle(p["tokens"][i], rng) for i in src])
            neg_chrom = [p["chrom"][i] for i in src]
            neg_start = p["start"][src]
            strand = "."  # provenance: shuffled from this window, not genomic sequence
            neg_stats[split] = {"written": n_neg, "shortfall": 0}
        if len(neg_tok):
            batches[split].append(
                {
                    "tokens": np.asarray(neg_tok, np.uint8),
                    "labels": np.zeros((len(neg_tok), len(tasks)), np.float32),
                    "chrom": np.asarray(neg_chrom, object),
                    "start": np.asarray(neg_start, np.int64),
                    "strand": strand,
                }
            )
    genome.close()
    if args.dedup and "train" in batches:
        keep, removed = held_out_in_train(
            {split: np.concatenate([b["tokens"] for b in bs]) for split, bs in batches.items()}
        )
        metadata["duplicates"] = removed
        lo = 0
        for b in batches["train"]:
            k = keep[lo : lo + len(b["tokens"])]
            lo += len(b["tokens"])
            for key in ("tokens", "labels", "chrom", "start"):
                b[key] = b[key][k]
        print(f"--dedup: removed {removed['removed_from_train']} train windows also in valid/test")

    with ShardSetWriter(
        args.out_dir,
        seq_len=seq_len,
        task_names=tasks,
        command=args.command_line,
        sources=sources,
        overwrite=args.overwrite,
        metadata=metadata,
    ) as writer:
        for split, bs in batches.items():
            for b in bs:
                writer.add_batch(
                    split,
                    b["tokens"],
                    b["labels"],
                    1.0,
                    genome=genome.name,
                    chrom=b["chrom"],
                    start=b["start"],
                    strand=b["strand"],
                )
        writer.metadata = metadata
    m = writer.manifest
    assert m is not None
    for split, entry in m.splits.items():
        print(
            f"{split}: {entry['count']} windows, positives per task {entry['positives']}, "
            f"GC {entry['gc']:.3f}, negatives {neg_stats.get(split, {})}"
        )
    print(f"counts: {stats}; bases read as N: {base_counts}")
    print(f"wrote {args.out_dir}")
    if args.tfrecord:
        from jaxssl.data.tfrecord import export_tfrecord

        export_tfrecord(args.out_dir)
    return 0
