"""Checks of one resolved stage before any data loading or compilation.

Above the config module: checking a stage needs the registries of models, objectives, metrics,
losses and stage jobs, which ``jaxssl.config`` (imported by every ``configs/*.py``) must not
load. Its one caller is the stage planner.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
from ml_collections import ConfigDict

from jaxssl.checkpointing import MODEL_SPEC_FILE
from jaxssl.errors import ConfigError
from jaxssl.losses import LOSS_TYPES
from jaxssl.metrics import METRIC_NAMES
from jaxssl.models import default_hparams, model_names
from jaxssl.objectives import available_objectives
from jaxssl.optim import SCHEDULES
from jaxssl.stages import STAGE_RUNNERS, is_job

__all__ = ["DTYPES", "check_init_architectures", "validate_stage"]

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


def _effective_model(name: str, hparams: dict) -> tuple[str, dict]:
    """(name, every hparam with its default filled in), comparable as JSON."""
    merged = {**default_hparams(name), **hparams}
    return name, json.loads(json.dumps(merged, sort_keys=True, default=list))


def check_init_architectures(stages: list[ConfigDict]) -> None:
    """A stage initialised from another (`prev`, `stage:NAME`, or a stage directory) must
    build the same model; found while planning, not after the earlier stages trained."""
    by_name = {str(s.stage_name): s for s in stages}
    order = list(by_name)
    for i, stage in enumerate(stages):
        init = str(stage.init_from)
        if not init or is_job(stage.objective):
            continue
        if init == "prev":
            source_name = order[i - 1] if i > 0 else ""
        else:
            source_name = init.removeprefix("stage:") if init.startswith("stage:") else ""
        if source_name:
            source = by_name.get(source_name)
            if source is None or is_job(source.objective):
                continue  # a job stage builds no model; references are checked elsewhere
            theirs = _effective_model(str(source.model.name), source.model.hparams.to_dict())
            where = f"stage {source_name!r} (config.{source_name}.model)"
        else:
            spec_path = Path(init) / MODEL_SPEC_FILE
            if not spec_path.is_file():
                continue  # a missing spec is reported where the weights are read
            spec = json.loads(spec_path.read_text())
            theirs = _effective_model(str(spec.get("name")), dict(spec.get("hparams") or {}))
            where = f"the model in {spec_path}"
        if theirs[0] not in model_names():
            continue
        ours = _effective_model(str(stage.model.name), stage.model.hparams.to_dict())
        if ours == theirs:
            continue
        if ours[0] != theirs[0]:
            diffs = [f"model.name: {theirs[0]!r} there, {ours[0]!r} here"]
        else:
            diffs = [
                f"model.hparams.{k}: {theirs[1].get(k)!r} there, {ours[1].get(k)!r} here"
                for k in sorted(set(ours[1]) | set(theirs[1]))
                if ours[1].get(k) != theirs[1].get(k)
            ]
        raise ConfigError(
            f"config.{stage.stage_name}.init_from={init!r}: stage {stage.stage_name!r} loads the "
            f"weights of {where}: architecture mismatch ({'; '.join(diffs)}). Set the same "
            f"config.{stage.stage_name}.model as the stage it starts from, or init_from='' to "
            "train it from scratch"
        )
