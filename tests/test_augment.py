"""On-device augmentations: exact values against numpy, invariants, and rates."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxssl import augment, tokens


def _tokens(seed: int, shape: tuple[int, int]) -> jnp.ndarray:
    """Random tokens with some N (4) mixed in."""
    return jnp.asarray(np.random.default_rng(seed).integers(0, 5, shape), dtype=jnp.uint8)


def test_one_hot_bases_and_unknowns():
    x = augment.one_hot(jnp.array([[0, 1, 2, 3, 4, 7]], jnp.uint8), jnp.bfloat16)
    assert x.shape == (1, 6, 4) and x.dtype == jnp.bfloat16
    expected = np.zeros((6, 4), np.float32)
    expected[np.arange(4), np.arange(4)] = 1.0
    np.testing.assert_array_equal(np.asarray(x[0], np.float32), expected)


def test_one_reverse_complement_on_host_on_device_and_under_jit():
    t = _tokens(0, (5, 37))
    rc = tokens.reverse_complement(t)
    assert isinstance(rc, jax.Array) and rc.dtype == jnp.uint8
    on_host = tokens.reverse_complement(np.asarray(t))
    assert isinstance(on_host, np.ndarray) and on_host.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(rc), on_host)
    np.testing.assert_array_equal(np.asarray(jax.jit(tokens.reverse_complement)(t)), on_host)
    np.testing.assert_array_equal(np.asarray(tokens.reverse_complement(rc)), np.asarray(t))
    np.testing.assert_array_equal(
        np.asarray(tokens.reverse_complement(jnp.array([[0, 1, 4, 2, 3]], jnp.uint8))),
        [[0, 1, 4, 2, 3]],  # ACNGT is its own reverse complement
    )
    assert augment.reverse_complement is tokens.reverse_complement  # one definition


def test_one_hot_of_rc_is_flipped_complement_channels():
    t = _tokens(1, (3, 21))
    x = augment.one_hot(t)
    x_rc = augment.one_hot(tokens.reverse_complement(t))
    # A<->T is channel 0<->3 and C<->G is 1<->2: reversing the channel axis swaps both pairs.
    np.testing.assert_array_equal(np.asarray(x_rc), np.asarray(x[:, ::-1, ::-1]))


def test_random_reverse_complement_is_per_example():
    t = _tokens(2, (64, 30))
    out = augment.random_reverse_complement(jax.random.key(0), t, p=0.5)
    flipped = np.array(
        [np.array_equal(o, tokens.reverse_complement(i)) for o, i in zip(out, t, strict=True)]
    )
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, t, strict=True)])
    assert np.all(flipped | kept)
    assert 16 < flipped.sum() < 48
    expected_flags = jax.random.bernoulli(jax.random.key(0), 0.5, (64,))
    np.testing.assert_array_equal(flipped, np.asarray(expected_flags))
    never = augment.random_reverse_complement(jax.random.key(0), t, p=0.0)
    np.testing.assert_array_equal(np.asarray(never), np.asarray(t))


def test_shift_moves_content_and_fills_with_n():
    t = jnp.array([[0, 1, 2, 3, 0], [0, 1, 2, 3, 0], [3, 3, 3, 3, 3]], jnp.uint8)
    out = augment.shift(t, jnp.array([2, -1, 0]))
    np.testing.assert_array_equal(
        np.asarray(out), [[4, 4, 0, 1, 2], [1, 2, 3, 0, 4], [3, 3, 3, 3, 3]]
    )


def test_random_shift_matches_drawn_shifts_without_wraparound():
    t = jnp.asarray(np.random.default_rng(3).integers(0, 4, (32, 50)), jnp.uint8)  # no N
    key = jax.random.key(5)
    out = np.asarray(augment.random_shift(key, t, max_shift=7))
    shifts = np.asarray(jax.random.randint(key, (32,), -7, 8))
    assert np.abs(shifts).max() <= 7 and len(set(shifts.tolist())) > 3
    for row, src, s in zip(out, np.asarray(t), shifts, strict=True):
        assert (row == tokens.N).sum() == abs(s)
        if s >= 0:
            np.testing.assert_array_equal(row[s:], src[: 50 - s])
        else:
            np.testing.assert_array_equal(row[:s], src[-s:])
    np.testing.assert_array_equal(np.asarray(augment.random_shift(key, t, 0)), np.asarray(t))
    with pytest.raises(ValueError, match="max_shift"):
        augment.random_shift(key, t, 50)


def test_random_substitutions_rate_and_never_identity():
    t = _tokens(4, (200, 250))
    out = augment.random_substitutions(jax.random.key(1), t, rate=0.1)
    t_np, out_np = np.asarray(t), np.asarray(out)
    is_base = t_np < 4
    changed = out_np != t_np
    assert not changed[~is_base].any(), "N must never be substituted"
    assert (out_np[changed] < 4).all()
    rate = changed[is_base].mean()
    assert abs(rate - 0.1) < 0.005  # ~40k bases: std of the rate is 0.0015
    # Substituted bases spread over the three other bases.
    pairs = t_np[changed].astype(int) * 4 + out_np[changed]
    counts = np.bincount(pairs, minlength=16).reshape(4, 4)
    assert np.all(np.diag(counts) == 0)
    off = counts[~np.eye(4, dtype=bool)]
    assert off.min() > 0.7 * off.mean()
    none = augment.random_substitutions(jax.random.key(1), t, rate=0.0)
    np.testing.assert_array_equal(np.asarray(none), t_np)
    with pytest.raises(ValueError, match="rate"):
        augment.random_substitutions(jax.random.key(1), t, rate=1.5)


def test_augmentations_jit_with_traced_rate():
    t = _tokens(5, (8, 40))

    @jax.jit
    def noisy(key, tokens_BL, rate):
        k1, k2, k3 = jax.random.split(key, 3)
        tokens_BL = augment.random_reverse_complement(k1, tokens_BL)
        tokens_BL = augment.random_shift(k2, tokens_BL, 3)
        return augment.random_substitutions(k3, tokens_BL, rate)

    out = noisy(jax.random.key(0), t, 0.05)
    assert out.shape == t.shape and out.dtype == jnp.uint8
    assert not np.array_equal(np.asarray(out), np.asarray(noisy(jax.random.key(1), t, 0.05)))


def test_rc_average_of_pytree():
    t = _tokens(6, (4, 9))

    def fn(tokens_BL):
        first = tokens_BL[:, 0].astype(jnp.float32)
        return {"first": first, "sum": tokens_BL.sum(axis=1).astype(jnp.float32)}

    out = augment.rc_average(fn, t)
    rc = tokens.reverse_complement(np.asarray(t))
    np.testing.assert_allclose(out["first"], (np.asarray(t)[:, 0] + rc[:, 0]) / 2)
    np.testing.assert_allclose(out["sum"], (np.asarray(t).sum(1) + rc.sum(1)) / 2)
