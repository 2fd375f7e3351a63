"""DeepBind-style model: one wide motif-scanning convolution, global pooling, a small MLP.

Alley et al. 2015 showed that a single layer of position weight matrix-like filters with
max (and mean) pooling captures most of what a TF ChIP-seq label says; it is the small,
fast baseline every other model should beat. Defaults are sized for 101 bp windows.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models.layers import SequenceModel, conv, max_avg_pool


class DeepBind(SequenceModel):
    """conv(width) -> ReLU [= seq features] -> global max+mean -> Dense -> ReLU [= pooled]."""

    name: ClassVar[str] = "deepbind"
    DEFAULT_HPARAMS: ClassVar[dict[str, Any]] = {
        "num_filters": 128,
        "filter_width": 19,
        "dropout": 0.3,
    }

    def __init__(
        self,
        *,
        num_outputs: int,
        seq_len: int,
        rngs: nnx.Rngs,
        dtype: jnp.dtype = jnp.float32,
        num_filters: int,
        filter_width: int,
        dropout: float,
    ):
        hparams = {"num_filters": num_filters, "filter_width": filter_width, "dropout": dropout}
        super().__init__(
            num_outputs=num_outputs,
            seq_len=seq_len,
            feature_dim=num_filters,
            seq_feature_dim=num_filters,
            head_dropout=dropout,
            hparams=hparams,
            dtype=dtype,
            rngs=rngs,
        )
        he = nnx.initializers.he_normal()
        self.motifs = conv(4, num_filters, filter_width, dtype=dtype, rngs=rngs, kernel_init=he)
        self.hidden = nnx.Linear(2 * num_filters, num_filters, dtype=dtype, rngs=rngs)

    def _features(
        self, x_BL4: jax.Array, *, deterministic: bool, rngs: nnx.Rngs | None
    ) -> tuple[jax.Array, jax.Array]:
        seq_BLD = jax.nn.relu(self.motifs(x_BL4))
        pooled_BD = jax.nn.relu(self.hidden(max_avg_pool(seq_BLD)))
        return seq_BLD, pooled_BD
