"""Teacher inference vs training throughput (sequences/s), same model, length and machine.

Noisy Student's teacher scores every unlabeled and pseudo-labeled window once per generation,
so its inference (batched, jitted, sharded) must run several times faster than a training
step. Prints medians over timed windows and their ratios, with both strands averaged (the
default, `config.eval.rc_average=True`: two forward passes per window) and with one strand.

    python benchmarks/teacher_inference.py [--models deepbind basset] [--seq-len 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import jax
import numpy as np
from flax import nnx

from jaxssl.evaluate import batched_probabilities
from jaxssl.host_memory import keep_large_buffers_in_heap
from jaxssl.models import build_model
from jaxssl.objectives.supervised import benchmark_step
from jaxssl.predict import make_predict_fn
from jaxssl.sharding import batch_sharding, make_mesh, replicated
from jaxssl.train_state import split_model


def interleaved_median_rates(
    runs: list[tuple[Callable[[], None], int]], seconds: float, windows: int
) -> list[float]:
    """Median items/s of each (run, items per call), timed in alternating windows.

    Alternating the runs window by window exposes them to the same load from other tenants
    of a shared machine, so their ratio holds even when the absolute figures drift.
    """
    for run, _ in runs:
        run()  # compile and warm up
    rates: list[list[float]] = [[] for _ in runs]
    for _ in range(windows):
        for (run, items), out in zip(runs, rates, strict=True):
            calls, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds / windows:
                run()
                calls += 1
            out.append(calls * items / (time.perf_counter() - start))
    return [statistics.median(r) for r in rates]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["deepbind", "dilated_resnet"])
    parser.add_argument("--seq-len", type=int, default=200)
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--infer-batch", type=int, default=256)  # = config.eval.batch_size
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per run")
    parser.add_argument("--windows", type=int, default=5)
    args = parser.parse_args()
    keep_large_buffers_in_heap()  # as in a jaxssl run (train_and_evaluate sets it)
    mesh = make_mesh()
    print(f"devices: {jax.devices()}  seq_len {args.seq_len}")
    print(
        f"{'model':16s} {'train seq/s':>12s} {'teacher, RC-avg':>16s} {'ratio':>6s} "
        f"{'teacher, 1 strand':>18s} {'ratio':>6s}"
    )
    for name in args.models:
        train_rate, both, single = measure(name, args, mesh)
        print(
            f"{name:16s} {train_rate:12,.0f} {both:16,.0f} {both / train_rate:6.1f} "
            f"{single:18,.0f} {single / train_rate:6.1f}"
        )


def measure(name: str, args: argparse.Namespace, mesh) -> tuple[float, float, float]:
    """(training seq/s, teacher seq/s with RC averaging, teacher seq/s on one strand)."""
    step, state, batch = benchmark_step(
        name, batch_size=args.train_batch, seq_len=args.seq_len, num_tasks=4
    )
    holder = {"state": state}

    def train_once():
        holder["state"], metrics = step(holder["state"], batch)
        jax.block_until_ready(metrics)

    model = build_model(name, num_outputs=4, seq_len=args.seq_len, rngs=nnx.Rngs(0))
    graphdef, params, rest = split_model(model)
    params = jax.device_put(params, replicated(mesh))
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, (4 * args.infer_batch, args.seq_len), dtype=np.uint8)
    runs = [(train_once, args.train_batch)]
    for rc_average in (True, False):
        predict = jax.jit(
            make_predict_fn(graphdef, rest, loss_type="binary", rc_average=rc_average),
            in_shardings=(replicated(mesh), batch_sharding(mesh)),
            out_shardings=batch_sharding(mesh),
        )

        def infer_once(predict=predict):
            batched_probabilities(predict, params, tokens, batch_size=args.infer_batch, mesh=mesh)

        runs.append((infer_once, len(tokens)))
    train_rate, both, single = interleaved_median_rates(runs, args.seconds, args.windows)
    return train_rate, both, single


if __name__ == "__main__":
    main()
