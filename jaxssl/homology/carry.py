"""Pseudo-labels by homology: a reference's labeled windows carried to other genomes.

For each target genome: map the source split's windows (chains or minimap2, see
`jaxssl.homology.mapping`), cut the target window around the mapped centre in the window's own
orientation, drop windows that read mostly N, apply the leakage guard
(`jaxssl.homology.leakage`), and write one shard set (split "train") with the inherited labels,
provenance (target chrom/start/strand) and the extra fields ``mapq`` and ``source_index`` (the
window's row in the labeled split, as `load_split` orders it). Every window that is not
written is counted under a reason in the manifest's ``metadata.counts``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxssl.data.fingerprint import FINGERPRINTS_KEY, held_out_fingerprints
from jaxssl.data.manifest import MANIFEST_NAME, Manifest, file_checksum, load_manifest
from jaxssl.data.reader import load_split
from jaxssl.data.writer import ShardSetWriter, check_output_dir
from jaxssl.genome.fasta import Genome
from jaxssl.homology.chain import ChainIndex, check_chain_genomes, read_chains
from jaxssl.homology.leakage import HeldOut, LeakageGuard, held_out_of
from jaxssl.homology.mapping import (
    Mapped,
    map_by_chains,
    map_by_minimap,
    minimap_aligner,
    window_starts,
)
from jaxssl.tokens import N, reverse_complement

log = logging.getLogger("jaxssl")

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fa.gz", ".fasta.gz", ".fna.gz", ".fa.bgz")


@dataclass(frozen=True)
class Target:
    fasta: Path
    chain: Path | None = None  # reference -> target chains (target = reference, UCSC naming)
    name: str | None = None  # genome name (default: FASTA stem); also the output folder


@dataclass(frozen=True)
class CarryOptions:
    split: str = "train"
    min_match: float = 0.5  # chains: liftOver -minMatch; minimap2: aligned fraction of window
    max_length_change: float = 0.1  # chains: drop when the lifted span changes length more
    min_mapq: int = 0
    max_n_frac: float = 0.1
    leak_min_match: float = 0.1  # a back-mapped hit this large into held-out data drops a window
    weight_by_mapq: bool = False  # example weight mapq / 60 (clipped to 1) instead of 1
    threads: int = 1
    # mappy.Aligner settings (those of `data_prep homology`'s --mm-* defaults; see
    # minimap_aligner for the rest)
    minimap: tuple[tuple[str, int | str], ...] = (("preset", "map-ont"), ("k", 13), ("w", 5))


def reference_fasta_of(labeled: Path) -> Path:
    """The FASTA a labeled shard set was made from (its manifest lists its source files)."""
    for source in load_manifest(labeled).sources:
        path = Path(source.get("path", ""))
        if path.name.endswith(FASTA_SUFFIXES) and path.is_file():
            return path
    raise ValueError(
        f"{labeled / MANIFEST_NAME}: lists no reference FASTA that exists on this machine; pass "
        "--reference-fasta (the genome the labeled windows were cut from)"
    )


def _gather_windows(
    genome: Genome, chrom: np.ndarray, start: np.ndarray, minus: np.ndarray, seq_len: int
) -> np.ndarray:
    """Target windows [M, L] in each window's orientation (N beyond chromosome ends)."""
    out = np.full((len(start), seq_len), N, np.uint8)
    offsets = np.arange(seq_len)
    for name in np.unique(chrom.astype(str)) if len(chrom) else []:
        sel = np.flatnonzero(chrom == name)
        seq = genome.chromosome(str(name))
        pos = start[sel, None] + offsets
        inside = (pos >= 0) & (pos < len(seq))
        out[sel] = np.where(inside, seq[np.clip(pos, 0, len(seq) - 1)], N)
    flip = np.flatnonzero(minus)
    out[flip] = reverse_complement(out[flip])
    return out


def is_labeled_reference(labeled: Path, fasta: Path) -> bool:
    """Is `fasta` the genome the labeled set was cut from (same file, or same bytes)?"""
    fasta = Path(fasta)
    size = fasta.stat().st_size
    for source in load_manifest(labeled).sources:
        path = Path(source.get("path", ""))
        if not path.name.endswith(FASTA_SUFFIXES):
            continue
        if path == fasta.resolve():
            return True
        if source.get("bytes") == size and file_checksum(fasta)["sha256"] == source.get("sha256"):
            return True
    return False


@dataclass
class _Reference:
    """What every target needs from the reference: the windows to carry and the guard."""

    labeled: Path
    manifest: Manifest
    source: dict  # load_split columns of the source split
    carry: np.ndarray  # int64: rows of `source` to map (genomic, outside held-out regions)
    in_held_out: np.ndarray  # bool per source row (leakage door 1)
    not_genomic: int
    held_out: HeldOut
    fasta: Path
    lengths: dict[str, int]


@dataclass
class _Carried:
    """One target's result: the windows to write and the counts of those that were not."""

    method: str
    mapped: Mapped  # rows to write
    start: np.ndarray
    tokens: np.ndarray
    counts: dict
    leakage: dict


def _reference(labeled: Path, split: str, reference_fasta: Path | None) -> _Reference:
    manifest = load_manifest(labeled)
    if split not in manifest.splits:
        raise ValueError(
            f"{labeled}: no split {split!r} to carry; it has {sorted(manifest.splits)}"
        )
    splits = {name: load_split(labeled, name) for name in manifest.splits}
    source = splits[split]
    if len(source["chrom"]) and (source["chrom"] == "").any():
        raise ValueError(
            f"{labeled}: split {split!r} has windows without provenance (chromosome/start), so "
            "they cannot be located in the reference; make the labeled set with from-peaks"
        )
    fasta = Path(reference_fasta) if reference_fasta else reference_fasta_of(labeled)
    genome = Genome(fasta)
    lengths = dict(genome.lengths)
    genome.close()
    if unknown := sorted(set(source["chrom"].astype(str)) - set(lengths)):
        raise ValueError(
            f"{labeled}: windows on chromosomes {unknown[:5]} that {fasta} does not have; pass "
            "the --reference-fasta the labeled set was made from"
        )
    held_out = held_out_of(
        {"metadata": manifest.metadata, "splits": splits}, manifest.seq_len, split
    )
    # Leakage door 1: reference windows in held-out regions are never carried.
    in_held_out = held_out.overlaps(
        source["chrom"], source["start"], source["start"] + manifest.seq_len
    )
    # Windows not read from the genome (strand '.', e.g. shuffled negatives) have no homolog.
    genomic = np.isin(source["strand"], ["+", "-"])
    return _Reference(
        labeled=labeled,
        manifest=manifest,
        source=source,
        carry=np.flatnonzero(genomic & ~in_held_out),
        in_held_out=in_held_out,
        not_genomic=int((~genomic & ~in_held_out).sum()),
        held_out=held_out,
        fasta=fasta,
        lengths=lengths,
    )


def _carry_one(
    ref: _Reference, target: Target, genome: Genome, options: CarryOptions, aligners: dict
) -> _Carried:
    seq_len = ref.manifest.seq_len
    src = ref.source
    mm = dict(options.minimap)
    if target.chain is not None:
        chains = read_chains(target.chain)
        check_chain_genomes(
            chains,
            target.chain,
            target_sizes=ref.lengths,
            query_sizes=genome.lengths,
            target_what=f"the reference FASTA {ref.fasta}",
            query_what=f"the target FASTA {target.fasta}",
        )
        rows = ref.carry
        mapped = map_by_chains(
            ChainIndex(chains),
            src["chrom"][rows],
            src["start"][rows],
            src["strand"][rows],
            seq_len,
            min_match=options.min_match,
            max_length_change=options.max_length_change,
        )
    else:
        mapped = map_by_minimap(
            minimap_aligner(str(target.fasta), **mm),
            src["tokens"][ref.carry],
            min_match=options.min_match,
            min_mapq=options.min_mapq,
            threads=options.threads,
        )
    mapped.source = ref.carry[mapped.source]
    start = window_starts(mapped.centre, mapped.minus, seq_len)
    tokens = _gather_windows(genome, mapped.chrom, start, mapped.minus, seq_len)
    length = np.array([genome.lengths[c] for c in mapped.chrom], np.int64)
    off_end = (start < 0) | (start + seq_len > length)
    too_many_n = (tokens == N).mean(axis=1) > options.max_n_frac
    # Leakage door 2: target windows that map back into held-out reference regions.
    if target.chain is not None:
        guard = LeakageGuard.through_chains(ref.held_out, chains, min_match=options.leak_min_match)
    else:
        if "reference" not in aligners:
            aligners["reference"] = minimap_aligner(str(ref.fasta), **mm)
        guard = LeakageGuard.through_minimap(
            ref.held_out,
            aligners["reference"],
            min_match=options.leak_min_match,
            threads=options.threads,
        )
    leaks = ~guard.screen(mapped.chrom, start, seq_len, tokens).keep
    keep = ~too_many_n & ~leaks
    counts = {
        **mapped.counts,
        "source_windows": len(src["start"]),
        "not_genomic": ref.not_genomic,
        "mapped": len(mapped.source),
        "off_chrom_end": int(off_end.sum()),
        "too_many_n": int(too_many_n.sum()),
        "written": int(keep.sum()),
    }
    leakage = {
        "held_out_chroms": ref.held_out.chroms,
        "held_out_windows_elsewhere": ref.held_out.windows,
        "source_in_held_out": int(ref.in_held_out.sum()),
        "target_maps_back_to_held_out": int((leaks & ~too_many_n).sum()),
    }
    # The names every door uses (data_prep windows, the toy world's unlabeled pools).
    leakage["held_out_region"] = leakage["source_in_held_out"]
    leakage["held_out_ortholog"] = leakage["target_maps_back_to_held_out"]
    method = "chain" if target.chain is not None else "minimap2"
    return _Carried(method, mapped.select(keep), start[keep], tokens[keep], counts, leakage)


def carry_labels(
    labeled: str | Path,
    out_dir: str | Path,
    targets: list[Target],
    *,
    reference_fasta: str | Path | None = None,
    options: CarryOptions = CarryOptions(),
    command: str = "",
    overwrite: bool = False,
) -> list[Path]:
    """Writes out_dir/<target name>/ for every target; returns their paths."""
    labeled, out_dir = Path(labeled), Path(out_dir)
    if not targets:
        raise ValueError("no target genomes given")
    if not 0.0 < options.min_match <= 1.0 or not 0.0 < options.leak_min_match <= 1.0:
        raise ValueError("--min-match and --leak-min-match must be in (0, 1]")
    names = [t.name or Genome(t.fasta).name for t in targets]
    if len(set(names)) != len(names):
        raise ValueError(f"target genome names {names} repeat; give distinct --target-names")
    outs = [out_dir / name for name in names]
    inputs = [labeled / MANIFEST_NAME, *(t.fasta for t in targets)]
    inputs += [t.chain for t in targets if t.chain is not None]
    for out in outs:  # all before the first write; the writer checks each again
        check_output_dir(out, overwrite=overwrite, sources=inputs)
    ref = _reference(labeled, options.split, reference_fasta)
    log.info(
        "homology: %d %s windows, %d in held-out regions",
        len(ref.in_held_out),
        options.split,
        int(ref.in_held_out.sum()),
    )
    aligners: dict = {}
    for target, name, out in zip(targets, names, outs, strict=True):
        genome = Genome(target.fasta, name=name)
        try:
            carried = _carry_one(ref, target, genome, options, aligners)
        finally:
            genome.close()
        _write(out, ref, target, name, carried, options, command, overwrite)
        log.info(
            "homology: %s: %s, %d of %d %s windows written",
            name,
            carried.method,
            carried.counts["written"],
            carried.counts["source_windows"],
            options.split,
        )
    return outs


def carry_summary(out: Path) -> str:
    """One line on a carried set, from its manifest: what `data_prep homology` prints."""
    meta = load_manifest(out).metadata
    counts = meta["counts"]
    return (
        f"{meta['target']}: {meta['method']}, {counts['written']} of "
        f"{counts['source_windows']} {meta['source_split']} windows written; counts "
        f"{counts}; leakage guard {meta['leakage']}"
    )


def _write(
    out: Path,
    ref: _Reference,
    target: Target,
    name: str,
    carried: _Carried,
    options: CarryOptions,
    command: str,
    overwrite: bool,
) -> None:
    mapped = carried.mapped
    labels = ref.source["labels"][mapped.source]
    if options.weight_by_mapq:
        weights = np.clip(mapped.mapq / 60.0, 0.0, 1.0)
    else:
        weights = ref.source["weights"][mapped.source]
    metadata = {
        "kind": "homology",
        "method": carried.method,
        "reference": ref.manifest.metadata.get("genome", ""),
        "target": name,
        "labeled": str(ref.labeled.resolve()),
        "source_split": options.split,
        "mapq": (
            "round(60 x fraction of the window aligned by its chain)"
            if carried.method == "chain"
            else "minimap2 MAPQ of the primary hit"
        ),
        "source_index": f"row of the source window in split {options.split!r} of the labeled set",
        "options": {k: v for k, v in vars(options).items() if k != "threads"},
        "counts": carried.counts,
        "leakage": {
            **carried.leakage,
            FINGERPRINTS_KEY: held_out_fingerprints(ref.labeled, options.split),
        },
        "source_positives": (labels > 0.5).sum(axis=0).tolist(),
    }
    sources = [ref.labeled / MANIFEST_NAME, ref.fasta, target.fasta]
    if target.chain is not None:
        sources.append(target.chain)
    with ShardSetWriter(
        out,
        seq_len=ref.manifest.seq_len,
        task_names=ref.manifest.task_names,
        command=command,
        sources=sources,
        extra_fields=["mapq", "source_index"],
        overwrite=overwrite,
        metadata=metadata,
    ) as writer:
        if len(carried.tokens):
            writer.add_batch(
                "train",
                carried.tokens,
                labels,
                weights,
                genome=name,
                chrom=mapped.chrom,
                start=carried.start,
                strand=np.where(mapped.minus, "-", "+"),
                mapq=mapped.mapq,
                source_index=mapped.source.astype(np.float32),
            )
