"""DeepSEA/Basset-style model: a tower of conv -> pool blocks, then fully connected layers.

Kelley et al. 2016 (Basset) and Zhou & Troyanskaya 2015 (DeepSEA) stack convolutions with
max pooling so deeper filters see motif combinations and spacing over hundreds of bases.
There is no BatchNorm (params-only train state); see below for what replaces it. The flattened
layer of the originals ties the model to one length; the default here pools globally
(max + mean) instead, which suits 101 bp TF windows and shifted views; ``pool="flatten"``
restores the original head for fixed-length inputs such as 600 bp-1 kb open chromatin.

Dropout defaults to off. Without BatchNorm the pooled features that feed the fully connected
layers are mostly an example-independent offset (at init on GUE tf0: mean 0.73, spread across
examples 0.16), so dropout noise, which scales with the activation, swamps the signal and the
ReLU units of the FC stack die: with conv_dropout=0.1 and dropout=0.3 (the old defaults) a
300-step GUE tf0 run stayed at loss 0.69 and valid AUROC 0.56, and lr 2e-3 collapsed to a
constant output; with both at 0 the same runs reach valid AUROC 0.83 (lr 1e-3, 300 steps)
and 0.85 (lr 2e-3, 1000 steps). Set them explicitly for long runs that overfit.

The same offset is why the pooled vector goes through a LayerNorm before the FC stack (it
centres what BatchNorm would have), and why per-position LayerNorm inside the conv tower is
off by default (``layer_norm``): normalising each position's channels erases how strongly a
filter matches there, which is the motif signal. With both changes a small Basset learns the
planted-motif test task to test AUROC 0.98 in 200 steps; with the conv LayerNorm on, 0.63.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models.layers import SequenceModel, conv, max_avg_pool, max_pool

POOLS = ("maxavg", "flatten")


class Basset(SequenceModel):
    """[conv -> LayerNorm -> ReLU -> max pool -> dropout] x 3 -> pool -> [Dense -> ReLU] x 2.

    ``features`` returns the first block before its pooling as the per-position features
    (``seq_feature_dim = conv_channels[0]``), and the last hidden layer as the pooled vector
    (``feature_dim = fc_dim``): the only full-length map this architecture has.
    """

    name: ClassVar[str] = "basset"
    DEFAULT_HPARAMS: ClassVar[dict[str, Any]] = {
        "conv_channels": (300, 200, 200),
        "conv_widths": (19, 11, 7),
        "pool_sizes": (3, 4, 4),
        "fc_dim": 512,
        "layer_norm": False,
        "pool": "maxavg",
        "conv_dropout": 0.0,  # > 0 stops learning on GUE TF windows (see the module docstring)
        "dropout": 0.0,
    }

    def __init__(
        self,
        *,
        num_outputs: int,
        seq_len: int,
        rngs: nnx.Rngs,
        dtype: jnp.dtype = jnp.float32,
        conv_channels: tuple[int, ...],
        conv_widths: tuple[int, ...],
        pool_sizes: tuple[int, ...],
        fc_dim: int,
        layer_norm: bool,
        pool: str,
        conv_dropout: float,
        dropout: float,
    ):
        if not len(conv_channels) == len(conv_widths) == len(pool_sizes) >= 1:
            raise ValueError(
                "basset: conv_channels, conv_widths and pool_sizes need the same length >= 1, "
                f"got {conv_channels}, {conv_widths}, {pool_sizes}"
            )
        if pool not in POOLS:
            raise ValueError(f"basset: pool must be one of {POOLS}, got {pool!r}")
        hparams = {
            "conv_channels": tuple(conv_channels),
            "conv_widths": tuple(conv_widths),
            "pool_sizes": tuple(pool_sizes),
            "fc_dim": fc_dim,
            "layer_norm": layer_norm,
            "pool": pool,
            "conv_dropout": conv_dropout,
            "dropout": dropout,
        }
        super().__init__(
            num_outputs=num_outputs,
            seq_len=seq_len,
            feature_dim=fc_dim,
            seq_feature_dim=conv_channels[0],
            head_dropout=dropout,
            hparams=hparams,
            dtype=dtype,
            rngs=rngs,
        )
        he = nnx.initializers.he_normal()
        widths_in = (4, *conv_channels[:-1])
        self.convs = nnx.List(
            [
                conv(c_in, c_out, w, dtype=dtype, rngs=rngs, kernel_init=he)
                for c_in, c_out, w in zip(widths_in, conv_channels, conv_widths, strict=True)
            ]
        )
        self.norms = nnx.List(
            [nnx.LayerNorm(c, dtype=dtype, rngs=rngs) for c in conv_channels] if layer_norm else []
        )
        self.pool_sizes = tuple(pool_sizes)
        self.pool = pool
        self.conv_dropout = nnx.Dropout(conv_dropout)
        self.pooled_len = seq_len
        for size in pool_sizes:
            self.pooled_len = math.ceil(self.pooled_len / size)
        flat_dim = (
            2 * conv_channels[-1] if pool == "maxavg" else self.pooled_len * conv_channels[-1]
        )
        self.pool_norm = nnx.LayerNorm(flat_dim, dtype=dtype, rngs=rngs)
        self.fc1 = nnx.Linear(flat_dim, fc_dim, dtype=dtype, rngs=rngs, kernel_init=he)
        self.fc_dropout = nnx.Dropout(dropout)
        self.fc2 = nnx.Linear(fc_dim, fc_dim, dtype=dtype, rngs=rngs, kernel_init=he)

    def _features(
        self, x_BL4: jax.Array, *, deterministic: bool, rngs: nnx.Rngs | None
    ) -> tuple[jax.Array, jax.Array]:
        h_BLC = x_BL4
        seq_BLD = None
        for i, (layer, size) in enumerate(zip(self.convs, self.pool_sizes, strict=True)):
            h_BLC = layer(h_BLC)
            if self.norms:
                h_BLC = self.norms[i](h_BLC)
            h_BLC = jax.nn.relu(h_BLC)
            if i == 0:
                seq_BLD = h_BLC
            h_BLC = max_pool(h_BLC, size)
            h_BLC = self.conv_dropout(h_BLC, deterministic=deterministic, rngs=rngs)
        if self.pool == "maxavg":
            flat_BF = max_avg_pool(h_BLC)
        else:
            if h_BLC.shape[1] != self.pooled_len:
                raise ValueError(
                    f"basset with pool='flatten' was built for seq_len={self.seq_len}; "
                    f"got length {x_BL4.shape[1]} (use pool='maxavg' for variable lengths)"
                )
            flat_BF = h_BLC.reshape(h_BLC.shape[0], -1)
        h_BF = jax.nn.relu(self.fc1(self.pool_norm(flat_BF)))
        h_BF = self.fc_dropout(h_BF, deterministic=deterministic, rngs=rngs)
        pooled_BD = jax.nn.relu(self.fc2(h_BF))
        return seq_BLD, pooled_BD
