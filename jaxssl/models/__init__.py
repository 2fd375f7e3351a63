"""Sequence models selected by name, so a config (and a checkpoint) names its architecture.

``default_hparams(name)`` lists what a config may override; ``build_model`` rejects anything
else by name, so a typo fails at start-up instead of silently training the default. Every
model takes uint8 tokens and returns float32 logits (see ``layers.SequenceModel``).
"""

from __future__ import annotations

import copy
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxssl.models.basset import Basset
from jaxssl.models.circular_dilated import CircularDilatedCNN
from jaxssl.models.deepbind import DeepBind
from jaxssl.models.dilated import DilatedResNet
from jaxssl.models.layers import SequenceModel
from jaxssl.models.mixer import RotationMixer
from jaxssl.models.rescnn import ResCNN

__all__ = ["SequenceModel", "build_model", "count_params", "default_hparams", "model_names"]

_REGISTRY: dict[str, type[SequenceModel]] = {
    cls.name: cls
    for cls in (DeepBind, Basset, DilatedResNet, RotationMixer, CircularDilatedCNN, ResCNN)
}


def model_names() -> list[str]:
    return list(_REGISTRY)


def length_agnostic(name: str) -> bool:
    """Whether a model's parameters fit any window length (weights move between lengths)."""
    return _model_class(name).LENGTH_AGNOSTIC


def _model_class(name: str) -> type[SequenceModel]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def default_hparams(name: str) -> dict[str, Any]:
    """A fresh copy of the model's default hyperparameters (safe to mutate)."""
    return copy.deepcopy(_model_class(name).DEFAULT_HPARAMS)


def _same_kind(default: Any, value: Any) -> bool:
    """bool only for bool, int accepted for float, otherwise the default's own type."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


def _checked(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Defaults merged with overrides; lists (e.g. from JSON) become tuples like the defaults."""
    hparams = default_hparams(name)
    for key, value in overrides.items():
        if key not in hparams:
            raise ValueError(
                f"unknown hparam {key!r} for model {name!r}; valid: {', '.join(sorted(hparams))}"
            )
        default = hparams[key]
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        if not _same_kind(default, value):
            raise ValueError(
                f"hparam {key!r} of model {name!r} expects {type(default).__name__} "
                f"(default {default!r}), got {value!r}"
            )
        hparams[key] = value
    return hparams


def build_model(
    name: str,
    *,
    num_outputs: int,
    seq_len: int,
    rngs: nnx.Rngs,
    dtype: jnp.dtype = jnp.float32,
    **hparams: Any,
) -> SequenceModel:
    """Builds a registered model; params are float32 whatever the compute ``dtype``."""
    cls = _model_class(name)
    if num_outputs < 1 or seq_len < 1:
        raise ValueError(f"num_outputs and seq_len must be >= 1, got {num_outputs}, {seq_len}")
    return cls(
        num_outputs=num_outputs, seq_len=seq_len, rngs=rngs, dtype=dtype, **_checked(name, hparams)
    )


def count_params(model: nnx.Module) -> int:
    """Number of trainable scalars (``nnx.Param`` leaves; BatchNorm statistics excluded)."""
    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
