"""Labeled windows around stranded point features (e.g. transcription start sites):
``build_from_sites``.

Each site (a BED row: chrom, position, position + 1, name, score, strand) gives one positive
window of ``seq_len`` bases read 5'->3' on the site's strand: a minus-strand window holds the
reverse complement of genome[start:start + seq_len] (strand '-', as everywhere in jaxssl), so a
promoter always reads in its own direction. ``anchor="center"`` puts the site on token
``seq_len // 2`` (the token the homology mapper carries); ``anchor="end"`` makes the site the
last token (the upstream sequence ending at the TSS). Negatives are background windows of
either strand with no site within ``negative_min_distance`` bases, ``negatives_per_positive``
per positive of the same split, drawn wholly inside that split's region.

Splits are regions (``jaxssl.prep.regions.RegionSplits``): given valid/test regions, blocks of
each chromosome (``split_fractions``), or everything as test (an evaluation-only set). Windows
that straddle a split boundary are dropped and counted. ``max_positives`` keeps that many
training positives (drawn with the seed; negatives in proportion; valid and test do not
change with it). ``clean_against`` (a reference's labeled set) marks each window of another
genome that does *not* map back into the reference's training region (the leakage guard
decides, by minimap2): extra field ``clean`` (1/0) and the split ``<split>_clean``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxssl.data.manifest import MANIFEST_NAME, Manifest
from jaxssl.data.writer import ShardSetWriter, check_output_dir
from jaxssl.genome.background import window_stats
from jaxssl.genome.fasta import Genome, resolve_chroms
from jaxssl.genome.intervals import IntervalIndex, Intervals, read_intervals
from jaxssl.homology.carry import reference_fasta_of
from jaxssl.homology.leakage import LeakageGuard, parse_regions, training_region_of_set
from jaxssl.homology.mapping import minimap_aligner
from jaxssl.prep.regions import SPLITS, RegionSplits
from jaxssl.tokens import reverse_complement

ANCHORS = ("center", "end")
# Background draws per wanted negative, per round; rounds until enough are found.
OVERSAMPLE = 4
MAX_ROUNDS = 20


def site_window_starts(
    sites: np.ndarray, minus: np.ndarray, seq_len: int, anchor: str
) -> np.ndarray:
    """Forward start of each site's window (see the module docstring for the anchors).

    Token i of a minus-strand window is genome base start + seq_len - 1 - i, so the site at
    token t gives start = site - (seq_len - 1 - t); on the plus strand start = site - t.
    """
    if anchor not in ANCHORS:
        raise ValueError(f"anchor={anchor!r}; expected one of {ANCHORS}")
    t = seq_len // 2 if anchor == "center" else seq_len - 1
    sites = np.asarray(sites, np.int64)
    return np.where(minus, sites - (seq_len - 1 - t), sites - t).astype(np.int64)


def oriented_windows(
    genome: Genome, chrom: str, starts: np.ndarray, minus: np.ndarray, seq_len: int
) -> np.ndarray:
    """Tokens [N, seq_len] of genome[start:start + seq_len], reverse-complemented where minus."""
    seq = genome.chromosome(chrom)
    tokens = seq[np.asarray(starts, np.int64)[:, None] + np.arange(seq_len)]
    flip = np.flatnonzero(minus)
    tokens[flip] = reverse_complement(tokens[flip])
    return tokens


def region_splits(
    lengths: dict[str, int],
    *,
    valid_regions: str | Sequence[str] | None = None,
    test_regions: str | Sequence[str] | None = None,
    split_fractions: Sequence[float] | str | None = None,
    all_test: bool = False,
) -> RegionSplits:
    """The splits one of the three ways asks for (regions, fractions, or all test)."""
    given = [valid_regions is not None or test_regions is not None, split_fractions is not None]
    if sum(given) + int(all_test) > 1:
        raise ValueError(
            "give one of --valid-regions/--test-regions, --split-fractions and --all-test"
        )
    if all_test:
        return RegionSplits.all_test(lengths)
    if given[0]:
        spans = {}
        for split, spec in (("valid", valid_regions), ("test", test_regions)):
            spans[split] = parse_regions(spec).spans(lengths) if spec else []
        return RegionSplits.from_regions(lengths, spans["valid"], spans["test"])
    if isinstance(split_fractions, str):
        try:
            split_fractions = [float(x) for x in split_fractions.split(",")]
        except ValueError:
            raise ValueError(
                f"--split-fractions {split_fractions!r}: expected TRAIN,VALID,TEST numbers"
            ) from None
    return RegionSplits.from_fractions(lengths, split_fractions or (0.8, 0.1, 0.1))


def _read_sites(path: Path, genome: Genome, fix_names: bool, stats: dict) -> Intervals:
    sites = read_intervals(path)
    stats["duplicate_sites"] = sites.duplicates
    mapping = resolve_chroms(
        sorted(set(sites.chrom)), genome, source=str(path), fix_names=fix_names
    )
    sites.chrom = np.asarray([mapping[c] or "" for c in sites.chrom], object)
    unknown = sites.chrom == ""
    if unknown.any():
        i = int(np.argmax(unknown))
        raise ValueError(
            f"{sites.where(i)}: chromosome not in {genome.path} ({int(unknown.sum())} such "
            f"sites; the FASTA has e.g. {genome.names[:5]}); check the assembly"
        )
    length = np.asarray([genome.lengths[c] for c in sites.chrom], np.int64)
    if (beyond := sites.start >= length).any():
        i = int(np.argmax(beyond))
        raise ValueError(
            f"{sites.where(i)}: site at {int(sites.start[i])} lies beyond the end of "
            f"{sites.chrom[i]} ({int(length[i])} bp): sites and FASTA are from different assemblies"
        )
    return sites


def _positives(
    genome: Genome, sites: Intervals, splits: RegionSplits, seq_len: int, anchor: str, stats: dict
) -> dict[str, dict]:
    """Per split: positive windows (chrom, start, minus, tokens)."""
    assert sites.strand is not None
    unstranded = sites.strand == "."
    if anchor == "end" and unstranded.any():
        i = int(np.argmax(unstranded))
        raise ValueError(
            f"{sites.where(i)}: no strand (column 6 is not '+' or '-'); --anchor end needs "
            "stranded sites (or use --anchor center, which reads unstranded sites as '+')"
        )
    stats["unstranded_read_as_plus"] = int(unstranded.sum())
    out: dict[str, dict] = {}
    for chrom in sorted(set(sites.chrom.tolist())):
        sel = sites.chrom == chrom
        minus = sites.strand[sel] == "-"
        start = site_window_starts(sites.start[sel], minus, seq_len, anchor)
        end = start + seq_len
        inside = (start >= 0) & (end <= genome.lengths[chrom])
        stats["off_chrom_end"] += int((~inside).sum())
        split = splits.assign(chrom, start, end)
        straddles = inside & (split == "")
        stats["straddles_split_boundary"] += int(straddles.sum())
        keep = inside & ~straddles
        tokens = oriented_windows(genome, chrom, start[keep], minus[keep], seq_len)
        for name in SPLITS:
            rows = split[keep] == name
            if not rows.any():
                continue
            entry = out.setdefault(name, {"chrom": [], "start": [], "minus": [], "tokens": []})
            entry["chrom"].append(np.full(int(rows.sum()), chrom, object))
            entry["start"].append(start[keep][rows])
            entry["minus"].append(minus[keep][rows])
            entry["tokens"].append(tokens[rows])
    return {split: {k: np.concatenate(v) for k, v in e.items()} for split, e in out.items()}


def _sample_negatives(
    genome: Genome,
    splits: RegionSplits,
    split: str,
    count: int,
    seq_len: int,
    near_site: IntervalIndex,
    min_distance: int,
    max_n_frac: float,
    rng: np.random.Generator,
) -> dict:
    """`count` background windows wholly inside `split`'s regions, either strand, with no site
    within `min_distance` bases; fewer (the shortfall) when the region has no room."""
    spans = [(c, s, e) for c, s, e in splits.regions[split] if e - s >= seq_len]
    found: dict[str, list] = {"chrom": [], "start": [], "minus": [], "tokens": []}
    if count <= 0 or not spans:
        return {**_no_windows(seq_len), "shortfall": max(count, 0)}
    room = np.asarray([e - s - seq_len + 1 for _, s, e in spans], np.int64)
    taken: set[tuple[str, int]] = set()
    have = 0
    for _ in range(MAX_ROUNDS):
        need = count - have
        if need <= 0:
            break
        per_span = rng.multinomial(need * OVERSAMPLE, room / room.sum())
        for (chrom, lo, _), span_room, k in zip(spans, room, per_span, strict=True):
            if k == 0 or have >= count:
                continue
            start = np.sort(lo + rng.integers(0, span_room, k))
            minus = rng.random(k) < 0.5
            far = ~near_site.overlaps(chrom, start - min_distance, start + seq_len + min_distance)
            fresh = np.asarray([(chrom, int(s)) not in taken for s in start], bool)
            rows = np.flatnonzero(far & fresh)
            if not len(rows):
                continue
            tokens = oriented_windows(genome, chrom, start[rows], minus[rows], seq_len)
            ok = window_stats(tokens)[1] <= max_n_frac
            rows, tokens = rows[ok], tokens[ok]
            # distinct positions only, in draw order
            _, first = np.unique(start[rows], return_index=True)
            first = np.sort(first)[: count - have]
            rows, tokens = rows[first], tokens[first]
            taken.update((chrom, int(s)) for s in start[rows])
            found["chrom"].append(np.full(len(rows), chrom, object))
            found["start"].append(start[rows])
            found["minus"].append(minus[rows])
            found["tokens"].append(tokens)
            have += len(rows)
    out = {k: np.concatenate(v) for k, v in found.items()} if have else _no_windows(seq_len)
    return {**out, "shortfall": count - have}


def _no_windows(seq_len: int) -> dict:
    return {
        "chrom": np.zeros(0, object),
        "start": np.zeros(0, np.int64),
        "minus": np.zeros(0, bool),
        "tokens": np.zeros((0, seq_len), np.uint8),
    }


def _budget(entry: dict, max_positives: int, rng: np.random.Generator) -> dict:
    """`max_positives` rows of a split's positives, drawn with `rng`, in genome order."""
    n = len(entry["start"])
    if n <= max_positives:
        return entry
    keep = np.sort(rng.choice(n, max_positives, replace=False))
    return {k: v[keep] for k, v in entry.items()}


def _clean_mask(
    clean_against: Path,
    reference_fasta: Path | None,
    tokens: np.ndarray,
    min_match: float,
    threads: int,
) -> tuple[np.ndarray, dict]:
    """bool[N]: windows with no minimap2 hit (>= min_match of the window) in the reference's
    training region; and the guard's summary."""
    if not (clean_against / MANIFEST_NAME).is_file():
        raise ValueError(f"--clean-against {clean_against}: not a shard set (no {MANIFEST_NAME})")
    fasta = Path(reference_fasta) if reference_fasta else reference_fasta_of(clean_against)
    ref = Genome(fasta)
    lengths = dict(ref.lengths)
    ref.close()
    train_region = training_region_of_set(clean_against, lengths)
    guard = LeakageGuard.through_minimap(
        train_region, minimap_aligner(str(fasta)), min_match=min_match, threads=threads
    )
    n = len(tokens)
    screen = guard.screen(np.full(n, "", object), np.zeros(n, np.int64), tokens.shape[1], tokens)
    summary = guard.summary()
    summary["maps_back_to_training_region"] = summary.pop("held_out_ortholog")
    summary["reference_set"] = str(clean_against)
    summary["reference_fasta"] = str(fasta)
    return screen.keep, summary


def _add(
    writer: ShardSetWriter, split: str, b: dict, genome: str, keep: np.ndarray, **extra
) -> None:
    n = int(keep.sum())
    writer.add_batch(
        split,
        b["tokens"][keep],
        np.full((n, 1), b["label"], np.float32),
        1.0,
        genome=genome,
        chrom=b["chrom"][keep],
        start=b["start"][keep],
        strand=np.where(b["minus"][keep], "-", "+"),
        **extra,
    )


def build_from_sites(
    out_dir: str | Path,
    *,
    fasta: str | Path,
    sites: str | Path,
    task_name: str = "TSS",
    seq_len: int = 100,
    anchor: str = "center",
    negatives_per_positive: float = 1.0,
    negative_min_distance: int | None = None,
    valid_regions: str | Sequence[str] | None = None,
    test_regions: str | Sequence[str] | None = None,
    split_fractions: Sequence[float] | str | None = None,
    all_test: bool = False,
    max_positives: int | None = None,
    clean_against: str | Path | None = None,
    reference_fasta: str | Path | None = None,
    clean_min_match: float = 0.1,
    threads: int = 1,
    max_n_frac: float = 0.1,
    fix_chrom_names: bool = False,
    genome_name: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
    command: str = "",
) -> Manifest:
    """Writes the labeled shard set `out_dir` (one task, `task_name`); returns its manifest.

    ``negative_min_distance`` defaults to ``seq_len // 2``. Regions are BED files or
    ``chrom:start-end`` (1-based, inclusive), comma-separated; ``split_fractions`` is
    TRAIN,VALID,TEST (default 0.8,0.1,0.1 when no regions are given). ``command`` is recorded
    in the manifest as the set's provenance (the CLI records its command line).
    """
    out_dir, fasta, sites = Path(out_dir), Path(fasta), Path(sites)
    sources = [fasta, sites]
    check_output_dir(out_dir, overwrite=overwrite, sources=sources)
    if seq_len <= 0:
        raise ValueError(f"--seq-len must be positive, got {seq_len}")
    if anchor not in ANCHORS:
        raise ValueError(f"--anchor {anchor!r}; expected one of {ANCHORS}")
    if negatives_per_positive < 0:
        raise ValueError("--negatives-per-positive must be >= 0")
    if max_positives is not None and max_positives <= 0:
        raise ValueError(f"--max-positives must be positive, got {max_positives}")
    if not 0.0 < clean_min_match <= 1.0:
        raise ValueError("--leak-min-match must be in (0, 1]")
    min_distance = seq_len // 2 if negative_min_distance is None else int(negative_min_distance)
    genome = Genome(fasta, name=genome_name)
    splits = region_splits(
        genome.lengths,
        valid_regions=valid_regions,
        test_regions=test_regions,
        split_fractions=split_fractions,
        all_test=all_test,
    )
    stats = {"sites": 0, "off_chrom_end": 0, "straddles_split_boundary": 0}
    site_iv = _read_sites(sites, genome, fix_chrom_names, stats)
    stats["sites"] = len(site_iv)
    pos = _positives(genome, site_iv, splits, seq_len, anchor, stats)
    if not pos:
        raise ValueError(
            f"{sites}: no site window lies wholly inside one split (sites {len(site_iv)}, off "
            f"the chromosome end {stats['off_chrom_end']}, straddling a split boundary "
            f"{stats['straddles_split_boundary']})"
        )
    before = {split: len(e["start"]) for split, e in pos.items()}
    if max_positives is not None and "train" in pos:
        pos["train"] = _budget(pos["train"], max_positives, np.random.default_rng([seed, 7]))
    stats["positives_before_budget"] = before
    near_site = IntervalIndex(site_iv)
    batches: dict[str, list[dict]] = {}
    negative_counts = {}
    for i, split in enumerate(SPLITS):
        if split not in pos:
            continue
        p = pos[split]
        n_pos = len(p["start"])
        n_neg = int(round(n_pos * negatives_per_positive))
        # One generator per split: valid/test negatives do not depend on the train budget.
        rng = np.random.default_rng([seed, i])
        neg = _sample_negatives(
            genome, splits, split, n_neg, seq_len, near_site, min_distance, max_n_frac, rng
        )
        negative_counts[split] = {"written": len(neg["start"]), "shortfall": neg["shortfall"]}
        batches[split] = [
            {**{k: p[k] for k in ("chrom", "start", "minus", "tokens")}, "label": 1.0},
            {**{k: neg[k] for k in ("chrom", "start", "minus", "tokens")}, "label": 0.0},
        ]
    genome.close()
    metadata = {
        "kind": "sites",
        "genome": genome.name,
        "anchor": anchor,
        "site_token": seq_len // 2 if anchor == "center" else seq_len - 1,
        "negatives_per_positive": negatives_per_positive,
        "negative_min_distance": min_distance,
        "max_positives": max_positives,
        "split_chroms": {"valid": [], "test": []},
        "split_regions": splits.metadata(),
        "max_n_frac": max_n_frac,
        "seed": seed,
        "counts": stats,
        "negative_counts": negative_counts,
    }
    extra_fields: list[str] = []
    if clean_against is not None:
        clean_against = Path(clean_against)
        sources.append(clean_against / MANIFEST_NAME)
        extra_fields = ["clean"]
        order = [(split, b) for split, bs in batches.items() for b in bs]
        keep, summary = _clean_mask(
            clean_against,
            None if reference_fasta is None else Path(reference_fasta),
            np.concatenate([b["tokens"] for _, b in order]),
            clean_min_match,
            threads,
        )
        lo = 0
        for _, b in order:
            n = len(b["start"])
            b["clean"] = keep[lo : lo + n]
            lo += n
        for split, bs in batches.items():
            summary[f"{split}_clean"] = {
                "positives": int(bs[0]["clean"].sum()),
                "of_positives": len(bs[0]["start"]),
                "negatives": int(bs[1]["clean"].sum()),
                "of_negatives": len(bs[1]["start"]),
            }
        metadata["clean"] = summary
    with ShardSetWriter(
        out_dir,
        seq_len=seq_len,
        task_names=[task_name],
        command=command,
        sources=sources,
        extra_fields=extra_fields,
        overwrite=overwrite,
        metadata=metadata,
    ) as writer:
        for split, bs in batches.items():
            for b in bs:
                if len(b["start"]):
                    extra = {"clean": b["clean"].astype(np.float32)} if "clean" in b else {}
                    _add(writer, split, b, genome.name, np.ones(len(b["start"]), bool), **extra)
        for split, bs in batches.items():
            for b in bs:
                if "clean" in b and b["clean"].any():
                    _add(writer, f"{split}_clean", b, genome.name, b["clean"], clean=1.0)
        writer.metadata = metadata
    assert writer.manifest is not None
    return writer.manifest
