"""DINO-style distillation pieces: projection head, centred/sharpened teacher, EMA teacher.

The teacher's output distribution is centred (a running mean of its logits is subtracted)
and sharpened (a low temperature) so that neither collapse mode wins: centring alone pushes
towards uniform, sharpening alone towards one prototype. The teacher itself is an
exponential moving average of the student whose momentum rises along a cosine to 1, so it
changes fast early and freezes at the end.

Centring across devices: the batch is one global array sharded over the mesh's ``data``
axis, and ``jnp.mean`` over that axis inside ``jax.jit`` is a mean over the *global* batch
(XLA inserts the all-reduce), so the centre is the same on every device without an explicit
collective (``tests/test_self_distill.py`` checks it on 2 simulated devices).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx


class ProjectionHead(nnx.Module):
    """MLP -> L2-normalised bottleneck -> weight-normalised prototypes (DINO's head).

    Normalising both the bottleneck and the prototype vectors bounds the logits, which keeps
    the low-temperature softmax of the teacher numerically tame.
    """

    def __init__(
        self,
        in_features: int,
        *,
        hidden: int,
        bottleneck: int,
        num_prototypes: int,
        rngs: nnx.Rngs,
    ):
        self.fc1 = nnx.Linear(in_features, hidden, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, hidden, rngs=rngs)
        self.fc3 = nnx.Linear(hidden, bottleneck, rngs=rngs)
        self.prototypes = nnx.Linear(bottleneck, num_prototypes, use_bias=False, rngs=rngs)

    def __call__(self, x_BD: jax.Array) -> jax.Array:
        h = jax.nn.gelu(self.fc1(x_BD.astype(jnp.float32)))
        h = jax.nn.gelu(self.fc2(h))
        z_BE = self.fc3(h)
        z_BE = z_BE / jnp.maximum(jnp.linalg.norm(z_BE, axis=-1, keepdims=True), 1e-6)
        w_EK = self.prototypes.kernel[...]
        w_EK = w_EK / jnp.maximum(jnp.linalg.norm(w_EK, axis=0, keepdims=True), 1e-6)
        return z_BE @ w_EK


def distillation_cross_entropy(
    student_logits_BK: jax.Array,
    teacher_logits_BK: jax.Array,
    center_K: jax.Array,
    *,
    student_temperature: float,
    teacher_temperature: float | jax.Array,
) -> jax.Array:
    """Per-example H(teacher, student) [B]: -sum_k p_t(k) log p_s(k), teacher centred."""
    teacher_probs_BK = jax.nn.softmax(
        (teacher_logits_BK - center_K[None, :]) / teacher_temperature, -1
    )
    teacher_probs_BK = jax.lax.stop_gradient(teacher_probs_BK)
    student_logp_BK = jax.nn.log_softmax(student_logits_BK / student_temperature, axis=-1)
    return -jnp.sum(teacher_probs_BK * student_logp_BK, axis=-1)


def update_center(center_K: jax.Array, teacher_logits_BK: jax.Array, momentum: float) -> jax.Array:
    """center <- m * center + (1 - m) * mean over the (global) batch of the teacher logits."""
    batch_mean_K = jnp.mean(teacher_logits_BK.astype(jnp.float32), axis=0)
    return momentum * center_K + (1.0 - momentum) * batch_mean_K


def cosine_momentum(step: jax.Array, total_steps: int, base: float) -> jax.Array:
    """EMA momentum from ``base`` at step 0 to 1 at ``total_steps`` along a half cosine."""
    progress = jnp.clip(step.astype(jnp.float32) / max(total_steps, 1), 0.0, 1.0)
    return 1.0 - (1.0 - base) * (jnp.cos(jnp.pi * progress) + 1.0) / 2.0


def ema_update(teacher: Any, student: Any, momentum: jax.Array) -> Any:
    """teacher <- m * teacher + (1 - m) * student, leaf by leaf (no gradient flows)."""
    return jax.tree.map(
        lambda t, s: momentum * t + (1.0 - momentum) * jax.lax.stop_gradient(s), teacher, student
    )


def entropy(logits_BK: jax.Array, center_K: jax.Array, temperature: float | jax.Array):
    """Mean entropy of the centred, sharpened distribution: a collapse monitor (0 = one-hot)."""
    logp_BK = jax.nn.log_softmax((logits_BK - center_K[None, :]) / temperature, axis=-1)
    return -jnp.mean(jnp.sum(jnp.exp(logp_BK) * logp_BK, axis=-1))
