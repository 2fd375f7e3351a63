"""Circular dilated CNN: dilations 1, 2, 4, ... with wrap-around padding cover the whole window.

With periodic ('CIRCULAR') padding no position sits next to artificial zero padding, so the
two ends of the window are treated like its middle, and with dilations doubling up to
ceil(log2 L) blocks every output position sees every input position: the full-window,
base-resolution features masked-nucleotide prediction needs, at convolution cost.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax.numpy as jnp
from flax import nnx

from jaxssl.models.layers import ResidualConvBlock, ResidualTower, conv, pick_hparams


def circular_dilations(seq_len: int, num_blocks: int) -> tuple[int, ...]:
    """1, 2, 4, ... (num_blocks of them; 0 = ceil(log2 seq_len), enough to see the window)."""
    depth = num_blocks or max(1, math.ceil(math.log2(max(seq_len, 2))))
    cycle = max(1, math.ceil(math.log2(max(seq_len, 2))))
    return tuple(2 ** (i % cycle) for i in range(depth))


class CircularDilatedCNN(ResidualTower):
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
        super().__init__(
            num_outputs=num_outputs,
            seq_len=seq_len,
            feature_dim=channels,
            seq_feature_dim=channels,
            head_dropout=head_dropout,
            hparams=pick_hparams(self.DEFAULT_HPARAMS, locals()),
            dtype=dtype,
            rngs=rngs,
        )
        if num_blocks < 0:
            raise ValueError(
                f"circular_dilated: num_blocks must be >= 0 (0 = automatic), got {num_blocks}"
            )
        self.dilations = circular_dilations(seq_len, num_blocks)
        stem = conv(4, channels, stem_width, padding="CIRCULAR", dtype=dtype, rngs=rngs)
        blocks = [
            ResidualConvBlock(
                channels, kernel_width, d, dropout, padding="CIRCULAR", dtype=dtype, rngs=rngs
            )
            for d in self.dilations
        ]
        self._build_tower(stem, blocks, channels, dtype=dtype, rngs=rngs)
