"""Metrics to JSON Lines (for scripts and plots) and TensorBoard event files (for people)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path


class MetricWriter:
    """Appends to `<log_dir>/metrics.jsonl` and TensorBoard; a no-op when not `enabled`."""

    def __init__(self, log_dir: Path, enabled: bool = True, resume_step: int | None = None):
        """`resume_step`: the step a run resumes from; later records (written before a kill,
        or by a checkpoint that did not restore) are dropped, so each step appears once."""
        self.log_dir = Path(log_dir)
        self.enabled = enabled
        if not enabled:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is not None:
            _truncate_after(self.log_dir / "metrics.jsonl", resume_step)
        self._jsonl = open(self.log_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        try:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(self.log_dir / "tensorboard"))
        except ImportError:  # pragma: no cover - tensorboardX is a dependency
            self._tb = None

    def write(self, step: int, split: str, scalars: dict[str, float]) -> None:
        if not self.enabled:
            return
        flat = {k: float(v) for k, v in scalars.items()}
        record = {"step": int(step), "split": split, **{k: _finite(v) for k, v in flat.items()}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for key, value in flat.items():
                if math.isfinite(value):
                    self._tb.add_scalar(f"{split}/{key}", value, step)

    def close(self) -> None:
        if not self.enabled:
            return
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


def _truncate_after(path: Path, step: int) -> None:
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
            # The test record is written once, at the end: a run resumed after it (killed
            # before the stage was marked done) writes it again.
            if record["step"] <= step and record.get("split") != "test":
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut by a kill mid-write
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def read_metrics(log_dir: Path) -> list[dict]:
    path = Path(log_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
