"""Supervised CNNs on the GUE human TF tasks, side by side with DNABERT-2's published test MCC.

    python benchmarks/gue_supervised.py --workdir runs/gue [--model deepbind] [--steps 3000]
        [--gue ../shared/data/gue] [--tasks tf0 tf1 tf2] [-- extra --config.* flags]

For each task: `python -m data_prep from-csv` (once), then `python -m jaxssl.main` with
configs/supervised.py (checkpoint selected on the dev split's MCC; test evaluated once), then a
table of test MCC x100 next to DNABERT-2 (117M parameters, fine-tuned; Zhou et al. 2024).
Finished runs are reused, so the script can be re-run to print the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DNABERT2_MCC = {"tf0": 71.99, "tf1": 76.06, "tf2": 66.52, "prom_core_all": 69.37,
                "prom_core_notata": 68.04, "prom_core_tata": 74.17}  # fmt: skip


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--gue", type=Path, default=REPO.parent / "shared" / "data" / "gue")
    parser.add_argument("--tasks", nargs="+", default=["tf0", "tf1", "tf2"])
    parser.add_argument("--model", default="deepbind")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("extra", nargs="*", help="more --config.* flags (after --)")
    args = parser.parse_args()
    if args.model == "deepbind" and not any("num_filters" in e for e in args.extra):
        args.extra.append("--config.model.hparams.num_filters=256")
    rows = []
    for task in args.tasks:
        shards = args.workdir / "shards" / task
        if not (shards / "manifest.json").exists():
            run([sys.executable, "-m", "data_prep", "from-csv", str(shards),
                 "--input", str(args.gue / task)])  # fmt: skip
        workdir = args.workdir / f"{args.model}_{task}"
        run([sys.executable, "-m", "jaxssl.main", f"--config=configs/supervised.py:{args.model}",
             f"--workdir={workdir}", f"--config.data.path={shards}",
             f"--config.train.steps={args.steps}", "--config.train.eval_every=250",
             "--config.train.checkpoint_every=1000", "--config.train.selection_metric=mcc",
             "--config.train.progress_bar=False", *args.extra])  # fmt: skip
        stage = json.loads((workdir / "report.json").read_text())["stages"][0]
        test = stage["metrics"]["test"]["mean"]
        rows.append((task, 100 * test["mcc"], 100 * test["auroc"], DNABERT2_MCC.get(task)))
        params = stage["model"]
    print(f"\nmodel {args.model} {params['hparams']}, {args.steps} steps")
    print(f"{'task':18s} {'test MCC x100':>14s} {'AUROC x100':>11s} {'DNABERT-2 MCC':>14s}")
    for task, mcc, auroc, ref in rows:
        print(f"{task:18s} {mcc:14.2f} {auroc:11.2f} {ref if ref else float('nan'):14.2f}")


if __name__ == "__main__":
    main()
