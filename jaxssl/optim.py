"""Optimizer: AdamW with linear warm-up, cosine decay and global-norm clipping."""

from __future__ import annotations

import optax
from ml_collections import ConfigDict


def learning_rate_schedule(train: ConfigDict) -> optax.Schedule:
    warmup = min(int(train.warmup_steps), max(int(train.steps) - 1, 0))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=float(train.learning_rate),
        warmup_steps=warmup,
        decay_steps=max(int(train.steps), warmup + 1),
        end_value=float(train.learning_rate) * float(train.final_lr_fraction),
    )


def make_optimizer(train: ConfigDict) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(float(train.grad_clip_norm)),
        optax.adamw(learning_rate_schedule(train), weight_decay=float(train.weight_decay)),
    )
