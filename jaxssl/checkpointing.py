"""Orbax checkpoints of the train state *and* the grain iterator, plus the best-so-far params.

Saving the iterator with the state is what makes a resumed run see exactly the next batch
(nanodo's habit); the separate "best" checkpoint holds the parameters selected on the
validation split, which is what evaluation, fine-tuning and teachers load.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp

from jaxssl.errors import CheckpointSaveError, ConfigError
from jaxssl.report import json_default
from jaxssl.train_state import TrainState

log = logging.getLogger("jaxssl")

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
        with _clear_save_errors(self.stage_dir / "checkpoints"):
            self.latest.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state),
                    data=grain.checkpoint.CheckpointSave(data_iterator),
                ),
                force=True,
            )

    def restore(self, state: TrainState, data_iterator: Any) -> tuple[TrainState, Any] | None:
        """Restores the newest checkpoint that restores into the structure of `state`.

        A checkpoint that fails (a file deleted, a disk error mid-write) is moved aside to
        `checkpoints_broken/` with a message and the one before it is tried; None when no
        checkpoint restores (the stage starts from its beginning).
        """
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
        for step in sorted(self.latest.all_steps(), reverse=True):
            try:
                restored = self.latest.restore(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract),
                        data=grain.checkpoint.CheckpointRestore(data_iterator),
                    ),
                )
            except Exception as err:  # noqa: BLE001 - any failure: try the previous one
                reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
                message = (
                    f"{self.stage_dir / 'checkpoints' / str(step)}: checkpoint of step {step} "
                    f"does not restore ({type(err).__name__}: {reason}); moved to "
                    f"{self.stage_dir / 'checkpoints_broken'}, trying the previous one"
                )
                log.warning("%s", message)
                print(f"jaxssl: {message}")
                self._set_aside(step)
                continue
            return restored.state, restored.data
        return None

    def _set_aside(self, step: int) -> None:
        if jax.process_index() == 0:
            broken = self.stage_dir / "checkpoints_broken"
            broken.mkdir(exist_ok=True)
            target = broken / str(step)
            if target.exists():
                shutil.rmtree(target)
            shutil.move(str(self.stage_dir / "checkpoints" / str(step)), target)
        self.latest.reload()

    def save_best(self, params: dict[str, Any], *, step: int, score: float, valid: dict) -> None:
        with _clear_save_errors(self.stage_dir / "best"):
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
        with _clear_save_errors(self.stage_dir / "checkpoints"):
            self.latest.wait_until_finished()
            self.best.wait_until_finished()

    def close(self) -> None:
        self.latest.close()
        self.best.close()


class _clear_save_errors:  # noqa: N801 - used as a `with` block
    """Turns a failed checkpoint write into one line naming the path and the free space."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or not isinstance(exc, OSError | ValueError | RuntimeError):
            return False
        if isinstance(exc, CheckpointSaveError):
            return False
        if not isinstance(exc, OSError) and "No space left" not in str(exc):
            return False
        try:
            free = shutil.disk_usage(self.path if self.path.exists() else self.path.parent).free
            space = f"{free / 2**20:.0f} MiB free"
        except OSError:
            space = "free space unknown"
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CheckpointSaveError(
            f"could not save a checkpoint to {self.path} ({space}): {reason}"
        ) from exc


class CorruptCheckpointError(ConfigError):
    """A stage's best checkpoint does not restore; the message names the command that retrains
    it (a ConfigError, so every CLI prints it as one line)."""


def _corrupt(stage_dir: Path, step: int | None, err: BaseException) -> CorruptCheckpointError:
    stage_dir = Path(stage_dir)
    reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    at = f" (step {step})" if step is not None else ""
    return CorruptCheckpointError(
        f"{stage_dir / 'best'}: the best checkpoint{at} of stage {stage_dir.name!r} does not "
        f"restore ({type(err).__name__}: {reason}); retrain that stage by running its command "
        f"again with --config.rerun={stage_dir.name} (same --workdir)"
    )


def restore_params(stage_dir: Path, params_like: dict[str, Any] | None) -> dict[str, Any]:
    """The best parameters of a finished (or running) stage as numpy, shaped like `params_like`
    (None: as saved). A checkpoint that does not restore raises `CorruptCheckpointError`."""
    step, manager = None, None
    try:
        manager = ocp.CheckpointManager(
            (Path(stage_dir) / "best").absolute(),
            options=ocp.CheckpointManagerOptions(create=False),
        )
        step = manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"{stage_dir}/best holds no checkpoint to load parameters from")
        if params_like is None:
            args = ocp.args.StandardRestore()
        else:
            args = ocp.args.StandardRestore(
                jax.tree.map(ocp.utils.to_shape_dtype_struct, params_like)
            )
        params = manager.restore(step, args=args)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure to read it: a damaged checkpoint
        raise _corrupt(Path(stage_dir), step, err) from err
    finally:
        if manager is not None:
            manager.close()
    # Host arrays: the caller places them (a committed single-device array cannot be put on a
    # sharding that spans other processes' devices).
    return jax.device_get(params)


def best_checkpoint_problem(stage_dir: Path) -> str:
    """Why the best checkpoint of a stage does not restore ("" when it does, or there is none)."""
    if not (Path(stage_dir) / "best").is_dir():
        return ""
    try:
        restore_params(Path(stage_dir), None)
    except CorruptCheckpointError as err:
        return str(err)
    except FileNotFoundError as err:
        return str(err)
    return ""


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
    # Task names too: the same count in another order would load the head onto wrong tasks.
    keys = [
        k for k in ("name", "hparams", "seq_len", "num_outputs", "task_names") if k not in ignore
    ]
    diffs = [
        f"{k}: checkpoint has {source.get(k)!r}, this run has {target.get(k)!r}"
        for k in keys
        if _canonical(source.get(k)) != _canonical(target.get(k))
    ]
    if diffs:
        raise ValueError(
            f"init_from={source_dir}: architecture mismatch ({'; '.join(diffs)}). "
            "Use the same config.model settings and tasks as the run you initialise from "
            "(for other tasks, re-initialise the head: config.init_exclude=head)."
        )


def _canonical(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=json_default))
