"""The two augmented views of self-distillation, drawn on device from a key every step.

The student sees a masked, noised, possibly reverse-complemented view and must recover the
masked bases; the teacher sees another view of the same window (shift, small indels, its own
strand). Three defects of the public reference code are designed out here:

* masks and augmentations are functions of a key that the objective folds with the step
  number, so they are fresh every step (never drawn once and frozen for all epochs);
* the reconstruction targets go through the *same* reverse complement as the input, and the
  mask is drawn after it, so the loss lands on exactly the positions that were hidden;
* reverse complement on one-hot input flips the channel axis (A<->T, C<->G with the order
  A, C, G, T), which agrees with the token version (``test_self_distill`` checks both).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxssl import augment
from jaxssl.tokens import NUM_BASES, N

# The mask token: any token >= 4 one-hots to the all-zero row (like N), so every registered
# model accepts it unchanged; N positions are never masked, so the two never compete for a
# target.
MASK_TOKEN = 5


class StudentView(NamedTuple):
    inputs_BL: jax.Array  # what the student sees (uint8 tokens, MASK_TOKEN where hidden)
    targets_BL: jax.Array  # clean bases, on the same strand as inputs_BL
    masked_BL: jax.Array  # bool: positions the reconstruction loss counts (all real bases)


def mask_tokens(
    key: jax.Array,
    tokens_BL: jax.Array,
    rate: float,
    *,
    mask_fraction: float = 0.8,
    random_fraction: float = 0.1,
) -> tuple[jax.Array, jax.Array]:
    """BERT-style corruption: returns (inputs_BL, masked_BL).

    Each real base (token < 4) is selected with probability ``rate``; a selected base becomes
    MASK_TOKEN with probability ``mask_fraction``, a uniformly random base with probability
    ``random_fraction``, and is kept otherwise (the "10% kept" still counts in the loss).
    """
    select_key, kind_key, base_key = jax.random.split(key, 3)
    masked_BL = jax.random.bernoulli(select_key, rate, tokens_BL.shape) & (tokens_BL < NUM_BASES)
    u_BL = jax.random.uniform(kind_key, tokens_BL.shape)
    random_BL = jax.random.randint(base_key, tokens_BL.shape, 0, NUM_BASES).astype(tokens_BL.dtype)
    replaced_BL = jnp.where(
        u_BL < mask_fraction,
        jnp.asarray(MASK_TOKEN, tokens_BL.dtype),
        jnp.where(u_BL < mask_fraction + random_fraction, random_BL, tokens_BL),
    )
    return jnp.where(masked_BL, replaced_BL, tokens_BL), masked_BL


def masked_nucleotide_loss(
    logits_BL4: jax.Array, targets_BL: jax.Array, masked_BL: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Softmax cross-entropy over A,C,G,T on the masked positions only.

    Returns (mean loss over masked positions, number of masked positions, per-row loss sum
    [B]); unmasked positions contribute neither loss nor gradient.
    """
    safe_targets_BL = jnp.where(masked_BL, targets_BL, 0).astype(jnp.int32)
    log_probs_BL4 = jax.nn.log_softmax(logits_BL4.astype(jnp.float32), axis=-1)
    nll_BL = -jnp.take_along_axis(log_probs_BL4, safe_targets_BL[..., None], axis=-1)[..., 0]
    nll_BL = jnp.where(masked_BL, nll_BL, 0.0)
    count = jnp.sum(masked_BL)
    return jnp.sum(nll_BL) / jnp.maximum(count, 1), count, jnp.sum(nll_BL, axis=-1)


def random_indels(
    key: jax.Array, tokens_BL: jax.Array, *, rate: float, max_length: int
) -> jax.Array:
    """With probability ``rate`` per example, one insertion or deletion of 1..max_length bases.

    A deletion at p pulls the tail left (N fills the end); an insertion at p writes random
    bases there and pushes the tail right (bases past the end drop). The window keeps its
    length, so the view stays a fixed-shape array.
    """
    if max_length < 1 or rate <= 0:
        return tokens_BL
    batch, length = tokens_BL.shape
    apply_key, kind_key, pos_key, len_key, base_key = jax.random.split(key, 5)
    apply_B = jax.random.bernoulli(apply_key, rate, (batch,))
    insert_B = jax.random.bernoulli(kind_key, 0.5, (batch,))
    pos_B = jax.random.randint(pos_key, (batch,), 0, length)
    size_B = jax.random.randint(len_key, (batch,), 1, max_length + 1)
    i_BL = jnp.arange(length)[None, :]
    p_BL, k_BL = pos_B[:, None], size_B[:, None]
    deletion_src_BL = jnp.where(i_BL >= p_BL, i_BL + k_BL, i_BL)
    insertion_src_BL = jnp.where(i_BL >= p_BL + k_BL, i_BL - k_BL, i_BL)
    src_BL = jnp.where(insert_B[:, None], insertion_src_BL, deletion_src_BL)
    src_BL = jnp.where(apply_B[:, None], src_BL, i_BL)
    moved_BL = jnp.take_along_axis(tokens_BL, jnp.clip(src_BL, 0, length - 1), axis=-1)
    out_BL = jnp.where(src_BL < length, moved_BL, jnp.asarray(N, tokens_BL.dtype))
    inserted_BL = (apply_B & insert_B)[:, None] & (i_BL >= p_BL) & (i_BL < p_BL + k_BL)
    random_BL = jax.random.randint(base_key, tokens_BL.shape, 0, NUM_BASES).astype(tokens_BL.dtype)
    return jnp.where(inserted_BL, random_BL, out_BL)


def strand_flips(key: jax.Array, batch: int) -> jax.Array:
    """bool[B]: which windows a view reads on the reverse strand (each with probability 1/2)."""
    return jax.random.bernoulli(key, 0.5, (batch,))


def student_view(
    key: jax.Array,
    tokens_BL: jax.Array,
    *,
    mask_rate: float,
    mask_fraction: float,
    random_fraction: float,
    substitution_rate: float,
    reverse_complement: bool,
    flip_B: jax.Array | None = None,
) -> StudentView:
    """Strand flip (targets flipped with it) -> base substitutions -> masking.

    ``flip_B`` (bool[B]) gives the strand flags instead of drawing them, so that another view
    can share them.
    """
    rc_key, noise_key, mask_key = jax.random.split(key, 3)
    if reverse_complement or flip_B is not None:
        if flip_B is None:
            flip_B = strand_flips(rc_key, tokens_BL.shape[0])
        tokens_BL = augment.reverse_complement_where(flip_B, tokens_BL)
    noisy_BL = tokens_BL
    if substitution_rate > 0:
        noisy_BL = augment.random_substitutions(noise_key, tokens_BL, substitution_rate)
    inputs_BL, masked_BL = mask_tokens(
        mask_key,
        noisy_BL,
        mask_rate,
        mask_fraction=mask_fraction,
        random_fraction=random_fraction,
    )
    return StudentView(inputs_BL=inputs_BL, targets_BL=tokens_BL, masked_BL=masked_BL)


def teacher_view(
    key: jax.Array,
    tokens_BL: jax.Array,
    *,
    max_shift: int,
    indel_rate: float,
    max_indel: int,
    reverse_complement: bool,
    flip_B: jax.Array | None = None,
) -> jax.Array:
    """Another view of the same windows: a strand (its own, or ``flip_B``), a shift, indels."""
    rc_key, shift_key, indel_key = jax.random.split(key, 3)
    if reverse_complement or flip_B is not None:
        if flip_B is None:
            flip_B = strand_flips(rc_key, tokens_BL.shape[0])
        tokens_BL = augment.reverse_complement_where(flip_B, tokens_BL)
    if max_shift > 0:
        tokens_BL = augment.random_shift(shift_key, tokens_BL, max_shift)
    return random_indels(indel_key, tokens_BL, rate=indel_rate, max_length=max_indel)
