"""What every sequence model shares: the token-in/logits-out contract, pooling and the head.

A model subclasses ``SequenceModel`` and implements ``_features`` on one-hot input; the base
class owns the one-hot, the compute dtype, the linear head and the float32 cast of logits, so
the mixed-precision rules (params float32, compute in ``dtype``, loss in float32) hold for
every architecture without each one repeating them. Only ``rescnn`` may use BatchNorm: its
running statistics travel with the parameters (``train_state.split_model``) and are computed
over the global batch under ``jit``, so results do not depend on how a batch is split across
devices.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.augment import one_hot


class SequenceModel(nnx.Module):
    """uint8 tokens [B, L] -> float32 logits [B, T], plus ``features`` for self-supervision.

    Attributes: ``name`` (registry name), ``num_outputs`` (T), ``seq_len`` (the length the
    defaults were sized for), ``feature_dim`` (D of the pooled vector feeding the head),
    ``seq_feature_dim`` (channels of the per-position features; equals ``feature_dim`` unless
    an architecture says otherwise), ``dtype`` (compute dtype) and ``hparams`` (a dict).
    """

    name: ClassVar[str] = "sequence_model"
    DEFAULT_HPARAMS: ClassVar[dict[str, Any]] = {}
    # True when no parameter depends on seq_len (convolutions, then pooling over positions):
    # init_from may then load weights trained on windows of another length.
    LENGTH_AGNOSTIC: ClassVar[bool] = False

    def __init__(
        self,
        *,
        num_outputs: int,
        seq_len: int,
        feature_dim: int,
        seq_feature_dim: int,
        head_dropout: float,
        hparams: dict[str, Any],
        dtype: jnp.dtype,
        rngs: nnx.Rngs,
    ):
        self.num_outputs = num_outputs
        self.seq_len = seq_len
        self.feature_dim = feature_dim
        self.seq_feature_dim = seq_feature_dim
        self.dtype = dtype
        # A dict would make the graphdef unhashable (and so un-jittable): keep sorted items.
        self._hparam_items = tuple(sorted(hparams.items()))
        # Dropout layers hold no rng state of their own: the caller passes `rngs` per call,
        # so the module's state is exactly its parameters.
        self.head_dropout = nnx.Dropout(head_dropout)
        self.head = nnx.Linear(feature_dim, num_outputs, dtype=dtype, rngs=rngs)

    @property
    def hparams(self) -> dict[str, Any]:
        return dict(self._hparam_items)

    def _features(
        self, x_BL4: jax.Array, *, deterministic: bool, rngs: nnx.Rngs | None
    ) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError

    def features(
        self, tokens_BL: jax.Array, *, deterministic: bool = True, rngs: nnx.Rngs | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Returns (seq_BLD at the input length L, pooled_BD), both in the compute dtype."""
        if not deterministic and rngs is None:
            raise ValueError(
                f"{self.name}: deterministic=False needs rngs, e.g. rngs=nnx.Rngs(dropout=key)"
            )
        if tokens_BL.ndim != 2:
            raise ValueError(f"{self.name}: expected tokens [B, L], got shape {tokens_BL.shape}")
        return self._features(
            one_hot(tokens_BL, self.dtype), deterministic=deterministic, rngs=rngs
        )

    def __call__(
        self, tokens_BL: jax.Array, *, deterministic: bool = True, rngs: nnx.Rngs | None = None
    ) -> jax.Array:
        _, pooled_BD = self.features(tokens_BL, deterministic=deterministic, rngs=rngs)
        pooled_BD = self.head_dropout(pooled_BD, deterministic=deterministic, rngs=rngs)
        return self.head(pooled_BD).astype(jnp.float32)


def pick_hparams(defaults: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The architecture hyperparameters among a constructor's arguments (its `locals()`).

    Stored with the checkpoint, so that a mismatch is refused when weights are loaded.
    """
    return {key: values[key] for key in defaults}


class ResidualTower(SequenceModel):
    """stem -> residual blocks -> LayerNorm [= seq features] -> max+mean -> Dense -> head.

    The shared skeleton of the dilated, circular-dilated and mixer models: they differ only
    in their blocks (each `block(h_BLD, deterministic=, rngs=)`, shape-preserving).
    """

    def _build_tower(
        self, stem: nnx.Module, blocks: list[nnx.Module], channels: int, *, dtype, rngs
    ) -> None:
        self.stem = stem
        self.blocks = nnx.List(blocks)
        self.norm = nnx.LayerNorm(channels, dtype=dtype, rngs=rngs)
        self.hidden = nnx.Linear(2 * channels, channels, dtype=dtype, rngs=rngs)

    def _features(
        self, x_BL4: jax.Array, *, deterministic: bool, rngs: nnx.Rngs | None
    ) -> tuple[jax.Array, jax.Array]:
        h_BLD = self.stem(x_BL4)
        for block in self.blocks:
            h_BLD = block(h_BLD, deterministic=deterministic, rngs=rngs)
        seq_BLD = jax.nn.gelu(self.norm(h_BLD))
        pooled_BD = jax.nn.gelu(self.hidden(max_avg_pool(seq_BLD)))
        return seq_BLD, pooled_BD


class ResidualConvBlock(nnx.Module):
    """x + Dropout(Conv1x1(GELU(DilatedConv(GELU(LayerNorm(x)))))).

    Pre-norm with a zero-initialised output projection: the block starts as the identity,
    so depth does not hurt early training.
    """

    def __init__(
        self,
        channels: int,
        width: int,
        dilation: int,
        dropout: float,
        *,
        padding: str = "SAME",
        dtype: jnp.dtype,
        rngs: nnx.Rngs,
    ):
        self.norm = nnx.LayerNorm(channels, dtype=dtype, rngs=rngs)
        self.conv = conv(
            channels, channels, width, dilation=dilation, padding=padding, dtype=dtype, rngs=rngs
        )
        self.mix = conv(
            channels, channels, 1, dtype=dtype, rngs=rngs, kernel_init=nnx.initializers.zeros_init()
        )
        self.dropout = nnx.Dropout(dropout)

    def __call__(self, x_BLD: jax.Array, *, deterministic: bool, rngs: nnx.Rngs | None):
        h_BLD = self.mix(jax.nn.gelu(self.conv(jax.nn.gelu(self.norm(x_BLD)))))
        return x_BLD + self.dropout(h_BLD, deterministic=deterministic, rngs=rngs)


def max_avg_pool(x_BLD: jax.Array) -> jax.Array:
    """Global max and mean over positions, concatenated: [B, L, D] -> [B, 2D].

    Max says "a motif occurs somewhere" (position-free, which is what most binding labels
    mean); mean adds how much of it there is. The mean accumulates in float32 under bf16.
    """
    mean_BD = jnp.mean(x_BLD, axis=1, dtype=jnp.float32).astype(x_BLD.dtype)
    return jnp.concatenate([jnp.max(x_BLD, axis=1), mean_BD], axis=-1)


def max_pool(x_BLD: jax.Array, size: int) -> jax.Array:
    """Non-overlapping max pool along L, keeping a partial last window (ceil(L / size) out).

    Keeping the tail window means no base is ignored at either end. Written as a chain of
    elementwise maximums over strided slices: on CPU its gradient is 7x faster than that of
    a max over a padded reshape (65 -> 9 ms for Basset's first pool, batch 256) and many
    times faster than ``reduce_window``'s select-and-scatter. Ties split the gradient.
    """
    if size == 1:
        return x_BLD
    length = x_BLD.shape[1]
    pad = -(-length // size) * size - length
    if pad:
        x_BLD = jnp.pad(x_BLD, ((0, 0), (0, pad), (0, 0)), constant_values=-jnp.inf)
    out_BPD = x_BLD[:, 0::size]
    for offset in range(1, size):
        out_BPD = jnp.maximum(out_BPD, x_BLD[:, offset::size])
    return out_BPD


def conv(
    in_features: int,
    out_features: int,
    width: int,
    *,
    dtype: jnp.dtype,
    rngs: nnx.Rngs,
    dilation: int = 1,
    kernel_init: nnx.Initializer | None = None,
    padding: str = "SAME",
) -> nnx.Conv:
    """A length-preserving 1-D convolution computing in ``dtype`` with f32 params.

    ``padding="CIRCULAR"`` wraps the sequence around instead of padding with zeros.
    """
    extra = {} if kernel_init is None else {"kernel_init": kernel_init}
    return nnx.Conv(
        in_features,
        out_features,
        kernel_size=(width,),
        kernel_dilation=(dilation,),
        padding=padding,
        dtype=dtype,
        param_dtype=jnp.float32,
        rngs=rngs,
        **extra,
    )
