"""Optimizer: AdamW with a warm-up + cosine or one-cycle schedule and global-norm clipping.

``train.schedule``: "warmup_cosine" (linear warm-up from 0 over ``warmup_steps``, cosine to
``final_lr_fraction`` of the peak) or "one_cycle" (Smith's one-cycle as PyTorch's OneCycleLR:
cosine rise from peak/25 over ``warmup_steps``, cosine fall to ``final_lr_fraction`` of the
peak). ``train.freeze`` lists parameter-path prefixes ("motifs", "blocks/0") that get no
updates (and no weight decay), e.g. to fine-tune only the upper layers of a pre-trained model;
BatchNorm statistics (``statistics``: the model's paths, also matched under an objective's
prefix such as self_distill's "model/") are never touched by the optimizer.
"""

from __future__ import annotations

from typing import Any

import jax
import optax
from ml_collections import ConfigDict

SCHEDULES = ("warmup_cosine", "one_cycle")


def learning_rate_schedule(train: ConfigDict) -> optax.Schedule:
    warmup = min(int(train.warmup_steps), max(int(train.steps) - 1, 0))
    kind = str(train.get("schedule", "warmup_cosine"))
    if kind not in SCHEDULES:
        raise ValueError(f"config.train.schedule={kind!r}; expected one of {SCHEDULES}")
    if kind == "one_cycle":
        peak, steps = float(train.learning_rate), max(int(train.steps), 2)
        return optax.join_schedules(
            [
                optax.cosine_decay_schedule(peak / 25, max(warmup, 1), alpha=25.0),
                optax.cosine_decay_schedule(
                    peak, max(steps - warmup, 1), alpha=float(train.final_lr_fraction)
                ),
            ],
            boundaries=[warmup],
        )
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


def is_frozen(path: str, prefixes: tuple[str, ...]) -> bool:
    """`path` ("a/b/kernel") lies under one of the `train.freeze` prefixes."""
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def make_optimizer(
    train: ConfigDict, statistics: tuple[str, ...] = ()
) -> optax.GradientTransformation:
    """AdamW on the trainable leaves; `statistics` (BatchNorm statistic paths) are left alone.

    Frozen and statistic leaves get a zero update and no optimizer state, and their (zero)
    gradients do not count in the global-norm clipping.
    """
    tx = optax.chain(
        optax.clip_by_global_norm(float(train.grad_clip_norm)),
        optax.adamw(learning_rate_schedule(train), weight_decay=float(train.weight_decay)),
    )
    prefixes = frozen_prefixes(train)
    stats = frozenset(statistics)
    if not prefixes and not stats:
        return tx

    def labels(params: Any) -> Any:
        paths = [param_path(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
        unmatched = [p for p in prefixes if not any(is_frozen(x, (p,)) for x in paths)]
        if unmatched:
            raise ValueError(
                f"config.train.freeze: {unmatched} match no parameter; parameter paths look "
                f"like {paths[:6]}"
            )

        def is_statistic(key: str) -> bool:
            # The model's own path, or the same path under an objective's prefix
            # (self_distill keeps the model's parameters under "model/").
            return key in stats or any(key.endswith("/" + s) for s in stats)

        def label(path: Any, _: Any) -> str:
            key = param_path(path)
            return "frozen" if is_statistic(key) or is_frozen(key, prefixes) else "train"

        return jax.tree_util.tree_map_with_path(label, params)

    return optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)
