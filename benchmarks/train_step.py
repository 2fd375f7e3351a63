"""Train-step throughput of each jaxssl model against the same CNN written in PyTorch.

Both sides do one full supervised step on the same batch shape on the same machine, in one
run: one-hot on device, forward with dropout, sigmoid BCE, backward, global-norm clipping and
AdamW. Each figure is the median over timed windows after warm-up (compile), with
``block_until_ready`` (JAX) closing every window. On an accelerator it also prints model
FLOPs utilisation, counting FLOPs with XLA's ``cost_analysis`` of the compiled step.

    python benchmarks/train_step.py                        # all models, L=101 and L=1000
    python benchmarks/train_step.py --models basset --lengths 101 --seconds 2

``--jax-step lead`` (default) times ``jaxssl.objectives.supervised.benchmark_step``, the
real trainer step (adds RC + shift noise and metrics); ``--jax-step local`` times the
minimal step defined here, which does exactly the PyTorch step's work.
PyTorch is only a benchmark dependency (CPU wheel); jaxssl never imports it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

# The parent process touches the device too: without this it would reserve 75 % of a GPU's
# memory and starve the worker process that does the timing.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxssl.host_memory import keep_large_buffers_in_heap
from jaxssl.models import build_model, default_hparams

LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-2
CLIP_NORM = 1.0

# Dense peak FLOP/s by device kind and compute dtype, for MFU (spec-sheet numbers).
PEAK_FLOPS = {
    ("H200", "bfloat16"): 989e12,
    ("H200", "float32"): 67e12,
    ("H100", "bfloat16"): 989e12,
    ("H100", "float32"): 67e12,
    ("A100", "bfloat16"): 312e12,
    ("A100", "float32"): 19.5e12,
}


# --------------------------------------------------------------------------- JAX side


def local_benchmark_step(
    model_name: str, *, batch_size: int, seq_len: int, num_tasks: int, dtype: Any, seed: int = 0
) -> tuple[Callable, Any, dict]:
    """(jitted step, state, batch): params-only state, clip + AdamW, BCE, donated state."""
    model = build_model(
        model_name, num_outputs=num_tasks, seq_len=seq_len, rngs=nnx.Rngs(seed), dtype=dtype
    )
    graphdef, params = nnx.split(model, nnx.Param)
    tx = optax.chain(
        optax.clip_by_global_norm(CLIP_NORM),
        optax.adamw(LEARNING_RATE, weight_decay=WEIGHT_DECAY),
    )
    state = {"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": tx.init(params)}

    def step(state: dict, batch: dict) -> tuple[dict, dict]:
        key = jax.random.fold_in(jax.random.key(seed), state["step"])

        def loss_fn(params: nnx.State) -> jax.Array:
            logits_BT = nnx.merge(graphdef, params)(
                batch["tokens"], deterministic=False, rngs=nnx.Rngs(dropout=key)
            )
            return optax.sigmoid_binary_cross_entropy(logits_BT, batch["labels"]).mean()

        loss, grads = jax.value_and_grad(loss_fn)(state["params"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        new_state = {"step": state["step"] + 1, "params": params, "opt_state": opt_state}
        return new_state, {"training_loss": loss}

    rng = np.random.default_rng(seed)
    batch = {
        "tokens": jnp.asarray(rng.integers(0, 4, (batch_size, seq_len), dtype=np.uint8)),
        "labels": jnp.asarray(rng.integers(0, 2, (batch_size, num_tasks)).astype(np.float32)),
    }
    return jax.jit(step, donate_argnums=(0,)), state, batch


def jax_benchmark_step(which: str, model_name: str, **kwargs: Any) -> tuple[Callable, Any, dict]:
    if which == "lead":
        from jaxssl.objectives.supervised import benchmark_step

        return benchmark_step(model_name, **kwargs)
    return local_benchmark_step(model_name, **kwargs)


def compiled_flops(step_fn: Callable, state: Any, batch: dict) -> float | None:
    """FLOPs of one step according to XLA (None where the backend does not say)."""
    try:
        analysis = step_fn.lower(state, batch).compile().cost_analysis()
    except Exception:  # noqa: BLE001 - some backends do not implement it
        return None
    if isinstance(analysis, list | tuple):
        analysis = analysis[0] if analysis else {}
    flops = (analysis or {}).get("flops")
    return float(flops) if flops and flops > 0 else None


def jax_runner(step_fn: Callable, state: Any, batch: dict) -> Callable[[int], None]:
    """run(n): n steps, then block; the state is threaded through (it is donated)."""
    holder = [state]

    def run(n: int) -> None:
        for _ in range(n):
            holder[0], _ = step_fn(holder[0], batch)
        jax.block_until_ready(holder[0])

    return run


# --------------------------------------------------------------------------- PyTorch side


def torch_model(name: str, num_tasks: int, hp: dict[str, Any]):
    """The same architecture as jaxssl.models.<name>, in PyTorch (channels-first)."""
    import torch
    from torch import nn

    def same_conv(c_in: int, c_out: int, width: int, dilation: int = 1) -> nn.Conv1d:
        return nn.Conv1d(c_in, c_out, width, padding="same", dilation=dilation)

    class ChannelNorm(nn.Module):
        """LayerNorm over channels of a [B, C, L] map, as jaxssl's LayerNorm on [B, L, C]."""

        def __init__(self, channels: int):
            super().__init__()
            self.norm = nn.LayerNorm(channels, eps=1e-6)

        def forward(self, x):
            return self.norm(x.transpose(1, 2)).transpose(1, 2)

    def max_avg(x):
        return torch.cat([x.amax(dim=2), x.mean(dim=2)], dim=1)

    class DeepBind(nn.Module):
        def __init__(self):
            super().__init__()
            f = hp["num_filters"]
            self.motifs = same_conv(4, f, hp["filter_width"])
            self.hidden = nn.Linear(2 * f, f)
            self.drop = nn.Dropout(hp["dropout"])
            self.head = nn.Linear(f, num_tasks)

        def forward(self, x):
            h = torch.relu(self.hidden(max_avg(torch.relu(self.motifs(x)))))
            return self.head(self.drop(h))

    class Basset(nn.Module):
        def __init__(self):
            super().__init__()
            chans, widths, pools = hp["conv_channels"], hp["conv_widths"], hp["pool_sizes"]
            layers: list[nn.Module] = []
            for c_in, c_out, w, p in zip((4, *chans[:-1]), chans, widths, pools, strict=True):
                layers += [same_conv(c_in, c_out, w)]
                layers += [ChannelNorm(c_out)] if hp["layer_norm"] else []
                layers += [nn.ReLU(), nn.MaxPool1d(p, ceil_mode=True)]
                layers += [nn.Dropout(hp["conv_dropout"])]
            self.tower = nn.Sequential(*layers)
            d = hp["fc_dim"]
            self.fc = nn.Sequential(
                nn.LayerNorm(2 * chans[-1], eps=1e-6),  # jaxssl's norm of the pooled vector
                nn.Linear(2 * chans[-1], d),
                nn.ReLU(),
                nn.Dropout(hp["dropout"]),
                nn.Linear(d, d),
                nn.ReLU(),
                nn.Dropout(hp["dropout"]),
            )
            self.head = nn.Linear(d, num_tasks)

        def forward(self, x):
            return self.head(self.fc(max_avg(self.tower(x))))

    class Block(nn.Module):
        def __init__(self, c: int, dilation: int):
            super().__init__()
            self.norm = ChannelNorm(c)
            self.conv = same_conv(c, c, hp["kernel_width"], dilation)
            self.mix = nn.Conv1d(c, c, 1)
            self.drop = nn.Dropout(hp["dropout"])

        def forward(self, x):
            gelu = nn.functional.gelu
            h = self.conv(gelu(self.norm(x), approximate="tanh"))
            return x + self.drop(self.mix(gelu(h, approximate="tanh")))

    class DilatedResNet(nn.Module):
        def __init__(self):
            super().__init__()
            from jaxssl.models.dilated import dilation_schedule

            c = hp["channels"]
            self.stem = same_conv(4, c, hp["stem_width"])
            dilations = dilation_schedule(hp["num_blocks"], hp["max_dilation"])
            self.blocks = nn.Sequential(*[Block(c, d) for d in dilations])
            self.norm = ChannelNorm(c)
            self.hidden = nn.Linear(2 * c, c)
            self.drop = nn.Dropout(hp["head_dropout"])
            self.head = nn.Linear(c, num_tasks)

        def forward(self, x):
            gelu = nn.functional.gelu
            h = gelu(self.norm(self.blocks(self.stem(x))), approximate="tanh")
            return self.head(self.drop(gelu(self.hidden(max_avg(h)), approximate="tanh")))

    classes = {"deepbind": DeepBind, "basset": Basset, "dilated_resnet": DilatedResNet}
    return classes[name]()


def torch_runner(name: str, *, batch_size: int, seq_len: int, num_tasks: int):
    """(run(n): n PyTorch steps on CPU, parameter count)."""
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(0)
    model = torch_model(name, num_tasks, default_hparams(name)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    rng = np.random.default_rng(0)
    tokens = torch.from_numpy(rng.integers(0, 4, (batch_size, seq_len), dtype=np.uint8))
    labels = torch.from_numpy(rng.integers(0, 2, (batch_size, num_tasks)).astype(np.float32))
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def run(n: int) -> None:
        for _ in range(n):
            x = torch.nn.functional.one_hot(tokens.long(), 5)[..., :4]
            x = x.transpose(1, 2).float()
            loss = loss_fn(model(x), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            opt.step()

    return run, sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- harness


def peak_flops(dtype_name: str) -> float | None:
    kind = jax.devices()[0].device_kind
    for (name, dt), peak in PEAK_FLOPS.items():
        if name in kind and dt == dtype_name:
            return peak
    return None


def worker(kind: str, name: str, length: int, args: argparse.Namespace, conn) -> None:
    """Builds and warms up one step in its own process, then times windows on request."""
    if args.threads:
        # Before any backend starts: XLA sizes its pool from the affinity mask.
        os.sched_setaffinity(0, set(range(args.threads)))
    if args.malloc == "jaxssl":  # the same allocator settings for both frameworks
        keep_large_buffers_in_heap()
    shape = {"batch_size": args.batch, "seq_len": length, "num_tasks": args.tasks}
    info: dict[str, Any] = {}
    if kind == "torch":
        run, info["params"] = torch_runner(name, **shape)
    else:
        step_fn, state, batch = jax_benchmark_step(
            args.jax_step, name, dtype=jnp.dtype(args.dtype), **shape
        )
        params = state["params"] if isinstance(state, dict) else state.params
        info["params"] = sum(x.size for x in jax.tree.leaves(params))
        info["flops"] = compiled_flops(step_fn, state, batch)
        run = jax_runner(step_fn, state, batch)
    run(1)  # compile / first-call allocation
    start = time.perf_counter()
    run(1)
    info["warm_step_s"] = time.perf_counter() - start
    conn.send(info)
    while (steps := conn.recv()) > 0:
        start = time.perf_counter()
        run(steps)
        conn.send((time.perf_counter() - start) / steps)


class Worker:
    def __init__(self, *worker_args: Any):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker, args=(*worker_args, child), daemon=True)
        self.process.start()
        self.info: dict[str, Any] = self.conn.recv()

    def window(self, steps: int) -> float:
        self.conn.send(steps)
        return self.conn.recv()

    def close(self) -> None:
        self.conn.send(0)
        self.process.join()


def measure(name: str, length: int, args: argparse.Namespace, with_torch: bool) -> dict:
    """Median seconds per step over timed windows, per framework, each in its own process.

    The processes never overlap: an idle XLA or OpenMP pool in a live process spins and
    steals the other's cores (measured: a 10-40x slowdown on 2 cores). With ``--rounds`` > 1
    the frameworks alternate and the best round counts, to damp load from other tenants.
    """
    kinds = ["jax", "torch"] if with_torch else ["jax"]
    best: dict[str, dict] = {}
    for _ in range(args.rounds):
        for kind in kinds:
            w = Worker(kind, name, length, args)
            steps = max(1, round(args.seconds / args.windows / w.info["warm_step_s"]))
            step_s = statistics.median(w.window(steps) for _ in range(args.windows))
            w.close()
            if kind not in best or step_s < best[kind]["step_s"]:
                best[kind] = {**w.info, "step_s": step_s}
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["deepbind", "basset", "dilated_resnet"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[101, 1000])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--tasks", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per model")
    parser.add_argument("--windows", type=int, default=5, help="timed windows (median)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds (best)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--jax-step", choices=["lead", "local"], default="lead")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument(
        "--malloc",
        choices=["jaxssl", "default"],
        default="jaxssl",
        help="glibc malloc thresholds of jaxssl.host_memory (as jaxssl runs), or glibc's default",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="pin both frameworks to this many cores (0: all); 1 is robust on a shared machine",
    )
    args = parser.parse_args()

    device = jax.devices()[0]
    run_torch = not args.no_torch and device.platform == "cpu"  # the torch wheel is CPU-only
    peak = peak_flops(args.dtype)
    print(
        f"device: {device.device_kind} ({device.platform}), jax {jax.__version__}, "
        f"batch {args.batch}, dtype {args.dtype}, jax step: {args.jax_step}, "
        f"malloc: {args.malloc}"
    )
    if run_torch:
        import torch

        threads = args.threads or len(os.sched_getaffinity(0))
        print(f"torch {torch.__version__}; both frameworks on {threads} core(s)")
    header = (
        f"{'model':<15}{'L':>6}{'params':>10}{'jax seq/s':>12}{'torch seq/s':>13}"
        f"{'jax/torch':>11}{'GFLOP/step':>12}{'TFLOP/s':>9}{'MFU':>7}"
    )
    print(header)
    print("-" * len(header))
    for name in args.models:
        for length in args.lengths:
            runs = measure(name, length, args, run_torch)
            jax_run = runs["jax"]
            jax_rate = args.batch / jax_run["step_s"]
            torch_rate = ratio = float("nan")
            if run_torch:
                torch_run = runs["torch"]
                if torch_run["params"] != jax_run["params"]:
                    print(f"  warning: {name} torch params {torch_run['params']}")
                torch_rate = args.batch / torch_run["step_s"]
                ratio = jax_rate / torch_rate
            flops = jax_run["flops"]
            achieved = flops / jax_run["step_s"] if flops else float("nan")
            mfu = f"{achieved / peak:6.1%}" if peak and flops else "   n/a"
            print(
                f"{name:<15}{length:>6}{jax_run['params']:>10,}{jax_rate:>12,.0f}"
                f"{torch_rate:>13,.0f}{ratio:>11.2f}{(flops or float('nan')) / 1e9:>12.1f}"
                f"{achieved / 1e12:>9.3f}{mfu:>7}",
                flush=True,
            )


if __name__ == "__main__":
    main()
