"""Model registry and the SequenceModel contract, at tiny widths so the suite stays fast."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxssl import augment
from jaxssl.models import build_model, count_params, default_hparams, model_names
from jaxssl.tokens import reverse_complement

TINY = {
    "deepbind": {"num_filters": 8, "filter_width": 7},
    "basset": {
        "conv_channels": (8, 6, 6),
        "conv_widths": (7, 5, 3),
        "pool_sizes": (2, 3, 3),
        "fc_dim": 12,
        "dropout": 0.3,  # off by default; on here so the rng plumbing is tested
    },
    "dilated_resnet": {"channels": 8, "num_blocks": 3, "max_dilation": 4, "stem_width": 5},
}


def _tokens(batch: int, length: int, seed: int = 0) -> jnp.ndarray:
    return jnp.asarray(np.random.default_rng(seed).integers(0, 5, (batch, length)), jnp.uint8)


def _tiny(name: str, seq_len: int, **kw) -> nnx.Module:
    hparams = {**TINY[name], **kw}
    return build_model(name, num_outputs=3, seq_len=seq_len, rngs=nnx.Rngs(0), **hparams)


def test_registry_names_and_defaults():
    assert model_names()[:3] == ["deepbind", "basset", "dilated_resnet"]
    assert set(TINY) <= set(model_names())
    hp = default_hparams("basset")
    hp["fc_dim"] = -1  # a copy: mutating it must not change the registry
    assert default_hparams("basset")["fc_dim"] == 512


@pytest.mark.parametrize("name", ["deepbind", "basset", "dilated_resnet"])
@pytest.mark.parametrize("length", [101, 250])
def test_shapes_and_dtypes(name, length):
    model = _tiny(name, length)
    tokens_BL = _tokens(4, length)
    logits_BT = model(tokens_BL)
    assert logits_BT.shape == (4, 3) and logits_BT.dtype == jnp.float32
    seq_BLD, pooled_BD = model.features(tokens_BL)
    assert seq_BLD.shape == (4, length, model.seq_feature_dim)
    assert pooled_BD.shape == (4, model.feature_dim)
    assert model.name == name and model.num_outputs == 3 and model.seq_len == length
    assert set(model.hparams) == set(default_hparams(name))
    assert np.all(np.isfinite(np.asarray(logits_BT)))


@pytest.mark.parametrize("name", ["deepbind", "basset", "dilated_resnet"])
def test_bf16_compute_keeps_float32_params_and_logits(name):
    model = _tiny(name, 101, dtype=jnp.bfloat16)
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    assert params and all(p.dtype == jnp.float32 for p in params)
    tokens_BL = _tokens(4, 101)
    seq_BLD, pooled_BD = model.features(tokens_BL)
    assert seq_BLD.dtype == jnp.bfloat16 and pooled_BD.dtype == jnp.bfloat16
    logits = model(tokens_BL)
    assert logits.dtype == jnp.float32
    reference = _tiny(name, 101)(tokens_BL)  # same init (same seed), float32 compute
    np.testing.assert_allclose(logits, reference, atol=0.1, rtol=0.1)


@pytest.mark.parametrize("name", ["deepbind", "basset", "dilated_resnet"])
def test_deterministic_repeatable_and_dropout_uses_rngs(name):
    model = _tiny(name, 101)
    tokens_BL = _tokens(4, 101)
    np.testing.assert_array_equal(model(tokens_BL), model(tokens_BL))
    a = model(tokens_BL, deterministic=False, rngs=nnx.Rngs(dropout=1))
    b = model(tokens_BL, deterministic=False, rngs=nnx.Rngs(dropout=2))
    again = model(tokens_BL, deterministic=False, rngs=nnx.Rngs(dropout=1))
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, again)
    assert not np.allclose(a, model(tokens_BL))
    with pytest.raises(ValueError, match="rngs"):
        model(tokens_BL, deterministic=False)


def test_state_is_params_only_and_jits_through_split_merge():
    model = _tiny("dilated_resnet", 40)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    assert not jax.tree.leaves(rest)

    @jax.jit
    def forward(params, tokens_BL, key):
        m = nnx.merge(graphdef, params)
        return m(tokens_BL, deterministic=False, rngs=nnx.Rngs(dropout=key))

    out = forward(params, _tokens(2, 40), jax.random.key(0))
    assert out.shape == (2, 3) and out.dtype == jnp.float32


def test_param_counts():
    # DeepBind by hand: conv 7*4*8+8, hidden 16*8+8, head 8*3+3.
    assert count_params(_tiny("deepbind", 50)) == 232 + 136 + 27
    for name, low, high in [
        ("deepbind", 10_000, 100_000),
        ("basset", 1_000_000, 4_000_000),
        ("dilated_resnet", 500_000, 2_000_000),
    ]:
        abstract = nnx.eval_shape(
            lambda name=name: build_model(name, num_outputs=1, seq_len=101, rngs=nnx.Rngs(0))
        )
        assert low < count_params(abstract) < high, name
    flat = nnx.eval_shape(
        lambda: build_model("basset", num_outputs=1, seq_len=1000, rngs=nnx.Rngs(0), pool="flatten")
    )
    assert 1_000_000 < count_params(flat) < 5_000_000


def test_zero_rows_for_n_and_rc_average_is_strand_symmetric():
    model = _tiny("basset", 101)
    tokens_BL = _tokens(4, 101)
    avg = augment.rc_average(model, tokens_BL)
    avg_rc = augment.rc_average(model, reverse_complement(tokens_BL))
    np.testing.assert_allclose(avg, avg_rc, rtol=1e-5, atol=1e-6)
    assert not np.allclose(model(tokens_BL), model(reverse_complement(tokens_BL)))


def test_dilated_receptive_field_covers_101bp_by_default():
    model = nnx.eval_shape(
        lambda: build_model("dilated_resnet", num_outputs=1, seq_len=101, rngs=nnx.Rngs(0))
    )
    assert model.dilations == (1, 2, 4, 8, 16, 32, 1, 2)
    assert model.receptive_field >= 101


def test_basset_flatten_is_tied_to_its_length():
    model = _tiny("basset", 101, pool="flatten")
    assert model(_tokens(4, 101)).shape == (4, 3)
    with pytest.raises(ValueError, match="seq_len=101"):
        model(_tokens(4, 250))


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="deepbind, basset, dilated_resnet"):
        build_model("resnet50", num_outputs=1, seq_len=101, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="'filters'.*filter_width, num_filters"):
        build_model("deepbind", num_outputs=1, seq_len=101, rngs=nnx.Rngs(0), filters=3)
    with pytest.raises(ValueError, match="'fc_dim'.*int"):
        build_model("basset", num_outputs=1, seq_len=101, rngs=nnx.Rngs(0), fc_dim="big")
    with pytest.raises(ValueError, match="power of 2"):
        build_model("dilated_resnet", num_outputs=1, seq_len=101, rngs=nnx.Rngs(0), max_dilation=6)
    with pytest.raises(ValueError, match="pool must be one of"):
        build_model("basset", num_outputs=1, seq_len=101, rngs=nnx.Rngs(0), pool="mean")
    with pytest.raises(ValueError, match="expected tokens"):
        _tiny("deepbind", 20)(jnp.zeros((20,), jnp.uint8))
    # JSON gives lists back: they are accepted and stored as tuples, like the defaults.
    model = _tiny("basset", 30, pool_sizes=[1, 2, 2])
    assert model.hparams["pool_sizes"] == (1, 2, 2)


def test_max_pool_keeps_the_partial_last_window():
    from jaxssl.models.layers import max_pool

    x_BLD = jnp.asarray(np.random.default_rng(0).normal(size=(2, 7, 3)), jnp.float32)
    out = np.asarray(max_pool(x_BLD, 3))
    assert out.shape == (2, 3, 3)
    x = np.asarray(x_BLD)
    expected = np.stack([x[:, 0:3].max(1), x[:, 3:6].max(1), x[:, 6:7].max(1)], axis=1)
    np.testing.assert_array_equal(out, expected)
