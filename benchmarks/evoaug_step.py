"""Cost of the EvoAug augmentations in the real supervised train step.

Times ``jaxssl.objectives.supervised.benchmark_step`` (the real jitted supervised step: same
optimizer, loss and donation as training) with the default augment section (RC, shift 3) and
with every EvoAug op on as well (``evoaug_settings()`` plus inversion, the shift of 3 kept).
Rounds of the two steps alternate, so load that drifts (a shared machine) hits both alike;
each figure is the median of the rounds. It also times ``add_noise`` alone, jitted.

    python benchmarks/evoaug_step.py
    python benchmarks/evoaug_step.py --model basset --seq-len 1000 --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import jax

from jaxssl.augment import evoaug_settings
from jaxssl.config import base_config
from jaxssl.objectives import supervised
from jaxssl.objectives.supervised import add_noise


def evoaug_all_on() -> dict[str, Any]:
    """Every augmentation on: EvoAug's default settings, inversion added, shift 3 kept."""
    return {**evoaug_settings(), "inversion_prob": 1 / 3, "max_shift": 3}


def build_step(model_name: str, augment: dict, *, batch_size: int, seq_len: int, num_tasks: int):
    """``benchmark_step`` (the real step) with ``augment`` over the default augment section."""
    return supervised.benchmark_step(
        model_name, batch_size=batch_size, seq_len=seq_len, num_tasks=num_tasks, augment=augment
    )


def steps_per_second(step, state, batch, steps: int):
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    return steps / (time.perf_counter() - start), state


def noise_microseconds(augment: dict, tokens_BL: jax.Array, repeats: int = 200) -> float:
    """Median time of ``add_noise`` alone (jitted) on the batch's tokens, in microseconds."""
    noise = base_config().augment
    noise.update(augment)
    fn = jax.jit(lambda key, t: add_noise(key, t, noise))
    key = jax.random.PRNGKey(0)
    fn(key, tokens_BL).block_until_ready()
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(jax.random.fold_in(key, i), tokens_BL).block_until_ready()
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deepbind")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=200)
    parser.add_argument("--num-tasks", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed round")
    args = parser.parse_args()
    shape = dict(batch_size=args.batch_size, seq_len=args.seq_len, num_tasks=args.num_tasks)
    augments = {"default augment": {}, "+ all EvoAug ops": evoaug_all_on()}
    runs = {name: build_step(args.model, aug, **shape) for name, aug in augments.items()}
    states = {}
    for name, (step, state, batch) in runs.items():  # compile and warm up
        _, states[name] = steps_per_second(step, state, batch, 3)
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, (step, _, batch) in runs.items():
            rate, states[name] = steps_per_second(step, states[name], batch, args.steps)
            rates[name].append(rate)
    print(f"{args.model} B={args.batch_size} L={args.seq_len} on {jax.devices()[0].device_kind}")
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name, median in medians.items():
        each = ", ".join(f"{r:.1f}" for r in rates[name])
        print(f"  {name:18s} {median:8.1f} steps/s  (rounds: {each})")
    base, evo = medians.values()
    print(f"  ratio with/without EvoAug: {evo / base:.3f}")
    tokens_BL = runs["default augment"][2]["tokens"]
    alone = {name: noise_microseconds(aug, tokens_BL) for name, aug in augments.items()}
    print(
        "  add_noise alone (jitted, median): "
        + ", ".join(f"{n}: {t:.0f} us" for n, t in alone.items())
    )


if __name__ == "__main__":
    main()
