"""Residual CNN for short windows (GUE-style 70-300 bp): the strong small baseline.

stem conv (15) -> N x [x + Conv3_dilated(GELU(Norm(x)))] -> mean over positions -> LayerNorm
-> linear head. A plain PyTorch model of exactly this shape (305k parameters, BatchNorm,
dilations 1, 2, 4, 8, 1, 2; 8 epochs) was reported (issue 13) to reach test MCC x100
67.8 / 71.4 / 78.8 on GUE tf0 / tf1 / tf2 on a 2-core CPU, the level of 100M-parameter DNA
language models; ``configs/gue.py`` is its recipe here.

Options: the normalisation (``norm``: ``batch`` with running statistics, ``layer`` or
``rms``), dual-branch gated convolutions as in ConvNova (``gated``: the convolution yields a
value and a gate, out = value * GELU(gate)), squeeze-excitation (``squeeze_excitation``:
a per-channel rescaling from the pooled block output, reduction ``se_reduction``) and the
reverse-complement gate (``rc_gate``, after ConvNova's dual branch): the window and its
reverse complement go through the same weights side by side, and each block's update of one
strand is gated by the other strand's features at the same base,
``h += conv(GELU(Norm(h))) * sigmoid(gate_conv(Norm(flip(h_other))))``; the pooled features
are the mean of both strands', so the model's output is the same for a window and its
reverse complement by construction (not by augmentation), at about twice the compute (3.7x
the time per sequence of the plain block on a 1-core CPU, GUE tf0).
``pool_bins`` splits the window into that many contiguous stretches of positions and pools
each on its own (the head sees where along the window a feature fired, not only whether):
in a fixed window aligned on a landmark (a core promoter's TSS, a ChIP peak's summit) position
is signal that whole-window pooling discards (with ``edge_pad``, the padded window is cut).
No gain on GUE prom_core_all or tf0 with 4 stretches (docs/results/gue_recipe.md); default 1.
``edge_pad`` adds that many N (all-zero) positions at each end of the window inside the model,
before the stem, and pools over them too: every layer then sees a wide border of the same
padding features, which on the 70-bp core promoters was worth about 25 dev MCC points to the
old 21k-parameter model (see docs/results/gue_recipe.md); the per-position features returned
by ``features`` are cropped back to the input length.

BatchNorm keeps its running statistics as ``nnx.BatchStat`` variables: the trainer holds them
beside the parameters (``train_state.split_model``), the optimizer leaves them alone, and
the train step writes back what the training-mode forward pass measured over the global
batch; evaluation (``deterministic=True``) uses the running statistics.

Named sizes (``SIZES``; ``configs/gue.py:NAME``), parameters with one output:

=======  ========  ======  ============================  ==========
name     channels  blocks  dilations                     parameters
=======  ========  ======  ============================  ==========
tiny     72        6       1, 2, 4, 8, 1, 2              99k
base     128       6       1, 2, 4, 8, 1, 2              305k
medium   192       8       1, 2, 4, 8, 1, 2, 4, 8        0.90M
large    256       12      (1, 2, 4, 8) x 3              2.38M
xl       384       10      (1, 2, 4, 8) x 2, 1, 2        4.46M
=======  ========  ======  ============================  ==========

(``gated`` and ``rc_gate`` each add a second convolution per block, about x2 parameters;
``squeeze_excitation`` adds about 8 %.)
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models.layers import SequenceModel, conv, pick_hparams
from jaxssl.tokens import reverse_complement_one_hot

NORMS = ("batch", "layer", "rms")

POOLS = ("mean", "mean_max")
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"channels": 72, "dilations": (1, 2, 4, 8, 1, 2)},
    "base": {"channels": 128, "dilations": (1, 2, 4, 8, 1, 2)},
    "medium": {"channels": 192, "dilations": (1, 2, 4, 8, 1, 2, 4, 8)},
    "large": {"channels": 256, "dilations": (1, 2, 4, 8) * 3},
    "xl": {"channels": 384, "dilations": (1, 2, 4, 8, 1, 2, 4, 8, 1, 2)},
}


class Norm(nnx.Module):
    """BatchNorm, LayerNorm or RMSNorm over channels, behind one call signature."""

    def __init__(self, kind: str, channels: int, *, momentum: float, dtype, rngs: nnx.Rngs):
        if kind not in NORMS:
            raise ValueError(f"rescnn: norm must be one of {NORMS}, got {kind!r}")
        self.kind = kind
        common = {"dtype": dtype, "param_dtype": jnp.float32, "rngs": rngs}
        if kind == "batch":
            self.inner = nnx.BatchNorm(channels, momentum=momentum, epsilon=1e-5, **common)
        elif kind == "layer":
            self.inner = nnx.LayerNorm(channels, epsilon=1e-5, **common)
        else:
            self.inner = nnx.RMSNorm(channels, epsilon=1e-5, **common)

    def __call__(self, x_BLD: jax.Array, *, deterministic: bool) -> jax.Array:
        if self.kind == "batch":  # training: batch statistics (and an update of the running)
            return self.inner(x_BLD, use_running_average=deterministic)
        return self.inner(x_BLD)


class SqueezeExcite(nnx.Module):
    """x * 2 sigmoid(W2 GELU(W1 mean_L(x))): channels re-weighted from the whole window.

    W2 starts at zero, so every gate starts at exactly 1 and the block at its plain form (a
    plain sigmoid gate would start every residual branch at half its size).
    """

    def __init__(self, channels: int, reduction: int, *, dtype, rngs: nnx.Rngs):
        hidden = max(channels // reduction, 4)
        self.down = nnx.Linear(channels, hidden, dtype=dtype, rngs=rngs)
        zeros = nnx.initializers.zeros_init()
        self.up = nnx.Linear(hidden, channels, dtype=dtype, kernel_init=zeros, rngs=rngs)

    def __call__(self, x_BLD: jax.Array) -> jax.Array:
        s_BD = jnp.mean(x_BLD, axis=1, dtype=jnp.float32).astype(x_BLD.dtype)
        gate_BD = 2 * jax.nn.sigmoid(self.up(jax.nn.gelu(self.down(s_BD))))
        return x_BLD * gate_BD[:, None, :]


class ResBlock(nnx.Module):
    """x + Dropout(SE(Conv_dilated(GELU(Norm(x))))), the convolution optionally gated."""

    def __init__(
        self,
        channels: int,
        width: int,
        dilation: int,
        *,
        norm: str,
        momentum: float,
        gated: bool,
        squeeze_excitation: bool,
        se_reduction: int,
        dropout: float,
        dtype,
        rngs: nnx.Rngs,
        rc_gate: bool = False,
    ):
        self.norm = Norm(norm, channels, momentum=momentum, dtype=dtype, rngs=rngs)
        self.gated = gated
        out = 2 * channels if gated else channels
        self.conv = conv(channels, out, width, dilation=dilation, dtype=dtype, rngs=rngs)
        self.rc_conv = (
            conv(channels, channels, width, dilation=dilation, dtype=dtype, rngs=rngs)
            if rc_gate
            else None
        )
        self.se = (
            SqueezeExcite(channels, se_reduction, dtype=dtype, rngs=rngs)
            if squeeze_excitation
            else None
        )
        self.dropout = nnx.Dropout(dropout)

    def __call__(
        self, x_BLD: jax.Array, *, deterministic: bool, rngs: nnx.Rngs | None
    ) -> jax.Array:
        normed_BLD = self.norm(x_BLD, deterministic=deterministic)
        h_BLD = self.conv(jax.nn.gelu(normed_BLD))
        if self.gated:
            value_BLD, gate_BLD = jnp.split(h_BLD, 2, axis=-1)
            h_BLD = value_BLD * jax.nn.gelu(gate_BLD)
        if self.rc_conv is not None:  # rows [0, B/2) one strand, [B/2, B) the other
            h_BLD = h_BLD * jax.nn.sigmoid(self.rc_conv(other_strand(normed_BLD)))
        if self.se is not None:
            h_BLD = self.se(h_BLD)
        return x_BLD + self.dropout(h_BLD, deterministic=deterministic, rngs=rngs)


def other_strand(h_BLD: jax.Array) -> jax.Array:
    """For a batch [forward rows; their reverse complements], each row's partner strand
    aligned base by base: swap the halves and reverse the positions."""
    fwd_BLD, rev_BLD = jnp.split(h_BLD, 2, axis=0)
    return jnp.concatenate([rev_BLD, fwd_BLD], axis=0)[:, ::-1, :]


class ResCNN(SequenceModel):
    """stem -> residual dilated blocks [= seq features] -> mean (or mean | max) -> LayerNorm
    [= pooled]. ``pool="mean_max"`` concatenates the max over positions: a motif found once
    is not diluted by the window's length."""

    name: ClassVar[str] = "rescnn"
    LENGTH_AGNOSTIC: ClassVar[bool] = True
    DEFAULT_HPARAMS: ClassVar[dict[str, Any]] = {
        "channels": 128,
        "stem_width": 15,
        "kernel_width": 3,
        "dilations": (1, 2, 4, 8, 1, 2),
        "norm": "batch",
        "bn_momentum": 0.9,  # new running = 0.9 * old + 0.1 * batch (PyTorch's default)
        "gated": False,
        "squeeze_excitation": False,
        "se_reduction": 8,
        "pool": "mean",
        "rc_gate": False,
        "pool_bins": 1,
        "edge_pad": 0,
        "dropout": 0.0,
        "head_dropout": 0.0,
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
        dilations: tuple[int, ...],
        norm: str,
        bn_momentum: float,
        gated: bool,
        squeeze_excitation: bool,
        se_reduction: int,
        pool: str,
        rc_gate: bool,
        pool_bins: int,
        edge_pad: int,
        dropout: float,
        head_dropout: float,
    ):
        if int(edge_pad) < 0:
            raise ValueError(f"rescnn: edge_pad must be >= 0, got {edge_pad!r}")
        if int(pool_bins) < 1:
            raise ValueError(f"rescnn: pool_bins must be >= 1, got {pool_bins!r}")
        if int(pool_bins) > 1 and rc_gate:
            raise ValueError(
                "rescnn: pool_bins > 1 with rc_gate is not supported (binned features are not "
                "strand-symmetric); use pool_bins=1 with rc_gate, or rc_gate=False"
            )
        if pool not in POOLS:
            raise ValueError(f"rescnn: pool must be one of {POOLS}, got {pool!r}")
        if norm not in NORMS:
            raise ValueError(f"rescnn: norm must be one of {NORMS}, got {norm!r}")
        if not dilations or any(int(d) < 1 for d in dilations):
            raise ValueError(f"rescnn: dilations must be positive integers, got {dilations!r}")
        pooled = (2 if pool == "mean_max" else 1) * channels * int(pool_bins)
        super().__init__(
            num_outputs=num_outputs,
            seq_len=seq_len,
            feature_dim=pooled,
            seq_feature_dim=channels,
            head_dropout=head_dropout,
            hparams=pick_hparams(self.DEFAULT_HPARAMS, locals()),
            dtype=dtype,
            rngs=rngs,
        )
        self.stem = conv(4, channels, stem_width, dtype=dtype, rngs=rngs)
        self.blocks = nnx.List(
            [
                ResBlock(
                    channels,
                    kernel_width,
                    int(d),
                    norm=norm,
                    momentum=bn_momentum,
                    gated=gated,
                    squeeze_excitation=squeeze_excitation,
                    se_reduction=se_reduction,
                    dropout=dropout,
                    dtype=dtype,
                    rngs=rngs,
                    rc_gate=rc_gate,
                )
                for d in dilations
            ]
        )
        self.pool_norm = nnx.LayerNorm(pooled, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)

    @property
    def receptive_field(self) -> int:
        width = self.hparams["kernel_width"]
        return self.hparams["stem_width"] + sum((width - 1) * d for d in self.hparams["dilations"])

    def _features(
        self, x_BL4: jax.Array, *, deterministic: bool, rngs: nnx.Rngs | None
    ) -> tuple[jax.Array, jax.Array]:
        rc_gate, pad = self.hparams["rc_gate"], int(self.hparams["edge_pad"])
        length = x_BL4.shape[1]
        if pad:  # N on both ends: all-zero one-hot rows
            x_BL4 = jnp.pad(x_BL4, ((0, 0), (pad, pad), (0, 0)))
        if rc_gate:  # both strands through the same weights, side by side in the batch
            x_BL4 = jnp.concatenate([x_BL4, reverse_complement_one_hot(x_BL4)], axis=0)
        h_BLD = self.stem(x_BL4)
        for block in self.blocks:
            h_BLD = block(h_BLD, deterministic=deterministic, rngs=rngs)
        pooled_BD = jnp.concatenate(
            [
                self._pool(h_BLD[:, a:b])
                for a, b in bin_edges(h_BLD.shape[1], self.hparams["pool_bins"])
            ],
            axis=-1,
        )
        if rc_gate:  # strand-symmetric: the mean of both strands' pooled features
            fwd_BD, rev_BD = jnp.split(pooled_BD, 2, axis=0)
            pooled_BD = (fwd_BD + rev_BD) / 2
            h_BLD = jnp.split(h_BLD, 2, axis=0)[0]
        return h_BLD[:, pad : pad + length], self.pool_norm(pooled_BD)

    def _pool(self, h_BLD: jax.Array) -> jax.Array:
        pooled_BD = jnp.mean(h_BLD, axis=1, dtype=jnp.float32).astype(h_BLD.dtype)
        if self.hparams["pool"] == "mean_max":
            pooled_BD = jnp.concatenate([pooled_BD, jnp.max(h_BLD, axis=1)], axis=-1)
        return pooled_BD


def bin_edges(length: int, bins: int) -> list[tuple[int, int]]:
    """``bins`` contiguous [start, end) stretches covering 0..length, sizes differing by at most
    one (cut at round(i * length / bins)); every stretch holds at least one position."""
    bins = int(bins)
    if bins > length:
        raise ValueError(f"rescnn: pool_bins={bins} is more than the {length} positions pooled")
    cuts = [round(i * length / bins) for i in range(bins + 1)]
    return list(zip(cuts[:-1], cuts[1:], strict=True))
