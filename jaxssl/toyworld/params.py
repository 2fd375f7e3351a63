"""The knobs of a toy world; their hash names the cached copy, so equal knobs mean equal worlds."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass

# Bump whenever generation changes in a way that changes output for the same parameters, so
# that cached worlds built by older code are not silently reused.
GENERATOR_VERSION = 1

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
# Fields added after the first worlds were cached; left at None they are not part of the key.
_LATER_FIELDS = ("divergence",)


@dataclass(frozen=True)
class ToyWorldParams:
    """A simulated genome family: a reference with planted TF binding and evolved relatives.

    The defaults build in seconds and are small enough that a 2-core CPU trains a few small CNNs
    on the result in minutes, yet large enough for thousands of peaks per common TF.
    """

    seed: int = 0
    species: int = 3  # evolved genomes besides the reference
    genome_size: int = 3_000_000  # reference bp over `chromosomes` chromosomes
    chromosomes: int = 5
    gc_mean: float = 0.41
    repeat_fraction: float = 0.12  # interspersed repeat copies (soft-masked)
    # TFs whose peaks are the labels, each with a partner motif that raises its occupancy nearby.
    tfs: tuple[str, ...] = ("CTCF", "HNF4A", "CEBPB", "SPI1")
    cofactors: tuple[str, ...] = ("ZNF143", "FOXA2", "ATF4", "IRF4")
    rare_tf: str = "SPI1"  # gets `rare_sites` planted sites instead of `sites_per_tf`
    sites_per_tf: int = 3500  # planted candidate sites (not all end up bound)
    rare_sites: int = 450
    cofactor_fraction: float = 0.4  # planted sites that get a partner motif nearby
    peak_false_fraction: float = 0.05  # reference peaks that have no bound site under them
    peak_miss_rate: float = 0.15  # chance that the weakest bound site has no peak
    # Evolution along the tree (every branch has the same length).
    branch_length: float = 0.05  # expected substitutions per neutral site per branch
    selection: float = 0.8  # fraction of mutations purged at bound sites
    indel_ratio: float = 0.12  # small indels per substitution
    site_turnover: float = 0.05  # bound sites lost (and as many gained) per branch
    inversions: float = 1.0  # expected inversions per chromosome per branch
    translocations: float = 1.0  # expected translocations per genome per branch
    motif_file: str | None = None  # MEME file with the TF and partner motifs; None = shipped
    # (closest, farthest) expected substitutions per neutral site between the reference and its
    # relatives, spread geometrically over `species` relatives on a comb-shaped tree (see
    # world.comb_edges); None = the ladder of `branch_length` branches (the default world).
    divergence: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.species < 1:
            raise ValueError(f"species must be >= 1 (evolved genomes), got {self.species}")
        if self.chromosomes < 1 or self.genome_size < 100_000 * self.chromosomes:
            raise ValueError(
                f"genome_size {self.genome_size} is too small for {self.chromosomes} "
                "chromosomes: give each at least 100,000 bp"
            )
        if len(self.cofactors) != len(self.tfs):
            raise ValueError(
                f"need one cofactor per TF: {len(self.tfs)} tfs, {len(self.cofactors)} cofactors"
            )
        if self.rare_tf not in self.tfs:
            raise ValueError(f"rare_tf {self.rare_tf!r} is not one of tfs {self.tfs}")
        bad = [n for n in self.tfs if not _SAFE_NAME.match(n)]
        if bad or len(set(self.tfs)) != len(self.tfs):
            raise ValueError(f"TF names must be distinct and file-name safe, got {self.tfs}")
        for name in ("gc_mean", "repeat_fraction", "cofactor_fraction", "peak_false_fraction",
                     "peak_miss_rate", "selection", "site_turnover"):  # fmt: skip
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.divergence is not None:
            lo, hi = (float(x) for x in (*self.divergence, 0, 0)[:2])
            if len(self.divergence) != 2 or not 0 < lo < hi <= 2.0:
                raise ValueError(
                    f"divergence must be (closest, farthest) with 0 < closest < farthest <= 2 "
                    f"substitutions per site, got {self.divergence}"
                )
            if self.species < 2:
                raise ValueError("divergence spreads several relatives: give species >= 2")

    def to_dict(self) -> dict:
        """Every field, except those added after the first worlds were cached while they are
        unset: a world that existed before them keeps its key, cache directory and world.json."""
        d = {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
             for f in dataclasses.fields(self)}  # fmt: skip
        return {k: v for k, v in d.items() if k not in _LATER_FIELDS or v is not None}

    @classmethod
    def from_dict(cls, d: dict) -> ToyWorldParams:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown toy world parameters {unknown}; known: {sorted(names)}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})

    def key(self) -> str:
        """Stable 16-hex-digit hash of the parameters and the generator version."""
        blob = json.dumps(
            {"generator": GENERATOR_VERSION, "params": self.to_dict()}, sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
