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

from jaxssl.metrics import DEV_THRESHOLD_METRIC, METRIC_NAMES


def _reported(stages: list[dict]) -> tuple[str, ...]:
    """METRIC_NAMES, plus MCC at the dev-chosen threshold where any stage has it."""
    has_dev = any(s.get("metrics", {}).get("dev_threshold") for s in stages)
    return (*METRIC_NAMES, DEV_THRESHOLD_METRIC) if has_dev else METRIC_NAMES


def write_json_atomic(path: Path, obj: Any, *, sort_keys: bool = False) -> Path:
    """Writes beside `path` and renames over it, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=sort_keys, default=json_default))
    os.replace(tmp, path)
    return path


def write_report(workdir: Path, stages: list[dict]) -> Path:
    return write_json_atomic(Path(workdir) / "report.json", {"stages": stages})


def json_default(value: Any) -> Any:
    """`json.dumps` fallback for numpy/JAX scalars (kept exact) and anything else (as text)."""
    if isinstance(value, np.generic):
        return value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def format_table(stages: list[dict], split: str = "test") -> str:
    """Rows: stage x task; columns: AUROC, AUPRC, MCC, accuracy (and MCC at the dev-chosen
    threshold where there is one) on `split`."""
    names = _reported(stages)
    rows = []
    for stage in stages:
        metrics = stage.get("metrics", {}).get(split)
        if not metrics or stage.get("variant_of"):  # budgets of a tuned control: its row
            continue
        for task in metrics:
            rows.append(
                [stage["name"], task, *[_fmt(_metric(stage, split, task, m)) for m in names]]
            )
    if not rows:
        return f"(no {split} metrics)"
    warnings = gate_warnings(stages)
    header = ["stage", "task", *names]
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
    return "\n".join(lines + warnings)


def gate_warnings(stages: dict[str, dict] | list[dict]) -> list[str]:
    """Loud lines for teacher stages whose gate refused tasks: the students of a closed gate
    trained without pseudo-labels, so their rows do not measure the method."""
    items = stages.items() if isinstance(stages, dict) else ((s["name"], s) for s in stages)
    lines = []
    for name, entry in items:
        closed = entry.get("gate_closed")
        untrusted = entry.get("untrusted_tasks")
        if isinstance(closed, list):  # per seed
            seeds = [i for i, c in enumerate(closed) if c]
            if seeds:
                lines.append(
                    f"WARNING: {name}: the teacher gate was closed in {len(seeds)} of "
                    f"{len(closed)} seeds: no pseudo-labels, so the students after it trained "
                    "on real labels only (see pseudo.min_teacher_auroc, pseudo.teacher_auroc_z)"
                )
                continue
        elif closed:
            lines.append(
                f"WARNING: {name}: the teacher gate was closed: no pseudo-labels, so the "
                "students after it trained on real labels only (see pseudo.min_teacher_auroc, "
                "pseudo.teacher_auroc_z)"
            )
            continue
        flat = (
            sorted({t for u in untrusted for t in u})
            if isinstance(untrusted, list) and (untrusted and isinstance(untrusted[0], list))
            else sorted(untrusted or [])
        )
        if flat:
            lines.append(f"note: {name}: the teacher gate refused tasks {flat} (labels kept)")
    return ["", *lines] if lines else []


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}"


def _stats(values: list[float]) -> dict:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], np.float64)
    if not len(arr):
        return {"mean": None, "sd": None, "n": 0, "values": values}
    sd = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {"mean": float(arr.mean()), "sd": sd, "n": int(len(arr)), "values": values}


def sign_test_p(differences: list[float]) -> float:
    """Two-sided exact sign test (ties dropped): chance of a split at least this uneven."""
    nonzero = [d for d in differences if d != 0 and np.isfinite(d)]
    n = len(nonzero)
    if n == 0:
        return 1.0
    k = min(sum(d > 0 for d in nonzero), sum(d < 0 for d in nonzero))
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return float(min(1.0, 2 * tail))


def _metric(stage: dict, split: str, task: str, metric: str) -> float | None:
    if metric == DEV_THRESHOLD_METRIC:
        value = (stage.get("metrics", {}).get("dev_threshold") or {}).get(split, {}).get(task)
        return None if value is None else float(value)
    value = stage.get("metrics", {}).get(split, {}).get(task, {}).get(metric)
    return None if value is None else float(value)


def seed_summary(runs: list[list[dict]], seeds: list[int]) -> dict:
    """Mean ± sd over seeds per stage, task and metric, and paired method − control differences.

    `runs[i]` is the list of stage results of seed `seeds[i]`. A stage result with
    `control_of = NAME` is the matched control of stage NAME; each such pair gives per-seed
    differences (method − control), their mean ± sd, the count of seeds the method won, and
    a two-sided sign-test p-value.
    """
    names = [s["name"] for s in runs[0]]
    stages: dict[str, dict] = {}
    for name in names:
        per_seed = [next(s for s in run if s["name"] == name) for run in runs]
        entry: dict[str, Any] = {
            "objective": per_seed[0].get("objective"),
            "control_of": per_seed[0].get("control_of") or None,
            "steps_run": [s.get("steps_run", s.get("steps")) for s in per_seed],
            "best_step": [s.get("best_step") for s in per_seed],
        }
        if any(s.get("selected") for s in per_seed):
            entry["selected"] = [s.get("selected") for s in per_seed]
        if any(s.get("gate_closed") for s in per_seed):  # a teacher that labeled nothing
            entry["gate_closed"] = [bool(s.get("gate_closed")) for s in per_seed]
        if any(s.get("untrusted_tasks") for s in per_seed):
            entry["untrusted_tasks"] = [s.get("untrusted_tasks") or [] for s in per_seed]
        warned = {w: None for s in per_seed for w in s.get("warnings") or []}
        if warned:  # e.g. a one-class test split: once per stage, whatever the seed
            entry["warnings"] = list(warned)
        if per_seed[0].get("variant_of"):  # one budget of a tuned control (not a table row)
            entry["variant_of"] = per_seed[0]["variant_of"]
        if any(s.get("skipped") for s in per_seed):
            entry["skipped"] = [s.get("skipped") or None for s in per_seed]
        for split in ("valid", "test"):
            tasks = list(per_seed[0].get("metrics", {}).get(split, {}) or {})
            if not tasks:
                continue
            names = _reported(per_seed)
            entry[split] = {
                task: {m: _stats([_metric(s, split, task, m) for s in per_seed]) for m in names}
                for task in tasks
            }
        stages[name] = entry
    comparisons = []
    for name, entry in stages.items():
        method = entry["control_of"]
        if not method or method not in stages or "test" not in entry:
            continue
        m_runs = [next(s for s in run if s["name"] == method) for run in runs]
        c_runs = [next(s for s in run if s["name"] == name) for run in runs]
        for task in entry["test"]:
            for metric in METRIC_NAMES:
                diffs = []
                for m, c in zip(m_runs, c_runs, strict=True):
                    a, b = _metric(m, "test", task, metric), _metric(c, "test", task, metric)
                    diffs.append(None if a is None or b is None else a - b)
                finite = [d for d in diffs if d is not None and np.isfinite(d)]
                comparisons.append(
                    {
                        "method": method,
                        "control": name,
                        "split": "test",
                        "task": task,
                        "metric": metric,
                        "differences": diffs,
                        **{k: v for k, v in _stats(diffs).items() if k != "values"},
                        "method_wins": int(sum(d > 0 for d in finite)),
                        "sign_test_p": sign_test_p(finite),
                    }
                )
    return {"seeds": list(seeds), "stages": stages, "comparisons": comparisons}


def write_seed_report(workdir: Path, summary: dict) -> Path:
    return write_json_atomic(Path(workdir) / "report.json", summary)


def _pm(stats: dict | None) -> str:
    if not stats or stats.get("mean") is None:
        return "-"
    return f"{stats['mean']:.4f} ± {stats['sd']:.4f}"


def format_seed_table(summary: dict, split: str = "test", metric: str = "auprc") -> str:
    """Stage x task mean ± sd of `metric`, then method − control paired differences."""
    stages = {k: v for k, v in summary["stages"].items() if split in v and not v.get("variant_of")}
    if not stages:
        return f"(no {split} metrics)"
    tasks = list(next(iter(stages.values()))[split])
    header = ["stage", "steps run", *tasks]
    rows = []
    for name, entry in stages.items():
        steps = [s for s in entry["steps_run"] if s is not None]
        label = name
        if entry.get("selected"):  # e.g. "noisy_student = student_2 ×2, student_1 ×1"
            kept = [k for k in entry["selected"] if k]
            label += " = " + ", ".join(f"{k} ×{kept.count(k)}" for k in dict.fromkeys(kept))
        skipped = sum(1 for k in entry.get("skipped") or [] if k)
        if skipped:
            label += f" (skipped in {skipped} seeds)"
        rows.append(
            [label, f"{np.mean(steps):.0f}" if steps else "-"]
            + [_pm(entry[split].get(t, {}).get(metric)) for t in tasks]
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    seeds = ",".join(str(s) for s in summary["seeds"])
    lines = [
        f"{split} {metric}, mean ± sd over seeds {seeds}",
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "  ".join("-" * w for w in widths),
        *("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows),
    ]
    lines += gate_warnings(summary["stages"])
    lines += [
        f"WARNING: {name}: {w}"
        for name, entry in summary["stages"].items()
        for w in entry.get("warnings") or []
    ]
    variation = summary.get("seed_variation")
    if variation:
        lines += [
            "",
            "varied with the seed: " + "; ".join(variation["varied"]),
            "the same in every seed: " + "; ".join(variation["pinned"]),
        ]
    pairs = [c for c in summary["comparisons"] if c["metric"] == metric and c["split"] == split]
    if pairs:
        lines += ["", f"method − control, {split} {metric} (paired over seeds)"]
        for c in pairs:
            diffs = ", ".join("-" if d is None else f"{d:+.4f}" for d in c["differences"])
            mean = "-" if c["mean"] is None else f"{c['mean']:+.4f} ± {c['sd']:.4f}"
            lines.append(
                f"  {c['method']} − {c['control']}  {c['task']:<8} {mean}  "
                f"[{diffs}]  wins {c['method_wins']}/{c['n']}  sign test p={c['sign_test_p']:.3f}"
            )
    return "\n".join(lines)
