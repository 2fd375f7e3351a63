"""Checks of one resolved stage before any data loading or compilation.

Above the config module: checking a stage needs the registries of models, objectives, metrics,
losses and stage jobs, which ``jaxssl.config`` (imported by every ``configs/*.py``) must not
load. Its one caller is the stage planner.
"""

from __future__ import annotations

from pathlib import Path

import jax
from ml_collections import ConfigDict

from jaxssl.errors import ConfigError
from jaxssl.losses import LOSS_TYPES
from jaxssl.metrics import METRIC_NAMES
from jaxssl.models import model_names
from jaxssl.objectives import available_objectives
from jaxssl.optim import SCHEDULES
from jaxssl.stages import STAGE_RUNNERS, is_job

__all__ = ["DTYPES", "validate_stage"]

DTYPES = ("float32", "bfloat16")  # config.train.dtype: the compute dtype


def validate_stage(stage: ConfigDict) -> None:
    """Checks every value that can be checked before data loading and compilation."""
    where = f"config (stage {stage.stage_name!r})"
    if stage.model.name not in model_names():
        raise ConfigError(
            f"{where}: config.model.name={stage.model.name!r} is not a registered model; "
            f"choose one of {model_names()}"
        )
    if stage.objective not in available_objectives() and not is_job(stage.objective):
        raise ConfigError(
            f"{where}: objective={stage.objective!r} unknown; "
            f"choose one of {available_objectives() + sorted(STAGE_RUNNERS)}"
        )
    if stage.loss not in LOSS_TYPES:
        raise ConfigError(f"{where}: config.loss={stage.loss!r}; expected one of {LOSS_TYPES}")
    schedule = stage.train.get("schedule", "warmup_cosine")
    if schedule not in SCHEDULES:
        raise ConfigError(
            f"{where}: config.train.schedule={schedule!r}; expected one of {SCHEDULES}"
        )
    if stage.train.dtype not in DTYPES:
        raise ConfigError(f"{where}: config.train.dtype={stage.train.dtype!r}; expected {DTYPES}")
    if int(stage.train.get("patience", 0)) < 0:
        raise ConfigError(f"{where}: config.train.patience must be >= 0 (0 = no early stopping)")
    if int(stage.train.get("min_steps", 0)) < 0:
        raise ConfigError(f"{where}: config.train.min_steps must be >= 0 (0 = from the start)")
    for key in ("steps", "batch_size", "log_every", "eval_every", "checkpoint_every"):
        if int(stage.train[key]) <= 0:
            raise ConfigError(f"{where}: config.train.{key}={stage.train[key]} must be positive")
    if float(stage.train.learning_rate) <= 0:
        raise ConfigError(f"{where}: config.train.learning_rate must be positive")
    n_dev, n_proc = jax.device_count(), jax.process_count()
    for key, value in (
        ("train.batch_size", stage.train.batch_size),
        ("eval.batch_size", stage.eval.batch_size),
    ):
        if int(value) % n_dev or int(value) % n_proc:
            raise ConfigError(
                f"{where}: config.{key}={value} is not divisible by the {n_dev} devices "
                f"({n_proc} processes); use a multiple of {n_dev}"
            )
    if stage.train.selection_metric not in METRIC_NAMES:
        raise ConfigError(
            f"{where}: config.train.selection_metric={stage.train.selection_metric!r}; "
            f"expected one of {METRIC_NAMES}"
        )
    if int(stage.augment.max_shift) < 0:
        raise ConfigError(f"{where}: config.augment.max_shift must be >= 0")
    if not 0.0 <= float(stage.augment.substitution_rate) < 1.0:
        raise ConfigError(f"{where}: config.augment.substitution_rate must be in [0, 1)")
    for op, size in (
        ("insertion", "max_len"),
        ("deletion", "max_len"),
        ("inversion", "max_len"),
        ("translocation", "max_shift"),
    ):
        prob, max_len = stage.augment.get(f"{op}_prob", 0.0), stage.augment.get(f"{op}_{size}", 1)
        if not 0.0 <= float(prob) <= 1.0:
            raise ConfigError(f"{where}: config.augment.{op}_prob={prob} must be in [0, 1]")
        if int(max_len) != max_len or int(max_len) < 1:
            raise ConfigError(
                f"{where}: config.augment.{op}_{size}={max_len} must be a positive integer "
                "(and shorter than the sequences; 1 or more even when the op is off)"
            )
    if stage.data.path and not (Path(stage.data.path) / "manifest.json").is_file():
        raise ConfigError(
            f"{where}: config.data.path={stage.data.path!r} is not a shard set (no manifest.json "
            "there); make one with `python -m data_prep from-peaks|from-csv ...` or leave it "
            "empty for the built-in toy world"
        )
    init_from = str(stage.init_from)
    if is_job(stage.objective):
        return  # a job stage: its runner checks its own section
    if (
        init_from not in ("", "prev")
        and not init_from.startswith("stage:")
        and not Path(init_from).is_dir()
    ):
        raise ConfigError(
            f"{where}: config.init_from={init_from!r} is not a directory; give a stage "
            "directory of an earlier run (WORKDIR/<stage>), 'prev', or ''"
        )
