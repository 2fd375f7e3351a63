"""The training state: one pytree that Orbax saves and `jax.jit` donates.

Parameters are kept as a plain nested dict (``nnx.to_pure_dict``) so checkpoints are
framework-neutral and an objective can hold extra parameter copies (an EMA teacher) in
``extra`` without special cases.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct


class TrainState(struct.PyTreeNode):
    step: jax.Array  # int32 scalar: number of optimizer updates applied
    params: dict[str, Any]
    opt_state: Any
    rng: jax.Array  # base key; each step folds in `step`, so a resumed run draws the same noise
    extra: dict[str, Any] = struct.field(default_factory=dict)

    @classmethod
    def create(
        cls,
        params: dict[str, Any],
        tx: optax.GradientTransformation,
        rng: jax.Array,
        extra: dict[str, Any] | None = None,
    ) -> TrainState:
        """The state before the first update: step 0 and a fresh optimizer state."""
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=params,
            opt_state=tx.init(params),
            rng=rng,
            extra={} if extra is None else extra,
        )


def split_model(model: nnx.Module) -> tuple[nnx.GraphDef, dict[str, Any], nnx.State]:
    """Module -> (graph definition, trainable params as a pure dict, other state)."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    return graphdef, nnx.to_pure_dict(params), rest


def merge_model(graphdef: nnx.GraphDef, params: dict[str, Any], rest: nnx.State) -> nnx.Module:
    return nnx.merge(graphdef, nnx.State(params), rest)
