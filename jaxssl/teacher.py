"""Noisy Student's teacher job: a trained model scores shard sets; pseudo-labeled sets come out.

Inference is one jitted, sharded function over fixed-size batches (the last one padded), so
it runs at device speed and compiles once; it averages both strands unless
``config.eval.rc_average`` is off, which halves its cost. Each output shard set is written
atomically, and an output that already exists is kept, so a killed job resumes with the
next source. How teacher probabilities become labels and per-label weights, and how those
weights are stored (``label_weight:<task>`` extra fields beside the source's example weight),
is defined in ``jaxssl.pseudo_labels``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from ml_collections import ConfigDict
from tqdm.auto import tqdm

from jaxssl.checkpointing import read_model_spec, restore_params
from jaxssl.data.manifest import MANIFEST_NAME, load_manifest
from jaxssl.data.pipeline import load_split
from jaxssl.data.writer import ShardSetWriter
from jaxssl.datasets import parse_sources
from jaxssl.errors import ConfigError
from jaxssl.evaluate import batched_probabilities
from jaxssl.models import build_model
from jaxssl.predict import make_predict_fn
from jaxssl.pseudo_labels import (
    DEFAULT_MIN_TEACHER_AUROC,
    DEFAULT_TEACHER_AUROC_Z,
    TEACHER_OBJECTIVE,
    label_weight_field,
    make_pseudo_labels,
    teacher_auroc_bar,
    trusted_tasks,
)
from jaxssl.sharding import (
    batch_sharding,
    is_main_process,
    make_mesh,
    replicated,
)
from jaxssl.train_state import split_model

log = logging.getLogger("jaxssl")
OBJECTIVE = TEACHER_OBJECTIVE


def load_trained_model(stage_dir: Path) -> tuple[nnx.GraphDef, nnx.State, dict[str, Any], dict]:
    """(graphdef, non-param state, best params, architecture spec) of a finished stage."""
    spec = read_model_spec(stage_dir)
    model = build_model(
        spec["name"],
        num_outputs=int(spec["num_outputs"]),
        seq_len=int(spec["seq_len"]),
        rngs=nnx.Rngs(0),
        **spec["hparams"],
    )
    graphdef, params_like, rest = split_model(model)
    return graphdef, rest, restore_params(stage_dir, params_like), spec


def resolve_teacher(stage: ConfigDict, prev_dir: Path | None, workdir: Path) -> Path:
    teacher = str(stage.pseudo.teacher)
    if teacher == "prev":
        if prev_dir is None:
            raise ConfigError(
                f"stage {stage.stage_name!r}: pseudo.teacher='prev' needs a stage before it"
            )
        return prev_dir
    if teacher.startswith("stage:"):
        return workdir / teacher.removeprefix("stage:")
    return Path(teacher)


def gate_settings(stage: ConfigDict) -> tuple[float, float]:
    """(pseudo.min_teacher_auroc, pseudo.teacher_auroc_z); a floor <= 0 turns the gate off."""
    min_auroc = float(stage.pseudo.get("min_teacher_auroc", DEFAULT_MIN_TEACHER_AUROC) or 0.0)
    z = float(stage.pseudo.get("teacher_auroc_z", DEFAULT_TEACHER_AUROC_Z) or 0.0)
    return min_auroc, z


def teacher_trust(stage: ConfigDict, teacher_dir: Path, task_names: list[str]) -> np.ndarray:
    """Tasks the teacher may pseudo-label (`trusted_tasks`); each one refused is a WARNING.

    Read from the teacher stage's done.json (validation only, never test); a teacher without
    one (a bare model directory) is trusted on every task. A closed gate turns the method off
    for that task, so it is said loudly, with the numbers and the keys that move the bar.
    """
    min_auroc, z = gate_settings(stage)
    done = teacher_dir / "done.json"
    if min_auroc <= 0 or not done.is_file():
        return np.ones(len(task_names), bool)
    valid = json.loads(done.read_text()).get("metrics", {}).get("valid", {})
    trusted = trusted_tasks(valid, task_names, min_auroc, z)
    for task, ok in zip(task_names, trusted, strict=True):
        if ok:
            continue
        entry = valid[task]
        positives, count = entry.get("positives"), entry.get("count")
        negatives = None if positives is None or count is None else count - positives
        log.warning(
            "stage %s: teacher %s is not trusted on task %s: validation AUROC %.3f < %.3f "
            "(pseudo.min_teacher_auroc=%g; chance + pseudo.teacher_auroc_z=%g sd on %s "
            "positives, %s negatives): this task gets NO teacher labels and keeps its carried "
            "labels at weight 1. Lower config.pseudo.min_teacher_auroc / "
            "config.pseudo.teacher_auroc_z (0 turns the gate off) to label it anyway",
            stage.stage_name,
            teacher_dir,
            task,
            entry["auroc"],
            teacher_auroc_bar(positives, negatives, min_auroc, z),
            min_auroc,
            z,
            positives,
            negatives,
        )
    if not trusted.any():
        log.warning(
            "stage %s: the teacher gate is closed on every task: the pseudo-labeled sets hold "
            "carried labels only, so the students that read them are not Noisy Student",
            stage.stage_name,
        )
    return trusted


def labels_used(labels_NT: np.ndarray) -> float | None:
    """Fraction of a written set's labels that are not missing (None for an empty set)."""
    return float(np.mean(~np.isnan(labels_NT))) if labels_NT.size else None


def _written_labels_used(out_dir: Path) -> float | None:
    """`labels_used` of a set written by an earlier, interrupted run (from its manifest)."""
    entry = load_manifest(out_dir).splits.get("train", {})
    count, missing = int(entry.get("count", 0)), entry.get("missing") or []
    if not count or not missing:
        return None
    return 1.0 - float(sum(missing)) / (count * len(missing))


def gate_result(task_names: list[str], trusted: np.ndarray, summaries: list[dict]) -> dict:
    """The gate's fields of the stage result (done.json), for the report: the tasks refused,
    ``gate_closed`` when none is trusted, and ``labels_used`` (fraction of labels the student
    gets, NaN = not used) per source."""
    return {
        "trusted_tasks": [t for t, ok in zip(task_names, trusted, strict=True) if ok],
        "untrusted_tasks": [t for t, ok in zip(task_names, trusted, strict=True) if not ok],
        "gate_closed": not bool(np.any(trusted)),
        "labels_used": {s["source"]: s.get("labels_used") for s in summaries},
    }


def run_teacher_stage(
    stage: ConfigDict, stage_dir: Path, *, prev_dir: Path | None, workdir: Path
) -> dict:
    """Scores every source of `config.pseudo.sources` and writes `<stage_dir>/shards/*`.

    Multi-process: all processes score together (see `batched_probabilities`); process 0 writes
    each shard set and the others wait for it, so the workdir must be a shared filesystem (as
    for checkpoints).
    """
    teacher_dir = resolve_teacher(stage, prev_dir, workdir)
    graphdef, rest, params, spec = load_trained_model(teacher_dir)
    if spec.get("loss", "binary") != "binary":
        raise ConfigError("pseudo-labeling supports binary (multi-task) teachers only")
    task_names = list(spec["task_names"])
    trusted = teacher_trust(stage, teacher_dir, task_names)
    mesh = make_mesh()
    params = jax.device_put(params, replicated(mesh))
    predict_fn = jax.jit(
        make_predict_fn(graphdef, rest, loss_type="binary", rc_average=bool(stage.eval.rc_average)),
        in_shardings=(replicated(mesh), batch_sharding(mesh)),
        out_shardings=batch_sharding(mesh),
    )
    sources = parse_sources(stage.pseudo.sources, stage.data, workdir, key="config.pseudo.sources")
    if not sources:
        raise ConfigError(f"stage {stage.stage_name!r}: config.pseudo.sources is empty")
    summaries = []
    seconds, scored = 0.0, 0
    progress = tqdm(
        sources, desc=f"{stage.stage_name}: teacher", unit="set", disable=not is_main_process()
    )
    for i, source in enumerate(progress):
        out_dir = stage_dir / "shards" / f"{i:02d}_{Path(source.path).name}"
        if (out_dir / MANIFEST_NAME).is_file():
            log.info("%s already written: kept", out_dir)
            summaries.append(
                {
                    "source": str(source.path),
                    "output": str(out_dir),
                    "kept": True,
                    "labels_used": _written_labels_used(out_dir),
                }
            )
            continue
        manifest = load_manifest(source.path)
        if manifest.seq_len != spec["seq_len"]:
            raise ConfigError(
                f"config.pseudo.sources: {source.path} has {manifest.seq_len} bp windows, the "
                f"teacher {teacher_dir} was trained on {spec['seq_len']} bp"
            )
        if manifest.task_names and list(manifest.task_names) != task_names:
            raise ConfigError(
                f"config.pseudo.sources: {source.path} has tasks {manifest.task_names}, the "
                f"teacher predicts {task_names}"
            )
        data = load_split(source.path, source.split)
        n = len(data["tokens"])
        limit = int(stage.pseudo.max_examples)
        if limit and n > limit:
            keep = np.sort(np.random.default_rng(int(stage.seed) + i).choice(n, limit, False))
            data = {k: v[keep] for k, v in data.items()}
            n = limit
        carried = (
            data["labels"]
            if manifest.task_names
            else np.full((n, len(task_names)), np.nan, np.float32)
        )
        start = time.perf_counter()
        probs = batched_probabilities(
            predict_fn, params, data["tokens"], batch_size=int(stage.eval.batch_size), mesh=mesh
        )
        seconds += time.perf_counter() - start
        scored += n
        labels, weights, confidence = make_pseudo_labels(
            carried,
            probs,
            homology_mode=stage.pseudo.homology_mode,
            unlabeled_mode=stage.pseudo.unlabeled_mode,
            threshold=float(stage.pseudo.threshold),
            trusted_T=trusted,
        )
        example_weights = np.nan_to_num(data["weights"], nan=1.0).astype(np.float32)
        used = ~np.isnan(labels)
        n_used = used.sum(axis=1)
        example_conf = np.where(used, confidence, 0.0).sum(axis=1) / np.maximum(n_used, 1)
        weight_fields = [label_weight_field(t) for t in task_names]
        if is_main_process():
            with ShardSetWriter(
                out_dir,
                seq_len=manifest.seq_len,
                task_names=task_names,
                command=f"jaxssl teacher stage {stage.stage_name} (teacher {teacher_dir})",
                sources=[Path(source.path) / MANIFEST_NAME],
                extra_fields=["confidence", *weight_fields],
                tfds=False,  # an internal set of one run: `data_prep tfds DIR` adds the view
                metadata={
                    "kind": "teacher_pseudo_labels",
                    "teacher": str(teacher_dir),
                    "source": str(source.path),
                    "homology_mode": stage.pseudo.homology_mode,
                    "unlabeled_mode": stage.pseudo.unlabeled_mode,
                    "threshold": float(stage.pseudo.threshold),
                    "rc_average": bool(stage.eval.rc_average),
                    "label_weights": "per label: extra fields label_weight:<task>",
                    "trusted_tasks": [t for t, ok in zip(task_names, trusted, strict=True) if ok],
                },
            ) as writer:
                writer.add_batch(
                    "train",
                    data["tokens"],
                    labels,
                    example_weights,
                    genome=data["genome"],
                    chrom=data["chrom"],
                    start=data["start"],
                    strand=data["strand"],
                    confidence=example_conf,
                    **{f: weights[:, j] for j, f in enumerate(weight_fields)},
                )
        if jax.process_count() > 1:  # the others wait until the set is on disk
            multihost_utils.sync_global_devices(f"teacher wrote {out_dir}")
        has_label = ~np.isnan(carried)
        agree = float(np.mean(confidence[has_label] > 0.5)) if has_label.any() else np.nan
        summaries.append(
            {
                "source": str(source.path),
                "output": str(out_dir),
                "examples": n,
                "mean_weight": float(weights[used].mean()) if used.any() else None,
                "mean_label_weight": {
                    t: float(weights[used[:, j], j].mean()) if used[:, j].any() else None
                    for j, t in enumerate(task_names)
                },
                "labels_used": labels_used(labels),
                "teacher_agrees_with_carried": None if np.isnan(agree) else float(agree),
                "pseudo_positive_rate": {
                    t: float(np.nanmean(labels[:, j])) if used[:, j].any() else None
                    for j, t in enumerate(task_names)
                },
            }
        )
    return {
        "name": stage.stage_name,
        "objective": OBJECTIVE,
        "teacher": str(teacher_dir),
        **gate_result(task_names, trusted, summaries),
        "pseudo_labels": summaries,
        "teacher_seq_per_s": round(scored / seconds, 1) if seconds else None,
        "metrics": {},
    }
