"""Unlabeled windows from any FASTA, screened for leakage: ``build_windows``.

Windows are sampled uniformly over the genome (chromosomes in proportion to length) or tiled
with a stride; windows over the N-fraction limit are dropped and counted. Unlabeled: no tasks.

Leakage guard (the same test as ``jaxssl.homology.carry``): a window drawn from another genome
that maps back into the reference's held-out data, or a window of the reference itself in
held-out data, has been seen by any model trained on it, so it is dropped and counted (manifest
metadata.leakage). Errors name the `data_prep windows` flag to change; warnings go to the
"jaxssl" logger (the CLI prints them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxssl.data.fingerprint import FINGERPRINTS_KEY, held_out_fingerprints
from jaxssl.data.manifest import MANIFEST_NAME, Manifest
from jaxssl.data.writer import ShardSetWriter, check_output_dir
from jaxssl.genome.background import window_stats
from jaxssl.genome.fasta import Genome
from jaxssl.homology.carry import is_labeled_reference, reference_fasta_of
from jaxssl.homology.chain import check_chain_genomes, read_chains
from jaxssl.homology.leakage import LeakageGuard, held_out_of_set, parse_regions
from jaxssl.homology.mapping import minimap_aligner

log = logging.getLogger("jaxssl")

CHUNK = 4096  # windows gathered at a time, to bound memory on long chromosomes
# A count above this many times the genome's non-overlapping windows is warned about: the
# windows then overlap heavily (most bases in many windows) and add little beyond repetition.
MAX_COVERAGE = 10.0


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))


def build_guard(
    fasta: Path,
    lengths: dict[str, int],
    *,
    exclude_regions: Sequence[str] = (),
    exclude_homologs_of: str | Path | None = None,
    chains: Path | None = None,
    reference_fasta: Path | None = None,
    leak_min_match: float = 0.1,
    threads: int = 1,
) -> tuple[LeakageGuard, set[str]]:
    """The leakage guard the options ask for, and chromosomes not to sample from at all.

    Whole held-out chromosomes of the reference are skipped when sampling the reference
    itself (so ``count`` windows still come from the training chromosomes); everything else is
    screened window by window and counted.
    """
    if not 0.0 < leak_min_match <= 1.0:
        raise ValueError("--leak-min-match must be in (0, 1]")
    own = parse_regions(list(exclude_regions)) if exclude_regions else None
    if own is not None and (unknown := sorted(own.named_chroms() - set(lengths))):
        raise ValueError(
            f"--exclude-regions names chromosomes {unknown[:5]} that {fasta} does not "
            f"have (it has e.g. {list(lengths)[:5]}); regions are in --fasta's coordinates"
        )
    spec = str(exclude_homologs_of) if exclude_homologs_of else ""
    if not spec:
        if chains or reference_fasta:
            raise ValueError("--chains and --reference-fasta need --exclude-homologs-of")
        return LeakageGuard(own=own, method="regions" if own else "none"), set()
    labeled = Path(spec) if (Path(spec) / MANIFEST_NAME).is_file() else None
    if labeled is None and Path(spec).is_dir():
        raise ValueError(
            f"--exclude-homologs-of {spec}: a folder without {MANIFEST_NAME}, not a shard set"
        )
    held_out = held_out_of_set(labeled) if labeled is not None else parse_regions(spec)
    if held_out.empty:
        log.warning(
            "%s holds nothing out (no split but train), so no window can leak through it", spec
        )
    if reference_fasta is not None:
        is_reference = _same_file(reference_fasta, fasta)
    else:
        is_reference = labeled is not None and is_labeled_reference(labeled, fasta)
    if is_reference:
        if chains:
            raise ValueError(
                f"{fasta} is the reference itself: its windows are screened by position, "
                "--chains is for other genomes"
            )
        return LeakageGuard.on_reference(held_out, own), set(held_out.chroms)
    reference = reference_fasta
    if reference is None and labeled is not None:
        try:
            reference = reference_fasta_of(labeled)
        except ValueError:
            if chains is None:
                raise
    if chains is not None:
        chain_list = read_chains(chains)
        if reference is not None:
            ref_genome = Genome(reference)
            target_sizes = dict(ref_genome.lengths)
            ref_genome.close()
        else:  # only the chain file's own word on the reference's sizes
            target_sizes = {c.t_name: c.t_size for c in chain_list}
        check_chain_genomes(
            chain_list,
            chains,
            target_sizes=target_sizes,
            query_sizes=lengths,
            target_what=f"the reference {reference or '(sizes from the chain file)'}",
            query_what=f"--fasta {fasta}",
        )
        guard = LeakageGuard.through_chains(held_out, chain_list, own=own, min_match=leak_min_match)
        return guard, set()
    if reference is None:
        raise ValueError(
            f"--exclude-homologs-of {spec}: say how windows map back to the reference: "
            "--chains (reference -> this genome) or --reference-fasta (minimap2)"
        )
    aligner = minimap_aligner(str(reference))
    guard = LeakageGuard.through_minimap(
        held_out, aligner, own=own, min_match=leak_min_match, threads=threads
    )
    return guard, set()


def guard_sources(exclude_homologs_of: str | Path | None, chains: Path | None) -> list[Path]:
    """Files the guard read, so the manifest records (and checksums) them too."""
    out = []
    if exclude_homologs_of and (Path(exclude_homologs_of) / MANIFEST_NAME).is_file():
        out.append(Path(exclude_homologs_of) / MANIFEST_NAME)
    if chains is not None:
        out.append(chains)
    return out


def coverage_warning(count: int, seq_len: int, lengths: list[int], name: str) -> str | None:
    """A warning when `count` far exceeds the distinct windows the chromosomes offer."""
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


def build_windows(
    out_dir: str | Path,
    *,
    fasta: str | Path,
    seq_len: int = 1000,
    count: int | None = None,
    stride: int | None = None,
    max_n_frac: float = 0.1,
    chroms: Sequence[str] | None = None,
    exclude_chroms: str | Sequence[str] = (),
    exclude_regions: Sequence[str] = (),
    exclude_homologs_of: str | Path | None = None,
    chains: str | Path | None = None,
    reference_fasta: str | Path | None = None,
    leak_min_match: float = 0.1,
    threads: int = 1,
    split: str = "train",
    genome_name: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
    command: str = "",
) -> Manifest:
    """Writes the unlabeled shard set `out_dir` (one split, `split`); returns its manifest.

    Exactly one of ``count`` (sample this many windows, uniform over bases) and ``stride``
    (tile every chromosome) is given. ``exclude_homologs_of`` is the reference's held-out
    data: a labeled shard set or regions (BED files, chrom:start-end 1-based, chromosome
    names); windows of another genome map back to it through ``chains`` (reference -> this
    genome) or by minimap2 against ``reference_fasta``. ``exclude_regions`` are regions of
    this FASTA to drop; ``command`` is recorded in the manifest as the set's provenance.
    """
    out_dir, fasta = Path(out_dir), Path(fasta)
    chains = Path(chains) if chains is not None else None
    reference_fasta = Path(reference_fasta) if reference_fasta is not None else None
    if (count is None) == (stride is None):
        raise ValueError("give one of --count and --stride")
    check_output_dir(
        out_dir, overwrite=overwrite, sources=[fasta, *guard_sources(exclude_homologs_of, chains)]
    )
    L = seq_len
    if L <= 0 or (stride is not None and stride <= 0) or (count or 1) <= 0:
        raise ValueError("--seq-len, --stride and --count must be positive")
    genome = Genome(fasta, name=genome_name)
    chroms = list(chroms) if chroms else genome.names
    if missing := [c for c in chroms if c not in genome.lengths]:
        raise ValueError(f"--chroms {missing} not in {fasta} (it has {genome.names[:8]})")
    guard, held_out_chroms = build_guard(
        fasta,
        genome.lengths,
        exclude_regions=exclude_regions,
        exclude_homologs_of=exclude_homologs_of,
        chains=chains,
        reference_fasta=reference_fasta,
        leak_min_match=leak_min_match,
        threads=threads,
    )
    if isinstance(exclude_chroms, str):
        exclude_chroms = exclude_chroms.split(",")
    excluded = set(exclude_chroms) - {""}
    excluded |= held_out_chroms & set(genome.lengths)
    chroms = [c for c in chroms if c not in excluded and genome.lengths[c] >= L]
    if not chroms:
        raise ValueError(f"{fasta}: no chromosome of at least {L} bp left to sample from")
    rng = np.random.default_rng(seed)
    spans = np.array([genome.lengths[c] - L + 1 for c in chroms], np.int64)
    warning = None
    if count:
        per_chrom = rng.multinomial(count, spans / spans.sum())
        lengths = [genome.lengths[c] for c in chroms]
        if warning := coverage_warning(count, L, lengths, str(fasta)):
            log.warning("%s", warning)
    guarded = guard.method != "none"
    stats = {"considered": 0, "dropped_n_frac": 0, "written": 0}
    if guarded:
        stats["dropped_leakage"] = 0
    metadata = {
        "kind": "windows",
        "genome": genome.name,
        "mode": "sample" if count else "tile",
        "stride": stride,
        "requested": count,
        "max_n_frac": max_n_frac,
        "chroms": chroms,
        "seed": seed,
        "counts": stats,
        "distinct_positions": int(spans.sum()),
        "leakage": {},
    }
    if warning:
        metadata["warnings"] = [warning]
    with ShardSetWriter(
        out_dir,
        seq_len=L,
        task_names=[],
        command=command,
        sources=[fasta, *guard_sources(exclude_homologs_of, chains)],
        overwrite=overwrite,
        metadata=metadata,
    ) as writer:
        for i, chrom in enumerate(chroms):
            if count:
                starts = np.sort(rng.integers(0, spans[i], per_chrom[i]))
            else:
                starts = np.arange(0, spans[i], stride, dtype=np.int64)
            if len(starts) == 0:
                continue
            seq = genome.chromosome(chrom)
            for lo in range(0, len(starts), CHUNK):
                s = starts[lo : lo + CHUNK]
                tokens = seq[s[:, None] + np.arange(L)]
                keep = window_stats(tokens)[1] <= max_n_frac
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
                        split,
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
        labeled = Path(str(exclude_homologs_of or ""))
        if exclude_homologs_of and (labeled / MANIFEST_NAME).is_file():
            # What the guard ran against, by content: the trainer's screening check reads it.
            metadata["leakage"][FINGERPRINTS_KEY] = held_out_fingerprints(labeled)
        if stats["written"] == 0:
            raise ValueError(
                f"{fasta}: every window was dropped (over --max-n-frac {max_n_frac}: "
                f"{stats['dropped_n_frac']}, leakage guard: {stats.get('dropped_leakage', 0)});"
                " nothing written"
            )
        writer.metadata = metadata
    genome.close()
    assert writer.manifest is not None
    return writer.manifest
