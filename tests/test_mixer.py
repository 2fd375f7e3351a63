"""The rotation mixer and the circular dilated CNN: rotation arithmetic, full-window reach."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxssl.augment import one_hot
from jaxssl.models import build_model, model_names
from jaxssl.models.circular_dilated import circular_dilations
from jaxssl.models.mixer import rotate_tracks, track_bounds, track_offsets

TINY = {
    "mixer": {"channels": 16, "hidden": 16, "stem_width": 3},
    "circular_dilated": {"channels": 8, "stem_width": 3},
}


def test_track_rotation_rolls_each_channel_group_by_its_offset():
    assert track_offsets(32) == (0, 1, 2, 4, 8, 16)
    assert track_offsets(101) == (0, 1, 2, 4, 8, 16, 32, 64)
    assert track_bounds(8, 3) == ((0, 4), (4, 6), (6, 8))
    x = jnp.arange(2 * 10 * 3, dtype=jnp.float32).reshape(2, 10, 3)
    out = rotate_tracks(x, ((0, 1), (1, 2), (2, 3)), (0, 1, 4))
    for c, off in enumerate((0, 1, 4)):
        np.testing.assert_array_equal(out[:, :, c], np.roll(x[:, :, c], off, axis=1))
    with pytest.raises(ValueError, match="config.model.hparams.channels"):
        track_bounds(4, 6)


def test_circular_dilations_double_up_to_the_window():
    assert circular_dilations(32, 0) == (1, 2, 4, 8, 16)
    assert circular_dilations(8, 5) == (1, 2, 4, 1, 2)


@pytest.mark.parametrize("name", ["mixer", "circular_dilated"])
def test_every_output_position_sees_the_whole_window(name):
    assert name in model_names()
    length = 32
    model = build_model(name, num_outputs=2, seq_len=length, rngs=nnx.Rngs(0), **TINY[name])
    tokens = jnp.asarray(np.random.default_rng(0).integers(0, 4, (2, length)), jnp.uint8)
    seq, pooled = jax.eval_shape(lambda t: model.features(t), tokens)
    width = TINY[name]["channels"]
    assert seq.shape == (2, length, width) and pooled.shape == (2, width)
    assert jax.eval_shape(lambda t: model(t), tokens).shape == (2, 2)
    # Residual branches start at zero (identity blocks): give every weight a random value so
    # the reach measured is that of the architecture, not of the initialisation.
    params = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    noisy = [0.3 * jax.random.normal(k, leaf.shape) for k, leaf in zip(keys, leaves, strict=True)]
    nnx.update(model, jax.tree.unflatten(treedef, noisy))
    x = one_hot(tokens)

    def first_position(x_BL4):
        seq_BLD, _ = model._features(x_BL4, deterministic=True, rngs=None)
        return jnp.sum(seq_BLD[:, 0])

    grad_L = np.abs(np.asarray(jax.jit(jax.grad(first_position))(x))).sum(axis=(0, 2))
    assert np.all(grad_L > 0), np.nonzero(grad_L == 0)


@pytest.mark.parametrize("name", ["mixer", "circular_dilated"])
def test_dropout_needs_rngs_and_is_random(name):
    model = build_model(name, num_outputs=1, seq_len=16, rngs=nnx.Rngs(0), **TINY[name])
    tokens = jnp.zeros((2, 16), jnp.uint8)
    a = model(tokens, deterministic=False, rngs=nnx.Rngs(dropout=jax.random.PRNGKey(1)))
    b = model(tokens, deterministic=False, rngs=nnx.Rngs(dropout=jax.random.PRNGKey(2)))
    assert a.shape == (2, 1) and not np.allclose(a, b)
    with pytest.raises(ValueError, match="rngs"):
        model(tokens, deterministic=False)
