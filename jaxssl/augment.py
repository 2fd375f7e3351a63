"""On-device sequence augmentations: pure ``jnp`` on uint8 tokens, jit- and shard-friendly.

Everything here runs inside the compiled step, so only one byte per base crosses to the
device and every example gets fresh randomness each step (never a mask or shift drawn once
and frozen). Per-example randomness comes from a single key drawn with a leading batch shape,
which keeps the functions vectorised. Each random transform has a deterministic twin
(``reverse_complement_where``, ``shift``) so an objective can apply the *same* transform to
its targets or masks. Tokens follow ``jaxssl.tokens``: A=0 C=1 G=2 T=3 N=4, and so does the
reverse complement (``jaxssl.tokens.reverse_complement``, the one definition).

The evolution-inspired augmentations of EvoAug (Lee et al. 2023, Genome Biology 24:105;
``random_insertion``, ``random_deletion``, ``random_inversion``, ``random_translocation``,
with ``evoaug_settings`` for the published settings) are here in the same form: each example
is changed with its own probability, by one gather, and the length never changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxssl.tokens import NUM_BASES, N, complement, reverse_complement, reverse_complement_one_hot


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


def _check_max_len(name: str, max_len: int, length: int) -> None:
    if not 1 <= max_len < length:
        raise ValueError(f"{name} must be in [1, {length}) for length {length}, got {max_len}")


def _draw_lengths(key: jax.Array, batch: int, max_len: int) -> jax.Array:
    """Per-example lengths, uniform in [1, max_len] (0 would be a no-op counted as a change)."""
    return jax.random.randint(key, (batch,), 1, max_len + 1)


def _draw_starts(key: jax.Array, room_B: jax.Array) -> jax.Array:
    """Per-example start positions, uniform in [0, room_B[b]] (room varies per example)."""
    return jax.random.randint(key, room_B.shape, 0, room_B + 1)


def _with_random_bases(key: jax.Array, tokens_BL: jax.Array, count: int) -> jax.Array:
    """Tokens [B, L + count]: ``count`` random bases appended, for one gather to pick from."""
    bases_BM = jax.random.randint(key, (tokens_BL.shape[0], count), 0, NUM_BASES)
    return jnp.concatenate([tokens_BL, bases_BM.astype(tokens_BL.dtype)], axis=-1)


def _apply_where(
    key: jax.Array, p: float, tokens_BL: jax.Array, changed_BL: jax.Array
) -> jax.Array:
    """Keeps ``changed_BL`` for a Bernoulli(``p``) draw per example, the input elsewhere."""
    if isinstance(p, int | float) and not 0.0 <= p <= 1.0:
        raise ValueError(f"augmentation probability must be in [0, 1], got {p}")
    hit_B = jax.random.bernoulli(key, p, (tokens_BL.shape[0],))
    return jnp.where(hit_B[:, None], changed_BL, tokens_BL)


def random_insertion(key: jax.Array, tokens_BL: jax.Array, p: float, max_len: int) -> jax.Array:
    """With probability ``p`` per example, inserts 1..``max_len`` random bases (EvoAug).

    EvoAug lets the sequence grow to L + max_len (padding the others with random DNA); here
    the length stays L: the sequence with the k inserted bases (length L + k) is cropped back
    to L *centred*, floor(k/2) bases off the left end and the rest off the right, so the
    original content moves by at most k/2 either way. The insertion point is drawn so the
    whole inserted block lies inside the kept window: every insertion is visible.
    """
    batch, length = tokens_BL.shape
    _check_max_len("insertion max_len", max_len, length)
    hit_key, len_key, pos_key, base_key = jax.random.split(key, 4)
    k_B = _draw_lengths(len_key, batch, max_len)
    t_B = _draw_starts(pos_key, length - k_B)  # block start in output coordinates
    h_B = k_B // 2  # bases cropped off the left end
    i_BL = jnp.arange(length)[None, :]
    t, k, h = t_B[:, None], k_B[:, None], h_B[:, None]
    # Source in [tokens | max_len random bases]: each branch lies in range by construction.
    src_BL = jnp.where(i_BL < t, i_BL + h, jnp.where(i_BL < t + k, length + i_BL - t, i_BL - k + h))
    extended_BM = _with_random_bases(base_key, tokens_BL, max_len)
    changed_BL = jnp.take_along_axis(extended_BM, src_BL, axis=-1)
    return _apply_where(hit_key, p, tokens_BL, changed_BL)


def random_deletion(key: jax.Array, tokens_BL: jax.Array, p: float, max_len: int) -> jax.Array:
    """With probability ``p`` per example, deletes 1..``max_len`` consecutive bases (EvoAug).

    As in EvoAug the length is restored with *random bases*, floor(d/2) at the left end and
    the rest at the right, so the remaining content stays centred. Random bases rather than
    N: a run of N at an end would mark the augmented examples, which a model could learn to
    treat differently from clean ones.
    """
    batch, length = tokens_BL.shape
    _check_max_len("deletion max_len", max_len, length)
    hit_key, len_key, pos_key, base_key = jax.random.split(key, 4)
    d_B = _draw_lengths(len_key, batch, max_len)
    s_B = _draw_starts(pos_key, length - d_B)  # first deleted base, in input coordinates
    h_B = d_B // 2  # random bases padded on the left
    i_BL = jnp.arange(length)[None, :]
    d, s, h = d_B[:, None], s_B[:, None], h_B[:, None]
    right_pad = length - (d - h)  # first position of the right padding
    # Source in [tokens | max_len random bases]: the d pads take random bases 0..d-1.
    src_BL = jnp.where(i_BL < h + s, i_BL - h, i_BL - h + d)
    src_BL = jnp.where(i_BL < h, length + i_BL, src_BL)
    src_BL = jnp.where(i_BL >= right_pad, length + h + i_BL - right_pad, src_BL)
    extended_BM = _with_random_bases(base_key, tokens_BL, max_len)
    changed_BL = jnp.take_along_axis(extended_BM, src_BL, axis=-1)
    return _apply_where(hit_key, p, tokens_BL, changed_BL)


def random_inversion(key: jax.Array, tokens_BL: jax.Array, p: float, max_len: int) -> jax.Array:
    """With probability ``p`` per example, reverse-complements 1..``max_len`` bases in place.

    EvoAug's inversion: the segment [t, t + k) is replaced by its reverse complement (N
    stays N), the rest is untouched.
    """
    batch, length = tokens_BL.shape
    _check_max_len("inversion max_len", max_len, length)
    hit_key, len_key, pos_key = jax.random.split(key, 3)
    k_B = _draw_lengths(len_key, batch, max_len)
    t_B = _draw_starts(pos_key, length - k_B)
    i_BL = jnp.arange(length)[None, :]
    t, k = t_B[:, None], k_B[:, None]
    inside_BL = (i_BL >= t) & (i_BL < t + k)
    src_BL = jnp.where(inside_BL, 2 * t + k - 1 - i_BL, i_BL)
    moved_BL = jnp.take_along_axis(tokens_BL, src_BL, axis=-1)
    changed_BL = jnp.where(inside_BL, complement(moved_BL), moved_BL)
    return _apply_where(hit_key, p, tokens_BL, changed_BL)


def random_translocation(
    key: jax.Array, tokens_BL: jax.Array, p: float, max_shift: int
) -> jax.Array:
    """With probability ``p`` per example, rolls it circularly by 1..``max_shift`` either way.

    EvoAug's translocation (cut in two, swap the pieces) is ``np.roll``; unlike ``shift``
    it keeps every base and makes one junction. The shift is never 0, so an example drawn
    for the augmentation is always moved.
    """
    batch, length = tokens_BL.shape
    _check_max_len("translocation max_shift", max_shift, length)
    hit_key, len_key, sign_key = jax.random.split(key, 3)
    sign_B = jnp.where(jax.random.bernoulli(sign_key, 0.5, (batch,)), 1, -1)
    roll_B = sign_B * _draw_lengths(len_key, batch, max_shift)
    src_BL = (jnp.arange(length)[None, :] - roll_B[:, None]) % length
    changed_BL = jnp.take_along_axis(tokens_BL, src_BL, axis=-1)
    return _apply_where(hit_key, p, tokens_BL, changed_BL)


# EvoAug (Lee et al. 2023, Genome Biology 24:105; github.com/p-koo/evoaug_analysis,
# analysis/main/*_analysis.py and the package README). EvoAug applies to each sequence a
# random subset of `max_augs_per_seq` of its n augmentations, so each one hits a sequence
# with probability max_augs_per_seq / n: 2/6 in the README and ChIP-seq runs (1..3 of 6 at
# random there, also 1/3 on average), 3/6 for Basset, 3/5 for DeepSTARR. That probability is
# the per-op `*_prob` here. Its mutation rate counts real changes per base of a *chosen*
# sequence; `substitution_rate` mutates every sequence, so it is set to probability × rate
# (the same expected number of mutations). Not carried over: Gaussian noise on one-hot input
# (the input here is tokens), and inversion, which the published runs left out (their sweep
# tested it alone). EvoAug then fine-tunes briefly *without* augmentation at a 10x lower
# learning rate; do that with a following stage whose augment section turns these off.
_EVOAUG = {
    # README example and ChIP-seq runs: max 20 bp, 1/3 per op, 5% mutations, RC.
    "default": {"p": 1 / 3, "ins": 20, "del": 20, "shift": 20, "mut": 0.05, "rc": True},
    # Basset (DNase-seq, 164 cell types): max 30 bp, 3 of 6 ops, 15% mutations, RC.
    "basset": {"p": 1 / 2, "ins": 30, "del": 30, "shift": 30, "mut": 0.15, "rc": True},
    # DeepSTARR (enhancer activity, strand-specific, so no RC): 3 of 5 ops.
    "deepstarr": {"p": 3 / 5, "ins": 20, "del": 30, "shift": 20, "mut": 0.05, "rc": False},
}
_EVOAUG["chipseq"] = _EVOAUG["default"]
_EVOAUG["strong"] = _EVOAUG["basset"]


def evoaug_settings(strength: str = "default") -> dict[str, Any]:
    """The ``augment`` keys for EvoAug's published settings, a plain dict to override with.

    ``strength`` is "default" (= "chipseq": insertion, deletion and translocation up to 20
    bp, each with probability 1/3, substitution rate 0.05/3, RC), "strong" (= "basset": 30
    bp, 1/2, 0.15/2, RC) or "deepstarr" (insertion 20, deletion 30, translocation 20, 3/5,
    0.05 x 3/5, no RC). Inversion is off (the published runs did not use it) but has a
    length, so ``inversion_prob`` alone turns it on; the ``shift`` with N fill is off, since
    translocation replaces it. Use as ``config.<stage>.augment = evoaug_settings()``; see the
    comment above ``_EVOAUG`` for where each value comes from.
    """
    if strength not in _EVOAUG:
        raise ValueError(
            f"evoaug_settings: unknown strength {strength!r}; use one of {sorted(_EVOAUG)}"
        )
    s = _EVOAUG[strength]
    return {
        "reverse_complement": s["rc"],
        "max_shift": 0,
        "substitution_rate": round(s["p"] * s["mut"], 4),
        "insertion_prob": s["p"],
        "insertion_max_len": s["ins"],
        "deletion_prob": s["p"],
        "deletion_max_len": s["del"],
        "inversion_prob": 0.0,
        "inversion_max_len": s["ins"],
        "translocation_prob": s["p"],
        "translocation_max_shift": s["shift"],
    }


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
