"""Dilated residual CNN: full-length features whose receptive field doubles every block.

Dilation (as in Basenji/BPNet) grows the receptive field exponentially with depth while the
map stays at base resolution, which is exactly what masked-nucleotide self-distillation
needs (a feature per position that sees the whole window) and what motif-grammar tasks
reward.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax.numpy as jnp
from flax import nnx

from jaxssl.models.layers import ResidualConvBlock, ResidualTower, conv, pick_hparams


def dilation_schedule(num_blocks: int, max_dilation: int) -> tuple[int, ...]:
    """1, 2, 4, ..., max_dilation, then again from 1: each cycle covers the gaps of the last."""
    if max_dilation < 1 or max_dilation & (max_dilation - 1):
        raise ValueError(f"dilated_resnet: max_dilation must be a power of 2, got {max_dilation}")
    cycle = max_dilation.bit_length()
    return tuple(2 ** (i % cycle) for i in range(num_blocks))


class DilatedResNet(ResidualTower):
    """conv stem -> residual dilated blocks -> LayerNorm [= seq features] -> max+mean -> Dense."""

    name: ClassVar[str] = "dilated_resnet"
    DEFAULT_HPARAMS: ClassVar[dict[str, Any]] = {
        "channels": 128,
        "stem_width": 15,
        "num_blocks": 8,
        "kernel_width": 3,
        "max_dilation": 32,
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
        num_blocks: int,
        kernel_width: int,
        max_dilation: int,
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
        self.dilations = dilation_schedule(num_blocks, max_dilation)
        stem = conv(4, channels, stem_width, dtype=dtype, rngs=rngs)  # first: fixes init order
        blocks = [
            ResidualConvBlock(channels, kernel_width, d, dropout, dtype=dtype, rngs=rngs)
            for d in self.dilations
        ]
        self._build_tower(stem, blocks, channels, dtype=dtype, rngs=rngs)

    @property
    def receptive_field(self) -> int:
        """Bases seen by one output position (stem plus every dilated convolution)."""
        width = self.hparams["kernel_width"]
        return self.hparams["stem_width"] + sum((width - 1) * d for d in self.dilations)
