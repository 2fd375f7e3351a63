"""Objectives: each owns its loss and its (pure, jittable) train step; the trainer owns the loop."""

from __future__ import annotations

from jaxssl.objectives.base import Objective, available_objectives, get_objective

__all__ = ["Objective", "available_objectives", "get_objective"]
