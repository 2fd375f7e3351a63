"""Gain of each semi-supervised method over supervised training as labeled peaks grow.

    python benchmarks/label_budget.py --workdir runs/label_budget            # 25..400, 3 seeds
    python benchmarks/label_budget.py --workdir runs/label_budget --quick    # 100 peaks, 1 seed
    python benchmarks/label_budget.py --workdir runs/lb --budgets 25,100,400 --steps 300

For every budget (labeled positives per TF, `data.max_positives`) and seed it runs
`python -m jaxssl.main --config=configs/label_budget.py:BUDGET ...` in WORKDIR/b<BUDGET>/
seed_<n> (printing the command; a finished run's stages are skipped when run again), with the
label subset drawn by the seed too (`data.label_seed` = seed), so the spread over seeds
includes which peaks were labeled. Every method of one seed sees the same labeled peaks and
is paired with that seed's `supervised` control. It writes WORKDIR/label_budget.json (every
figure), WORKDIR/label_budget.md (the tables) and WORKDIR/label_budget.png (test AUPRC and
gain over supervised vs labeled peaks, mean ± sd over seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from jaxssl.report import seed_summary, sign_test_p, write_json_atomic

REPO = Path(__file__).resolve().parents[1]
CONTROL = "supervised"
TIMES_FILE = "benchmark_times.json"  # wall and CPU seconds of the run, beside its report
# Reported stage -> the method's name in the tables.
METHODS = {
    "supervised": "supervised",
    "supervised_evoaug": "supervised + EvoAug",
    "pseudo_label": "pseudo_label",
    "noisy_student": "noisy_student",
    "sd_finetune": "self_distill",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--budgets", default="25,50,100,200,400", help="labeled positives per TF")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--steps", type=int, default=400, help="maximum steps of every stage")
    p.add_argument(
        "--quick",
        action="store_true",
        help="one budget (100), one seed (0), 150 steps, 2,000 unlabeled windows per genome",
    )
    p.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to every run as --config.KEY=VALUE (repeatable)",
    )
    p.add_argument("--summarize-only", action="store_true", help="only collect finished runs")
    p.add_argument(
        "--analyze",
        action="store_true",
        help="only measure the carried windows (identity, truly bound labels) per relative",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.budgets, args.seeds, args.steps = "100", "0", 150
        args.override = ["pseudo.max_examples=2000", *args.override]
    return args


def run_command(budget: int, seed: int, steps: int, workdir: Path, overrides: list[str]) -> list:
    return [
        sys.executable,
        "-m",
        "jaxssl.main",
        f"--config=configs/label_budget.py:{budget},steps={steps}",
        f"--workdir={workdir}",
        "--config.seeds=",
        f"--config.seed={seed}",
        f"--config.data.label_seed={seed}",
        "--config.train.progress_bar=False",
        *(f"--config.{o}" for o in overrides),
    ]


def run_one(command: list[str], log_path: Path) -> tuple[float, float]:
    """Runs one jaxssl job (its output to log_path); returns its wall and CPU seconds (the
    CPU time tells the cost on a machine that others share)."""
    print("$ " + " ".join(shlex.quote(c) for c in command), flush=True)
    began = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = dict(os.environ)
    # Every run compiles the same few steps: keep them (results are unchanged).
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(log_path.parent.parent / ".jax_cache"))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        done = subprocess.run(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    if done.returncode:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-20:])
        raise SystemExit(f"failed (exit {done.returncode}); last lines of {log_path}:\n{tail}")
    print(f"  {seconds:.0f} s wall, {cpu:.0f} s CPU (log {log_path})", flush=True)
    return seconds, cpu


def _auprc(stage: dict, task: str) -> float | None:
    value = stage.get("metrics", {}).get("test", {}).get(task, {}).get("auprc")
    return None if value is None else float(value)


def summarize_budget(runs: list[list[dict]], seeds: list[int]) -> dict:
    """Test AUPRC per method and task (mean ± sd), paired gains over supervised per seed."""
    summary = seed_summary(runs, seeds)
    by_name = [{s["name"]: s for s in run} for run in runs]
    tasks = list(by_name[0][CONTROL]["metrics"]["test"])
    out: dict = {"tasks": tasks, "methods": {}, "gains": {}, "steps_run": {}}
    control = [run[CONTROL] for run in by_name]
    if all(c.get("budget_choices") for c in control):  # a tuned control: the budget it chose
        out["control_budget"] = [c.get("steps") for c in control]
    for stage, label in METHODS.items():
        if stage not in by_name[0]:
            continue
        entry = summary["stages"][stage]["test"]
        out["methods"][label] = {t: entry[t]["auprc"] for t in tasks}
        out["steps_run"][label] = summary["stages"][stage]["steps_run"]
        if stage == CONTROL:
            continue
        if stage == "noisy_student":  # the generation kept, and every step of its lineage
            out["kept"] = [run[stage].get("selected") for run in by_name]
            out["lineage_steps_run"] = [lineage_steps(run) for run in by_name]
        out["gains"][label] = {}
        for task in tasks:
            diffs = [_auprc(run[stage], task) - _auprc(run[CONTROL], task) for run in by_name]
            arr = np.asarray(diffs)
            out["gains"][label][task] = {
                "mean": float(arr.mean()),
                "sd": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
                "values": diffs,
                "wins": int((arr > 0).sum()),
                "n": len(arr),
                "sign_test_p": sign_test_p(diffs),
            }
    return out


def lineage_steps(run: dict[str, dict]) -> int | None:
    """Steps run by every stage that made the kept noisy-student model: pretrain, pseudo_label
    and each student up to the kept one (teachers label, they do not step)."""
    kept = run.get("noisy_student", {}).get("selected")
    if not kept:
        return None
    chain = ["pretrain", "pseudo_label"]
    if kept.startswith("student_"):
        chain += [f"student_{g}" for g in range(1, int(kept.removeprefix("student_")) + 1)]
    return int(sum(run[name].get("steps_run", 0) for name in chain if name in run))


def _pm(stats: dict, signed: bool = False) -> str:
    if stats.get("mean") is None:
        return "-"
    mean = f"{stats['mean']:+.3f}" if signed else f"{stats['mean']:.3f}"
    return f"{mean} ± {stats['sd']:.3f}"


def markdown(results: dict) -> str:
    lines = []
    for budget, res in results["budgets"].items():
        tasks = res["tasks"]
        seeds = ",".join(map(str, results["seeds"]))
        lines += [
            f"### {budget} labeled positives per TF (test AUPRC, mean ± sd over seeds {seeds})",
            "",
            "| method | steps run | " + " | ".join(tasks) + " |",
            "|---|---|" + "---|" * len(tasks),
        ]
        for label, per_task in res["methods"].items():
            steps = [s for s in res["steps_run"][label] if s is not None]
            lines.append(
                f"| {label} | {np.mean(steps):.0f} | "
                + " | ".join(_pm(per_task[t]) for t in tasks)
                + " |"
            )
        lines += ["", "| gain over supervised | " + " | ".join(tasks) + " | seeds won (mean) |"]
        lines.append("|---|" + "---|" * (len(tasks) + 1))
        for label, per_task in res["gains"].items():
            mean = per_task.get("mean", {})
            lines.append(
                f"| {label} | "
                + " | ".join(_pm(per_task[t], signed=True) for t in tasks)
                + f" | {mean.get('wins', 0)}/{mean.get('n', 0)} |"
            )
        if res.get("kept"):
            lines.append(
                f"noisy_student kept {', '.join(map(str, res['kept']))} (per seed); steps run "
                f"in its lineage {res['lineage_steps_run']}"
                + (
                    f"; the tuned control chose budgets {res['control_budget']}"
                    if res.get("control_budget")
                    else ""
                )
            )
        lines.append("")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = [int(b) for b in results["budgets"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, label in enumerate(METHODS.values()):
        rows = [results["budgets"][str(b)] for b in budgets]
        if label not in rows[0]["methods"]:
            continue
        style = {"marker": "o", "capsize": 3, "label": label, "color": colors[i % len(colors)]}
        mean = [r["methods"][label]["mean"]["mean"] for r in rows]
        sd = [r["methods"][label]["mean"]["sd"] for r in rows]
        left.errorbar(budgets, mean, yerr=sd, **style)
        if label in rows[0]["gains"]:
            gain = [r["gains"][label]["mean"]["mean"] for r in rows]
            gsd = [r["gains"][label]["mean"]["sd"] for r in rows]
            right.errorbar(budgets, gain, yerr=gsd, **style)
    right.axhline(0, color="grey", lw=0.8)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.set_xlabel("labeled peaks per TF")
    left.legend(fontsize=8)
    left.set_ylabel("test AUPRC (mean of TFs)")
    right.set_ylabel("gain over supervised (paired per seed)")
    left.set_title("test AUPRC vs labeled peaks")
    right.set_title("gain vs labeled peaks")
    seeds = len(results["seeds"])
    fig.suptitle(f"toy world, 12 relatives; mean ± sd over {seeds} seed(s)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _truly_bound(cols: dict, bed: Path, window: int, core: int) -> np.ndarray:
    """bool[N]: a true bound site of the genome (truth/) has its centre in the window's core."""
    rows = [line.split("\t") for line in bed.read_text().splitlines()]
    lo = cols["start"] + (window - core) // 2
    bound = np.zeros(len(lo), bool)
    for chrom in np.unique(cols["chrom"]):
        centres = np.sort([(int(r[1]) + int(r[2])) // 2 for r in rows if r[0] == chrom])
        on = cols["chrom"] == chrom
        first = np.searchsorted(centres, lo[on])
        bound[on] = np.searchsorted(centres, lo[on] + core) > first
    return bound


def _identity(a_NL: np.ndarray, b_NL: np.ndarray, max_offset: int = 10) -> np.ndarray:
    """Per-window identity of two aligned window sets, best ungapped offset in ±max_offset
    (centred windows; an indel inside shifts the rest by a few bases)."""
    n, length = a_NL.shape
    best = np.zeros(n)
    for off in range(-max_offset, max_offset + 1):
        a = a_NL[:, max(off, 0) : length + min(off, 0)]
        b = b_NL[:, max(-off, 0) : length - max(off, 0)]
        best = np.maximum(best, (a == b).sum(axis=1) / length)
    return best


def carried_truth(toy, window: int = 200, core: int = 200) -> dict:
    """Per genome: distance, identity of carried windows to their reference window, and how
    many carried labels the relative's true binding (truth/, never used in training) confirms.

    Every train window carried to a relative is counted (not only a budget's), so each
    relative's figures rest on thousands of windows; the reference's own labeled train split
    (peaks, with their 5 % false peaks and missed sites) is the yardstick.
    """
    from jaxssl.data.pipeline import load_split
    from jaxssl.toy_data import toy_homology_shards, toy_labeled_shards, toy_world_dir
    from jaxssl.toyworld import load_world_info

    world = toy_world_dir(toy)
    info = load_world_info(world)
    reference = load_split(toy_labeled_shards(toy), "train")
    carried = {Path(p).name: p for p in toy_homology_shards(toy)}
    distance = info.get("distance_from_reference", {})
    out = {}
    for sp in info["species"]:
        cols = reference if sp == info["reference"] else load_split(carried[sp], "train")
        entry = {
            "distance": distance.get(sp, 0.0),
            "genome_identity": info["counts"]["identity"].get(sp, 1.0),
            "windows": len(cols["labels"]),
            "labeled_rows": len(reference["labels"]),
        }
        if sp != info["reference"]:
            source = reference["tokens"][cols["source_index"].astype(np.int64)]
            identity = _identity(cols["tokens"], source)
            entry["window_identity_median"] = float(np.median(identity))
            entry["windows_at_least_90pct_identical"] = float((identity >= 0.9).mean())
        for t, tf in enumerate(info["tfs"]):
            bound = _truly_bound(cols, world / "truth" / sp / f"{tf}.bed", window, core)
            positive, negative = cols["labels"][:, t] > 0.5, cols["labels"][:, t] < 0.5
            entry[tf] = {
                "positives": int(positive.sum()),
                "positives_truly_bound": float(bound[positive].mean()),
                "negatives_truly_bound": float(bound[negative].mean()),
            }
        out[sp] = entry
    return out


def carried_markdown(table: dict, tfs: list[str]) -> str:
    head = "| genome | distance (subs/site) | genome identity | window identity (median) | "
    head += "windows ≥ 90 % identical | "
    head += " | ".join(f"{tf} positives bound" for tf in tfs) + " | negatives bound (mean) |"
    lines = [head, "|---|---|---|---|---|" + "---|" * (len(tfs) + 1)]
    for sp, e in table.items():
        near = e.get("windows_at_least_90pct_identical")
        median = e.get("window_identity_median")
        negatives = np.mean([e[tf]["negatives_truly_bound"] for tf in tfs])
        lines.append(
            f"| {sp} | {e['distance']:.3f} | {e['genome_identity']:.3f} | "
            + ("-" if median is None else f"{median:.3f}")
            + " | "
            + ("-" if near is None else f"{near:.1%}")
            + " | "
            + " | ".join(f"{e[tf]['positives_truly_bound']:.1%}" for tf in tfs)
            + f" | {negatives:.1%} |"
        )
    return "\n".join(lines)


def analyze(workdir: Path, config_arg: str) -> None:
    from configs.label_budget import get_config

    toy = get_config(config_arg).data.toy_world
    began = time.perf_counter()
    table = carried_truth(toy)
    tfs = [k for k in next(iter(table.values())) if isinstance(table["ref"].get(k), dict)]
    text = carried_markdown(table, tfs)
    write_json_atomic(workdir / "carried_truth.json", table)
    (workdir / "carried_truth.md").write_text(text + "\n")
    print(text)
    print(f"{time.perf_counter() - began:.0f} s; {workdir / 'carried_truth.json'}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.analyze:
        analyze(args.workdir.resolve(), "100")
        return
    budgets = [int(b) for b in args.budgets.split(",") if b]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    workdir = args.workdir.resolve()
    results: dict = {"budgets": {}, "seeds": seeds, "steps": args.steps,
                     "overrides": args.override, "wall_seconds": {}, "cpu_seconds": {}}  # fmt: skip
    began = time.perf_counter()
    for budget in budgets:
        runs = []
        for seed in seeds:
            run_dir = workdir / f"b{budget}" / f"seed_{seed}"
            if not args.summarize_only:
                command = run_command(budget, seed, args.steps, run_dir, args.override)
                wall, cpu = run_one(command, workdir / "logs" / f"b{budget}_seed{seed}.log")
                times = {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                         "command": " ".join(command[1:])}  # fmt: skip
                write_json_atomic(run_dir / TIMES_FILE, times)
            if (run_dir / TIMES_FILE).is_file():  # also for runs of an earlier invocation
                times = json.loads((run_dir / TIMES_FILE).read_text())
                results["wall_seconds"][f"b{budget}/seed_{seed}"] = times["wall_seconds"]
                results["cpu_seconds"][f"b{budget}/seed_{seed}"] = times["cpu_seconds"]
            runs.append(json.loads((run_dir / "report.json").read_text())["stages"])
        results["budgets"][str(budget)] = summarize_budget(runs, seeds)
        write_json_atomic(workdir / "label_budget.json", results)
    results["total_wall_seconds"] = round(time.perf_counter() - began, 1)
    write_json_atomic(workdir / "label_budget.json", results)
    text = markdown(results)
    (workdir / "label_budget.md").write_text(text)
    plot(results, workdir / "label_budget.png")
    print(text)
    runs_wall, runs_cpu = (
        sum(results["wall_seconds"].values()),
        sum(results["cpu_seconds"].values()),
    )
    print(f"wall time {results['total_wall_seconds']:.0f} s (the runs: {runs_wall:.0f} s wall, "
          f"{runs_cpu:.0f} s CPU); {workdir / 'label_budget.json'}, "
          f"{workdir / 'label_budget.md'}, {workdir / 'label_budget.png'}")  # fmt: skip


if __name__ == "__main__":
    main()
