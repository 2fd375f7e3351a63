"""Losses that respect missing labels and per-label weights.

A NaN label means "not measured" (a task without a peak file for this genome, a pseudo-label
the homology could not carry): it contributes neither loss nor gradient. Weights carry the
confidence of pseudo-labels, per label ([B, T]) so one task's doubt does not down-weight
another's; a [B] weight is broadcast over tasks. Everything is computed in float32 whatever the
compute dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

# config.loss: "binary" is a multi-task sigmoid, "multiclass" a softmax over one class label.
LOSS_TYPES = ("binary", "multiclass")


def _per_label_weights(weights: jax.Array, num_tasks: int) -> jax.Array:
    """[B] or [B, T] weights -> float32 [B, T] (shapes are static: no cost under jit)."""
    weights = weights.astype(jnp.float32)
    if weights.ndim == 1:
        weights = weights[:, None]
    return jnp.broadcast_to(weights, (weights.shape[0], num_tasks))


def masked_binary_cross_entropy(
    logits_BT: jax.Array, labels_BT: jax.Array, weights: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Weighted mean sigmoid BCE over the observed (non-NaN) labels; returns (loss, n_observed).

    ``weights`` is [B, T] (per label) or [B] (per example). Labels may be soft (teacher
    probabilities in [0, 1]). The mean divides by the summed weight of observed labels.
    """
    loss_sum, total_weight, observed = _binary_sums(logits_BT, labels_BT, weights)
    return loss_sum / jnp.maximum(total_weight, 1e-8), observed


def _binary_sums(
    logits_BT: jax.Array, labels_BT: jax.Array, weights: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(weighted loss sum, summed weight, number of observed labels) of a binary batch."""
    logits_BT = logits_BT.astype(jnp.float32)
    observed_BT = ~jnp.isnan(labels_BT)
    safe_labels_BT = jnp.where(observed_BT, labels_BT, 0.0)
    per_label_BT = optax.sigmoid_binary_cross_entropy(logits_BT, safe_labels_BT)
    # where, not multiply: a NaN weight on a missing label must not poison the sum
    w_BT = jnp.where(observed_BT, _per_label_weights(weights, labels_BT.shape[1]), 0.0)
    return jnp.sum(per_label_BT * w_BT), jnp.sum(w_BT), jnp.sum(observed_BT)


def masked_softmax_cross_entropy(
    logits_BK: jax.Array, labels_B: jax.Array, weights_B: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Weighted mean softmax cross-entropy for a class-index label (NaN = missing).

    One label per example, so one weight per example: ``weights_B`` is [B].
    """
    loss_sum, total_weight, observed = _softmax_sums(logits_BK, labels_B, weights_B)
    return loss_sum / jnp.maximum(total_weight, 1e-8), observed


def _softmax_sums(
    logits_BK: jax.Array, labels_B: jax.Array, weights_B: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(weighted loss sum, summed weight, number of observed labels) of a multiclass batch."""
    logits_BK = logits_BK.astype(jnp.float32)
    observed_B = ~jnp.isnan(labels_B)
    classes_B = jnp.where(observed_B, labels_B, 0).astype(jnp.int32)
    per_example_B = optax.softmax_cross_entropy_with_integer_labels(logits_BK, classes_B)
    w_B = jnp.where(observed_B, weights_B.astype(jnp.float32), 0.0)
    return jnp.sum(per_example_B * w_B), jnp.sum(w_B), jnp.sum(observed_B)


def compute_loss(
    loss_type: str, logits: jax.Array, labels_BT: jax.Array, weights_BT: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Loss of one batch. ``weights_BT`` is per label [B, T] (the pipeline's shape) or [B].

    Multiclass has one label (a class index) per example, so it takes column 0 of [B, 1].
    """
    if loss_type == "multiclass":
        return masked_softmax_cross_entropy(logits, labels_BT[:, 0], _example_weights(weights_BT))
    return masked_binary_cross_entropy(logits, labels_BT, weights_BT)


def loss_sums(
    loss_type: str, logits: jax.Array, labels_BT: jax.Array, weights_BT: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """(weighted loss sum, summed weight) of one batch, for a mean over many batches.

    ``compute_loss`` of the batches taken together is the ratio of the two totals; rows with
    weight 0 or missing labels (e.g. an evaluation batch's padding) add nothing to either.
    """
    if loss_type == "multiclass":
        total, weight, _ = _softmax_sums(logits, labels_BT[:, 0], _example_weights(weights_BT))
    else:
        total, weight, _ = _binary_sums(logits, labels_BT, weights_BT)
    return total, weight


def _example_weights(weights_BT: jax.Array) -> jax.Array:
    """Multiclass has one label per example: column 0 of [B, 1] weights, or [B] as given."""
    return weights_BT[:, 0] if weights_BT.ndim == 2 else weights_BT
