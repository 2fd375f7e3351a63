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

from jaxssl.data.manifest import MANIFEST_NAME
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
    if (out / MANIFEST_NAME).is_file():
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
    if all((p / MANIFEST_NAME).is_file() for p in paths):
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
