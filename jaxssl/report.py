"""`workdir/report.json` and the table printed at the end of a run.

One entry per stage with validation and test metrics per task and their mean, so methods
(supervised -> pseudo-label -> noisy-student generations) can be compared side by side.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from jaxssl.metrics import METRIC_NAMES


def write_report(workdir: Path, stages: list[dict]) -> Path:
    """Writes atomically, so a reader never sees half a report."""
    path = Path(workdir) / "report.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"stages": stages}, indent=2, default=json_default))
    os.replace(tmp, path)
    return path


def json_default(value: Any) -> Any:
    """`json.dumps` fallback for numpy/JAX scalars (kept exact) and anything else (as text)."""
    if isinstance(value, np.generic):
        return value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def format_table(stages: list[dict], split: str = "test") -> str:
    """Rows: stage x task; columns: AUROC, AUPRC, MCC, accuracy on `split`."""
    rows = []
    for stage in stages:
        metrics = stage.get("metrics", {}).get(split)
        if not metrics:
            continue
        for task, values in metrics.items():
            rows.append([stage["name"], task, *[_fmt(values.get(m)) for m in METRIC_NAMES]])
    if not rows:
        return f"(no {split} metrics)"
    header = ["stage", "task", *METRIC_NAMES]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        f"{split} metrics",
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    previous = None
    for row in rows:
        if previous is not None and row[0] != previous:
            lines.append("")
        previous = row[0]
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}"
