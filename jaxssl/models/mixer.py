"""ChordMixer / SwanDNA-style rotation mixer: all-pairs reach in log2(L) blocks, no attention.

Each block mixes channels position-wise (an MLP), then splits the channels into tracks and
rolls track t along the sequence by 2^(t-1) positions (track 0 stays). After b blocks a
position has received information from offsets that are sums of distinct powers of two, so
ceil(log2 L) blocks reach every position of the (circular) window at O(L D) cost per block.
The roll wraps around, as in ChordMixer: the window is treated as a circle.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models.layers import ResidualTower, conv, pick_hparams


def track_offsets(seq_len: int) -> tuple[int, ...]:
    """Roll offsets of the channel tracks: 0, 1, 2, 4, ... up to the largest power < seq_len."""
    return (0,) + tuple(2**i for i in range(max(1, math.ceil(math.log2(max(seq_len, 2))))))


def track_bounds(channels: int, num_tracks: int) -> tuple[tuple[int, int], ...]:
    """Channel ranges of the tracks: equal widths, the remainder going to track 0."""
    if channels < num_tracks:
        raise ValueError(
            f"mixer: channels={channels} is fewer than the {num_tracks} rotation tracks a "
            f"window of this length needs; set config.model.hparams.channels >= {num_tracks}"
        )
    width, extra = divmod(channels, num_tracks)
    bounds, start = [], 0
    for t in range(num_tracks):
        stop = start + width + (extra if t == 0 else 0)
        bounds.append((start, stop))
        start = stop
    return tuple(bounds)


def rotate_tracks(
    x_BLD: jax.Array, bounds: tuple[tuple[int, int], ...], offsets: tuple[int, ...]
) -> jax.Array:
    """Rolls channel track t of every position forward by offsets[t] along the sequence."""
    pairs = zip(bounds, offsets, strict=True)
    parts = [jnp.roll(x_BLD[..., a:b], off, axis=1) for (a, b), off in pairs]
    return jnp.concatenate(parts, axis=-1)


class MixerBlock(nnx.Module):
    """x + Dropout(MLP(LayerNorm(x))), then the track rotation."""

    def __init__(
        self,
        channels: int,
        hidden: int,
        dropout: float,
        bounds: tuple[tuple[int, int], ...],
        offsets: tuple[int, ...],
        *,
        dtype,
        rngs: nnx.Rngs,
    ):
        self.bounds, self.offsets = bounds, offsets
        self.norm = nnx.LayerNorm(channels, dtype=dtype, rngs=rngs)
        self.fc1 = nnx.Linear(channels, hidden, dtype=dtype, rngs=rngs)
        self.fc2 = nnx.Linear(
            hidden, channels, dtype=dtype, rngs=rngs, kernel_init=nnx.initializers.zeros_init()
        )
        self.dropout = nnx.Dropout(dropout)

    def __call__(self, x_BLD: jax.Array, *, deterministic: bool, rngs: nnx.Rngs | None):
        h_BLD = self.fc2(jax.nn.gelu(self.fc1(self.norm(x_BLD))))
        x_BLD = x_BLD + self.dropout(h_BLD, deterministic=deterministic, rngs=rngs)
        return rotate_tracks(x_BLD, self.bounds, self.offsets)


class RotationMixer(ResidualTower):
    """conv stem -> rotation mixer blocks -> LayerNorm [= seq features] -> max+mean -> Dense."""

    name: ClassVar[str] = "mixer"
    DEFAULT_HPARAMS: ClassVar[dict[str, Any]] = {
        "channels": 128,
        "hidden": 256,
        "stem_width": 5,
        "num_blocks": 0,  # 0: ceil(log2(seq_len)), just enough to reach every position
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
        hidden: int,
        stem_width: int,
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
            raise ValueError(f"mixer: num_blocks must be >= 0 (0 = automatic), got {num_blocks}")
        offsets = track_offsets(seq_len)
        bounds = track_bounds(channels, len(offsets))
        depth = num_blocks or len(offsets) - 1
        stem = conv(4, channels, stem_width, dtype=dtype, rngs=rngs)
        blocks = [
            MixerBlock(channels, hidden, dropout, bounds, offsets, dtype=dtype, rngs=rngs)
            for _ in range(depth)
        ]
        self._build_tower(stem, blocks, channels, dtype=dtype, rngs=rngs)
