"""One word per regime and method: does the method beat its tuned control, over seeds?

A comparison is the list of paired differences method − control (one per seed, same labels,
same data, test split). Its 95 % interval is the paired t interval, mean ± t(0.975, n − 1) ·
sd / √n (Student's t, two-sided; exact quantiles up to 30 seeds, 1.96 beyond). The word is
"wins" when the whole interval lies above 0, "loses" when it lies below, "ties" otherwise;
with one seed there is no interval and the word is "ties" (not enough evidence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxssl.report import sign_test_p

# t(0.975, df) for df = 1..30.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
WORDS = ("wins", "ties", "loses")


def t_quantile_975(df: int) -> float:
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return _T975[df - 1] if df <= len(_T975) else 1.96


def paired_interval(differences: Sequence[float | None]) -> dict:
    """Mean, sd, 95 % paired-t interval, seeds won and the sign test of method − control."""
    values = [float(d) for d in differences if d is not None and math.isfinite(d)]
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "low": None, "high": None, "wins": 0,
                "sign_test_p": 1.0, "word": "ties", "differences": list(differences)}  # fmt: skip
    arr = np.asarray(values)
    mean = float(arr.mean())
    sd = float(arr.std(ddof=1)) if n > 1 else 0.0
    if n > 1:
        half = t_quantile_975(n - 1) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    else:
        low, high = -math.inf, math.inf
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "low": low,
        "high": high,
        "wins": int((arr > 0).sum()),
        "sign_test_p": sign_test_p(values),
        "word": verdict_word(low, high),
        "differences": list(differences),
    }


def verdict_word(low: float, high: float) -> str:
    if low > 0:
        return "wins"
    if high < 0:
        return "loses"
    return "ties"


def seed_values(summary: dict, stage: str, metric: str = "auprc") -> list[float | None]:
    """Per-seed test values of a stage's task mean, from a seed report (report.json)."""
    entry = summary["stages"].get(stage)
    if entry is None or "test" not in entry:
        return [None] * len(summary["seeds"])
    return list(entry["test"]["mean"][metric]["values"])


def compare(summary: dict, method: str, control: str, metric: str = "auprc") -> dict:
    """The paired comparison of two stages of one seed report."""
    a, b = seed_values(summary, method, metric), seed_values(summary, control, metric)
    diffs = [None if x is None or y is None else x - y for x, y in zip(a, b, strict=True)]
    return {
        **paired_interval(diffs),
        "method_values": a,
        "control_values": b,
        "method_mean": _mean(a),
        "control_mean": _mean(b),
    }


def _mean(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.mean(finite)) if finite else None


def _signed(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:+.4f}"


def markdown(rows: list[dict], metric: str = "test AUPRC") -> str:
    """The verdict table: one row per regime, point and method."""
    lines = [
        f"| regime | labeled examples | method | control | method − control ({metric}), "
        "mean [95 % CI] | seeds won | verdict | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r["comparison"]
        interval = (
            f"{_signed(c['mean'])} [{_signed(c['low'])}, {_signed(c['high'])}]" if c["n"] else "-"
        )
        lines.append(
            f"| {r['regime']} | {r['labeled']} | {r['method']} | {r['control']} | {interval} | "
            f"{c['wins']}/{c['n']} | **{c['word']}** | {r.get('note', '')} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> bool:
    """Gain over the control vs labeled examples, one panel per regime, one line per method,
    the 95 % interval shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regimes = list(dict.fromkeys(r["regime"] for r in rows))
    if not regimes:
        return False
    fig, axes = plt.subplots(1, len(regimes), figsize=(4.2 * len(regimes), 3.6), squeeze=False)
    for ax, regime in zip(axes[0], regimes, strict=True):
        mine = [r for r in rows if r["regime"] == regime and r["comparison"]["n"]]
        for method in dict.fromkeys(r["method"] for r in mine):
            pts = sorted((r for r in mine if r["method"] == method), key=lambda r: r["labeled"])
            xs = [r["labeled"] for r in pts]
            mean = [r["comparison"]["mean"] for r in pts]
            low = [max(r["comparison"]["low"], -1.0) for r in pts]
            high = [min(r["comparison"]["high"], 1.0) for r in pts]
            yerr = [[m - lo for m, lo in zip(mean, low, strict=True)],
                    [hi - m for m, hi in zip(mean, high, strict=True)]]  # fmt: skip
            bars = ax.errorbar(xs, mean, yerr=yerr, marker="o", capsize=4, label=method)
            if len(xs) > 1:  # the interval as a band between points
                ax.fill_between(xs, low, high, color=bars.lines[0].get_color(), alpha=0.15)
        ax.axhline(0, color="grey", lw=0.8)
        if mine and len({r["labeled"] for r in mine}) > 1:
            ax.set_xscale("log")
        ax.set_title(regime, fontsize=9)
        ax.set_xlabel("labeled training examples")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("method − tuned control (test AUPRC)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
