"""Held-out chromosomes: the defaults of labeled sets and how a list of names is matched."""

from __future__ import annotations

from collections.abc import Iterable

DEFAULT_VALID = "chr7"  # as in DeepSEA: valid chr7, test chr8 + chr9
DEFAULT_TEST = "chr8,chr9"


def chrom_set(names: str | Iterable[str]) -> set[str]:
    """Chromosome names (comma-separated text or a list) with and without the 'chr' prefix."""
    items = names.split(",") if isinstance(names, str) else names
    found = {c.strip() for c in items if c.strip()}
    return found | {c[3:] if c.startswith("chr") else "chr" + c for c in found}
