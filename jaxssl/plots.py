"""PNG figures a person looks at instead of reading JSON: training curves, ROC and PR curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def training_curves(records: list[dict], out_path: Path, title: str = "") -> None:
    """Training loss (and learning rate) and validation metrics against step."""
    train = [r for r in records if r["split"] == "train" and r.get("training_loss") is not None]
    valid = [r for r in records if r["split"] == "valid"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        steps = [r["step"] for r in train]
        axes[0].plot(steps, [r["training_loss"] for r in train], label="training loss")
        axes[0].set_xlabel("step")
        axes[0].set_ylabel("loss")
        if any(r.get("learning_rate") for r in train):
            lr_axis = axes[0].twinx()
            lr_axis.plot(steps, [r.get("learning_rate") or 0 for r in train], "C7--", lw=0.8)
            lr_axis.set_ylabel("learning rate", color="C7")
    for metric in ("auroc", "auprc", "mcc"):
        points = [(r["step"], r[f"mean_{metric}"]) for r in valid if r.get(f"mean_{metric}")]
        if points:
            axes[1].plot(*zip(*points, strict=True), marker="o", label=metric)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("validation (mean over tasks)")
    if axes[1].get_lines():
        axes[1].legend(loc="lower right")
    axes[0].set_title("training")
    axes[1].set_title("validation")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)


def roc_pr_curves(
    labels_BT: np.ndarray, probs_BT: np.ndarray, task_names: list[str], out_path: Path, title: str
) -> None:
    """One ROC and one precision-recall panel, a curve per task (binary tasks)."""
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    for t, name in enumerate(task_names):
        y = labels_BT[:, t]
        keep = ~np.isnan(y)
        y, s = y[keep] > 0.5, probs_BT[keep, t]
        if y.sum() == 0 or (~y).sum() == 0:
            continue
        order = np.argsort(-s, kind="mergesort")
        tp = np.cumsum(y[order])
        fp = np.cumsum(~y[order])
        tpr, fpr = tp / y.sum(), fp / (~y).sum()
        precision = tp / (tp + fp)
        roc_ax.plot(np.r_[0, fpr], np.r_[0, tpr], label=name)
        pr_ax.plot(tpr, precision, label=f"{name} (base {y.mean():.2f})")
    roc_ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    pr_ax.set(xlabel="recall", ylabel="precision", title="precision-recall", ylim=(0, 1.02))
    for ax in (roc_ax, pr_ax):
        ax.legend(fontsize=8, loc="lower right" if ax is roc_ax else "upper right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)


def stage_comparison(stages: list[dict], out_path: Path, metric: str = "auprc") -> bool:
    """Grouped bars: test `metric` per task, one bar per stage (the run's method comparison).

    Returns False (and writes nothing) when fewer than one stage has test metrics.
    """
    scored = [s for s in stages if s.get("metrics", {}).get("test") and not s.get("variant_of")]
    if not scored:
        return False
    tasks = [t for t in scored[0]["metrics"]["test"] if t != "mean"] + ["mean"]
    width = 0.8 / len(scored)
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(tasks) * max(1, len(scored) / 3)), 4))
    for i, stage in enumerate(scored):
        values = [stage["metrics"]["test"].get(t, {}).get(metric, np.nan) for t in tasks]
        xs = np.arange(len(tasks)) + (i - (len(scored) - 1) / 2) * width
        bars = ax.bar(xs, values, width, label=stage["name"])
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(np.arange(len(tasks)), tasks)
    ax.set_ylabel(f"test {metric}")
    ax.set_ylim(0, 1.08)
    ax.legend(fontsize=8, ncols=min(len(scored), 4), loc="upper left")
    ax.set_title(f"test {metric} per task and stage")
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return True


def seed_comparison(summary: dict, out_path: Path, metric: str = "auprc") -> bool:
    """Left: test `metric` per stage and task, mean ± sd over seeds (dots = seeds).
    Right: method − control per seed, paired; a dot above zero is a seed the method won."""
    stages = {k: v for k, v in summary["stages"].items() if "test" in v and not v.get("variant_of")}
    if not stages:
        return False
    tasks = list(next(iter(stages.values()))["test"])
    pairs = [c for c in summary["comparisons"] if c["metric"] == metric]
    fig, axes = plt.subplots(1, 2 if pairs else 1, figsize=(13 if pairs else 8, 4.5), squeeze=False)
    ax = axes[0, 0]
    width = 0.8 / len(stages)
    x = np.arange(len(tasks))
    for i, (name, entry) in enumerate(stages.items()):
        stats = [entry["test"][t][metric] for t in tasks]
        means = [s["mean"] if s["mean"] is not None else np.nan for s in stats]
        sds = [s["sd"] if s["sd"] is not None else 0.0 for s in stats]
        pos = x + (i - (len(stages) - 1) / 2) * width
        ax.bar(pos, means, width, yerr=sds, label=name, capsize=2)
        for p, s in zip(pos, stats, strict=True):
            vals = [v for v in s["values"] if v is not None]
            ax.plot([p] * len(vals), vals, "k.", ms=3)
    ax.set_xticks(x, tasks)
    ax.set_ylabel(f"test {metric}")
    ax.set_title(f"mean ± sd over seeds {summary['seeds']}")
    ax.legend(fontsize=7)
    if pairs:
        ax = axes[0, 1]
        labels = [f"{c['method']}−{c['control']}\n{c['task']}" for c in pairs]
        for i, c in enumerate(pairs):
            vals = [d for d in c["differences"] if d is not None]
            ax.plot([i] * len(vals), vals, "o", color="C0" if (c["mean"] or 0) >= 0 else "C3")
            if c["mean"] is not None:
                ax.errorbar(i, c["mean"], yerr=c["sd"], fmt="_k", capsize=4, ms=14)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(range(len(pairs)), labels, rotation=90, fontsize=6)
        ax.set_ylabel(f"paired difference in test {metric}")
        ax.set_title("method − matched control, per seed")
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return True
