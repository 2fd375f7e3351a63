"""The contract between an objective and the trainer (the registry is the package's)."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import jax

from jaxssl.train_state import TrainState

Batch = dict[str, jax.Array]


class Objective(Protocol):
    """What the trainer needs from an objective; every objective implements all of it.

    ``train_step`` and ``eval_loss`` must be pure (the trainer jits them with shardings; the
    train step's state is donated); the step returns the new state and a flat dict of scalar
    measurements. An objective is built per stage as ``cls(stage_config, graphdef, rest, tx)``;
    ``name``, ``uses_labels`` and ``VERSION`` are class attributes, so the trainer can read them
    from the registered class before building it.
    """

    name: ClassVar[str]
    # What the objective optimises and how it picks its best checkpoint, as one integer: bump
    # it with any such change. Each stage's record (stage_config.json) stores it, so a stage
    # trained by another version is refused like a changed config; a record from before
    # versions were stored counts as version 1.
    VERSION: ClassVar[int]
    # True: the stage needs labels, and is selected and tested on the labeled splits' metrics.
    # False (label-free pre-training): selected on -eval_loss over the validation split.
    uses_labels: ClassVar[bool]
    # What `eval_loss` measures: a label-free stage's validation metric (and selection score,
    # negated) is reported under this name in report.json.
    eval_loss_name: str

    def init_params(self, params: dict[str, Any], key: jax.Array) -> dict[str, Any]:
        """The trained parameters, from the model's: with heads of the objective's own."""
        ...

    def init_extra(self, params: dict[str, Any]) -> dict[str, Any]:
        """Training state beside the parameters (e.g. an EMA teacher), from ``init_params``."""
        ...

    def train_step(self, state: TrainState, batch: Batch) -> tuple[TrainState, dict]: ...

    def eval_params(self, state: TrainState) -> dict[str, Any]:
        """The model parameters to evaluate, checkpoint as best and fine-tune from."""
        ...

    def eval_loss(self, state: TrainState, batch: Batch, key: jax.Array) -> tuple[jax.Array, ...]:
        """(loss total, weight total) of one batch; a split's loss is the ratio of the sums.

        Deterministic given the state and ``key`` (the trainer passes the same key at every
        evaluation, so scores are comparable across steps); padded rows add nothing.
        """
        ...
