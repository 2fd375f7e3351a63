"""Optimizer: AdamW with linear warm-up, cosine decay and global-norm clipping.

``train.freeze`` lists parameter-path prefixes ("motifs", "blocks/0") that get no updates
(and no weight decay), e.g. to fine-tune only the upper layers of a pre-trained model.
"""

from __future__ import annotations

from typing import Any

import jax
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


def frozen_prefixes(train: ConfigDict) -> tuple[str, ...]:
    return tuple(p.strip().strip("/") for p in str(train.get("freeze", "")).split(",") if p.strip())


def param_path(path: Any) -> str:
    """A pytree key path as "a/b/0/kernel" (the form `freeze` and `init_exclude` use)."""
    return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def _is_frozen(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def make_optimizer(train: ConfigDict) -> optax.GradientTransformation:
    tx = optax.chain(
        optax.clip_by_global_norm(float(train.grad_clip_norm)),
        optax.adamw(learning_rate_schedule(train), weight_decay=float(train.weight_decay)),
    )
    prefixes = frozen_prefixes(train)
    if not prefixes:
        return tx

    def labels(params: Any) -> Any:
        paths = [param_path(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
        unmatched = [p for p in prefixes if not any(_is_frozen(x, (p,)) for x in paths)]
        if unmatched:
            raise ValueError(
                f"config.train.freeze: {unmatched} match no parameter; parameter paths look "
                f"like {paths[:6]}"
            )
        return jax.tree_util.tree_map_with_path(
            lambda path, _: "frozen" if _is_frozen(param_path(path), prefixes) else "train",
            params,
        )

    return optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)
