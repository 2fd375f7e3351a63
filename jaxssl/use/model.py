"""A trained model named by a directory: one stage, the final stage of a run, or a seed ensemble.

Users point at whatever directory they have: a stage directory (holds ``model.json`` and
``best/``), a run directory (its stages; the final one unless ``stage`` names another), or a
multi-seed run (``seed_<n>/``: one seed with ``seed``, otherwise the mean over all seeds). The
"final" stage of a run is the one the run itself chose on validation when it made a choice
(a ``select`` entry in ``report.json``), else the last trained, non-control stage.

Scoring goes through `Predictor`: one jitted function (`jaxssl.predict.make_predict_fn`), fed
fixed-size batches by `jaxssl.evaluate.batched_probabilities`, so it compiles once and the
numbers equal the trainer's own evaluation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from jaxssl.checkpointing import MODEL_SPEC_FILE
from jaxssl.evaluate import batched_probabilities
from jaxssl.predict import make_predict_fn
from jaxssl.sharding import batch_sharding, make_mesh, replicated
from jaxssl.teacher import load_trained_model

_SEED_DIR = re.compile(r"^seed_(\d+)$")


def is_stage_dir(path: Path) -> bool:
    return (path / MODEL_SPEC_FILE).is_file() and (path / "best").is_dir()


def seed_dirs(run_dir: Path) -> dict[int, Path]:
    """{seed: directory} of a multi-seed run (empty for a single run)."""
    found = {}
    for child in sorted(run_dir.iterdir()) if run_dir.is_dir() else []:
        match = _SEED_DIR.match(child.name)
        if match and child.is_dir():
            found[int(match.group(1))] = child
    return dict(sorted(found.items()))


def reported_stage(run_dir: Path, name: str) -> Path:
    """The directory of stage `name` of a run, or of the stage its report chose for that name
    (the noisy-student generation kept, a tuned control's budget)."""
    report = Path(run_dir) / "report.json"
    if report.is_file():
        entries = json.loads(report.read_text()).get("stages", [])
        entry = next((e for e in entries if e.get("name") == name), None)
        if entry and entry.get("selected"):
            return Path(run_dir) / entry["selected"]
    return Path(run_dir) / name


def final_stage(run_dir: Path) -> Path:
    """The stage a run ends with: its validation-selected stage, else its last trained method
    stage (controls such as the budget-matched `supervised` are not the run's result)."""
    stages = [p for p in sorted(run_dir.iterdir()) if p.is_dir() and is_stage_dir(p)]
    if not stages:
        raise FileNotFoundError(
            f"{run_dir}: no trained stage here (a stage directory holds {MODEL_SPEC_FILE} and "
            "best/); give a stage directory or a jaxssl run directory"
        )
    report = run_dir / "report.json"
    if report.is_file():
        entries = json.loads(report.read_text()).get("stages", [])
        # A tuned control's chosen budget (budget_choices) is a control, not the result.
        chosen = [
            e["selected"] for e in entries if e.get("selected") and not e.get("budget_choices")
        ]
        if chosen and is_stage_dir(run_dir / chosen[-1]):
            return run_dir / chosen[-1]
        trained = [
            e["name"]
            for e in entries
            if not e.get("skipped")
            and not e.get("control_of")
            and not e.get("variant_of")
            and e.get("objective") != "selection"
            and is_stage_dir(run_dir / e["name"])
        ]
        if trained:
            return run_dir / trained[-1]
    if len(stages) == 1:
        return stages[0]
    raise ValueError(
        f"{run_dir}: {len(stages)} stages ({', '.join(p.name for p in stages)}) and no "
        "report.json saying which one is final; pass --stage NAME"
    )


def resolve_stage_dirs(path: str | Path, *, stage: str | None = None, seed: int | None = None):
    """The stage directories a model name stands for (several = a seed ensemble)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such model directory (a stage or run directory)")
    if is_stage_dir(path):
        if stage or seed is not None:
            raise ValueError(f"{path} is a stage directory: --stage and --seed do not apply")
        return [path]
    seeds = seed_dirs(path)
    if seed is not None:
        if seed not in seeds:
            raise ValueError(
                f"{path}: no seed_{seed}/ (seeds here: {sorted(seeds) or 'none, a single run'})"
            )
        runs = [seeds[seed]]
    else:
        runs = list(seeds.values()) or [path]
    out = []
    for run in runs:
        if stage:
            stage_path = reported_stage(run, stage)  # `--stage noisy_student` / `supervised`
            if is_stage_dir(stage_path):
                out.append(stage_path)
                continue
            if not is_stage_dir(run / stage):
                names = [p.name for p in sorted(run.iterdir()) if is_stage_dir(p)]
                raise ValueError(f"{run}: no trained stage {stage!r} (trained stages: {names})")
            out.append(run / stage)
        else:
            out.append(final_stage(run))
    return out


@dataclass
class LoadedModel:
    """One architecture and one or more parameter sets (seeds) averaged at prediction."""

    stage_dirs: list[Path]
    spec: dict
    graphdef: nnx.GraphDef
    rest: nnx.State
    params: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seq_len(self) -> int:
        return int(self.spec["seq_len"])

    @property
    def loss(self) -> str:
        return str(self.spec.get("loss", "binary"))

    @property
    def output_names(self) -> list[str]:
        """Column names of the probabilities: tasks (binary) or classes (multiclass)."""
        if self.loss == "multiclass":
            task = (self.spec.get("task_names") or ["class"])[0]
            return [f"{task}_{k}" for k in range(int(self.spec["num_outputs"]))]
        return list(self.spec["task_names"]) or [f"task_{t}" for t in range(self.num_outputs)]

    @property
    def num_outputs(self) -> int:
        return int(self.spec["num_outputs"])

    def describe(self) -> str:
        dirs = ", ".join(str(d) for d in self.stage_dirs)
        kind = f"ensemble of {len(self.params)} seeds" if len(self.params) > 1 else "model"
        return f"{kind} {self.spec['name']} ({self.seq_len} bp, {self.output_names}) from {dirs}"


def load_model(path: str | Path, *, stage: str | None = None, seed: int | None = None):
    """Loads the best parameters of every stage `path` stands for (see `resolve_stage_dirs`)."""
    dirs = resolve_stage_dirs(path, stage=stage, seed=seed)
    graphdef, rest, params, spec = load_trained_model(dirs[0])
    model = LoadedModel(dirs, spec, graphdef, rest, [params])
    for d in dirs[1:]:
        _, _, more, other = load_trained_model(d)
        for key in ("name", "hparams", "seq_len", "num_outputs", "task_names", "loss"):
            if other.get(key) != spec.get(key):
                raise ValueError(
                    f"{d}: {key} is {other.get(key)!r}, {dirs[0]} has {spec.get(key)!r}; seeds "
                    "of an ensemble must share the architecture (pass --seed N for one)"
                )
        model.params.append(more)
    return model


class Predictor:
    """tokens uint8[N, L] -> probabilities float32[N, T], mean over the ensemble's members.

    One jitted function serves every member (params are an argument), and rows go through in
    fixed global batches, so any N compiles once.
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        rc_average: bool = True,
        batch_size: int = 256,
        progress: bool = True,
    ):
        self.model = model
        self.mesh = make_mesh()
        devices = self.mesh.devices.size
        self.batch_size = max(devices, (batch_size // devices) * devices)
        self.progress = progress
        self.rc_average = rc_average
        repl = replicated(self.mesh)
        self.params = [jax.device_put(p, repl) for p in model.params]
        self.predict_fn = jax.jit(
            make_predict_fn(
                model.graphdef, model.rest, loss_type=model.loss, rc_average=rc_average
            ),
            in_shardings=(repl, batch_sharding(self.mesh)),
            out_shardings=batch_sharding(self.mesh),
        )

    def __call__(self, tokens_NL: np.ndarray, *, desc: str = "predict") -> np.ndarray:
        tokens_NL = np.asarray(tokens_NL, np.uint8)
        if tokens_NL.ndim != 2 or tokens_NL.shape[1] != self.model.seq_len:
            raise ValueError(
                f"expected tokens [N, {self.model.seq_len}] for this model, got {tokens_NL.shape}"
            )
        n = len(tokens_NL)
        if n == 0:
            return np.zeros((0, self.model.num_outputs), np.float32)
        chunk = self.batch_size * 8  # progress granularity; batches stay fixed-size
        total = np.zeros((n, self.model.num_outputs), np.float64)
        bar = tqdm(
            total=n * len(self.params),
            desc=desc,
            unit="seq",
            disable=not self.progress or n * len(self.params) <= chunk,
            dynamic_ncols=True,
        )
        for params in self.params:
            for lo in range(0, n, chunk):
                rows = tokens_NL[lo : lo + chunk]
                total[lo : lo + len(rows)] += batched_probabilities(
                    self.predict_fn, params, rows, batch_size=self.batch_size, mesh=self.mesh
                )
                bar.update(len(rows))
        bar.close()
        return (total / len(self.params)).astype(np.float32)
