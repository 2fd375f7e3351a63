"""Batched, jitted prediction with reverse-complement averaging.

A double-stranded binding site reads the same on both strands, so averaging the forward and
reverse-complement probabilities is a free, consistent gain at evaluation and for teachers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl import augment
from jaxssl.train_state import merge_model

PredictFn = Callable[[dict[str, Any], jax.Array], jax.Array]


def probabilities(logits: jax.Array, loss_type: str) -> jax.Array:
    logits = logits.astype(jnp.float32)
    if loss_type == "multiclass":
        return jax.nn.softmax(logits, axis=-1)
    return jax.nn.sigmoid(logits)


def make_predict_fn(
    graphdef: nnx.GraphDef, rest: nnx.State, *, loss_type: str, rc_average: bool
) -> PredictFn:
    """(params, tokens_BL) -> probabilities [B, T] (binary) or [B, K] (multiclass), unjitted."""

    def predict(params: dict[str, Any], tokens_BL: jax.Array) -> jax.Array:
        model = merge_model(graphdef, params, rest)

        def probs(tokens_BL: jax.Array) -> jax.Array:
            return probabilities(model(tokens_BL, deterministic=True), loss_type)

        return augment.rc_average(probs, tokens_BL) if rc_average else probs(tokens_BL)

    return predict
