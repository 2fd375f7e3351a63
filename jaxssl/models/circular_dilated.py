"""Circular dilated CNN: dilations 1, 2, 4, ... with wrap-around padding cover the whole window.

With periodic ('CIRCULAR') padding no position sits next to artificial zero padding, so the
two ends of the window are treated like its middle, and with dilations doubling up to
ceil(log2 L) blocks every output position sees every input position: the full-window,
base-resolution features masked-nucleotide prediction needs, at convolution cost.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models.layers import SequenceModel, conv, max_avg_pool


def circular_conv(
    in_features: int, out_features: int, width: int, *, dilation: int = 1, dtype, rngs, **kw
) -> nnx.Conv:
    """`layers.conv` with wrap-around padding: every position sees the whole window."""
    return conv(
        in_features, out_features, width, dilation=dilation, dtype=dtype, rngs=rngs,
        padding="CIRCULAR", **kw,
    )  # fmt: skip


def circular_dilations(seq_len: int, num_blocks: int) -> tuple[int, ...]:
    """1, 2, 4, ... (num_blocks of them; 0 = ceil(log2 seq_len), enough to see the window)."""
    depth = num_blocks or max(1, math.ceil(math.log2(max(seq_len, 2))))
    cycle = max(1, math.ceil(math.log2(max(seq_len, 2))))
    return tuple(2 ** (i % cycle) for i in range(depth))


class CircularBlock(nnx.Module):
    """x + Dropout(Conv1x1(GELU(CircularDilatedConv(GELU(LayerNorm(x))))))."""

    def __init__(self, channels: int, width: int, dilation: int, dropout: float, *, dtype, rngs):
        self.norm = nnx.LayerNorm(channels, dtype=dtype, rngs=rngs)
        self.conv = circular_conv(
            channels, channels, width, dilation=dilation, dtype=dtype, rngs=rngs
        )
        self.mix = circular_conv(
            channels,
            channels,
            1,
            dtype=dtype,
            rngs=rngs,
            kernel_init=nnx.initializers.zeros_init(),
        )
        self.dropout = nnx.Dropout(dropout)

    def __call__(self, x_BLD: jax.Array, *, deterministic: bool, rngs: nnx.Rngs | None):
        h_BLD = self.mix(jax.nn.gelu(self.conv(jax.nn.gelu(self.norm(x_BLD)))))
        return x_BLD + self.dropout(h_BLD, deterministic=deterministic, rngs=rngs)


class CircularDilatedCNN(SequenceModel):
    """circular stem -> circular dilated blocks -> LayerNorm [= seq features] -> max+mean."""

    name: ClassVar[str] = "circular_dilated"
    DEFAULT_HPARAMS: ClassVar[dict[str, Any]] = {
        "channels": 128,
        "stem_width": 9,
        "kernel_width": 3,
        "num_blocks": 0,  # 0: ceil(log2(seq_len)) blocks, dilations 1 .. 2^(blocks-1)
        "dropout": 0.1,
        "head_dropout": 0.3,
    }

    def __init__(
        self,
        *,
        num_outputs: int,
        seq_len: int,
        rngs: nnx.Rngs,
        dtype: jnp.dtype = jnp.float32,
        channels: int,
        stem_width: int,
        kernel_width: int,
        num_blocks: int,
        dropout: float,
        head_dropout: float,
    ):
        hparams = {
            "channels": channels,
            "stem_width": stem_width,
            "kernel_width": kernel_width,
            "num_blocks": num_blocks,
            "dropout": dropout,
            "head_dropout": head_dropout,
        }
        super().__init__(
            num_outputs=num_outputs,
            seq_len=seq_len,
            feature_dim=channels,
            seq_feature_dim=channels,
            head_dropout=head_dropout,
            hparams=hparams,
            dtype=dtype,
            rngs=rngs,
        )
        if num_blocks < 0:
            raise ValueError(
                f"circular_dilated: num_blocks must be >= 0 (0 = automatic), got {num_blocks}"
            )
        self.dilations = circular_dilations(seq_len, num_blocks)
        self.stem = circular_conv(4, channels, stem_width, dtype=dtype, rngs=rngs)
        self.blocks = nnx.List(
            [
                CircularBlock(channels, kernel_width, d, dropout, dtype=dtype, rngs=rngs)
                for d in self.dilations
            ]
        )
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
