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

from jaxssl.data.manifest import MANIFEST_NAME, load_manifest
from jaxssl.data.reader import load_split
from jaxssl.data.writer import ShardSetWriter
from jaxssl.genome.fasta import Genome
from jaxssl.homology.chain import ChainIndex, check_chain_genomes, read_chains, swap_chain
from jaxssl.homology.leakage import (
    chain_backmap_leaks,
    held_out_of,
    minimap_backmap_leaks,
)
from jaxssl.homology.mapping import (
    Mapped,
    map_by_chains,
    map_by_minimap,
    minimap_aligner,
    window_starts,
)
from jaxssl.tokens import NUM_BASES, N

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
    minimap: tuple[tuple[str, int | str], ...] = ()  # extra mappy.Aligner settings


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
    rc = out[flip, ::-1]
    out[flip] = np.where(rc < NUM_BASES, 3 - rc, rc)
    return out


def _load_labeled(labeled: Path, split: str) -> tuple[dict, dict]:
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
    return {"metadata": manifest.metadata, "splits": splits, "manifest": manifest}, source


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
    if not overwrite and (taken := [str(p) for p in outs if p.exists()]):
        raise FileExistsError(f"{taken}: already exist; pass --overwrite to replace them")
    data, source = _load_labeled(labeled, options.split)
    manifest = data["manifest"]
    seq_len = manifest.seq_len
    ref_path = Path(reference_fasta) if reference_fasta else reference_fasta_of(labeled)
    reference = Genome(ref_path)
    held_out = held_out_of(data, seq_len, options.split)

    # Leakage door 1: reference windows in held-out regions are never carried.
    in_held_out = held_out.overlaps(source["chrom"], source["start"], source["start"] + seq_len)
    if unknown := sorted(set(source["chrom"].astype(str)) - set(reference.lengths) - {""}):
        raise ValueError(
            f"{labeled}: windows on chromosomes {unknown[:5]} that {ref_path} does not have; "
            "pass the --reference-fasta the labeled set was made from"
        )
    # Windows not read from the genome (strand '.', e.g. shuffled negatives) have no homolog.
    genomic = np.isin(source["strand"], ["+", "-"])
    keep_src = np.flatnonzero(~in_held_out & genomic)
    log.info(
        "homology: %d %s windows, %d in held-out regions",
        len(in_held_out),
        options.split,
        int(in_held_out.sum()),
    )
    written = []
    ref_aligner = None
    for target, name, out in zip(targets, names, outs, strict=True):
        genome = Genome(target.fasta, name=name)
        if target.chain is not None:
            chains = read_chains(target.chain)
            check_chain_genomes(
                chains,
                target.chain,
                target_sizes=reference.lengths,
                query_sizes=genome.lengths,
                target_what=f"the reference FASTA {ref_path}",
                query_what=f"the target FASTA {target.fasta}",
            )
            mapped = map_by_chains(
                ChainIndex(chains),
                source["chrom"][keep_src],
                source["start"][keep_src],
                source["strand"][keep_src],
                seq_len,
                min_match=options.min_match,
                max_length_change=options.max_length_change,
            )
            method = "chain"
        else:
            mapped = map_by_minimap(
                minimap_aligner(str(target.fasta), **dict(options.minimap)),
                source["tokens"][keep_src],
                min_match=options.min_match,
                min_mapq=options.min_mapq,
                threads=options.threads,
            )
            method = "minimap2"
        mapped.source = keep_src[mapped.source]
        start = window_starts(mapped.centre, mapped.minus, seq_len)
        tokens = _gather_windows(genome, mapped.chrom, start, mapped.minus, seq_len)
        length = np.array([genome.lengths[c] for c in mapped.chrom], np.int64)
        off_end = (start < 0) | (start + seq_len > length)
        too_many_n = (tokens == N).mean(axis=1) > options.max_n_frac
        # Leakage door 2: target windows that map back into held-out reference regions.
        if target.chain is not None:
            swapped = ChainIndex([swap_chain(c) for c in chains])
            leaks = chain_backmap_leaks(
                swapped, held_out, mapped.chrom, start, seq_len, min_match=options.leak_min_match
            )
        else:
            if ref_aligner is None:
                ref_aligner = minimap_aligner(str(ref_path), **dict(options.minimap))
            leaks = minimap_backmap_leaks(
                ref_aligner,
                held_out,
                tokens,
                min_match=options.leak_min_match,
                threads=options.threads,
            )
        keep = ~too_many_n & ~leaks
        counts = {
            **mapped.counts,
            "source_windows": len(in_held_out),
            "not_genomic": int((~genomic & ~in_held_out).sum()),
            "mapped": len(mapped.source),
            "off_chrom_end": int(off_end.sum()),
            "too_many_n": int(too_many_n.sum()),
            "written": int(keep.sum()),
        }
        leakage = {
            "held_out_chroms": held_out.chroms,
            "held_out_windows_elsewhere": held_out.windows,
            "source_in_held_out": int(in_held_out.sum()),
            "target_maps_back_to_held_out": int((leaks & ~too_many_n).sum()),
        }
        _write(
            out,
            manifest,
            labeled,
            source,
            mapped.select(keep),
            start[keep],
            tokens[keep],
            name,
            method,
            target,
            ref_path,
            options,
            counts,
            leakage,
            command,
            overwrite,
        )
        genome.close()
        written.append(out)
        print(
            f"{name}: {method}, {counts['written']} of {counts['source_windows']} "
            f"{options.split} windows written; counts {counts}; leakage guard {leakage}"
        )
    reference.close()
    return written


def _write(
    out: Path,
    manifest,
    labeled: Path,
    source: dict,
    mapped: Mapped,
    start: np.ndarray,
    tokens: np.ndarray,
    name: str,
    method: str,
    target: Target,
    ref_path: Path,
    options: CarryOptions,
    counts: dict,
    leakage: dict,
    command: str,
    overwrite: bool,
) -> None:
    labels = source["labels"][mapped.source]
    weights = (
        np.clip(mapped.mapq / 60.0, 0.0, 1.0)
        if options.weight_by_mapq
        else source["weights"][mapped.source]
    )
    metadata = {
        "kind": "homology",
        "method": method,
        "reference": manifest.metadata.get("genome", ""),
        "target": name,
        "labeled": str(labeled.resolve()),
        "source_split": options.split,
        "mapq": (
            "round(60 x fraction of the window aligned by its chain)"
            if method == "chain"
            else "minimap2 MAPQ of the primary hit"
        ),
        "source_index": f"index of the source window in split {options.split!r} of the labeled set",
        "options": {k: v for k, v in vars(options).items() if k != "threads"},
        "counts": counts,
        "leakage": leakage,
        "source_positives": (labels > 0.5).sum(axis=0).tolist(),
    }
    sources = [labeled / MANIFEST_NAME, ref_path, target.fasta]
    if target.chain is not None:
        sources.append(target.chain)
    with ShardSetWriter(
        out,
        seq_len=manifest.seq_len,
        task_names=manifest.task_names,
        command=command,
        sources=sources,
        extra_fields=["mapq", "source_index"],
        overwrite=overwrite,
        metadata=metadata,
    ) as writer:
        if len(tokens):
            writer.add_batch(
                "train",
                tokens,
                labels,
                weights,
                genome=name,
                chrom=mapped.chrom,
                start=start,
                strand=np.where(mapped.minus, "-", "+"),
                mapq=mapped.mapq,
                source_index=mapped.source.astype(np.float32),
            )
