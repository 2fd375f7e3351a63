"""The trainer: runs a config's stages in order; each stage is resumable and skipped when done.

Reads top to bottom like big_vision's train.py: config -> mesh -> data -> model -> state ->
shardings -> one jitted, donated step -> loop. The loop dispatches step t and only then reads
step t-1's metrics, so the host never waits on the device between steps.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
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
from jaxssl.config import (
    overridden_keys,
    rerun_names,
    resolve_stage,
    run_seeds,
    selection,
    stage_names,
    validate_stage,
)
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import eval_batches, load_split, train_iterator
from jaxssl.datasets import StageData, parse_sources, resolve_stage_data, stage_key
from jaxssl.errors import ConfigError, StaleStageError
from jaxssl.evaluate import predict_split, split_metrics
from jaxssl.host_memory import keep_large_buffers_in_heap
from jaxssl.metric_writer import MetricWriter, read_metrics
from jaxssl.models import build_model
from jaxssl.objectives import get_objective
from jaxssl.optim import make_optimizer, param_path
from jaxssl.predict import make_predict_fn
from jaxssl.report import (
    format_seed_table,
    format_table,
    json_default,
    seed_summary,
    write_report,
    write_seed_report,
)
from jaxssl.sharding import (
    batch_sharding,
    is_main_process,
    make_mesh,
    replicated,
    to_global_batch,
)
from jaxssl.stored_config import (
    differences,
    manifest_fingerprint,
    read_record,
    record_hash,
    stage_record,
    stale_error,
    write_record,
)
from jaxssl.train_state import TrainState, split_model
from jaxssl.workdir_lock import WorkdirLock

log = logging.getLogger("jaxssl")

DONE_FILE = "done.json"

# Stage kinds that are jobs rather than training loops (e.g. teacher pseudo-labeling).
# Signature: runner(stage_config, stage_dir, prev_dir=..., workdir=...) -> stage result dict.
StageRunner = Callable[..., dict]


TEACHER_OBJECTIVE = "teacher_label"


def _stage_runners() -> dict[str, StageRunner]:
    from jaxssl import teacher

    return {teacher.OBJECTIVE: teacher.run_teacher_stage}


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
    plans = [plan_stages(c, w) for c, w in runs]  # fails here, before any training
    with WorkdirLock(workdir, enabled=is_main_process()):
        for plan in plans:
            check_stored_configs(plan, rerun)
        results = [_run_planned(plan, quiet=seeds is not None) for plan in plans]
    if seeds is None:
        return results[0]
    summary = seed_summary([r["stages"] for r in results], seeds)
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


@dataclass
class StagePlan:
    """One stage, resolved and checked, with what its outputs depend on."""

    stage: ConfigDict
    stage_dir: Path
    record: dict


@dataclass
class RunPlan:
    config: ConfigDict
    workdir: Path
    stages: list[StagePlan]


def plan_stages(config: ConfigDict, workdir: Path) -> RunPlan:
    """Resolves and checks every stage; raises ConfigError naming the stage's own key."""
    names = stage_names(config)
    stages = apply_budgets([resolve_stage(config, name) for name in names])
    for stage in stages:  # fail on a bad value before any data loading or compilation
        validate_stage(stage)
    _check_stage_references(stages)
    selection(config)
    planned: dict[str, str] = {}
    hashes: dict[str, str] = {}
    out: list[StagePlan] = []
    for i, stage in enumerate(stages):
        overridden = overridden_keys(config, stage.stage_name)
        fingerprints = _check_stage_data(stage, workdir, planned, overridden)
        upstream = {
            dep: hashes[dep] for dep in sorted(_dependencies(stage, names[:i])) if dep in hashes
        }
        record = stage_record(stage, fingerprints, upstream)
        hashes[stage.stage_name] = record_hash(record)
        planned[stage.stage_name] = str(stage.objective)
        out.append(StagePlan(stage, workdir / stage.stage_name, record))
    return RunPlan(config, workdir, out)


def apply_budgets(stages: list[ConfigDict]) -> list[ConfigDict]:
    """`train.budget_of=NAME`: this stage's maximum steps = every step of NAME's lineage.

    A matched control gets the budget the method spent on the way to its final model: the
    named stage plus every stage it was initialised from, transitively.
    """
    by_name = {s.stage_name: s for s in stages}
    order = [s.stage_name for s in stages]
    for stage in stages:
        target = str(stage.train.get("budget_of", "") or "")
        if not target:
            continue
        if target not in by_name:
            raise ConfigError(
                f"config.{stage.stage_name}.train.budget_of={target!r} is not a stage of this "
                f"run ({order})"
            )
        total, name, seen = 0, target, set()
        while name and name not in seen:
            seen.add(name)
            source = by_name[name]
            if source.objective != TEACHER_OBJECTIVE:
                total += int(source.train.steps)
            name = _init_source(source, order)
        stage.train.steps = total
    return stages


def _init_source(stage: ConfigDict, order: list[str]) -> str | None:
    init = str(stage.init_from)
    if init == "prev":
        i = order.index(stage.stage_name)
        return order[i - 1] if i > 0 else None
    if init.startswith("stage:"):
        return init.removeprefix("stage:")
    return None


def _dependencies(stage: ConfigDict, earlier: list[str]) -> set[str]:
    """Earlier stages whose outputs this stage reads (weights, teacher, shard sets)."""
    deps: set[str] = {n for n in str(stage.get("run_if_better", "") or "").split(":") if n}
    init = _init_source(stage, [*earlier, stage.stage_name])
    if init:
        deps.add(init)
    refs = [str(stage.data.extra_train)]
    if stage.objective == TEACHER_OBJECTIVE:
        teacher = str(stage.pseudo.teacher)
        if teacher == "prev" and earlier:
            deps.add(earlier[-1])
        elif teacher.startswith("stage:"):
            deps.add(teacher.removeprefix("stage:"))
        refs.append(str(stage.pseudo.sources))
    for ref in refs:
        for item in ref.split(","):
            if item.strip().startswith("stage:"):
                deps.add(item.strip().removeprefix("stage:").split("@")[0])
    return deps & set(earlier)


def _check_stage_data(
    stage: ConfigDict, workdir: Path, planned: dict[str, str], overridden: frozenset[str]
) -> dict[str, str]:
    """Resolves the stage's data sources by name; returns manifest fingerprints by path."""
    fingerprints: dict[str, str] = {}
    if stage.objective == TEACHER_OBJECTIVE:
        key = stage_key(stage, "pseudo.sources", "pseudo.sources" in overridden)
        sources = parse_sources(stage.pseudo.sources, stage.data, workdir, key, planned)
        if not sources:
            raise ConfigError(f"{key} is empty: list the shard sets the teacher should label")
        teacher = str(stage.pseudo.teacher)
        is_path = teacher not in ("prev", "") and not teacher.startswith("stage:")
        if is_path and not Path(teacher).is_dir():
            raise ConfigError(
                f"{stage_key(stage, 'pseudo.teacher', 'pseudo.teacher' in overridden)}="
                f"{teacher!r} is not a stage directory"
            )
    else:
        data = resolve_stage_data(stage, workdir, planned, overridden)
        sources = list(data.train_sources)
        fingerprints[str(data.labeled)] = manifest_fingerprint(data.labeled)
        if _uses_labels(stage):
            check_validation_classes(stage, data)
            check_label_values(stage, data)
    labeled = None if stage.objective == TEACHER_OBJECTIVE else data.labeled
    for source in sources:
        if (Path(source.path) / "manifest.json").is_file():
            fingerprints[f"{source.path}:{source.split}"] = manifest_fingerprint(source.path)
            if Path(source.path) != labeled:
                _warn_if_unscreened(stage, Path(source.path))
    return fingerprints


def _warn_if_unscreened(stage: ConfigDict, path: Path) -> None:
    """A set from outside the labeled one should say how its held-out orthologs were removed."""
    metadata = load_manifest(path).metadata or {}
    if metadata.get("leakage") or metadata.get("kind") == "teacher_pseudo_labels":
        return
    log.warning(
        "stage %s: %s records no leakage screening (manifest metadata.leakage); if it holds "
        "windows of genomes related to the labeled set, make it with `python -m data_prep "
        "windows ... --exclude-homologs-of LABELED_SET` or `data_prep homology` so that no "
        "ortholog of a held-out window enters training",
        stage.stage_name,
        path,
    )


def check_validation_classes(stage: ConfigDict, data: StageData) -> None:
    """Model selection needs both classes in the validation split (per the manifest)."""
    if stage.loss != "binary":
        return
    entry = data.manifest.split(data.valid_split, where=data.labeled)
    count = int(entry["count"])
    positives = entry.get("positives") or []
    missing = entry.get("missing") or [0] * len(positives)
    single = [
        task
        for task, pos, miss in zip(data.manifest.task_names, positives, missing, strict=False)
        if pos == 0 or pos == count - miss
    ]
    if positives and len(single) == len(positives):
        raise ConfigError(
            f"stage {stage.stage_name!r}: the {data.valid_split!r} split of {data.labeled} "
            f"holds only one class for every task ({single}); model selection needs positives "
            "and negatives. Choose other validation regions (e.g. --valid-chroms) when making "
            "the shard set"
        )
    if single:
        log.warning(
            "stage %s: tasks %s have one class only in the %r split; their validation "
            "metrics are undefined and left out of the mean",
            stage.stage_name,
            single,
            data.valid_split,
        )


def check_label_values(stage: ConfigDict, data: StageData) -> None:
    """Labels the loss can take: binary in [0, 1] (NaN = missing); multiclass class indices.

    A binary label of 8 would give an unbounded negative loss; a class index beyond the
    head's outputs would be silently clipped. Each labeled split is read once per run.
    """
    for source in data.train_sources:
        if source.path != data.labeled:
            continue
        labels = _split_labels(data.labeled, source.split)
        observed = labels[~np.isnan(labels)]
        if stage.loss == "binary":
            bad = observed[(observed < 0) | (observed > 1)]
            expected = "binary labels in [0, 1] (NaN = missing)"
        elif int(stage.num_classes):
            k = int(stage.num_classes)
            bad = observed[(observed < 0) | (observed >= k) | (observed % 1 != 0)]
            expected = f"class indices 0..{k - 1} (config.num_classes={k})"
        else:
            bad = observed[(observed < 0) | (observed % 1 != 0)]
            expected = "class indices >= 0"
        if len(bad):
            raise ConfigError(
                f"stage {stage.stage_name!r}: {data.labeled} split {source.split!r} has "
                f"labels like {np.unique(bad)[:3].tolist()}; config.loss={stage.loss!r} needs "
                f"{expected}. Fix the labels, or choose config.loss (multiclass for class "
                "indices)"
            )


_LABEL_CACHE: dict[tuple[str, str, str], np.ndarray] = {}


def _split_labels(path: Path, split: str) -> np.ndarray:
    key = (str(path), split, manifest_fingerprint(path))
    if key not in _LABEL_CACHE:
        _LABEL_CACHE.clear()  # one set at a time: a run checks the same set for every stage
        _LABEL_CACHE[key] = load_split(path, split)["labels"]
    return _LABEL_CACHE[key]


def check_stored_configs(plan: RunPlan, rerun: set[str]) -> None:
    """Refuses stages whose stored outputs came from another configuration.

    Stages named in `rerun` (and the stages that build on them) lose their old outputs
    instead; a stage whose stored record equals this run's is kept, so `rerun` is safe to
    repeat after a kill.
    """
    problems = []
    replaced: set[str] = set()
    main = is_main_process()
    for sp in plan.stages:
        stored = read_record(sp.stage_dir)
        if stored is None or stored == sp.record:
            continue
        deps = _dependencies(sp.stage, [p.stage.stage_name for p in plan.stages])
        if sp.stage.stage_name in rerun or deps & replaced:
            replaced.add(sp.stage.stage_name)
            if main:
                print(
                    f"jaxssl: stage {sp.stage.stage_name!r}: configuration changed and "
                    f"rerun asked: removing {sp.stage_dir}"
                )
                shutil.rmtree(sp.stage_dir)
            continue
        problems.append(
            stale_error(sp.stage.stage_name, sp.stage_dir, differences(stored, sp.record))
        )
    if problems:
        raise StaleStageError("\n".join(str(p) for p in problems))
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("stored configs checked")


def _run_planned(plan: RunPlan, quiet: bool = False) -> dict:
    """Runs the planned stages; `quiet`: one seed of several (the summary prints the tables)."""
    workdir = plan.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    main = is_main_process()
    if main:
        (workdir / "config.json").write_text(plan.config.to_json_best_effort(indent=2))

    results: list[dict] = []
    prev_dir: Path | None = None
    for sp in plan.stages:
        stage, stage_dir = sp.stage, sp.stage_dir
        runner = _stage_runners().get(stage.objective, run_training_stage)
        result = _load_done(stage_dir)
        if result is None:
            if main:
                write_record(stage_dir, sp.record)
            not_better = _not_better(stage, results)
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
            if main:
                _write_done(stage_dir, result)
        else:
            log.info("stage %s already complete in %s: skipped", stage.stage_name, stage_dir)
        results.append(result)
        if main:
            write_report(workdir, results)
        prev_dir = stage_dir
    chosen = selection(plan.config)
    if chosen is not None:
        results.append(select_stage(results, *chosen))
        if main:
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
    print(f"\nreport: {workdir / 'report.json'}")
    if plots.stage_comparison(results, workdir / "report.png"):
        print(f"figure: {workdir / 'report.png'}")
    return {"stages": results}


def validation_score(result: dict) -> float | None:
    """The selection score a stage was chosen by (its best validation evaluation)."""
    if result.get("skipped") or "best_score" not in result:
        return None
    return float(result["best_score"])


def _not_better(stage: ConfigDict, results: list[dict]) -> str:
    """Why `run_if_better` = "A:B" stops this stage ("" to run it)."""
    spec = str(stage.get("run_if_better", "") or "")
    if not spec:
        return ""
    a, _, b = spec.partition(":")
    by_name = {r["name"]: r for r in results}
    score_a, score_b = validation_score(by_name[a]), validation_score(by_name[b])
    if score_a is None:
        return f"{a} did not run"
    if score_b is not None and score_a <= score_b:
        return (
            f"{a} did not improve on {b} on the validation split ({score_a:.4f} <= {score_b:.4f})"
        )
    return ""


def select_stage(results: list[dict], name: str, chain: list[str]) -> dict:
    """The last stage of `chain` that improved on the one before it, reported as `name`."""
    by_name = {r["name"]: r for r in results}
    kept = chain[0]
    for candidate in chain[1:]:
        score, best = validation_score(by_name[candidate]), validation_score(by_name[kept])
        if score is None or (best is not None and score <= best):
            break
        kept = candidate
    print(f"jaxssl: {name}: kept {kept!r} (chosen on the validation split from {chain})")
    return {
        **{k: v for k, v in by_name[kept].items() if k not in ("name", "control_of")},
        "name": name,
        "objective": "selection",
        "selected": kept,
        "candidates": chain,
        "control_of": "",
    }


def _check_stage_references(stages: list[ConfigDict]) -> None:
    """`stage:NAME` references must name a stage that runs earlier in this run."""
    earlier: list[str] = []
    for stage in stages:
        refs = {
            f"config.{stage.stage_name}.run_if_better": ",".join(
                f"stage:{n}" for n in str(stage.get("run_if_better", "") or "").split(":") if n
            ),
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
    resumed = False
    if ckpts.latest_step() is not None:
        restored = ckpts.restore(state, train_iter)
        if restored is None:
            print(f"jaxssl: stage {name!r}: no checkpoint restores; starting the stage again")
        else:
            state, train_iter = restored
            resumed = True
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

    total = int(stage.train.steps)
    start = int(jax.device_get(state.step))
    # A best record past `start` (its checkpoint was lost or set aside) stays: steps are
    # deterministic, so the re-run steps reach the same score again.
    best = ckpts.best_record()
    best_score = best["score"] if best else -np.inf
    writer = MetricWriter(stage_dir, enabled=is_main_process(), resume_step=start)
    eval_every, patience = int(stage.train.eval_every), int(stage.train.get("patience", 0))

    def patience_spent(done: int) -> bool:
        """Early stopping: `patience` evaluations in a row without a better score."""
        if not patience:
            return False
        since = done - (best["step"] if best else 0)
        return since // eval_every >= patience

    stopped_at = start if start < total and resumed and patience_spent(start) else None
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

    for step in range(start, total if stopped_at is None else start):
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
            if patience_spent(done) and done < total:
                stopped_at = done
        if done % int(stage.train.checkpoint_every) == 0 or done == total or stopped_at:
            flush()
            ckpts.save(state, train_iter)
        _after_step(name, done)
        if stopped_at:
            log.info(
                "stage %s: early stop at step %d (best step %d, patience %d)",
                name,
                done,
                best["step"] if best else 0,
                patience,
            )
            break
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
        last = int(stopped_at) if stopped_at else total
        writer.write(last, "test", {f"mean_{k}": v for k, v in test["mean"].items()})
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
        "control_of": str(stage.get("control_of", "") or ""),
        "model": spec,
        "best_step": int(best["step"]),
        "best_score": float(best["score"]),
        "steps": total,
        "steps_run": int(stopped_at) if stopped_at else total,
        "stopped_early": bool(stopped_at),
        "patience": patience,
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
