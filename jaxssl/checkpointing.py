"""Orbax checkpoints of the train state *and* the grain iterator, plus the best-so-far params.

Saving the iterator with the state is what makes a resumed run see exactly the next batch
(nanodo's habit); the separate "best" checkpoint holds the parameters selected on the
validation split, which is what evaluation, fine-tuning and teachers load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp

from jaxssl.report import json_default
from jaxssl.train_state import TrainState

MODEL_SPEC_FILE = "model.json"


class StageCheckpoints:
    """`<stage_dir>/checkpoints` (latest, with data iterator) and `<stage_dir>/best`."""

    def __init__(self, stage_dir: Path, *, keep: int = 2):
        self.stage_dir = Path(stage_dir)
        self.latest = ocp.CheckpointManager(
            (self.stage_dir / "checkpoints").absolute(),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        )
        self.best = ocp.CheckpointManager(
            (self.stage_dir / "best").absolute(),
            options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True),
        )

    def latest_step(self) -> int | None:
        return self.latest.latest_step()

    def save(self, state: TrainState, data_iterator: Any) -> None:
        step = int(jax.device_get(state.step))
        self.latest.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data=grain.checkpoint.CheckpointSave(data_iterator),
            ),
            force=True,
        )

    def restore(self, state: TrainState, data_iterator: Any) -> tuple[TrainState, Any]:
        """Restores the newest checkpoint into the structure (and shardings) of `state`."""
        step = self.latest.latest_step()
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
        restored = self.latest.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract),
                data=grain.checkpoint.CheckpointRestore(data_iterator),
            ),
        )
        return restored.state, restored.data

    def save_best(self, params: dict[str, Any], *, step: int, score: float, valid: dict) -> None:
        self.best.save(step, args=ocp.args.StandardSave(params), force=True)
        self.best.wait_until_finished()
        if jax.process_index() != 0:
            return
        (self.stage_dir / "best.json").write_text(
            json.dumps({"step": step, "score": score, "valid": valid}, indent=2, default=float)
        )

    def best_record(self) -> dict | None:
        """The best-so-far record, if its checkpoint is on disk (both written, in that order)."""
        path = self.stage_dir / "best.json"
        if not path.exists() or self.best.latest_step() is None:
            return None
        record = json.loads(path.read_text())
        return record if record["step"] == self.best.latest_step() else None

    def restore_best(self, params_like: dict[str, Any]) -> dict[str, Any]:
        return restore_params(self.stage_dir, params_like)

    def wait(self) -> None:
        self.latest.wait_until_finished()
        self.best.wait_until_finished()

    def close(self) -> None:
        self.latest.close()
        self.best.close()


def restore_params(stage_dir: Path, params_like: dict[str, Any]) -> dict[str, Any]:
    """The best parameters of a finished (or running) stage as numpy, shaped like `params_like`."""
    manager = ocp.CheckpointManager(
        (Path(stage_dir) / "best").absolute(), options=ocp.CheckpointManagerOptions(create=False)
    )
    step = manager.latest_step()
    if step is None:
        raise FileNotFoundError(f"{stage_dir}/best holds no checkpoint to load parameters from")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, params_like)
    params = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    manager.close()
    # Host arrays: the caller places them (a committed single-device array cannot be put on a
    # sharding that spans other processes' devices).
    return jax.device_get(params)


def write_model_spec(stage_dir: Path, spec: dict) -> None:
    Path(stage_dir).mkdir(parents=True, exist_ok=True)
    if jax.process_index() != 0:
        return
    (Path(stage_dir) / MODEL_SPEC_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True))


def read_model_spec(stage_dir: Path) -> dict:
    path = Path(stage_dir) / MODEL_SPEC_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: {stage_dir} is not a jaxssl stage directory with a trained model"
        )
    return json.loads(path.read_text())


def check_same_architecture(
    source: dict, target: dict, source_dir: Path, ignore: tuple[str, ...] = ()
) -> None:
    """Refuses to load weights into a different architecture, naming what differs."""
    keys = [k for k in ("name", "hparams", "seq_len", "num_outputs") if k not in ignore]
    diffs = [
        f"{k}: checkpoint has {source.get(k)!r}, this run has {target.get(k)!r}"
        for k in keys
        if _canonical(source.get(k)) != _canonical(target.get(k))
    ]
    if diffs:
        raise ValueError(
            f"init_from={source_dir}: architecture mismatch ({'; '.join(diffs)}). "
            "Use the same config.model settings as the run you initialise from."
        )


def _canonical(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=json_default))
