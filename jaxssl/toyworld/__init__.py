"""Toy world: a simulated genome family with known truth, the default data of every config.

A reference genome with realistic composition and TF binding planted from JASPAR motifs,
ChIP-like peaks over it, and relatives evolved along a tree with their true alignments (chains)
and true binding (truth/). Runs need no downloads, and tests can check what each method learns.
"""

from .cache import cache_root, ensure_toy_world
from .params import ToyWorldParams
from .world import binding_models, generate_toy_world, load_world_info

__all__ = [
    "ToyWorldParams",
    "binding_models",
    "cache_root",
    "ensure_toy_world",
    "generate_toy_world",
    "load_world_info",
]
