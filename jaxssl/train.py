"""The trainer: runs a config's stages in order; each stage is resumable and skipped when done.

Reads top to bottom like big_vision's train.py: config -> mesh -> data -> model -> state ->
shardings -> one jitted, donated step -> loop. The loop dispatches step t and only then reads
step t-1's metrics, so the host never waits on the device between steps.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
import time
from dataclasses import dataclass, field
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
from jaxssl.config import (  # noqa: F401  (resolve_stage: used from notebooks and tests)
    rerun_names,
    resolve_stage,
    run_seeds,
    seed_variation,
    selection,
    stage_names,
)
from jaxssl.data.pipeline import eval_batches, load_split, train_iterator
from jaxssl.datasets import StageData, resolve_stage_data
from jaxssl.errors import ConfigError
from jaxssl.evaluate import SplitPredictions, batched_probabilities, split_metrics
from jaxssl.host_memory import keep_large_buffers_in_heap
from jaxssl.metric_writer import MetricWriter, read_metrics
from jaxssl.metrics import dev_threshold_metrics
from jaxssl.models import build_model, length_agnostic
from jaxssl.objectives import get_objective
from jaxssl.optim import make_optimizer, param_path
from jaxssl.predict import make_predict_fn
from jaxssl.report import (
    format_seed_table,
    format_table,
    seed_summary,
    write_json_atomic,
    write_report,
    write_seed_report,
)
from jaxssl.rng import data_seed, purpose_key
from jaxssl.screening import init_dir, record_trained_on, run_held_out
from jaxssl.sharding import (
    batch_sharding,
    is_main_process,
    make_mesh,
    replicated,
    to_global_batch,
)
from jaxssl.stage_plan import (  # noqa: F401  (apply_budgets: part of this module's API)
    TEACHER_OBJECTIVE,
    RunPlan,
    apply_budgets,
    check_stored_configs,
    not_better_reason,
    one_class_tasks,
    plan_stages,
    select_stage,
    select_tuned_control,
    stage_uses_labels,
    tuned_controls,
    unbound_reason,
)
from jaxssl.stages import STAGE_RUNNERS
from jaxssl.stored_config import (
    write_record,
)
from jaxssl.train_state import TrainState, split_model, statistic_paths
from jaxssl.workdir_lock import WorkdirLock, check_workdir, mark_run

log = logging.getLogger("jaxssl")

DONE_FILE = "done.json"


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite."""


def train_and_evaluate(config: ConfigDict, workdir: str | Path) -> dict:
    """Runs every stage of `config` in `workdir` (once per seed of `config.seeds`).

    Everything that can be checked (every stage's settings, data sources, `stage:` names,
    the validation split's classes, stored configs of earlier runs) is checked before the
    first stage trains. One run holds the workdir at a time.
    """
    keep_large_buffers_in_heap()  # XLA's per-step host buffers: reuse, not mmap each step
    workdir = Path(workdir)
    seeds = run_seeds(config)
    rerun = rerun_names(config)
    runs = (
        [(config, workdir)]
        if seeds is None
        else [(_with_seed(config, seed), workdir / f"seed_{seed}") for seed in seeds]
    )
    check_workdir(workdir, seeds)  # empty or a jaxssl run with these seeds, never a user's files
    plans = [plan_stages(c, w) for c, w in runs]  # fails here, before any training
    with WorkdirLock(workdir, enabled=is_main_process()):
        if is_main_process():
            mark_run(workdir, seeds)
        for plan in plans:
            check_stored_configs(plan, rerun)
        results = [_run_planned(plan, quiet=seeds is not None) for plan in plans]
    if seeds is None:
        return results[0]
    summary = seed_summary([r["stages"] for r in results], seeds)
    summary["seed_variation"] = seed_variation(config)
    if is_main_process():
        (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))
        write_seed_report(workdir, summary)
        print(format_seed_table(summary, "test"))
        print(f"\nreport: {workdir / 'report.json'}")
        if plots.seed_comparison(summary, workdir / "report.png"):
            print(f"figure: {workdir / 'report.png'}")
    return {"seeds": seeds, "runs": results, "summary": summary}


def _with_seed(config: ConfigDict, seed: int) -> ConfigDict:
    for name in stage_names(config):
        section = config.get(name)
        if isinstance(section, ConfigDict) and section.get("seed") is not None:
            raise ConfigError(
                f"config.{name}.seed={section.seed} is set, but config.seeds={config.seeds!r} "
                "sets the seed of every stage in each seed's run: remove the stage's seed"
            )
    seeded = ConfigDict(copy.deepcopy(config.to_dict()))
    seeded.seed = int(seed)
    seeded.seeds = ""
    return seeded


def _run_planned(plan: RunPlan, quiet: bool = False) -> dict:
    """Runs the planned stages; `quiet`: one seed of several (the summary prints the tables)."""
    workdir = plan.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    main = is_main_process()
    if main:
        (workdir / "config.json").write_text(plan.config.to_json_best_effort(indent=2))

    results: list[dict] = []
    chosen = selection(plan.config)  # the noisy-student generation chain, if any
    prev_dir: Path | None = None
    for sp in plan.stages:
        stage, stage_dir = sp.stage, sp.stage_dir
        runner = STAGE_RUNNERS.get(stage.objective, run_training_stage)
        result = _load_done(stage_dir)
        if result is None:
            if main:
                write_record(stage_dir, sp.record)
            not_better = not_better_reason(stage, results) or unbound_reason(stage, results, chosen)
            if not_better:
                print(f"jaxssl: stage {stage.stage_name!r} skipped: {not_better}")
                result = {
                    "name": stage.stage_name,
                    "objective": stage.objective,
                    "control_of": str(stage.get("control_of", "") or ""),
                    "skipped": not_better,
                    "metrics": {},
                }
            else:
                result = runner(stage, stage_dir, prev_dir=prev_dir, workdir=workdir)
            if stage.get("variant_of"):  # one budget of a tuned control (stage_plan.py)
                result["variant_of"] = str(stage.variant_of)
                result["tuned_control_of"] = str(stage.tuned_control_of)
                result["bound_to"] = str(stage.bound_to)
            if main:
                _write_done(stage_dir, result)
        else:
            log.info("stage %s already complete in %s: skipped", stage.stage_name, stage_dir)
        results.append(result)
        if main:
            write_report(workdir, results)
        prev_dir = stage_dir
    chosen_by_validation = [select_stage(results, *chosen)] if chosen is not None else []
    kept = chosen_by_validation[0]["selected"] if chosen_by_validation else None
    for control, variants in tuned_controls([sp.stage for sp in plan.stages]).items():
        chosen_by_validation.append(select_tuned_control(results, control, variants, kept))
    results += chosen_by_validation
    if main and chosen_by_validation:
        write_report(workdir, results)
    if not main:
        return {"stages": results}
    if quiet:
        print(f"jaxssl: {workdir} done; report: {workdir / 'report.json'}")
        plots.stage_comparison(results, workdir / "report.png")
        return {"stages": results}
    print(format_table(results, "valid"))
    print()
    print(format_table(results, "test"))
    for result in results:
        for warning in result.get("warnings") or []:
            print(f"WARNING: {result['name']}: {warning}")
    print(f"\nreport: {workdir / 'report.json'}")
    if plots.stage_comparison(results, workdir / "report.png"):
        print(f"figure: {workdir / 'report.png'}")
    return {"stages": results}


def _load_done(stage_dir: Path) -> dict | None:
    path = stage_dir / DONE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _write_done(stage_dir: Path, result: dict) -> None:
    write_json_atomic(stage_dir / DONE_FILE, result)


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
        if stage_uses_labels(stage):
            raise ValueError(f"{data.labeled}: the shard set has no tasks (labels) to train on")
        num_outputs = 1  # label-free pre-training: the task head is unused
    dtype = jnp.bfloat16 if stage.train.dtype == "bfloat16" else jnp.float32
    model = build_model(
        stage.model.name,
        num_outputs=num_outputs,
        seq_len=int(data.manifest.seq_len),
        rngs=nnx.Rngs(purpose_key(int(stage.seed), "init")),
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
    source = init_dir(stage, prev_dir, workdir)
    if source is None:
        if stage.init_from == "prev":
            raise ValueError(
                f"stage {stage.stage_name!r}: init_from='prev' but it is the first stage"
            )
        raise ValueError(f"init_from={stage.init_from!r} names a stage: needs the workdir")
    source_spec = read_model_spec(source)
    exclude = tuple(p.strip() for p in str(stage.init_exclude).split(",") if p.strip())
    ignore = ("num_outputs", "task_names") if exclude else ()
    if length_agnostic(str(spec["name"])):
        ignore += ("seq_len",)  # e.g. pre-trained on 101-bp windows, fine-tuned on 70 bp
    check_same_architecture(source_spec, spec, source, ignore=ignore)
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


# What the compiled step reads; other fields of a batch (mapq, source_index, confidence, ...)
# stay on the host instead of being copied to the device every step.
DEVICE_FIELDS = ("tokens", "labels", "weights", "mask")


def _device_fields(host_batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v for k, v in host_batch.items() if k in DEVICE_FIELDS}


@dataclass
class _Stage:
    """Everything one training stage works with, built once (see `_build_stage`)."""

    config: ConfigDict
    dir: Path
    data: StageData
    spec: dict
    mesh: Any
    objective: Any
    uses_labels: bool
    state: TrainState
    train_iter: Any
    ckpts: StageCheckpoints
    step_fn: Any
    predict_fn: Any
    eval_loss_fn: Any = None
    cache: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.config.stage_name)

    @property
    def task_names(self) -> list[str]:
        return list(self.data.manifest.task_names)

    def split(self, name: str) -> dict[str, np.ndarray]:
        """A held-out split in memory, read and decoded once per stage."""
        if name not in self.cache:
            data = load_split(self.data.labeled, name)
            if not len(data["tokens"]):
                raise ValueError(
                    f"{self.data.labeled}: split {name!r} is empty; nothing to evaluate"
                )
            self.cache[name] = {"tokens": data["tokens"], "labels": data["labels"]}
        return self.cache[name]

    def evaluate(self, params: dict[str, Any], split: str) -> tuple[dict, SplitPredictions]:
        data = self.split(split)
        probs = batched_probabilities(
            self.predict_fn,
            params,
            data["tokens"],
            batch_size=int(self.config.eval.batch_size),
            mesh=self.mesh,
        )
        pred = SplitPredictions(data["labels"], probs)
        return split_metrics(pred, self.task_names, self.config.loss), pred

    def validate(self) -> tuple[dict, float]:
        """Validation metrics and the selection score (higher is better)."""
        if self.uses_labels:
            valid, _ = self.evaluate(self.objective.eval_params(self.state), self.data.valid_split)
            return valid, valid["mean"][self.config.train.selection_metric]
        loss = _label_free_loss(self)
        return {"mean": {self.objective.eval_loss_name: loss}}, -loss


def run_training_stage(
    stage: ConfigDict, stage_dir: Path, *, prev_dir: Path | None, workdir: Path
) -> dict:
    """Trains one stage (resuming if checkpoints exist), evaluates it, writes its artefacts."""
    run = _build_stage(stage, stage_dir, prev_dir, workdir)
    resumed = _restore(run)
    loop = _train_loop(run, resumed)
    metrics, test_pred = _final_evaluation(run, loop)
    _write_artefacts(run, test_pred)
    return _stage_result(run, loop, metrics)


def _build_stage(
    stage: ConfigDict, stage_dir: Path, prev_dir: Path | None, workdir: Path
) -> _Stage:
    """Data, model (fresh or `init_from`), objective, state, iterator and the jitted functions."""
    data = resolve_stage_data(stage, workdir)
    mesh = make_mesh()
    repl, batch_sh = replicated(mesh), batch_sharding(mesh)
    model, spec = build_stage_model(stage, data)
    graphdef, params, rest = split_model(model)
    held = run_held_out(data.labeled, data.valid_split, data.test_split)
    init_source = init_dir(stage, prev_dir, workdir)
    record_trained_on(stage, stage_dir, data.train_sources, held, init_source)
    params = initial_params(stage, prev_dir, spec, params, workdir)
    write_model_spec(stage_dir, spec)

    tx = make_optimizer(stage.train, statistic_paths(model))
    objective = get_objective(stage.objective)(stage, graphdef, rest, tx)
    uses_labels = objective.uses_labels
    seed = int(stage.seed)  # one root key, split by purpose (jaxssl/rng.py)
    params = objective.init_params(params, purpose_key(seed, "heads"))
    state = TrainState.create(params, tx, purpose_key(seed, "step"), objective.init_extra(params))
    local_batch = int(stage.train.batch_size) // jax.process_count()
    predict = make_predict_fn(
        graphdef, rest, loss_type=stage.loss, rc_average=stage.eval.rc_average
    )
    return _Stage(
        config=stage,
        dir=stage_dir,
        data=data,
        spec=spec,
        mesh=mesh,
        objective=objective,
        uses_labels=uses_labels,
        state=jax.device_put(state, repl),
        train_iter=train_iterator(
            list(data.train_sources), batch_size=local_batch, seed=data_seed(seed)
        ),
        ckpts=StageCheckpoints(stage_dir, keep=int(stage.train.keep_checkpoints)),
        step_fn=jax.jit(
            objective.train_step,
            in_shardings=(repl, batch_sh),
            out_shardings=(repl, repl),
            donate_argnums=(0,),
        ),
        predict_fn=jax.jit(predict, in_shardings=(repl, batch_sh), out_shardings=batch_sh),
        eval_loss_fn=None
        if uses_labels
        else jax.jit(objective.eval_loss, in_shardings=(repl, batch_sh, repl)),
    )


def _restore(run: _Stage) -> bool:
    """Resumes from the newest checkpoint that restores; True if one did."""
    if run.ckpts.latest_step() is None:
        return False
    restored = run.ckpts.restore(run.state, run.train_iter)
    if restored is None:
        print(f"jaxssl: stage {run.name!r}: no checkpoint restores; starting the stage again")
        return False
    run.state, run.train_iter = restored
    log.info("stage %s: resumed from step %d", run.name, int(run.state.step))
    return True


_fetch_metrics = jax.device_get  # the one device->host read of step metrics (tests count it)


class _MetricWindow:
    """Step metrics stay on the device until a log line, evaluation or checkpoint needs them.

    One transfer per window instead of a host sync per step; every step of the window is still
    checked for a non-finite loss, and the log line is the mean over the window's steps.
    """

    def __init__(self, run: _Stage, writer: MetricWriter, progress: Any, total: int):
        self.run, self.writer, self.progress, self.total = run, writer, progress, total
        self.log_every = int(run.config.train.log_every)
        self.pending: list[tuple[int, dict]] = []
        self.sums: dict[str, float] = {}
        self.steps = 0
        self.start = time.perf_counter()

    def add(self, step: int, metrics: dict) -> None:
        self.pending.append((step, metrics))
        if step % self.log_every == 0 or step == self.total:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        steps = [s for s, _ in self.pending]
        values = _fetch_metrics([m for _, m in self.pending])
        self.pending = []
        for step, raw in zip(steps, values, strict=True):
            metrics = {k: float(v) for k, v in raw.items()}
            if not np.isfinite(metrics["training_loss"]):
                raise TrainingDiverged(
                    f"stage {self.run.name!r}: training loss is {metrics['training_loss']} at "
                    f"step {step}; lower config.train.learning_rate, check the labels for "
                    "invalid values, or use config.train.dtype='float32'"
                )
            self.sums = {k: self.sums.get(k, 0.0) + v for k, v in metrics.items()}
            self.steps += 1
            if step % self.log_every == 0 or step == self.total:
                self._log(step, metrics["learning_rate"])

    def _log(self, step: int, learning_rate: float) -> None:
        elapsed = time.perf_counter() - self.start
        seq_per_s = self.steps * int(self.run.config.train.batch_size) / max(elapsed, 1e-9)
        # Means over the steps since the last log line: smoother curves than one step.
        means = {k: v / max(self.steps, 1) for k, v in self.sums.items()}
        means["learning_rate"] = learning_rate
        self.writer.write(step, "train", {**means, "seq_per_s": seq_per_s})
        self.progress.set_postfix(loss=f"{means['training_loss']:.4f}", seq_s=f"{seq_per_s:.0f}")
        self.start, self.steps, self.sums = time.perf_counter(), 0, {}


@dataclass
class _LoopResult:
    best: dict | None
    stopped_at: int | None
    total: int
    patience: int
    train_seconds: float
    writer: MetricWriter

    @property
    def last_step(self) -> int:
        return int(self.stopped_at) if self.stopped_at else self.total


def _train_loop(run: _Stage, resumed: bool) -> _LoopResult:
    """Steps with validation every `eval_every`, checkpoints, early stopping on `patience`."""
    train = run.config.train
    total, start = int(train.steps), int(jax.device_get(run.state.step))
    # A best record past `start` (its checkpoint was lost or set aside) stays: steps are
    # deterministic, so the re-run steps reach the same score again.
    best = run.ckpts.best_record()
    best_score = best["score"] if best else -np.inf
    writer = MetricWriter(run.dir, enabled=is_main_process(), resume_step=start)
    eval_every, patience = int(train.eval_every), int(train.get("patience", 0))
    min_steps = int(train.get("min_steps", 0))

    def patience_spent(done: int) -> bool:
        """Early stopping: `patience` evaluations in a row without a better score, counted
        from `train.min_steps` at the earliest."""
        if not patience or done < min_steps:
            return False
        since = max(best["step"] if best else 0, min_steps)
        return (done - since) // eval_every >= patience

    stopped_at = start if start < total and resumed and patience_spent(start) else None
    progress = tqdm(
        total=total,
        initial=start,
        desc=run.name,
        unit="step",
        disable=not train.progress_bar,
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 30.0,  # logs get a line every 30 s
    )
    window = _MetricWindow(run, writer, progress, total)
    started = time.perf_counter()
    for step in range(start, total if stopped_at is None else start):
        batch = to_global_batch(_device_fields(next(run.train_iter)), run.mesh)
        with jax.transfer_guard("disallow"):
            run.state, metrics = run.step_fn(run.state, batch)
        done = step + 1
        window.add(done, metrics)
        progress.update(1)
        if done % eval_every == 0 or done == total:
            window.flush()
            valid, score = run.validate()
            writer.write(done, "valid", {f"mean_{k}": v for k, v in valid["mean"].items()})
            if np.isfinite(score) and score > best_score:
                best_score = score
                best = {"step": done, "score": float(score), "valid": valid}
                run.ckpts.save_best(
                    jax.device_get(run.objective.eval_params(run.state)),
                    step=done,
                    score=float(score),
                    valid=valid,
                )
            if patience_spent(done) and done < total:
                stopped_at = done
        if done % int(train.checkpoint_every) == 0 or done == total or stopped_at:
            window.flush()
            run.ckpts.save(run.state, run.train_iter)
        _after_step(run.name, done)
        if stopped_at:
            log.info(
                "stage %s: early stop at step %d (best step %d, patience %d)",
                run.name,
                done,
                best["step"] if best else 0,
                patience,
            )
            break
    window.flush()
    progress.close()
    run.ckpts.wait()
    return _LoopResult(best, stopped_at, total, patience, time.perf_counter() - started, writer)


def _final_evaluation(run: _Stage, loop: _LoopResult) -> tuple[dict, Any]:
    """The selected checkpoint on validation and, once, on test (label-free: the record)."""
    if loop.best is None:
        raise RuntimeError(
            f"stage {run.name!r}: no validation score was finite "
            f"({run.config.train.selection_metric} is NaN: does the {run.data.valid_split!r} "
            f"split of {run.data.labeled} hold both classes?)"
        )
    test_pred = None
    if run.uses_labels:
        best_params = run.ckpts.restore_best(jax.device_get(run.objective.eval_params(run.state)))
        best_params = jax.device_put(best_params, replicated(run.mesh))
        valid, valid_pred = run.evaluate(best_params, run.data.valid_split)
        test, test_pred = run.evaluate(best_params, run.data.test_split)  # the only look at test
        loop.writer.write(loop.last_step, "test", {f"mean_{k}": v for k, v in test["mean"].items()})
        metrics = {"valid": valid, "test": test}
        # MCC at the threshold chosen on validation (computed there only, applied to test).
        chosen = dev_threshold_metrics(
            run.task_names,
            run.config.loss,
            valid=(valid_pred.labels_BT, valid_pred.probs),
            test=(test_pred.labels_BT, test_pred.probs),
        )
        if chosen is not None:
            metrics["dev_threshold"] = chosen
    else:  # pre-training: the selection record is the result; there is no test to report
        metrics = {"valid": loop.best["valid"]}
    run.ckpts.close()
    loop.writer.close()
    return metrics, test_pred


def _write_artefacts(run: _Stage, test_pred: Any) -> None:
    """Training curves and the test ROC/PR figure (process 0)."""
    if not is_main_process():
        return
    plots.training_curves(read_metrics(run.dir), run.dir / "training_curves.png", title=run.name)
    if test_pred is not None and run.config.loss == "binary":
        plots.roc_pr_curves(
            test_pred.labels_BT,
            test_pred.probs,
            run.task_names,
            run.dir / "test_roc_pr.png",
            title=f"{run.name}: test split",
        )


def _stage_result(run: _Stage, loop: _LoopResult, metrics: dict) -> dict:
    assert loop.best is not None
    return {
        "name": run.name,
        "objective": run.config.objective,
        "control_of": str(run.config.get("control_of", "") or ""),
        "model": run.spec,
        "best_step": int(loop.best["step"]),
        "best_score": float(loop.best["score"]),
        "steps": loop.total,
        "steps_run": loop.last_step,
        "stopped_early": bool(loop.stopped_at),
        "patience": loop.patience,
        "train_seconds": round(loop.train_seconds, 2),
        "data": {
            "labeled": str(run.data.labeled),
            "train_sources": [
                {"path": str(s.path), "split": s.split, "proportion": s.proportion}
                for s in run.data.train_sources
            ],
            "label_budget": run.data.label_budget,
        },
        "metrics": metrics,
        "warnings": _result_warnings(run),
    }


def _result_warnings(run: _Stage) -> list[str]:
    """What a reader of the report must know to read its numbers (e.g. a one-class test)."""
    if run.config.loss != "binary" or not run.uses_labels:
        return []
    single = one_class_tasks(run.data, run.data.test_split)
    if not single:
        return []
    return [
        f"tasks {single} have one class only in the test split {run.data.test_split!r}: their "
        "test AUROC, AUPRC and MCC are undefined or meaningless (all positive: AUPRC 1.0)"
    ]


def _label_free_loss(run: _Stage) -> float:
    """Mean objective loss over the validation split (fixed key: comparable across steps).

    The split's batches are read once per stage and kept on the host.
    """
    if "label_free_batches" not in run.cache:
        local = int(run.config.eval.batch_size) // jax.process_count()
        run.cache["label_free_batches"] = [
            _device_fields(b)
            for b in eval_batches(run.data.labeled, run.data.valid_split, batch_size=local)
        ]
    key = purpose_key(int(run.config.seed), "eval")
    sums = [
        run.eval_loss_fn(run.state, to_global_batch(batch, run.mesh), key)
        for batch in run.cache["label_free_batches"]
    ]
    totals = jax.device_get(sums)
    total = sum(float(t) for t, _ in totals)
    count = sum(float(n) for _, n in totals)
    if count == 0:
        raise ValueError(f"{run.data.labeled}: split {run.data.valid_split!r} is empty")
    return total / count
