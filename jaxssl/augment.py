"""On-device sequence augmentations: pure ``jnp`` on uint8 tokens, jit- and shard-friendly.

Everything here runs inside the compiled step, so only one byte per base crosses to the
device and every example gets fresh randomness each step (never a mask or shift drawn once
and frozen). Per-example randomness comes from a single key drawn with a leading batch shape,
which keeps the functions vectorised. Each random transform has a deterministic twin
(``reverse_complement_where``, ``shift``) so an objective can apply the *same* transform to
its targets or masks. Tokens follow ``jaxssl.tokens``: A=0 C=1 G=2 T=3 N=4, and so does the
reverse complement (``jaxssl.tokens.reverse_complement``, the one definition).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxssl.tokens import NUM_BASES, N, reverse_complement, reverse_complement_one_hot


def one_hot(tokens_BL: jax.Array, dtype: jnp.dtype = jnp.float32) -> jax.Array:
    """Tokens [..., L] -> one-hot [..., L, 4]; N and any token >= 4 (e.g. a mask id) -> zeros.

    An all-zero row is the standard "unknown base" encoding: it contributes nothing to a
    convolution, so padding and masks look like absence of evidence rather than a fifth base.
    """
    bases = jnp.arange(NUM_BASES, dtype=tokens_BL.dtype).reshape((1,) * tokens_BL.ndim + (-1,))
    return (tokens_BL[..., None] == bases).astype(dtype)


def reverse_complement_where(flip_B: jax.Array, tokens_BL: jax.Array) -> jax.Array:
    """Reverse-complements the examples whose ``flip_B`` is True; the others pass unchanged."""
    return jnp.where(flip_B[:, None], reverse_complement(tokens_BL), tokens_BL)


def random_reverse_complement(key: jax.Array, tokens_BL: jax.Array, p: float = 0.5) -> jax.Array:
    """Reverse-complements each example independently with probability ``p``.

    The flags are ``jax.random.bernoulli(key, p, (B,))``: draw them the same way and call
    ``reverse_complement_where`` to transform targets aligned with the sequence.
    """
    flip_B = jax.random.bernoulli(key, p, (tokens_BL.shape[0],))
    return reverse_complement_where(flip_B, tokens_BL)


def shift(tokens_BL: jax.Array, shift_B: jax.Array, fill: int = N) -> jax.Array:
    """Moves example b right by ``shift_B[b]`` bases (left if negative), filling with ``fill``.

    No wrap-around: bases pushed past an end are dropped, so the sequence never gains content
    from its other end, which would be a fake junction a model could learn.
    """
    length = tokens_BL.shape[-1]
    src_BL = jnp.arange(length)[None, :] - shift_B[:, None]
    valid_BL = (src_BL >= 0) & (src_BL < length)
    moved_BL = jnp.take_along_axis(tokens_BL, jnp.clip(src_BL, 0, length - 1), axis=-1)
    return jnp.where(valid_BL, moved_BL, jnp.asarray(fill, tokens_BL.dtype))


def random_shift(key: jax.Array, tokens_BL: jax.Array, max_shift: int) -> jax.Array:
    """Shifts each example by an independent uniform integer in [-max_shift, max_shift].

    The shifts are ``jax.random.randint(key, (B,), -max_shift, max_shift + 1)``.
    """
    length = tokens_BL.shape[-1]
    if not 0 <= max_shift < length:
        raise ValueError(f"max_shift must be in [0, {length}) for length {length}, got {max_shift}")
    if max_shift == 0:
        return tokens_BL
    shift_B = jax.random.randint(key, (tokens_BL.shape[0],), -max_shift, max_shift + 1)
    return shift(tokens_BL, shift_B)


def random_substitutions(key: jax.Array, tokens_BL: jax.Array, rate: float) -> jax.Array:
    """Replaces each base, with probability ``rate``, by one of the three *other* bases.

    Drawing an offset in {1, 2, 3} modulo 4 guarantees a real mutation (a base is never
    "substituted" by itself, which would silently lower the effective rate by a quarter).
    N positions (padding, unknown bases, shift fills) are left alone.
    """
    if isinstance(rate, int | float) and not 0.0 <= rate <= 1.0:
        raise ValueError(f"substitution rate must be in [0, 1], got {rate}")
    hit_key, base_key = jax.random.split(key)
    hit_BL = jax.random.bernoulli(hit_key, rate, tokens_BL.shape) & (tokens_BL < NUM_BASES)
    offset_BL = jax.random.randint(base_key, tokens_BL.shape, 1, NUM_BASES, dtype=jnp.int32)
    mutated_BL = ((tokens_BL.astype(jnp.int32) + offset_BL) % NUM_BASES).astype(tokens_BL.dtype)
    return jnp.where(hit_BL, mutated_BL, tokens_BL)


def rc_average(fn: Callable[[jax.Array], Any], x: jax.Array, *, one_hot: bool = False) -> Any:
    """Mean of ``fn`` on the sequences and on their reverse complements (a pytree of arrays).

    The one strand average of jaxssl: prediction (hence evaluation, teachers and
    ``python -m jaxssl predict``) and attribution use it. Binding is strand-symmetric, so
    averaging both strands removes the strand bias a model picks up in training. Average
    probabilities or logits by choosing what ``fn`` returns; both strands go through ``fn`` in
    the same compiled call. ``x`` is tokens [B, L], or one-hot [B, L, 4] with ``one_hot``
    (input gradients need a float input).
    """
    flip = reverse_complement_one_hot if one_hot else reverse_complement
    forward = fn(x)
    backward = fn(flip(x))
    return jax.tree.map(lambda a, b: (a + b) / 2, forward, backward)
