"""Where each method wins, ties or loses against its tuned control: one verdict per regime.

    python benchmarks/verdict.py --workdir runs/verdict --quick   # 2 positive controls, 2 seeds
    python benchmarks/verdict.py --workdir runs/verdict           # every regime, 5 seeds
    python benchmarks/verdict.py --workdir runs/verdict --regimes gue_tf0 --points 25,1%
    python benchmarks/verdict.py --workdir runs/verdict --summarize-only

Regimes (each point is one `python -m jaxssl.main` run over all seeds, in
WORKDIR/<regime>/<point>/; a finished run's stages are skipped when run again):

  toy_oracle   positive control A: configs/label_budget.py with every relative's carried labels
               replaced by its true binding (toy:homology_oracle): the ceiling of cross-genome
               pseudo-labeling; labeled positives per TF 25, 100, 400
  toy_random   its floor: the same windows with random labels at the carried base rate
  toy_grid     the label-budget grid with labels carried by homology, 25..400 positives per TF
  gue_tf0      positive control B: GUE tf0 (../shared/data/gue/tf0), configs/scarce_labels.py:
               25 positives, or 1 %, 3 %, 10 % of the train positives, kept (drawn with the
               seed); the rest of the train split is the unlabeled pool (labeled:pool)
  ctcf         the same on the CTCF ChIP-seq windows (../shared/data/chipseq, chr7 valid,
               chr8-9 test)

Every method is paired per seed with its tuned control (same labels, model, noise and lineage
budget; the control's budget chosen on validation among 1/4, 1/2, 1 x): method − control test
AUPRC (mean over tasks), its 95 % paired-t interval over seeds, seeds won, and one word (wins:
the interval is above 0; loses: below; ties: it holds 0). Writes WORKDIR/verdict.md,
verdict.json and verdict.png (gain vs labeled examples, intervals shaded).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_budget import run_one  # noqa: E402  (one job runner for every benchmark)

from jaxssl.data.manifest import load_manifest  # noqa: E402
from jaxssl.report import write_json_atomic  # noqa: E402
from jaxssl.verdict import compare, markdown, plot  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TOY_PAIRS = {"pseudo_label": "supervised", "noisy_student": "supervised"}
SCARCE_PAIRS = {
    "noisy_student": "supervised",
    "pseudo_label": "supervised",
    "sd_finetune": "scratch",
}


@dataclass
class Regime:
    title: str
    kind: str  # "toy" (configs/label_budget.py) or "scarce" (configs/scarce_labels.py)
    points: list[str]
    pairs: dict[str, str]
    carried: str = "homology"
    data: str = ""  # scarce: the shard set's name under WORKDIR/data
    extra: list[str] = field(default_factory=list)


REGIMES = {
    "toy_oracle": Regime("A: oracle carried labels (toy)", "toy", ["25", "100", "400"],
                         TOY_PAIRS, carried="oracle"),
    "toy_random": Regime("A floor: random carried labels (toy)", "toy", ["25", "100", "400"],
                         TOY_PAIRS, carried="random"),
    "toy_grid": Regime("toy label budget (carried labels)", "toy",
                       ["25", "50", "100", "200", "400"],
                       {**TOY_PAIRS, "sd_finetune": "supervised"}),
    "gue_tf0": Regime("B: GUE tf0, in-domain pool", "scarce", ["25", "1%", "3%", "10%"],
                      SCARCE_PAIRS, data="gue_tf0"),
    "ctcf": Regime("B: CTCF ChIP-seq, in-domain pool", "scarce", ["25", "1%", "3%", "10%"],
                   SCARCE_PAIRS, data="ctcf"),
}  # fmt: skip
QUICK = {"regimes": "toy_oracle,gue_tf0", "points": "25", "seeds": "0,1"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--regimes", default=",".join(REGIMES))
    p.add_argument("--points", default="", help="only these points of each regime, e.g. 25,1%%")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--steps", type=int, default=0, help="maximum steps per stage (0: preset's)")
    p.add_argument("--quick", action="store_true", help="toy_oracle and gue_tf0 at 25, 2 seeds")
    p.add_argument("--summarize-only", action="store_true", help="only collect finished runs")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    if args.quick:
        args.regimes, args.points, args.seeds = QUICK["regimes"], QUICK["points"], QUICK["seeds"]
    unknown = set(args.regimes.split(",")) - set(REGIMES)
    if unknown:
        p.error(f"--regimes: unknown {sorted(unknown)}; known {sorted(REGIMES)}")
    return args


def prepare_data(name: str, workdir: Path) -> Path:
    """The regime's labeled shard set, converted once from ../shared/data."""
    out = workdir / "data" / name
    if (out / "manifest.json").is_file():
        return out
    if name == "gue_tf0":
        command = ["from-csv", str(out), "--input", str(SHARED / "gue" / "tf0")]
    elif name == "ctcf":
        fasta = SHARED / "chipseq" / "CTCF_GM12878_hg19_{}.fa.gz"
        command = ["from-fasta", str(out), "--fasta", str(fasta).format("pos"),
                   "--fasta", str(fasta).format("neg"), "--labels", "1,0",
                   "--task-name", "CTCF", "--dedup"]  # fmt: skip
    else:
        raise SystemExit(f"benchmarks/verdict.py: no data recipe for {name!r}")
    if not SHARED.is_dir():
        raise SystemExit(f"benchmarks/verdict.py: {SHARED} is missing (the shared real data)")
    subprocess.run([sys.executable, "-m", "data_prep", *command], cwd=REPO, check=True)
    return out


def max_positives(point: str, labeled: Path | None) -> int:
    """'25' -> 25; '3%' -> 3 % of the train split's positives (of its first task)."""
    if not point.endswith("%"):
        return int(point)
    assert labeled is not None
    positives = load_manifest(labeled).split("train")["positives"][0]
    return max(1, round(float(point[:-1]) / 100 * int(positives)))


def run_command(regime: Regime, point: str, seeds: str, run_dir: Path, args, workdir: Path):
    common = [
        f"--workdir={run_dir}",
        f"--config.seeds={seeds}",
        "--config.train.progress_bar=False",
    ]
    if regime.kind == "toy":
        steps = f",steps={args.steps}" if args.steps else ""
        config = f"--config=configs/label_budget.py:{point},carried={regime.carried}{steps}"
        flags = []
    else:
        labeled = prepare_data(regime.data, workdir)
        steps = f":steps={args.steps}" if args.steps else ""
        config = f"--config=configs/scarce_labels.py{steps}"
        flags = [f"--config.data.path={labeled}",
                 f"--config.data.max_positives={max_positives(point, labeled)}"]  # fmt: skip
    overrides = [f"--config.{o}" for o in [*regime.extra, *args.override]]
    return [sys.executable, "-m", "jaxssl.main", config, *common, *flags, *overrides]


def labeled_examples(run_dir: Path, seeds: list[int], control: str) -> float | None:
    """Mean labeled training rows over seeds (the label budget's count in the control's run)."""
    rows = []
    for seed in seeds:
        path = run_dir / f"seed_{seed}" / "report.json"
        if not path.is_file():
            continue
        stage = next(
            (s for s in json.loads(path.read_text())["stages"] if s["name"] == control), {}
        )
        budget = (stage.get("data") or {}).get("label_budget") or {}
        train = (budget.get("splits") or {}).get("train") or {}
        if "rows" in train:
            rows.append(train["rows"])
    return round(sum(rows) / len(rows), 1) if rows else None


def gate_note(run_dir: Path, seeds: list[int]) -> str:
    closed = []
    for seed in seeds:
        path = run_dir / f"seed_{seed}" / "report.json"
        if path.is_file():
            stages = json.loads(path.read_text())["stages"]
            closed += [s["name"] for s in stages if s.get("gate_closed")]
    return f"gate closed: {sorted(set(closed))} ({len(closed)} runs)" if closed else ""


def collect(name: str, regime: Regime, point: str, run_dir: Path, seeds: list[int]) -> list[dict]:
    summary = json.loads((run_dir / "report.json").read_text())
    rows = []
    for method, control in regime.pairs.items():
        if method not in summary["stages"]:
            continue
        control_entry = summary["stages"].get(control, {})
        rows.append(
            {
                "regime": name,
                "title": regime.title,
                "point": point,
                "labeled": labeled_examples(run_dir, seeds, control),
                "method": method,
                "control": control,
                "control_steps": control_entry.get("steps_run"),
                "control_budget": control_entry.get("selected"),
                "comparison": compare(summary, method, control),
                "note": gate_note(run_dir, seeds),
                "seed_variation": summary.get("seed_variation"),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workdir = args.workdir.resolve()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    chosen_points = [p for p in args.points.split(",") if p]
    rows: list[dict] = []
    times: dict[str, dict] = {}
    began = time.perf_counter()
    for name in args.regimes.split(","):
        regime = REGIMES[name]
        for point in [p for p in regime.points if not chosen_points or p in chosen_points]:
            run_dir = workdir / name / point.replace("%", "pct")
            if not args.summarize_only:
                command = run_command(regime, point, args.seeds, run_dir, args, workdir)
                log = workdir / "logs" / f"{name}_{point.replace('%', 'pct')}.log"
                wall, cpu = run_one(command, log)
                times[f"{name}/{point}"] = {"wall_seconds": round(wall, 1),
                                            "cpu_seconds": round(cpu, 1),
                                            "command": " ".join(command[1:])}  # fmt: skip
            if (run_dir / "report.json").is_file():
                rows += collect(name, regime, point, run_dir, seeds)
    result = {
        "seeds": seeds,
        "interval": "95 % paired t over seeds (method − control, test AUPRC, mean over tasks)",
        "rows": rows,
        "times": times,
        "wall_seconds": round(time.perf_counter() - began, 1),
    }
    write_json_atomic(workdir / "verdict.json", result)
    table = markdown(rows)
    (workdir / "verdict.md").write_text(table + "\n")
    plot(rows, workdir / "verdict.png")
    print(table)
    print(f"\n{result['wall_seconds']:.0f} s wall; {workdir / 'verdict.md'}, "
          f"{workdir / 'verdict.json'}, {workdir / 'verdict.png'}")  # fmt: skip


if __name__ == "__main__":
    main()
