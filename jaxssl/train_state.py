"""The training state: one pytree that Orbax saves and `jax.jit` donates.

Parameters are kept as a plain nested dict (``nnx.to_pure_dict``) so checkpoints are
framework-neutral and an objective can hold extra parameter copies (an EMA teacher) in
``extra`` without special cases.

BatchNorm running statistics (``nnx.BatchStat``) live in that same dict, beside the weights:
every consumer of "the parameters" (evaluation, the best checkpoint, ``init_from``, teachers,
predict, export) then gets the statistics that belong to them without a second tree to carry.
They are not trained: the optimizer masks them (``statistic_paths`` -> ``make_optimizer``) and
the train step writes back the statistics the training-mode forward pass measured
(``model_statistics`` -> ``with_statistics``), except under a ``train.freeze`` prefix: a frozen
layer keeps its statistics as well as its weights.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from jaxssl.optim import is_frozen, param_path


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


# What travels as "params": trained weights and the BatchNorm statistics that go with them.
PARAM_KINDS = (nnx.Param, nnx.BatchStat)


def split_model(model: nnx.Module) -> tuple[nnx.GraphDef, dict[str, Any], nnx.State]:
    """Module -> (graph definition, params + BatchNorm statistics as a pure dict, other state)."""
    graphdef, params, rest = nnx.split(model, PARAM_KINDS, ...)
    return graphdef, nnx.to_pure_dict(params), rest


def statistic_paths(model: nnx.Module) -> tuple[str, ...]:
    """Paths ("blocks/0/norm/inner/mean") of the model's BatchNorm statistics (most: none)."""
    stats = nnx.to_pure_dict(nnx.state(model, nnx.BatchStat))
    return tuple(param_path(p) for p, _ in jax.tree_util.tree_flatten_with_path(stats)[0])


def model_statistics(model: nnx.Module) -> dict[str, Any]:
    """The module's current BatchNorm statistics as a pure dict (empty without BatchNorm).

    Read after a training-mode forward pass of a merged module: BatchNorm has replaced them
    with the running average updated by that batch (under ``jit`` with a sharded batch, the
    batch mean is the global one). No gradient flows through them.
    """
    return jax.lax.stop_gradient(nnx.to_pure_dict(nnx.state(model, nnx.BatchStat)))


def with_statistics(
    params: dict[str, Any],
    stats: dict[str, Any],
    frozen: tuple[str, ...] = (),
    prefix: str = "",
) -> dict[str, Any]:
    """``params`` with the leaves of ``stats`` (a sub-tree of the same paths) replaced, except
    those under a `frozen` prefix (``train.freeze``, full parameter paths)."""
    if not stats:
        return params
    out = dict(params)
    for key, value in stats.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out[key] = with_statistics(params[key], value, frozen, path + "/")
        elif not is_frozen(path, frozen):
            out[key] = value
    return out


def merge_model(graphdef: nnx.GraphDef, params: dict[str, Any], rest: nnx.State) -> nnx.Module:
    return nnx.merge(graphdef, nnx.State(params), rest)
