"""Labeled windows from a genome FASTA and peak files (one task per file): ``build_from_peaks``.

Windows of ``seq_len`` are centred on the narrowPeak summit (column 10) or the region centre. A
window is positive for a task when that task's peaks overlap its central ``label_core`` bases.
Negatives are background windows overlapping no peak of any file, GC-matched to the positives
of their split (default), flanking windows, or dinucleotide shuffles of the positives. Splits
hold out whole chromosomes (``jaxssl.prep.splits``). Exact duplicate sequences (either strand)
of valid/test that also occur in train are counted in the manifest (metadata.duplicates);
``dedup`` removes them from train. Errors name the `data_prep from-peaks` flag to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxssl.data.manifest import Manifest
from jaxssl.data.writer import ShardSetWriter, check_output_dir, held_out_in_train
from jaxssl.genome.background import (
    dinucleotide_shuffle,
    match_gc,
    sample_background,
    window_stats,
)
from jaxssl.genome.fasta import Genome, resolve_chroms
from jaxssl.genome.intervals import IntervalIndex, read_intervals
from jaxssl.prep.splits import DEFAULT_TEST, DEFAULT_VALID, chrom_set

CENTERS = ("summit", "region")
NEGATIVES = ("gc", "flank", "shuffle", "none")


def build_from_peaks(
    out_dir: str | Path,
    *,
    fasta: str | Path,
    peaks: Sequence[str | Path],
    task_names: Sequence[str] | None = None,
    seq_len: int = 1000,
    center: str = "summit",
    label_core: int | None = None,
    negatives: str = "gc",
    neg_ratio: float = 1.0,
    flank_distance: int | None = None,
    valid_chroms: str | Sequence[str] = DEFAULT_VALID,
    test_chroms: str | Sequence[str] = DEFAULT_TEST,
    max_n_frac: float = 0.1,
    fix_chrom_names: bool = False,
    skip_bad_peaks: bool = False,
    genome_name: str | None = None,
    seed: int = 0,
    dedup: bool = False,
    overwrite: bool = False,
    command: str = "",
) -> Manifest:
    """Writes the labeled shard set `out_dir`; returns its manifest.

    ``task_names`` default to the peak files' stems; ``label_core`` to ``seq_len // 2``;
    ``flank_distance`` to ``2 * seq_len``. ``command`` is recorded in the manifest as the
    set's provenance (the CLI records its command line).
    """
    out_dir, fasta = Path(out_dir), Path(fasta)
    peaks = [Path(p) for p in peaks]
    if center not in CENTERS:
        raise ValueError(f"center={center!r}; expected one of {CENTERS}")
    if negatives not in NEGATIVES:
        raise ValueError(f"negatives={negatives!r}; expected one of {NEGATIVES}")
    sources = [fasta, *peaks]
    check_output_dir(out_dir, overwrite=overwrite, sources=sources)
    if seq_len <= 0:
        raise ValueError(f"--seq-len must be positive, got {seq_len}")
    core = label_core or max(1, seq_len // 2)
    tasks = list(task_names) if task_names else [p.name.split(".")[0] for p in peaks]
    if len(tasks) != len(peaks):
        raise ValueError(f"--task-names has {len(tasks)} names for {len(peaks)} peak files")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"task names must be unique, got {tasks}; pass --task-names")
    rng = np.random.default_rng(seed)
    genome = Genome(fasta, name=genome_name)
    longest, longest_len = genome.longest()
    if seq_len > longest_len:
        raise ValueError(
            f"--seq-len {seq_len} is longer than every sequence in {fasta} (the longest, "
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
    for path in peaks:
        iv = read_intervals(path)
        stats["duplicate_peaks"] += iv.duplicates
        mapping = resolve_chroms(
            sorted(set(iv.chrom)), genome, source=str(path), fix_names=fix_chrom_names
        )
        iv.chrom = np.asarray([mapping[c] or "" for c in iv.chrom], object)
        unknown = iv.chrom == ""
        if unknown.any():
            i = int(np.argmax(unknown))
            if not skip_bad_peaks:
                raise ValueError(
                    f"{iv.where(i)}: chromosome not in {fasta} ({unknown.sum()} such peaks; "
                    f"FASTA has e.g. {genome.names[:5]}); check the assembly or pass "
                    "--skip-bad-peaks to skip them"
                )
            stats["skipped_unknown_chrom"] += int(unknown.sum())
            iv = iv.select(~unknown)
        chrom_len = np.asarray([genome.lengths[c] for c in iv.chrom], np.int64)
        beyond = iv.end > chrom_len
        if beyond.any():
            i = int(np.argmax(beyond))
            if not skip_bad_peaks:
                raise ValueError(
                    f"{iv.where(i)}: peak ends at {int(iv.end[i])}, beyond the end of "
                    f"{iv.chrom[i]} ({int(chrom_len[i])} bp in {fasta}); peaks and FASTA "
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
        use_summit = center == "summit" and iv.has_summits
        centre = iv.summit if use_summit else (iv.start + iv.end) // 2
        centres += list(zip(iv.chrom.tolist(), centre.tolist(), strict=True))
    unique = sorted(set(centres))
    stats["merged_same_centre"] = len(centres) - len(unique)
    indices = [IntervalIndex(iv) for iv in peak_sets]
    any_peak = IntervalIndex(peak_sets)
    valid_set, test_set = chrom_set(valid_chroms), chrom_set(test_chroms)
    if valid_set & test_set:
        raise ValueError(f"chromosomes {sorted(valid_set & test_set)} in valid and test")

    def split_of(chrom: str) -> str:
        return "test" if chrom in test_set else "valid" if chrom in valid_set else "train"

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
        keep = n_frac <= max_n_frac
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
                f"{fasta}: every base is N (no A/C/G/T in any of its {len(genome.names)} "
                f"sequences; the longest, {longest}, has {longest_len} bp): a placeholder or "
                "fully hard-masked genome; use the real assembly FASTA"
            )
        raise ValueError(
            f"no positive windows left: all {stats['dropped_n_frac']} peak windows have more "
            f"than --max-n-frac {max_n_frac} N in {fasta} (peaks in assembly gaps or "
            "hard-masked sequence?); check that peaks and FASTA are the same assembly, or raise "
            "--max-n-frac"
        )
    for entry in pos.values():
        for k in ("start", "tokens", "labels"):
            entry[k] = np.concatenate(entry[k])
    present = set(genome.names)
    for flag, given, names in (
        ("--valid-chroms", valid_chroms, valid_set),
        ("--test-chroms", test_chroms, test_set),
    ):
        if not names & present:
            text = given if isinstance(given, str) else ",".join(given)
            raise ValueError(
                f"{flag} {text!r}: none of these chromosomes is in {fasta} (it has e.g. "
                f"{genome.names[:5]}); name held-out chromosomes that exist"
            )

    neg_stats = {}
    metadata = {
        "kind": "peaks",
        "genome": genome.name,
        "center": center,
        "label_core": core,
        "negatives": negatives,
        "neg_ratio": neg_ratio,
        "split_chroms": {
            "valid": sorted(valid_set & present),
            "test": sorted(test_set & present),
        },
        "max_n_frac": max_n_frac,
        "seed": seed,
        "counts": stats,
        "base_counts": base_counts,
        "negative_counts": neg_stats,
    }
    # Every split's windows first (positives, then negatives: the same random draws as writing
    # them one split at a time), so that dedup can look at valid/test before train is written.
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
        n_neg = int(round(len(p["tokens"]) * neg_ratio))
        if negatives == "none" or n_neg == 0:
            continue
        if negatives == "gc":
            chroms = sorted(c for c in genome.names if split_of(c) == split)
            cand_chrom, cand_start, cand_tok = sample_background(
                genome, chroms, n_neg, seq_len, any_peak, rng, max_n_frac=max_n_frac
            )
            gc_pos, _ = window_stats(p["tokens"])
            gc_cand, _ = window_stats(cand_tok)
            pick, short = match_gc(gc_pos, gc_cand, neg_ratio, rng)
            neg_chrom = [cand_chrom[i] for i in pick]
            neg_start, neg_tok = cand_start[pick], cand_tok[pick]
            strand = "+"
            neg_stats[split] = {"written": len(pick), "shortfall": short}
        elif negatives == "flank":
            dist = flank_distance or 2 * seq_len
            neg_chrom, neg_start, neg_tok = [], [], []
            for c, s in zip(p["chrom"], p["start"].tolist(), strict=True):
                for d in (-dist, dist):
                    ns = s + d
                    if ns < 0 or ns + seq_len > genome.lengths[c]:
                        continue
                    if any_peak.overlaps(c, np.array([ns]), np.array([ns + seq_len]))[0]:
                        continue
                    tok = genome.fetch(c, ns, ns + seq_len)
                    if window_stats(tok[None])[1][0] <= max_n_frac:
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
    if dedup and "train" in batches:
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

    with ShardSetWriter(
        out_dir,
        seq_len=seq_len,
        task_names=tasks,
        command=command,
        sources=sources,
        overwrite=overwrite,
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
    assert writer.manifest is not None
    return writer.manifest
