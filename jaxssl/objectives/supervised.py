"""Supervised objective: (possibly soft, partly missing, weighted) labels -> logits.

Used by every method: plain supervised training, pre-training on homology pseudo-labels,
and the noisy student (the same step with noise switched on: substitutions, shift, RC,
dropout). All noise is drawn on device from a key folded with the step number, so it is
fresh every step and identical after a resume.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from ml_collections import ConfigDict

from jaxssl import augment
from jaxssl.config import base_config
from jaxssl.losses import LOSS_TYPES, compute_loss, loss_sums
from jaxssl.models import build_model
from jaxssl.objectives.base import Batch
from jaxssl.optim import frozen_prefixes, learning_rate_schedule, make_optimizer
from jaxssl.train_state import (
    TrainState,
    merge_model,
    model_statistics,
    split_model,
    statistic_paths,
    with_statistics,
)

__all__ = ["LOSS_TYPES", "Supervised", "add_noise", "benchmark_step", "compute_loss"]


# EvoAug's structural ops in the order add_noise applies them: (config.augment prefix, op).
_EVOAUG_OPS = (
    ("inversion", "max_len", augment.random_inversion),
    ("deletion", "max_len", augment.random_deletion),
    ("insertion", "max_len", augment.random_insertion),
    ("translocation", "max_shift", augment.random_translocation),
)


def add_noise(key: jax.Array, tokens_BL: jax.Array, noise: ConfigDict) -> jax.Array:
    """On-device input noise: RC, EvoAug ops, shift, substitutions (each optional).

    Each EvoAug op (inversion, deletion, insertion, translocation) with its ``*_prob`` at 0
    is skipped at trace time, so the default compiled step is the one without them; their
    keys come from a fold of ``key``, which leaves the split for RC, shift and substitutions
    (and so the default noise) exactly as it was. Substitutions come last, so they can also
    hit inserted and padded bases.
    """
    rc_key, shift_key, sub_key = jax.random.split(key, 3)
    if noise.reverse_complement:
        tokens_BL = augment.random_reverse_complement(rc_key, tokens_BL)
    probs = {name: float(noise.get(f"{name}_prob", 0.0)) for name, _, _ in _EVOAUG_OPS}
    if any(probs.values()):
        length = tokens_BL.shape[-1]
        evo_keys = jax.random.split(jax.random.fold_in(key, 1), len(_EVOAUG_OPS))
        for op_key, (name, size, op) in zip(evo_keys, _EVOAUG_OPS, strict=True):
            if probs[name] == 0:
                continue
            max_len = int(noise[f"{name}_{size}"])
            if not 1 <= max_len < length:
                raise ValueError(
                    f"config.augment.{name}_{size}={max_len} must be in [1, {length}) for "
                    f"sequences of length {length} (with {name}_prob={probs[name]})"
                )
            tokens_BL = op(op_key, tokens_BL, probs[name], max_len)
    if noise.max_shift > 0:
        tokens_BL = augment.random_shift(shift_key, tokens_BL, int(noise.max_shift))
    if noise.substitution_rate > 0:
        tokens_BL = augment.random_substitutions(sub_key, tokens_BL, float(noise.substitution_rate))
    return tokens_BL


class Supervised:
    name = "supervised"
    VERSION = 1  # unchanged since versions were recorded: records without one are this
    uses_labels = True
    eval_loss_name = "loss"

    def __init__(
        self,
        config: ConfigDict,
        graphdef: nnx.GraphDef,
        rest: nnx.State,
        tx: optax.GradientTransformation,
    ):
        if config.loss not in LOSS_TYPES:
            raise ValueError(f"config.loss={config.loss!r}: expected one of {LOSS_TYPES}")
        self.loss_type = config.loss
        self.noise = config.augment
        self.graphdef, self.rest, self.tx = graphdef, rest, tx
        self.schedule = learning_rate_schedule(config.train)
        self.frozen = frozen_prefixes(config.train)  # frozen layers keep their statistics too

    def init_params(self, params: dict[str, Any], key: jax.Array) -> dict[str, Any]:
        return params  # no heads of its own: the model's parameters are the trained ones

    def init_extra(self, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    def eval_params(self, state: TrainState) -> dict[str, Any]:
        return state.params

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
        key = jax.random.fold_in(state.rng, state.step)
        noise_key, dropout_key = jax.random.split(key)
        tokens_BL = add_noise(noise_key, batch["tokens"], self.noise)

        def loss_fn(params: dict[str, Any]) -> tuple[jax.Array, tuple[jax.Array, dict]]:
            model = merge_model(self.graphdef, params, self.rest)
            logits = model(tokens_BL, deterministic=False, rngs=nnx.Rngs(dropout=dropout_key))
            loss, observed = compute_loss(self.loss_type, logits, batch["labels"], batch["weights"])
            return loss, (observed, model_statistics(model))

        (loss, (observed, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        # BatchNorm statistics get no update from the optimizer: they are what this batch's
        # forward pass measured (nothing for models without BatchNorm).
        params = with_statistics(optax.apply_updates(state.params, updates), stats, self.frozen)
        metrics = {
            "training_loss": loss,
            "l2_grads": optax.tree.norm(grads),
            "l2_params": optax.tree.norm(params),
            "learning_rate": self.schedule(state.step),
            "observed_labels": observed.astype(jnp.float32),
        }
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

    def eval_loss(self, state: TrainState, batch: Batch, key: jax.Array) -> tuple[jax.Array, ...]:
        """(weighted loss sum, summed weight) of the clean batch (no noise, no dropout)."""
        del key  # deterministic: nothing is drawn
        model = merge_model(self.graphdef, self.eval_params(state), self.rest)
        logits = model(batch["tokens"], deterministic=True)
        return loss_sums(self.loss_type, logits, batch["labels"], batch["weights"])


def benchmark_step(
    model_name: str,
    *,
    batch_size: int,
    seq_len: int,
    num_tasks: int,
    dtype: Any = jnp.float32,
    seed: int = 0,
    augment: dict[str, Any] | None = None,
):
    """(jitted step, state, batch) for one real supervised train step, for benchmarks/.

    Same optimizer, loss, augmentation and donation as training, on one device; ``augment``
    overrides keys of the default augment section (e.g. ``augment.evoaug_settings()``).
    """
    config = base_config()
    config.train.steps = 10_000
    config.augment.update(augment or {})
    model = build_model(
        model_name, num_outputs=num_tasks, seq_len=seq_len, rngs=nnx.Rngs(seed), dtype=dtype
    )
    graphdef, params, rest = split_model(model)
    tx = make_optimizer(config.train, statistic_paths(model))
    objective = Supervised(config, graphdef, rest, tx)
    state = TrainState.create(params, tx, jax.random.PRNGKey(seed))
    rng = np.random.default_rng(seed)
    batch = {
        "tokens": jnp.asarray(rng.integers(0, 4, (batch_size, seq_len), dtype=np.uint8)),
        "labels": jnp.asarray(rng.integers(0, 2, (batch_size, num_tasks)).astype(np.float32)),
        "weights": jnp.ones((batch_size, num_tasks), jnp.float32),
    }
    return jax.jit(objective.train_step, donate_argnums=(0,)), state, batch
