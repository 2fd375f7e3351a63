"""The trainer: runs a config's stages in order; each stage is resumable and skipped when done.

Reads top to bottom like big_vision's train.py: config -> mesh -> data -> model -> state ->
shardings -> one jitted, donated step -> loop. The loop dispatches step t and only then reads
step t-1's metrics, so the host never waits on the device between steps.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from ml_collections import ConfigDict
from tqdm.auto import tqdm

from jaxssl import plots
from jaxssl.checkpointing import (
    StageCheckpoints,
    check_same_architecture,
    read_model_spec,
    restore_params,
    write_model_spec,
)
from jaxssl.config import ConfigError, resolve_stage, stage_names, validate_stage
from jaxssl.data.pipeline import eval_batches, load_split, train_iterator
from jaxssl.datasets import StageData, resolve_stage_data
from jaxssl.evaluate import predict_split, split_metrics
from jaxssl.host_memory import keep_large_buffers_in_heap
from jaxssl.metric_writer import MetricWriter, read_metrics
from jaxssl.models import build_model
from jaxssl.objectives import get_objective
from jaxssl.optim import make_optimizer, param_path
from jaxssl.predict import make_predict_fn
from jaxssl.report import format_table, json_default, write_report
from jaxssl.sharding import (
    batch_sharding,
    is_main_process,
    make_mesh,
    replicated,
    to_global_batch,
)
from jaxssl.train_state import TrainState, split_model

log = logging.getLogger("jaxssl")

DONE_FILE = "done.json"

# Stage kinds that are jobs rather than training loops (e.g. teacher pseudo-labeling).
# Signature: runner(stage_config, stage_dir, prev_dir=..., workdir=...) -> stage result dict.
StageRunner = Callable[..., dict]


def _stage_runners() -> dict[str, StageRunner]:
    from jaxssl import teacher

    return {teacher.OBJECTIVE: teacher.run_teacher_stage}


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite."""


def train_and_evaluate(config: ConfigDict, workdir: str | Path) -> dict:
    """Runs every stage of `config` in `workdir`; returns (and writes) the report."""
    keep_large_buffers_in_heap()  # XLA's per-step host buffers: reuse, not mmap each step
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    stages = [resolve_stage(config, name) for name in stage_names(config)]
    for stage in stages:  # fail on a bad value before any data loading or compilation
        validate_stage(stage)
    _check_stage_references(stages)
    main = is_main_process()
    if main:
        (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))

    results: list[dict] = []
    prev_dir: Path | None = None
    for stage in stages:
        stage_dir = workdir / stage.stage_name
        runner = _stage_runners().get(stage.objective, run_training_stage)
        result = _load_done(stage_dir)
        if result is None:
            result = runner(stage, stage_dir, prev_dir=prev_dir, workdir=workdir)
            if main:
                _write_done(stage_dir, result)
        else:
            log.info("stage %s already complete in %s: skipped", stage.stage_name, stage_dir)
        results.append(result)
        if main:
            write_report(workdir, results)
        prev_dir = stage_dir
    if not main:
        return {"stages": results}
    print(format_table(results, "valid"))
    print()
    print(format_table(results, "test"))
    print(f"\nreport: {workdir / 'report.json'}")
    if plots.stage_comparison(results, workdir / "report.png"):
        print(f"figure: {workdir / 'report.png'}")
    return {"stages": results}


def _check_stage_references(stages: list[ConfigDict]) -> None:
    """`stage:NAME` references must name a stage that runs earlier in this run."""
    earlier: list[str] = []
    for stage in stages:
        refs = {
            f"config.{stage.stage_name}.init_from": str(stage.init_from),
            f"config.{stage.stage_name}.pseudo.teacher": str(stage.pseudo.teacher),
            f"config.{stage.stage_name}.data.extra_train": str(stage.data.extra_train),
        }
        for key, value in refs.items():
            for item in value.split(","):
                if item.strip().startswith("stage:"):
                    name = item.strip().removeprefix("stage:").split("@")[0]
                    if name not in earlier:
                        raise ConfigError(
                            f"{key}={value!r} names stage {name!r}, which does not run before "
                            f"{stage.stage_name!r} (stages: {[s.stage_name for s in stages]})"
                        )
        earlier.append(stage.stage_name)


def _load_done(stage_dir: Path) -> dict | None:
    path = stage_dir / DONE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _write_done(stage_dir: Path, result: dict) -> None:
    stage_dir.mkdir(parents=True, exist_ok=True)
    tmp = stage_dir / (DONE_FILE + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, default=json_default))
    os.replace(tmp, stage_dir / DONE_FILE)


def _after_step(stage_name: str, step: int) -> None:
    """Hook called after every completed step; tests replace it to simulate a kill."""


def build_stage_model(stage: ConfigDict, data: StageData) -> tuple[nnx.Module, dict]:
    """The stage's model and its architecture spec (saved beside checkpoints)."""
    task_names = list(data.manifest.task_names)
    if stage.loss == "multiclass":
        num_outputs = int(stage.num_classes) or _infer_num_classes(data)
    else:
        num_outputs = len(task_names)
    if num_outputs <= 0:
        if _uses_labels(stage):
            raise ValueError(f"{data.labeled}: the shard set has no tasks (labels) to train on")
        num_outputs = 1  # label-free pre-training: the task head is unused
    dtype = jnp.bfloat16 if stage.train.dtype == "bfloat16" else jnp.float32
    model = build_model(
        stage.model.name,
        num_outputs=num_outputs,
        seq_len=int(data.manifest.seq_len),
        rngs=nnx.Rngs(int(stage.seed)),
        dtype=dtype,
        **stage.model.hparams.to_dict(),
    )
    spec = {
        "name": stage.model.name,
        "hparams": dict(model.hparams),
        "seq_len": int(data.manifest.seq_len),
        "num_outputs": num_outputs,
        "task_names": task_names,
        "loss": stage.loss,
    }
    return model, spec


def _uses_labels(stage: ConfigDict) -> bool:
    return bool(getattr(get_objective(stage.objective), "uses_labels", True))


def _infer_num_classes(data: StageData) -> int:
    labels = load_split(data.labeled, data.train_sources[0].split)["labels"][:, 0]
    return int(np.nanmax(labels)) + 1


def initial_params(
    stage: ConfigDict,
    prev_dir: Path | None,
    spec: dict,
    params: dict[str, Any],
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Fresh parameters, or those of another run when `init_from` says so.

    Parameters under a prefix listed in `init_exclude` (e.g. "head", for a new task) keep
    their fresh initialisation; everything else must match the source architecture exactly.
    """
    if not stage.init_from:
        return params
    if stage.init_from == "prev":
        if prev_dir is None:
            raise ValueError(
                f"stage {stage.stage_name!r}: init_from='prev' but it is the first stage"
            )
        source = prev_dir
    elif str(stage.init_from).startswith("stage:"):
        if workdir is None:
            raise ValueError(f"init_from={stage.init_from!r} names a stage: needs the workdir")
        source = workdir / str(stage.init_from).removeprefix("stage:")
    else:
        source = Path(stage.init_from)
    source_spec = read_model_spec(source)
    exclude = tuple(p.strip() for p in str(stage.init_exclude).split(",") if p.strip())
    check_same_architecture(
        source_spec, spec, source, ignore=("num_outputs", "task_names") if exclude else ()
    )
    log.info("stage %s: initialising from %s", stage.stage_name, source)
    if not exclude:
        return restore_params(source, params)
    source_model = build_model(
        source_spec["name"],
        num_outputs=int(source_spec["num_outputs"]),
        seq_len=int(source_spec["seq_len"]),
        rngs=nnx.Rngs(0),
        **source_spec["hparams"],
    )
    loaded = restore_params(source, split_model(source_model)[1])
    return merge_params(params, loaded, exclude)


def merge_params(
    fresh: dict[str, Any], loaded: dict[str, Any], exclude: tuple[str, ...]
) -> dict[str, Any]:
    """`loaded` values everywhere except under the `exclude` path prefixes ("a/b" paths)."""
    flat_loaded = {param_path(p): v for p, v in jax.tree_util.tree_flatten_with_path(loaded)[0]}

    def pick(path, fresh_value):
        key = param_path(path)
        if any(key == e or key.startswith(e + "/") for e in exclude):
            return fresh_value
        if key not in flat_loaded or np.shape(flat_loaded[key]) != np.shape(fresh_value):
            raise ValueError(f"init_from: parameter {key} is missing or has another shape")
        return flat_loaded[key]

    return jax.tree_util.tree_map_with_path(pick, fresh)


def run_training_stage(
    stage: ConfigDict, stage_dir: Path, *, prev_dir: Path | None, workdir: Path
) -> dict:
    """Trains one stage to completion (resuming if checkpoints exist) and evaluates it."""
    name = stage.stage_name
    data = resolve_stage_data(stage, workdir)
    task_names = list(data.manifest.task_names)
    mesh = make_mesh()
    repl, batch_sh = replicated(mesh), batch_sharding(mesh)

    model, spec = build_stage_model(stage, data)
    graphdef, params, rest = split_model(model)
    params = initial_params(stage, prev_dir, spec, params, workdir)
    write_model_spec(stage_dir, spec)

    tx = make_optimizer(stage.train)
    objective = get_objective(stage.objective)(stage, graphdef, rest, tx)
    uses_labels = getattr(objective, "uses_labels", True)
    if hasattr(objective, "init_params"):  # objectives with heads of their own
        params = objective.init_params(params, jax.random.PRNGKey(int(stage.seed) + 1))
    state = TrainState.create(
        params, tx, jax.random.PRNGKey(int(stage.seed)), objective.init_extra(params)
    )
    state = jax.device_put(state, repl)

    local_batch = int(stage.train.batch_size) // jax.process_count()
    train_iter = train_iterator(
        list(data.train_sources), batch_size=local_batch, seed=int(stage.seed)
    )
    ckpts = StageCheckpoints(stage_dir, keep=int(stage.train.keep_checkpoints))
    if ckpts.latest_step() is not None:
        state, train_iter = ckpts.restore(state, train_iter)
        log.info("stage %s: resumed from step %d", name, int(state.step))

    step_fn = jax.jit(
        objective.train_step,
        in_shardings=(repl, batch_sh),
        out_shardings=(repl, repl),
        donate_argnums=(0,),
    )
    predict_fn = jax.jit(
        make_predict_fn(graphdef, rest, loss_type=stage.loss, rc_average=stage.eval.rc_average),
        in_shardings=(repl, batch_sh),
        out_shardings=batch_sh,
    )

    def evaluate(params: dict[str, Any], split: str):
        pred = predict_split(
            predict_fn,
            params,
            data.labeled,
            split,
            batch_size=int(stage.eval.batch_size),
            mesh=mesh,
        )
        return split_metrics(pred, task_names, stage.loss), pred

    selection = stage.train.selection_metric
    if not uses_labels:
        eval_loss_fn = jax.jit(objective.eval_loss, in_shardings=(repl, batch_sh, repl))

    def validate(state: TrainState) -> tuple[dict, float]:
        """Validation metrics and the selection score (higher is better)."""
        if uses_labels:
            valid, _ = evaluate(objective.eval_params(state), data.valid_split)
            return valid, valid["mean"][selection]
        loss = _label_free_loss(eval_loss_fn, state, data, stage, mesh)
        return {"mean": {"loss": loss}}, -loss

    best = ckpts.best_record()
    best_score = best["score"] if best else -np.inf
    writer = MetricWriter(stage_dir, enabled=is_main_process())
    total = int(stage.train.steps)
    start = int(jax.device_get(state.step))
    progress = tqdm(
        total=total,
        initial=start,
        desc=f"{name}",
        unit="step",
        disable=not stage.train.progress_bar,
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 30.0,  # logs get a line every 30 s
    )
    pending: tuple[int, dict] | None = None
    window_start, window_steps = time.perf_counter(), 0
    window_sums: dict[str, float] = {}
    started = time.perf_counter()

    def flush() -> None:
        """Reads the metrics of the last dispatched step (blocks until it is done)."""
        nonlocal pending, window_start, window_steps, window_sums
        if pending is None:
            return
        step, metrics = pending
        pending = None
        values = {k: float(v) for k, v in jax.device_get(metrics).items()}
        window_sums = {k: window_sums.get(k, 0.0) + v for k, v in values.items()}
        if not np.isfinite(values["training_loss"]):
            raise TrainingDiverged(
                f"stage {name!r}: training loss is {values['training_loss']} at step {step}; "
                "lower config.train.learning_rate, check the labels for invalid values, or "
                "use config.train.dtype='float32'"
            )
        if step % int(stage.train.log_every) == 0 or step == total:
            elapsed = time.perf_counter() - window_start
            seq_per_s = window_steps * int(stage.train.batch_size) / max(elapsed, 1e-9)
            # Means over the steps since the last log line: smoother curves than one step.
            means = {k: v / max(window_steps, 1) for k, v in window_sums.items()}
            means["learning_rate"] = values["learning_rate"]
            writer.write(step, "train", {**means, "seq_per_s": seq_per_s})
            progress.set_postfix(loss=f"{means['training_loss']:.4f}", seq_s=f"{seq_per_s:.0f}")
            window_start, window_steps, window_sums = time.perf_counter(), 0, {}

    for step in range(start, total):
        batch = to_global_batch(next(train_iter), mesh)
        with jax.transfer_guard("disallow"):
            state, metrics = step_fn(state, batch)
        flush()
        pending = (step + 1, metrics)
        window_steps += 1
        progress.update(1)
        done = step + 1
        if done % int(stage.train.eval_every) == 0 or done == total:
            flush()
            valid, score = validate(state)
            writer.write(done, "valid", {f"mean_{k}": v for k, v in valid["mean"].items()})
            if np.isfinite(score) and score > best_score:
                best_score = score
                best = {"step": done, "score": float(score), "valid": valid}
                ckpts.save_best(
                    jax.device_get(objective.eval_params(state)),
                    step=done,
                    score=float(score),
                    valid=valid,
                )
        if done % int(stage.train.checkpoint_every) == 0 or done == total:
            flush()
            ckpts.save(state, train_iter)
        _after_step(name, done)
    flush()
    progress.close()
    ckpts.wait()
    train_seconds = time.perf_counter() - started

    if best is None:
        raise RuntimeError(
            f"stage {name!r}: no validation score was finite ({selection} is NaN: does the "
            f"{data.valid_split!r} split of {data.labeled} hold both classes?)"
        )
    if uses_labels:
        best_params = ckpts.restore_best(jax.device_get(objective.eval_params(state)))
        best_params = jax.device_put(best_params, repl)
        valid, _ = evaluate(best_params, data.valid_split)
        test, test_pred = evaluate(best_params, data.test_split)  # the only look at the test split
        writer.write(total, "test", {f"mean_{k}": v for k, v in test["mean"].items()})
        metrics = {"valid": valid, "test": test}
    else:  # pre-training: the selection record is the result; there is no test to report
        metrics = {"valid": best["valid"]}
    ckpts.close()
    writer.close()

    records = read_metrics(stage_dir)
    if is_main_process():
        plots.training_curves(records, stage_dir / "training_curves.png", title=name)
    if uses_labels and stage.loss == "binary" and is_main_process():
        plots.roc_pr_curves(
            test_pred.labels_BT,
            test_pred.probs,
            task_names,
            stage_dir / "test_roc_pr.png",
            title=f"{name}: test split",
        )
    return {
        "name": name,
        "objective": stage.objective,
        "model": spec,
        "best_step": int(best["step"]),
        "steps": total,
        "train_seconds": round(train_seconds, 2),
        "data": {
            "labeled": str(data.labeled),
            "train_sources": [
                {"path": str(s.path), "split": s.split, "proportion": s.proportion}
                for s in data.train_sources
            ],
        },
        "metrics": metrics,
    }


def _label_free_loss(
    eval_loss_fn: Any, state: TrainState, data: StageData, stage: ConfigDict, mesh: Any
) -> float:
    """Mean objective loss over the validation split (fixed key: comparable across steps)."""
    local = int(stage.eval.batch_size) // jax.process_count()
    key = jax.random.PRNGKey(int(stage.seed) + 2)
    total, count = 0.0, 0.0
    for batch in eval_batches(data.labeled, data.valid_split, batch_size=local):
        loss_sum, n = eval_loss_fn(state, to_global_batch(batch, mesh), key)
        total += float(loss_sum)
        count += float(n)
    if count == 0:
        raise ValueError(f"{data.labeled}: split {data.valid_split!r} is empty")
    return total / count
