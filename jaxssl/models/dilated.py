"""Dilated residual CNN: full-length features whose receptive field doubles every block.

Dilation (as in Basenji/BPNet) grows the receptive field exponentially with depth while the
map stays at base resolution, which is exactly what masked-nucleotide self-distillation
needs (a feature per position that sees the whole window) and what motif-grammar tasks
reward. Pre-norm residual blocks with a zero-initialised output projection start as the
identity, so depth does not hurt early training.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models.layers import SequenceModel, conv, max_avg_pool


class ResidualBlock(nnx.Module):
    """x + Dropout(Conv1x1(GELU(DilatedConv(GELU(LayerNorm(x))))))."""

    def __init__(
        self, channels: int, width: int, dilation: int, dropout: float, *, dtype, rngs: nnx.Rngs
    ):
        self.norm = nnx.LayerNorm(channels, dtype=dtype, rngs=rngs)
        self.conv = conv(channels, channels, width, dilation=dilation, dtype=dtype, rngs=rngs)
        self.mix = conv(
            channels, channels, 1, dtype=dtype, rngs=rngs, kernel_init=nnx.initializers.zeros_init()
        )
        self.dropout = nnx.Dropout(dropout)

    def __call__(self, x_BLD: jax.Array, *, deterministic: bool, rngs: nnx.Rngs | None):
        h_BLD = self.conv(jax.nn.gelu(self.norm(x_BLD)))
        h_BLD = self.mix(jax.nn.gelu(h_BLD))
        return x_BLD + self.dropout(h_BLD, deterministic=deterministic, rngs=rngs)


def dilation_schedule(num_blocks: int, max_dilation: int) -> tuple[int, ...]:
    """1, 2, 4, ..., max_dilation, then again from 1: each cycle covers the gaps of the last."""
    if max_dilation < 1 or max_dilation & (max_dilation - 1):
        raise ValueError(f"dilated_resnet: max_dilation must be a power of 2, got {max_dilation}")
    cycle = max_dilation.bit_length()
    return tuple(2 ** (i % cycle) for i in range(num_blocks))


class DilatedResNet(SequenceModel):
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
        hparams = {
            "channels": channels,
            "stem_width": stem_width,
            "num_blocks": num_blocks,
            "kernel_width": kernel_width,
            "max_dilation": max_dilation,
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
        self.dilations = dilation_schedule(num_blocks, max_dilation)
        self.stem = conv(4, channels, stem_width, dtype=dtype, rngs=rngs)
        self.blocks = nnx.List(
            [
                ResidualBlock(channels, kernel_width, d, dropout, dtype=dtype, rngs=rngs)
                for d in self.dilations
            ]
        )
        self.norm = nnx.LayerNorm(channels, dtype=dtype, rngs=rngs)
        self.hidden = nnx.Linear(2 * channels, channels, dtype=dtype, rngs=rngs)

    @property
    def receptive_field(self) -> int:
        """Bases seen by one output position (stem plus every dilated convolution)."""
        width = self.hparams["kernel_width"]
        return self.hparams["stem_width"] + sum((width - 1) * d for d in self.dilations)

    def _features(
        self, x_BL4: jax.Array, *, deterministic: bool, rngs: nnx.Rngs | None
    ) -> tuple[jax.Array, jax.Array]:
        h_BLD = self.stem(x_BL4)
        for block in self.blocks:
            h_BLD = block(h_BLD, deterministic=deterministic, rngs=rngs)
        seq_BLD = jax.nn.gelu(self.norm(h_BLD))
        pooled_BD = jax.nn.gelu(self.hidden(max_avg_pool(seq_BLD)))
        return seq_BLD, pooled_BD
