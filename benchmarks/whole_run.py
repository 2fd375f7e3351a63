"""Steps per second of a whole `jaxssl.main` run (loop, metrics, evaluation, checkpoints), not
only the compiled step, for one or more checkouts side by side.

Each round runs the same short supervised toy-world job once per checkout, alternating, each
in a fresh process; the figure is the stage's steps / `train_seconds` (its loop: steps,
validation, checkpoints) and the whole process's wall time. Prints medians and the ratio of
every checkout to the first (the reference):

    git worktree add /tmp/before HEAD~1
    python benchmarks/whole_run.py /tmp/before . [--steps 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(repo: Path, steps: int, model: str, eval_every: int) -> tuple[float, float]:
    """(loop steps/s, process wall seconds) of one run of `repo`'s code."""
    with tempfile.TemporaryDirectory() as workdir:
        command = [
            sys.executable, "-m", "jaxssl.main", f"--config=configs/supervised.py:{model}",
            f"--workdir={workdir}", f"--config.train.steps={steps}",
            f"--config.train.eval_every={eval_every}", "--config.train.progress_bar=False",
            "--config.train.patience=0",
        ]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, cwd=repo, check=True, capture_output=True)
        wall = time.perf_counter() - start
        done = json.loads((Path(workdir) / "supervised" / "done.json").read_text())
    return steps / done["train_seconds"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("repos", nargs="+", type=Path, help="checkouts; the first is the reference")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="deepbind")
    args = parser.parse_args()
    results: dict[Path, list[tuple[float, float]]] = {r: [] for r in args.repos}
    for round_ in range(args.rounds):
        for repo in args.repos:
            rate, wall = run_once(repo.resolve(), args.steps, args.model, args.eval_every)
            results[repo].append((rate, wall))
            print(f"round {round_ + 1}: {repo}: {rate:.1f} steps/s, {wall:.1f} s wall", flush=True)
    ref = statistics.median(r for r, _ in results[args.repos[0]])
    ref_wall = statistics.median(w for _, w in results[args.repos[0]])
    print(f"\n{args.model}, {args.steps} steps, eval every {args.eval_every}, medians:")
    for repo, values in results.items():
        rate = statistics.median(r for r, _ in values)
        wall = statistics.median(w for _, w in values)
        print(
            f"  {str(repo):<30} {rate:8.1f} steps/s ({rate / ref:.2f}x)   "
            f"{wall:6.1f} s wall ({wall / ref_wall:.2f}x)"
        )


if __name__ == "__main__":
    sys.exit(main())
