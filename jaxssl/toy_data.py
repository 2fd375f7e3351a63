"""Shard sets of the built-in toy world, built on first use and cached beside the world.

Every config trains on these when ``config.data.path`` is empty, so the README's commands run
on a fresh machine with no downloads. The world is keyed by its parameters
(``jaxssl.toyworld.ToyWorldParams``); the shard sets by the world plus the window length. They
are built by the library functions behind `python -m data_prep` (``jaxssl.prep``,
``jaxssl.homology.carry``); each manifest records the equivalent `data_prep` command line, so
a set can be rebuilt by hand.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from jaxssl.data.fingerprint import screened_fingerprints
from jaxssl.data.manifest import MANIFEST_NAME, load_manifest
from jaxssl.data.reader import load_split
from jaxssl.data.writer import ShardSetWriter
from jaxssl.homology.carry import Target, carry_labels
from jaxssl.prep.peaks import build_from_peaks
from jaxssl.prep.windows import build_windows
from jaxssl.toyworld import ToyWorldParams, ensure_toy_world, load_world_info

log = logging.getLogger("jaxssl")

# Held-out chromosomes of the default 5-chromosome reference (data_prep from-peaks flags).
VALID_CHROMS = "chr4"
TEST_CHROMS = "chr5"
# Part of the cached unlabeled sets' folder names: bump whenever what they hold changes, so a
# cache written by older code is never reused (v2: relatives screened by the leakage guard).
UNLABELED_VERSION = 2
# The same for the oracle and random relabelings of the carried sets.
RELABELED_VERSION = 1
ORACLE_RULE = (
    "1 where a true bound site of the task in the window's genome (truth/<genome>/<TF>.bed, "
    "noise-free) has its centre inside the window, else 0 (the rule of benchmarks/label_budget "
    "carried_truth)"
)
RANDOM_RULE = (
    "per task, the labeled train split's labels permuted among its rows (seeded; missing labels "
    "stay missing), then carried like the real labels: each window takes its source row's "
    "shuffled label, so the base rate is the carried one and the labels say nothing about "
    "sequence"
)
_RANDOM_SALT = 0x72616E64  # separates the random labels' draws from every other seeded stream


def _screened(shards: Path) -> bool:
    """A cached unlabeled or carried set that says which held-out data its guard ran against
    (one that cannot, e.g. its labeled set was rebuilt since, is rebuilt)."""
    return (shards / MANIFEST_NAME).is_file() and bool(screened_fingerprints(shards))


def _world_params(toy: Any) -> ToyWorldParams:
    """config.data.toy_world -> ToyWorldParams; `divergence` may be "" (the default ladder)
    or "CLOSEST,FARTHEST" as the command line gives it."""
    fields = {k: v for k, v in dict(toy).items() if k != "window"}
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    divergence = fields.get("divergence")
    if isinstance(divergence, str):
        text = divergence.strip()
        try:
            fields["divergence"] = tuple(float(x) for x in text.split(",")) if text else None
        except ValueError:
            raise ValueError(
                f"config.data.toy_world.divergence={divergence!r}: expected CLOSEST,FARTHEST "
                "substitutions per site, e.g. 0.02,0.5"
            ) from None
    return ToyWorldParams(**fields)


def toy_world_dir(toy: Any) -> Path:
    """The toy world described by config.data.toy_world (generated once, then reused)."""
    return Path(ensure_toy_world(_world_params(toy)))


def _command(verb: str, *args: object) -> str:
    """The `python -m data_prep` line that builds the same set (the manifest's provenance)."""
    return " ".join(["python -m data_prep", verb, *map(str, args)])


def toy_labeled_shards(toy: Any) -> Path:
    """Reference-genome windows labeled by the world's peak files (one task per TF)."""
    world = toy_world_dir(toy)
    window = int(toy.get("window", 200))
    out = world / "shards" / f"labeled_w{window}"
    if (out / MANIFEST_NAME).is_file():
        return out
    info = load_world_info(world)
    reference = info["reference"]
    fasta = world / "genomes" / f"{reference}.fa"
    peaks = [world / "peaks" / f"{tf}.narrowPeak" for tf in info["tfs"]]
    log.info("toy world: preparing labeled shards in %s", out)
    build_from_peaks(
        out,
        fasta=fasta,
        peaks=peaks,
        seq_len=window,
        valid_chroms=VALID_CHROMS,
        test_chroms=TEST_CHROMS,
        genome_name=reference,
        command=_command(
            "from-peaks",
            out,
            "--fasta",
            fasta,
            "--peaks",
            *peaks,
            "--seq-len",
            window,
            "--valid-chroms",
            VALID_CHROMS,
            "--test-chroms",
            TEST_CHROMS,
            "--genome-name",
            reference,
        ),
    )
    return out


def toy_unlabeled_shards(toy: Any, species: str, count: int = 20_000) -> Path:
    """Unlabeled windows sampled from one of the world's genomes (pre-training, teachers).

    The leakage guard of `build_windows` screens them against the labeled set's held-out
    data: the reference's held-out chromosomes are not sampled, and a relative's windows that
    map back into them through the true chains are dropped (counted in metadata.leakage), so
    no student or teacher sees an ortholog of a validation or test window.
    """
    world = toy_world_dir(toy)
    window = int(toy.get("window", 200))
    name = f"unlabeled_{species}_w{window}_n{count}_v{UNLABELED_VERSION}"
    out = world / "shards" / name
    if _screened(out):
        return out
    labeled = toy_labeled_shards(toy)
    info = load_world_info(world)
    if species not in info["species"]:
        raise ValueError(f"the toy world has no genome {species!r}; it has {info['species']}")
    fasta = world / "genomes" / f"{species}.fa"
    if species == info["reference"]:
        # The reference's held-out chromosomes stay unseen, even without labels.
        guard: dict[str, Any] = {"exclude_chroms": [VALID_CHROMS, TEST_CHROMS]}
        guard_flags = ["--exclude-chroms", f"{VALID_CHROMS},{TEST_CHROMS}"]
    else:
        chains = world / "chains" / f"ref_to_{species}.chain"
        guard = {"chains": chains}
        guard_flags = ["--chains", str(chains)]
    build_windows(
        out,
        fasta=fasta,
        seq_len=window,
        count=count,
        genome_name=species,
        exclude_homologs_of=labeled,
        **guard,
        overwrite=(out / MANIFEST_NAME).is_file(),
        command=_command(
            "windows",
            out,
            "--fasta",
            fasta,
            "--seq-len",
            window,
            "--count",
            count,
            "--genome-name",
            species,
            "--exclude-homologs-of",
            labeled,
            *guard_flags,
        ),
    )
    return out


def toy_unlabeled_all(toy: Any, count: int = 20_000) -> list[Path]:
    """Unlabeled windows from every genome of the world (reference included)."""
    info = load_world_info(toy_world_dir(toy))
    return [toy_unlabeled_shards(toy, species, count) for species in info["species"]]


def toy_homology_shards(toy: Any) -> list[Path]:
    """The reference's training labels carried to every other genome through the true chains.

    One shard set per species (`carry_labels`, leakage guard on), the data of the pseudo-label
    pre-training stage; built once beside the labeled set it comes from.
    """
    labeled = toy_labeled_shards(toy)
    world = toy_world_dir(toy)
    info = load_world_info(world)
    others = [sp for sp in info["species"] if sp != info["reference"]]
    out = world / "shards" / f"homology_w{int(toy.get('window', 200))}"
    paths = [out / sp for sp in others]
    if all(_screened(p) for p in paths):
        return paths
    log.info("toy world: carrying labels by homology into %s", out)
    fastas = [world / "genomes" / f"{sp}.fa" for sp in others]
    chains = [world / "chains" / f"ref_to_{sp}.chain" for sp in others]
    carry_labels(
        labeled,
        out,
        [Target(fasta, chain, None) for fasta, chain in zip(fastas, chains, strict=True)],
        command=_command(
            "homology",
            out,
            "--labeled",
            labeled,
            "--targets",
            *fastas,
            "--chains",
            *chains,
            "--overwrite",
        ),
        overwrite=True,
    )
    return paths


def _site_centres(bed: Path) -> dict[str, np.ndarray]:
    """chrom -> sorted centres of the sites of a truth BED (empty file: no sites)."""
    rows = [line.split("\t")[:3] for line in bed.read_text().splitlines() if line.strip()]
    by_chrom: dict[str, list[int]] = {}
    for chrom, start, end in rows:
        by_chrom.setdefault(chrom, []).append((int(start) + int(end)) // 2)
    return {c: np.sort(np.asarray(v, np.int64)) for c, v in by_chrom.items()}


def true_labels(world: Path, genome: str, tasks: list[str], cols: dict, seq_len: int) -> np.ndarray:
    """float32[N, T]: the noise-free binding of each window of `genome` (`ORACLE_RULE`)."""
    out = np.zeros((len(cols["start"]), len(tasks)), np.float32)
    for t, tf in enumerate(tasks):
        centres = _site_centres(world / "truth" / genome / f"{tf}.bed")
        for chrom in np.unique(cols["chrom"]):
            on = np.flatnonzero(cols["chrom"] == chrom)
            sites = centres.get(str(chrom), np.zeros(0, np.int64))
            lo = cols["start"][on]
            out[on, t] = np.searchsorted(sites, lo + seq_len) > np.searchsorted(sites, lo)
    return out


def shuffled_labels(labels_NT: np.ndarray, seed: int, salt: int = 0) -> np.ndarray:
    """Each task's labels permuted among the rows that have one (NaN stays in place): the same
    base rate per task, no relation to the rows' sequences (`RANDOM_RULE`)."""
    out = np.array(labels_NT, np.float32, copy=True)
    for t in range(out.shape[1]):
        rows = np.flatnonzero(~np.isnan(out[:, t]))
        rng = np.random.default_rng([int(seed), _RANDOM_SALT, int(salt), t])
        out[rows, t] = out[rng.permutation(rows), t]
    return out


def _relabeled(carried: Path, out: Path, labels: np.ndarray, metadata: dict, command: str) -> None:
    """A copy of the carried set `carried` (every row, field and provenance) with `labels`."""
    manifest = load_manifest(carried)
    cols = load_split(carried, "train")
    with ShardSetWriter(
        out,
        seq_len=manifest.seq_len,
        task_names=manifest.task_names,
        command=command,
        sources=[carried / MANIFEST_NAME],
        extra_fields=manifest.extra_fields,
        overwrite=True,
        metadata={**(manifest.metadata or {}), "carried": str(carried), **metadata},
        tfds=False,
    ) as writer:
        if len(cols["tokens"]):
            writer.add_batch(
                "train",
                cols["tokens"],
                labels,
                cols["weights"],
                genome=cols["genome"],
                chrom=cols["chrom"],
                start=cols["start"],
                strand=cols["strand"],
                **{f: cols[f] for f in manifest.extra_fields},
            )


def toy_homology_oracle_shards(toy: Any) -> list[Path]:
    """`toy_homology_shards` with every carried label replaced by the window's TRUE binding in
    its own genome (`ORACLE_RULE`): the same windows, rows and order, perfect labels.

    Positive control A's ceiling: pre-training on these must beat the carried labels if label
    noise is what holds pseudo-labeling back. Its manifest keeps metadata.kind "homology" and
    the field source_index, so a label budget keeps the same windows as for toy:homology
    (metadata.labels = "oracle": their true labels are kept, see
    `jaxssl.datasets.budgeted_carried_set`).
    """
    carried = toy_homology_shards(toy)
    world = toy_world_dir(toy)
    window = int(toy.get("window", 200))
    out = world / "shards" / f"homology_oracle_w{window}_v{RELABELED_VERSION}"
    paths = [out / p.name for p in carried]
    for src, dst in zip(carried, paths, strict=True):
        if _screened(dst):
            continue
        manifest = load_manifest(src)
        cols = load_split(src, "train")
        tasks = list(manifest.task_names)
        truth = true_labels(world, str(manifest.metadata["target"]), tasks, cols, manifest.seq_len)
        given = cols["labels"]
        agree = [
            float(np.mean(given[~np.isnan(given[:, t]), t] == truth[~np.isnan(given[:, t]), t]))
            if (~np.isnan(given[:, t])).any()
            else None
            for t in range(len(tasks))
        ]
        log.info("toy world: oracle labels for %s in %s", src.name, dst)
        _relabeled(
            src,
            dst,
            truth,
            {"labels": "oracle", "label_rule": ORACLE_RULE,
             "carried_agrees_with_truth": dict(zip(tasks, agree, strict=True))},
            command=f"jaxssl.toy_data.toy_homology_oracle_shards: {src} relabeled from "
            f"{world / 'truth' / str(manifest.metadata['target'])}",
        )  # fmt: skip
    return paths


def toy_homology_random_shards(toy: Any, seed: int) -> list[Path]:
    """`toy_homology_shards` with random labels at the carried base rate (`RANDOM_RULE`):
    the same windows, rows and order; the floor of positive control A. Labels are drawn per
    source row, as the real ones are carried, so copies of one reference window in several
    relatives share a label, like the carried labels do.
    """
    carried = toy_homology_shards(toy)
    world = toy_world_dir(toy)
    window = int(toy.get("window", 200))
    out = world / "shards" / f"homology_random_w{window}_s{int(seed)}_v{RELABELED_VERSION}"
    paths = [out / p.name for p in carried]
    if all(_screened(p) for p in paths):
        return paths
    reference = load_split(toy_labeled_shards(toy), "train")["labels"]
    shuffled = shuffled_labels(reference, seed)
    for src, dst in zip(carried, paths, strict=True):
        if _screened(dst):
            continue
        rows = load_split(src, "train")["source_index"].astype(np.int64)
        _relabeled(
            src,
            dst,
            shuffled[rows],
            {"labels": "random", "label_rule": RANDOM_RULE, "random_seed": int(seed)},
            command=f"jaxssl.toy_data.toy_homology_random_shards: {src} relabeled at random "
            f"(seed {int(seed)})",
        )
    return paths
