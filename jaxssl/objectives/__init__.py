"""Objectives: each owns its loss and its (pure, jittable) train step; the trainer owns the loop.

The registry is this table of classes (as ``jaxssl.models`` lists its models): a stage's
``objective`` names one, and every one implements ``base.Objective`` in full.
"""

from __future__ import annotations

from jaxssl.objectives.base import Objective
from jaxssl.objectives.self_distill import SelfDistill
from jaxssl.objectives.supervised import Supervised

__all__ = ["Objective", "available_objectives", "get_objective", "objective_version"]

_REGISTRY: dict[str, type[Objective]] = {cls.name: cls for cls in (Supervised, SelfDistill)}


def available_objectives() -> list[str]:
    return sorted(_REGISTRY)


def get_objective(name: str) -> type[Objective]:
    """The objective class of that name; build it as cls(stage_config, graphdef, rest, tx)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown objective {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def objective_version(name: str) -> int | None:
    """The VERSION of the objective `name`; None for a stage job (it trains nothing)."""
    cls = _REGISTRY.get(name)
    return None if cls is None else int(cls.VERSION)
