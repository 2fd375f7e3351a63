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

import jax
import numpy as np
from flax import nnx

from jaxssl.models import build_model
from jaxssl.objectives.supervised import benchmark_step
from jaxssl.predict import make_predict_fn
from jaxssl.sharding import batch_sharding, make_mesh, replicated
from jaxssl.teacher import batched_probabilities
from jaxssl.train_state import split_model


def median_rate(run, items_per_call: int, seconds: float, windows: int) -> float:
    run()  # compile and warm up
    rates = []
    for _ in range(windows):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / windows:
            run()
            calls += 1
        rates.append(calls * items_per_call / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["deepbind", "dilated_resnet"])
    parser.add_argument("--seq-len", type=int, default=200)
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--infer-batch", type=int, default=512)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--windows", type=int, default=3)
    args = parser.parse_args()
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

    train_rate = median_rate(train_once, args.train_batch, args.seconds, args.windows)

    model = build_model(name, num_outputs=4, seq_len=args.seq_len, rngs=nnx.Rngs(0))
    graphdef, params, rest = split_model(model)
    params = jax.device_put(params, replicated(mesh))
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, (4 * args.infer_batch, args.seq_len), dtype=np.uint8)
    rates = []
    for rc_average in (True, False):
        predict = jax.jit(
            make_predict_fn(graphdef, rest, loss_type="binary", rc_average=rc_average),
            in_shardings=(replicated(mesh), batch_sharding(mesh)),
            out_shardings=batch_sharding(mesh),
        )

        def infer_once(predict=predict):
            batched_probabilities(predict, params, tokens, batch_size=args.infer_batch, mesh=mesh)

        rates.append(median_rate(infer_once, len(tokens), args.seconds, args.windows))
    return train_rate, rates[0], rates[1]


if __name__ == "__main__":
    main()
