"""EvoAug augmentations: shape and range, probabilities, exact structure, and the train step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from jaxssl import augment, tokens
from jaxssl.config import base_config
from jaxssl.errors import ConfigError
from jaxssl.objectives import supervised
from jaxssl.objectives.supervised import add_noise

# Jitted with the length static and the probability traced, and every op test on the same
# shape: one compile per op, far cheaper than running eagerly.
OPS = {
    name: jax.jit(getattr(augment, f"random_{name}"), static_argnums=(3,))
    for name in ("insertion", "deletion", "inversion", "translocation")
}
SHAPE = (2000, 60)
MAX = 8  # max_len (max_shift for translocation) in every op test
CHECKED = 150  # rows checked one by one against a brute-force numpy reference


def _bases(seed: int, shape: tuple[int, int] = SHAPE) -> jnp.ndarray:
    """Random A/C/G/T tokens (no N)."""
    return jnp.asarray(np.random.default_rng(seed).integers(0, 4, shape), dtype=jnp.uint8)


def _changed(out: jax.Array, t: jax.Array) -> np.ndarray:
    return np.any(np.asarray(out) != np.asarray(t), axis=1)


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_keeps_shape_dtype_range_and_follows_its_probability(name):
    t = _bases(0)
    out = OPS[name](jax.random.key(1), t, 0.3, MAX)
    assert out.shape == t.shape and out.dtype == jnp.uint8
    assert int(out.max()) <= tokens.N
    rate = _changed(out, t).mean()
    # std of the rate is 0.01; a hit example can be unchanged by chance (an inverted
    # palindrome such as AT: about 4 % of inversions), which lowers it a little.
    assert 0.26 < rate < 0.34, rate
    np.testing.assert_array_equal(np.asarray(OPS[name](jax.random.key(1), t, 0.0, MAX)), t)
    with pytest.raises(ValueError, match="max"):
        OPS[name](jax.random.key(1), t, 0.5, SHAPE[1])
    with pytest.raises(ValueError, match="probability"):
        getattr(augment, f"random_{name}")(jax.random.key(1), t, 1.5, MAX)


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_at_probability_one_changes_every_example(name):
    # Inputs where every change shows: all N (insertion/deletion add random bases), all A
    # (an inverted segment becomes T), and a non-periodic sequence for translocation.
    if name in ("insertion", "deletion"):
        t = jnp.full(SHAPE, tokens.N, jnp.uint8)
    elif name == "inversion":
        t = jnp.full(SHAPE, tokens.A, jnp.uint8)
    else:
        t = jnp.tile(jnp.arange(SHAPE[1], dtype=jnp.uint8)[None] % 4, (SHAPE[0], 1))
        t = t.at[:, 0].set(tokens.N)  # one N: every roll by 1..max_shift < L shows
    out = OPS[name](jax.random.key(2), t, 1.0, MAX)
    assert _changed(out, t).all()


def test_insertion_is_bounded_and_keeps_the_flanks():
    t = np.asarray(_bases(3))
    out = np.asarray(OPS["insertion"](jax.random.key(4), jnp.asarray(t), 1.0, MAX))
    length = SHAPE[1]
    for row, src in zip(out[:CHECKED], t[:CHECKED], strict=True):
        # Some k in 1..MAX and block start b: out = src[h:h+b] + k new + src[h+b : L-k+h].
        assert any(
            np.array_equal(row[:b], src[k // 2 : k // 2 + b])
            and np.array_equal(row[b + k :], src[k // 2 + b : length - k + k // 2])
            for k in range(1, MAX + 1)
            for b in range(0, length - k + 1)
        ), (row, src)


def test_deletion_is_bounded_and_pads_both_ends():
    t = np.asarray(_bases(5))
    out = np.asarray(OPS["deletion"](jax.random.key(6), jnp.asarray(t), 1.0, MAX))
    length = SHAPE[1]
    for row, src in zip(out[:CHECKED], t[:CHECKED], strict=True):
        # Some d in 1..MAX and start s: out = pad(d//2) + src[:s] + src[s+d:] + pad(d - d//2).
        assert any(
            np.array_equal(row[d // 2 : d // 2 + s], src[:s])
            and np.array_equal(row[d // 2 + s : length - (d - d // 2)], src[s + d :])
            for d in range(1, MAX + 1)
            for s in range(0, length - d + 1)
        ), (row, src)
    assert (out < 4).all(), "padding is random bases, never N"


def test_inversion_is_the_reverse_complement_of_one_segment():
    t = np.asarray(jax.random.randint(jax.random.key(7), SHAPE, 0, 5).astype(jnp.uint8))
    out = np.asarray(OPS["inversion"](jax.random.key(8), jnp.asarray(t), 1.0, MAX))
    length, spans = SHAPE[1], []
    for row, src in zip(out[:CHECKED], t[:CHECKED], strict=True):
        diff = np.flatnonzero(row != src)
        if diff.size == 0:
            continue  # a segment that is its own reverse complement (e.g. AT)
        lo, hi = diff[0], diff[-1] + 1
        spans.append(hi - lo)
        # The changed positions lie inside one segment of <= MAX that is the RC of the input.
        assert any(
            np.array_equal(row[a:b], tokens.reverse_complement(src[a:b]))
            and np.array_equal(row[:a], src[:a])
            and np.array_equal(row[b:], src[b:])
            for a in range(max(0, hi - MAX), lo + 1)
            for b in range(hi, min(length, a + MAX) + 1)
        ), (row, src)
    assert len(spans) > 0.9 * CHECKED and max(spans) <= MAX


def test_translocation_is_np_roll_within_max_shift():
    t = np.asarray(_bases(9))
    out = np.asarray(OPS["translocation"](jax.random.key(10), jnp.asarray(t), 1.0, MAX))
    shifts = []
    for row, src in zip(out[:CHECKED], t[:CHECKED], strict=True):
        fits = [s for s in range(-MAX, MAX + 1) if s and np.array_equal(row, np.roll(src, s))]
        assert len(fits) == 1
        shifts.append(fits[0])
    assert set(shifts) == set(range(-MAX, 0)) | set(range(1, MAX + 1))


def _augment(**overrides) -> ConfigDict:
    noise = base_config().augment
    noise.update(overrides)
    return noise


def test_add_noise_default_is_unchanged_and_keys_are_independent():
    t = _bases(11, (64, 100))
    key = jax.random.key(12)
    # The default (and explicit zero probabilities) is the old add_noise: RC, shift 3.

    @jax.jit
    def old_add_noise(key, tokens_BL):
        rc_key, shift_key, _ = jax.random.split(key, 3)
        tokens_BL = augment.random_reverse_complement(rc_key, tokens_BL)
        return augment.random_shift(shift_key, tokens_BL, 3)

    def new_add_noise(noise):
        return jax.jit(lambda k, x: add_noise(k, x, noise))(key, t)

    # Same program, not only the same values: the default step compiles as before.
    same = jax.make_jaxpr(lambda k, x: add_noise(k, x, base_config().augment))(key, t)
    assert str(same) == str(jax.make_jaxpr(old_add_noise.__wrapped__)(key, t))
    before = old_add_noise(key, t)
    np.testing.assert_array_equal(np.asarray(new_add_noise(base_config().augment)), before)
    legacy = ConfigDict({"reverse_complement": True, "max_shift": 3, "substitution_rate": 0.0})
    np.testing.assert_array_equal(np.asarray(new_add_noise(legacy)), before)
    # Every op on: still tokens of the same shape, different from the default noise.
    out = new_add_noise(_augment(**{**augment.evoaug_settings(), "inversion_prob": 0.3}))
    assert out.shape == t.shape and out.dtype == jnp.uint8 and int(out.max()) <= tokens.N
    assert _changed(out, before).mean() > 0.5
    with pytest.raises(ValueError, match="config.augment.insertion_max_len"):
        add_noise(key, t, _augment(insertion_prob=0.5, insertion_max_len=100))


def test_evoaug_settings_are_augment_keys_and_validated():
    keys = set(base_config().augment)
    for strength in ("default", "strong", "basset", "deepstarr", "chipseq"):
        settings = augment.evoaug_settings(strength)
        assert set(settings) == keys
    assert augment.evoaug_settings()["insertion_max_len"] == 20
    assert augment.evoaug_settings("deepstarr")["reverse_complement"] is False
    with pytest.raises(ValueError, match="strength"):
        augment.evoaug_settings("extreme")

    from jaxssl.config import resolve_stage, with_stage_slots
    from jaxssl.stage_checks import validate_stage

    config = base_config()
    config.stages = "main"
    config.main = ConfigDict({"augment": augment.evoaug_settings()})
    stage = resolve_stage(with_stage_slots(config), "main")
    validate_stage(stage)
    assert stage.augment.translocation_prob == pytest.approx(1 / 3)
    stage.augment.deletion_prob = 1.5
    with pytest.raises(ConfigError, match="config.augment.deletion_prob"):
        validate_stage(stage)
    stage.augment.deletion_prob = 0.1
    stage.augment.inversion_max_len = 0
    with pytest.raises(ConfigError, match="config.augment.inversion_max_len"):
        validate_stage(stage)


def test_jitted_supervised_step_with_every_op():
    # benchmark_step (the real step: optimizer, loss, donation) with every op on.
    step, state, batch = supervised.benchmark_step(
        "deepbind",
        batch_size=8,
        seq_len=48,
        num_tasks=3,
        augment={**augment.evoaug_settings("strong"), "inversion_prob": 0.5},
    )
    state, metrics = step(state, batch)
    assert int(state.step) == 1 and np.isfinite(float(metrics["training_loss"]))
