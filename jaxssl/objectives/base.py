"""The contract between an objective and the trainer, and the objective registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import optax
from flax import nnx
from ml_collections import ConfigDict

from jaxssl.train_state import TrainState

Batch = dict[str, jax.Array]


class Objective(Protocol):
    """What the trainer needs from an objective.

    ``train_step`` must be pure (the trainer jits it with shardings and donates the state);
    it returns the new state and a flat dict of scalar measurements.
    """

    name: str

    def init_extra(self, params: dict[str, Any]) -> dict[str, Any]: ...

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict]: ...

    def eval_params(self, state: TrainState) -> dict[str, Any]: ...


ObjectiveFactory = Callable[
    [ConfigDict, nnx.GraphDef, nnx.State, optax.GradientTransformation], Objective
]
_REGISTRY: dict[str, ObjectiveFactory] = {}


def register_objective(name: str) -> Callable[[ObjectiveFactory], ObjectiveFactory]:
    def wrap(factory: ObjectiveFactory) -> ObjectiveFactory:
        _REGISTRY[name] = factory
        return factory

    return wrap


def available_objectives() -> list[str]:
    _import_builtin()
    return sorted(_REGISTRY)


def get_objective(name: str) -> ObjectiveFactory:
    _import_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"unknown objective {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def _import_builtin() -> None:
    import importlib

    for module in ("supervised", "self_distill"):
        try:
            importlib.import_module(f"jaxssl.objectives.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"jaxssl.objectives.{module}":
                raise
