"""GUE-style tasks with configs/gue.py over seeds, beside published DNABERT-2/Caduceus/HyenaDNA.

    python benchmarks/gue.py --workdir runs/gue_bench --all            # every task, 3 seeds
    python benchmarks/gue.py --workdir runs/gue_quick --all --quick    # 2 epochs: a path check
    python benchmarks/gue.py --workdir runs/gue_bench --tasks tf0,tf1,tf2 --seeds 0,1,2
    python benchmarks/gue.py --workdir runs/gue_bench \
        --tasks ../shared/data/gue/prom_core_all,path/to/my_task --size large --epochs 8 \
        -- --config.model.hparams.gated=True

A task is a folder with train/dev/test.csv[.gz] (GUE layout), or a name under --gue. Each is
converted once with `python -m data_prep from-csv` (as benchmarks/gue_supervised.py does), then
trained with `python -m jaxssl.main --config=configs/gue.py:SIZE --config.seeds=...`:
`--epochs` sets train.steps from the task's train split (warm-up 30 %, validation twice per
epoch). Selection (checkpoint, early stopping, MCC threshold) uses the dev split only; the test
split is evaluated once per seed. Prints and writes
(WORKDIR/gue_benchmark{RUN_NAME}.{md,json,png}) test MCC x100 mean ± sd over seeds at 0.5 and
at the dev-chosen threshold, parameters, training throughput (seq/s, validation included) and
wall time per task, beside DNABERT-2's published single-run test MCC and published multi-seed
means. Two more columns for binary tasks: the **seed ensemble** (the seeds' probabilities
averaged, both strands, one predictor with seeds x the parameters; `jaxssl.use.model`) and the
**k-mer floor** (logistic regression on 1..5-mer frequencies, L2 chosen on dev;
`jaxssl/kmer_baseline.py`). `--all` runs every task folder under `--gue` (the six shared GUE
human tasks). Finished runs are reused, so re-running only prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from gue_supervised import DNABERT2_MCC, run  # the GUE conversion and single-run figures

REPO = Path(__file__).resolve().parents[1]
# Published multi-seed means, test MCC x100 (3-18 seeds; bioRxiv 2024.09.09.612081).
MULTI_SEED = {
    "tf0": {"DNABERT-2": 66.8, "Caduceus-ps": 66.4, "HyenaDNA": 67.1},
    "tf1": {"DNABERT-2": 71.8, "Caduceus-ps": 71.6, "HyenaDNA": 70.6},
    "tf2": {"DNABERT-2": 65.2, "Caduceus-ps": 70.5, "HyenaDNA": 67.1},
}
STAGE = "gue"


def task_dirs(tasks: str, gue: Path) -> list[Path]:
    out = []
    for item in (t.strip() for t in tasks.split(",") if t.strip()):
        path = Path(item)
        if not path.is_dir():
            path = gue / item
        if not path.is_dir():
            raise SystemExit(f"benchmarks/gue.py: {item}: no such task folder (nor {path})")
        out.append(path)
    return out


def all_tasks(gue: Path) -> list[Path]:
    """Every folder under `gue` that holds a train split (train.csv or train.csv.gz)."""
    found = sorted(p for p in gue.iterdir() if p.is_dir() and any(p.glob("train.csv*")))
    if not found:
        raise SystemExit(f"benchmarks/gue.py --all: no task folder (with train.csv) under {gue}")
    return found


def convert(task_dir: Path, shards: Path, extra: tuple[str, ...] = ()) -> None:
    """`data_prep from-csv` once per shard set (`extra`: more flags, e.g. --seq-len 101)."""
    if not (shards / "manifest.json").exists():
        run([sys.executable, "-m", "data_prep", "from-csv", str(shards), "--input", str(task_dir),
             *extra])  # fmt: skip


def schedule_flags(
    shards: Path, epochs: float, batch_size: int, min_steps: int = 0
) -> tuple[list[str], int]:
    n_train = json.loads((shards / "manifest.json").read_text())["splits"]["train"]["count"]
    per_epoch = math.ceil(n_train / batch_size)
    steps = max(int(round(epochs * per_epoch)), min_steps, 1)
    flags = [
        f"--config.train.steps={steps}",
        f"--config.train.warmup_steps={int(0.3 * steps)}",
        f"--config.train.min_steps={int(0.3 * steps)}",  # no early stop during the warm-up
        f"--config.train.eval_every={max(per_epoch // 2, 1)}",
        f"--config.train.checkpoint_every={max(per_epoch // 2, 1)}",
    ]
    return flags, steps


def count_parameters(spec: dict) -> int:
    from flax import nnx

    from jaxssl.models import build_model, count_params

    abstract = nnx.eval_shape(
        lambda: build_model(
            spec["name"],
            num_outputs=int(spec["num_outputs"]),
            seq_len=int(spec["seq_len"]),
            rngs=nnx.Rngs(0),
            **spec["hparams"],
        )
    )
    return count_params(abstract)


def finished_seeds(workdir: Path, seeds: list[int]) -> set[int]:
    return {s for s in seeds if (workdir / f"seed_{s}" / STAGE / "done.json").exists()}


def seed_results(workdir: Path, seeds: list[int], stage: str = STAGE) -> list[dict]:
    results = []
    for seed in seeds:
        report = json.loads((workdir / f"seed_{seed}" / "report.json").read_text())
        results.append(next(s for s in report["stages"] if s["name"] == stage))
    return results


def ensemble_metrics(workdir: Path, shards: Path, seeds: list[int]) -> dict | None:
    """MCC x100 on valid and test of the seeds' averaged prediction (binary tasks), cached."""
    from jaxssl.data.reader import load_split
    from jaxssl.metrics import binary_task_metrics
    from jaxssl.use.model import Predictor, load_model

    cache = workdir / f"ensemble_{'_'.join(map(str, seeds))}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    model = load_model(workdir, stage=STAGE)
    if model.loss != "binary" or len(model.params) != len(seeds):
        return None
    predictor = Predictor(model, rc_average=True, progress=False)
    out = {"members": len(model.params)}
    for split in ("valid", "test"):
        data = load_split(shards, split)
        probs = predictor(data["tokens"])
        per_task = [
            binary_task_metrics(data["labels"][:, t], probs[:, t]) for t in range(probs.shape[1])
        ]
        out[split] = {k: 100 * float(np.mean([m[k] for m in per_task])) for k in ("mcc", "auroc")}
    cache.write_text(json.dumps(out))
    return out


def kmer_metrics(shards: Path) -> dict | None:
    """The k-mer logistic-regression floor of a binary task, cached beside its shards."""
    from jaxssl.data.reader import load_split
    from jaxssl.kmer_baseline import kmer_floor

    cache = shards.parent / f"{shards.name}_kmer_floor.json"
    if cache.exists():
        return json.loads(cache.read_text())
    splits = [load_split(shards, s) for s in ("train", "valid", "test")]
    if splits[0]["labels"].shape[1] != 1:
        return None
    result = kmer_floor(*[(d["tokens"], d["labels"]) for d in splits])
    out = {"l2": result.l2, "valid_mcc": 100 * result.valid["mcc"],
           "test_mcc": 100 * result.test["mcc"]}  # fmt: skip
    cache.write_text(json.dumps(out))
    return out


def _stats(values: list[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], np.float64)
    if not len(arr):
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def summarize(
    name: str,
    stages: list[dict],
    wall_seconds: float,
    batch_size: int,
    ensemble: dict | None = None,
    kmer: dict | None = None,
) -> dict:
    test = [s["metrics"]["test"]["mean"] for s in stages]
    mcc = [100 * t["mcc"] for t in test]
    mcc_dev = [100 * s["metrics"].get("dev_threshold", {}).get("test", {}).get("mean", np.nan)
               for s in stages]  # fmt: skip
    # Training loop throughput, validation passes included.
    seq_per_s = [s["steps_run"] * batch_size / s["train_seconds"] for s in stages]
    return {
        "task": name,
        "seeds": len(stages),
        "test_mcc": mcc,
        "test_mcc_dev_threshold": mcc_dev,
        "dev_thresholds": [s["metrics"].get("dev_threshold", {}).get("thresholds") for s in stages],
        "test_auroc": [100 * t["auroc"] for t in test],
        "valid_mcc": [100 * s["metrics"]["valid"]["mean"]["mcc"] for s in stages],
        "best_step": [s["best_step"] for s in stages],
        "steps_run": [s["steps_run"] for s in stages],
        "parameters": count_parameters(stages[0]["model"]),
        "model": stages[0]["model"]["name"],
        "hparams": stages[0]["model"]["hparams"],
        "train_seq_per_s": float(np.median(seq_per_s)),
        "train_seconds_per_seed": [s["train_seconds"] for s in stages],
        "wall_seconds": wall_seconds,  # conversion, compile, training, evaluation: all seeds
        "dnabert2_published": DNABERT2_MCC.get(name),
        "published_multi_seed": MULTI_SEED.get(name, {}),
        "ensemble": ensemble,  # {"members", "valid": {"mcc", "auroc"}, "test": {...}} x100
        "kmer_floor": kmer,  # {"l2", "valid_mcc", "test_mcc"} x100
    }


def best_of_run(best_steps: list[int], steps_run: list[int]) -> str:
    """'best/run' per seed: a best step at the end says the schedule, not dev MCC, stopped it."""
    return ", ".join(f"{b}/{n}" for b, n in zip(best_steps, steps_run, strict=True))


def _pm(values: list[float]) -> str:
    mean, sd = _stats(values)
    return "–" if math.isnan(mean) else f"{mean:.2f} ± {sd:.2f}"


def markdown(rows: list[dict]) -> str:
    lines = [
        "| task | strand | seeds | test MCC ×100 at 0.5 | seed ensemble | at dev threshold "
        "| dev MCC | best step / steps run | params | seq/s | wall time, all seeds "
        "| DNABERT-2 (1 run) | DNABERT-2 / Caduceus-ps / HyenaDNA (multi-seed means) "
        "| k-mer floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        multi = r["published_multi_seed"]
        multi_text = " / ".join(f"{v:.1f}" for v in multi.values()) if multi else "–"
        ref = r["dnabert2_published"]
        wall_text = "–"  # --table-only on runs with no timing record
        if math.isfinite(r["wall_seconds"]):
            minutes, seconds = divmod(int(round(r["wall_seconds"])), 60)
            wall_text = f"{minutes} min {seconds:02d} s"
        ens = r.get("ensemble")
        ens_text = f"{ens['test']['mcc']:.2f} ({ens['members']} members)" if ens else "–"
        kmer = r.get("kmer_floor")
        kmer_text = f"{kmer['test_mcc']:.2f}" if kmer else "–"
        probe = r.get("strand_dev_mcc") or {}
        strand = r.get("strand", "symmetric")
        if probe:  # chosen on the first seed's dev MCC
            strand += " (dev " + " / ".join(f"{m[:3]} {v:.1f}" for m, v in probe.items()) + ")"
        steps = best_of_run(r["best_step"], r["steps_run"])
        lines.append(
            f"| {r['task']} | {strand} | {r['seeds']} | {_pm(r['test_mcc'])} | {ens_text} | "
            f"{_pm(r['test_mcc_dev_threshold'])} | {_pm(r['valid_mcc'])} | {steps} | "
            f"{r['parameters'] / 1e3:.0f}k | "
            f"{r['train_seq_per_s']:.0f} | {wall_text} | "
            f"{'–' if ref is None else f'{ref:.2f}'} | {multi_text} | "
            f"{kmer_text} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> bool:
    """Test MCC per task: each seed (dots), their mean (bar), the seed ensemble (diamond),
    DNABERT-2's published run (red line) and the k-mer floor (grey line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(1.3 * len(rows) + 3.0, 3.6))
    shown = []  # every value drawn: the bars start 5 below the lowest, so differences show
    for i, r in enumerate(rows):
        shown += r["test_mcc"]
        mean, _ = _stats(r["test_mcc"])
        ax.bar(i, mean, width=0.6, color="#9ecae1", label="mean over seeds" if i == 0 else None)
        ax.plot([i] * len(r["test_mcc"]), r["test_mcc"], "k.", label="seeds" if i == 0 else None)
        if r.get("ensemble"):
            ax.plot(i, r["ensemble"]["test"]["mcc"], "D", color="#08519c", ms=5,
                    label="seed ensemble" if i == 0 else None)  # fmt: skip
        marks = (("dnabert2_published", "#d62728", "DNABERT-2 (1 run)"),
                 ("kmer_floor", "grey", "k-mer floor"))  # fmt: skip
        for key, color, label in marks:
            value = r.get(key)
            value = value["test_mcc"] if isinstance(value, dict) else value
            if value is not None:
                shown.append(value)
                ax.hlines(value, i - 0.35, i + 0.35, color=color, lw=2,
                          label=label if i == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(rows)), [r["task"] for r in rows], rotation=20, fontsize=8)
    ax.set_ylabel("test MCC ×100")
    ax.set_ylim(bottom=max(0.0, min(shown) - 5))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# How a task treats the two strands: "symmetric" (unstranded windows, e.g. ChIP peaks):
# random reverse complement in training, both strands averaged at evaluation; "oriented"
# (sequences given on a feature's strand, e.g. promoters around a TSS): neither.
STRAND_FLAGS = {
    "symmetric": [],
    "oriented": ["--config.augment.reverse_complement=False", "--config.eval.rc_average=False"],
}


def timing_record(workdir: Path, none: float = float("nan")) -> dict:
    """Wall time over every invocation that trained seeds of this run (reuses add none);
    ``none`` where nothing was recorded."""
    timing = workdir / "timing.json"
    return json.loads(timing.read_text()) if timing.exists() else {"wall_seconds": none}


def train_task(
    args: argparse.Namespace, workdir: Path, shards: Path, seeds: list[int], flags: list[str]
) -> dict:
    """Trains the seeds not yet finished in `workdir`; returns its timing record."""
    before = finished_seeds(workdir, seeds)
    started = time.perf_counter()
    run([sys.executable, "-m", "jaxssl.main", f"--config=configs/gue.py:{args.size}",
         f"--workdir={workdir}", f"--config.data.path={shards}",
         f"--config.seeds={','.join(map(str, seeds))}",
         f"--config.train.batch_size={args.batch_size}",
         "--config.train.progress_bar=False", *flags, *args.extra])  # fmt: skip
    wall = time.perf_counter() - started
    record = timing_record(workdir, none=0.0)
    trained = finished_seeds(workdir, seeds) - before
    if trained:
        record = {
            "wall_seconds": record["wall_seconds"] + wall,
            "seeds": sorted(set(record.get("seeds", [])) | trained | before),
        }
        (workdir / "timing.json").write_text(json.dumps(record))
    return record


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--tasks", default="tf0,tf1,tf2", help="task folders or names, a,b,c")
    parser.add_argument("--all", action="store_true", help="every task folder under --gue")
    parser.add_argument("--gue", type=Path, default=REPO.parent / "shared" / "data" / "gue")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--size", default="base", help="configs/gue.py size (rescnn SIZES)")
    parser.add_argument("--epochs", type=float, default=8.0)
    parser.add_argument("--quick", action="store_true", help="2 epochs, no step floor: path check")
    parser.add_argument("--no-kmer", action="store_true", help="skip the k-mer floor")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--min-steps",
        type=int,
        default=1560,
        help="at least this many steps: a small train split still sees ~200k sequences "
        "(prom_core_tata: 40 epochs)",
    )
    parser.add_argument("--run-name", default="", help="suffix of each task's run directory")
    parser.add_argument(
        "--strand",
        choices=["dev", *STRAND_FLAGS],
        default="symmetric",
        help="symmetric (RC augmentation and averaging; the recipe), oriented (neither), or "
        "dev: both on the first seed, the better dev MCC for every seed (ties: symmetric)",
    )
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="train nothing: the table of the runs whose seeds have all finished (a protocol "
        "run in pieces), the others named on stderr",
    )
    parser.add_argument("extra", nargs="*", help="more --config.* flags (after --)")
    args = parser.parse_args(argv)
    if args.quick:  # a path check: 2 epochs, no step floor
        args.epochs, args.min_steps = 2.0, 0
    return args


def task_row(args: argparse.Namespace, task_dir: Path, seeds: list[int]) -> dict:
    """One task: converted once, its strand mode (probed on dev if asked), its seeds trained
    (or, with --table-only, read), summarized with its ensemble and k-mer floor."""
    name = task_dir.name
    shards = args.workdir / "shards" / name
    if args.table_only and not (shards / "manifest.json").exists():
        raise Unfinished(f"{shards}: not converted, so none of {name}'s seeds has run")
    convert(task_dir, shards)
    flags, _ = schedule_flags(shards, args.epochs, args.batch_size, args.min_steps)
    base = f"{args.size}_{name}{args.run_name}"
    probe, probe_wall = {}, {}  # strand mode -> dev MCC x100 of the first seed, wall s
    if args.strand == "dev":  # both modes on the first seed; the better on dev goes on
        for mode, mode_flags in STRAND_FLAGS.items():
            probe_dir = args.workdir / f"{base}_{mode}"
            record = train_or_read(args, probe_dir, shards, seeds[:1], flags + mode_flags)
            stage = seed_results(probe_dir, seeds[:1])[0]
            probe[mode] = 100 * stage["metrics"]["valid"]["mean"]["mcc"]
            probe_wall[mode] = record["wall_seconds"]
        mode = max(probe, key=lambda m: (probe[m], m == "symmetric"))
    else:
        mode = args.strand
    workdir = args.workdir / f"{base}_{mode}"
    record = train_or_read(args, workdir, shards, seeds, flags + STRAND_FLAGS[mode])
    stages = seed_results(workdir, seeds)
    ensemble = ensemble_metrics(workdir, shards, seeds) if len(seeds) > 1 else None
    kmer = None if args.no_kmer else kmer_metrics(shards)
    row = summarize(name, stages, record["wall_seconds"], args.batch_size, ensemble, kmer)
    return row | {
        "strand": mode,
        "strand_dev_mcc": probe,  # the rejected mode's run is extra cost:
        "probe_wall_seconds": sum(w for m, w in probe_wall.items() if m != mode),
    }


class Unfinished(Exception):
    """A run that --table-only cannot report: some of its seeds have not finished."""


def train_or_read(
    args: argparse.Namespace, workdir: Path, shards: Path, seeds: list[int], flags: list[str]
) -> dict:
    """train_task, or with --table-only the finished runs' timing record (nothing trained)."""
    if not args.table_only:
        return train_task(args, workdir, shards, seeds, flags)
    missing = sorted(set(seeds) - finished_seeds(workdir, seeds))
    if missing:
        raise Unfinished(f"{workdir}: seed(s) {', '.join(map(str, missing))} not finished")
    return timing_record(workdir)


def main() -> None:
    args = parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    rows, left_out = [], []
    for task_dir in all_tasks(args.gue) if args.all else task_dirs(args.tasks, args.gue):
        try:
            rows.append(task_row(args, task_dir, seeds))
        except Unfinished as err:  # --table-only: report what has finished, name the rest
            left_out.append(str(err))
    for line in left_out:
        print(f"left out of the table: {line}", file=sys.stderr)
    table = markdown(rows)
    print(f"\nrescnn:{args.size}, {args.epochs:g} epochs, seeds {args.seeds}\n")
    print(table)
    args.workdir.mkdir(parents=True, exist_ok=True)
    # One name per --run-name, so a probe's table does not replace the protocol's.
    md, js, png = (
        args.workdir / f"gue_benchmark{args.run_name}.{x}" for x in ("md", "json", "png")
    )
    md.write_text(table + "\n")
    summary = {"size": args.size, "epochs": args.epochs, "seeds": seeds, "tasks": rows,
               "left_out": left_out}  # fmt: skip
    js.write_text(json.dumps(summary, indent=2))
    written = [md, js, *([png] if plot(rows, png) else [])]
    print(f"\nwritten: {', '.join(map(str, written))}")


if __name__ == "__main__":
    main()
