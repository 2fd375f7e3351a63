"""Effect of `jaxssl.host_memory` (glibc malloc thresholds) on a whole CPU training run.

Runs the same short supervised toy-world job alternately with glibc's default malloc
(JAXSSL_KEEP_MALLOC=1) and with jaxssl's thresholds, each in a fresh process, and prints the
median wall, user and system seconds of each and their ratio.

    python benchmarks/host_memory.py [--steps 600] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def run_once(steps: int, keep_default: bool, model: str) -> tuple[float, float, float]:
    """(wall, user, sys) seconds of one training run in a child process."""
    env = dict(os.environ)
    env.pop("JAXSSL_KEEP_MALLOC", None)
    if keep_default:
        env["JAXSSL_KEEP_MALLOC"] = "1"
    with tempfile.TemporaryDirectory() as workdir:
        command = [
            sys.executable, "-m", "jaxssl.main", f"--config=configs/supervised.py:{model}",
            f"--workdir={workdir}", f"--config.train.steps={steps}",
            "--config.train.progress_bar=False",
        ]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="deepbind")
    args = parser.parse_args()
    runs: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    for _ in range(args.rounds):
        for keep_default in (True, False):
            runs[keep_default].append(run_once(args.steps, keep_default, args.model))
    medians = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in runs.items()}
    print(f"supervised toy job, {args.model}, {args.steps} steps, median of {args.rounds} runs")
    print(f"{'malloc':<22}{'wall s':>8}{'user s':>8}{'sys s':>8}")
    for keep_default, label in ((True, "glibc default"), (False, "jaxssl thresholds")):
        wall, user, system = medians[keep_default]
        print(f"{label:<22}{wall:8.1f}{user:8.1f}{system:8.1f}")
    print(f"wall-time speed-up: {medians[True][0] / medians[False][0]:.2f}x")


if __name__ == "__main__":
    main()
