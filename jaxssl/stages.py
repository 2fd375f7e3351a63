"""Stage kinds that run a job instead of an objective's training loop: one table, by name.

A stage whose ``objective`` is a key of ``STAGE_RUNNERS`` runs that job; every other stage
trains with the objective of that name (``jaxssl.objectives``). Stage validation and the
trainer read this one table, so adding a job is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable

from jaxssl import teacher

__all__ = ["STAGE_RUNNERS", "TEACHER_OBJECTIVE", "StageRunner", "is_job"]

# runner(stage_config, stage_dir, *, prev_dir=..., workdir=...) -> the stage's result dict
StageRunner = Callable[..., dict]

TEACHER_OBJECTIVE = teacher.OBJECTIVE

STAGE_RUNNERS: dict[str, StageRunner] = {
    TEACHER_OBJECTIVE: teacher.run_teacher_stage,  # Noisy Student: score, write pseudo-labels
}


def is_job(objective: str) -> bool:
    """Does a stage with this objective run a job (True) or a training loop (False)?"""
    return objective in STAGE_RUNNERS
