"""Which change took prom_core_tata from 70.47 (old 21k dilated_resnet) to 60.91 (rescnn)?

    python benchmarks/gue_ablation.py --workdir runs/gue_ablation --seeds 0,1,2
    python benchmarks/gue_ablation.py --workdir runs/gue_ablation --seeds 0,1,2 \
        --cells old,now --test      # the test split, once, for the cells named

Each cell is one ordinary ``python -m jaxssl.main`` run over ``--seeds`` (printed before it
starts; skipped when its report exists) on a GUE task converted with ``data_prep from-csv``
at its own length or N-padded to 101 bp (the old shards). The table gives **dev** MCC x100
(mean ± sd over seeds, the checkpoint chosen on dev); test MCC is printed only with
``--test``, for the cells named, so the ablation itself never looks at test.

Cells (``CELLS``): ``old`` restates the 70.47 run (configs/self_distill.py's fine-tune then:
``dilated_resnet`` 32 channels, 4 blocks, dilations to 8, dropout 0.1 / head 0.3, batch 64,
lr 1e-3 with a 100-step warm-up and cosine, 800 steps, shards padded to 101 bp); ``now`` is
configs/gue.py:base at 40 epochs (the 60.91 recipe); the others change one thing at a time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from gue import convert  # the GUE conversion
from gue_supervised import run  # prints each command, then runs it from the repo root

REPO = Path(__file__).resolve().parents[1]

OLD_MODEL = [
    "--config.model.hparams.channels=32",
    "--config.model.hparams.num_blocks=4",
    "--config.model.hparams.max_dilation=8",
    "--config.model.hparams.dropout=0.1",
    "--config.model.hparams.head_dropout=0.3",
]
OLD_SCHEDULE = [
    "--config.train.batch_size=64",
    "--config.train.learning_rate=1e-3",
    "--config.train.schedule=warmup_cosine",
    "--config.train.warmup_steps=100",
    "--config.train.min_steps=100",
    "--config.train.final_lr_fraction=0.01",
    "--config.train.steps=800",
    "--config.train.eval_every=100",
    "--config.train.checkpoint_every=100",
    "--config.train.patience=1000",  # the old run evaluated 4 times and never stopped early
]
NOW_SCHEDULE = [  # benchmarks/gue.py --epochs 40 on 4,904 training sequences, batch 128
    "--config.train.steps=1560",
    "--config.train.warmup_steps=468",
    "--config.train.min_steps=468",
    "--config.train.eval_every=19",
    "--config.train.checkpoint_every=19",
]
NOW_TRAIN = [  # configs/gue.py's optimiser settings, spelled out for another config
    "--config.train.batch_size=128",
    "--config.train.learning_rate=2e-3",
    "--config.train.schedule=one_cycle",
    "--config.train.final_lr_fraction=4e-6",
    "--config.train.patience=6",
    "--config.train.selection_metric=mcc",
]
OLD_CONFIG = "configs/supervised.py:dilated_resnet"
OLD_COMMON = ["--config.train.selection_metric=mcc", "--config.augment.max_shift=3"]
NOW_CONFIG = "configs/gue.py:base"
UNPADDED = ["--config.model.hparams.edge_pad=0"]  # the recipe as it was (now pads in-model)
# name -> (config, padded to 101 bp?, overrides)
CELLS: dict[str, tuple[str, bool, list[str]]] = {
    "old": (OLD_CONFIG, True, OLD_MODEL + OLD_SCHEDULE + OLD_COMMON),
    "old_len70": (OLD_CONFIG, False, OLD_MODEL + OLD_SCHEDULE + OLD_COMMON),
    "old_no_dropout": (
        OLD_CONFIG,
        True,
        OLD_MODEL
        + OLD_SCHEDULE
        + OLD_COMMON
        + ["--config.model.hparams.dropout=0.0", "--config.model.hparams.head_dropout=0.0"],
    ),
    "old_model_now_schedule": (OLD_CONFIG, False, OLD_MODEL + NOW_TRAIN + NOW_SCHEDULE),
    "now": (NOW_CONFIG, False, NOW_SCHEDULE + UNPADDED),
    "now_pad101": (NOW_CONFIG, True, NOW_SCHEDULE + UNPADDED),
    "now_pad101_no_rc": (
        NOW_CONFIG,
        True,
        NOW_SCHEDULE
        + UNPADDED
        + ["--config.augment.reverse_complement=False", "--config.eval.rc_average=False"],
    ),
    "now_old_schedule": (NOW_CONFIG, False, OLD_SCHEDULE + UNPADDED),
    "now_dropout": (
        NOW_CONFIG,
        False,
        NOW_SCHEDULE
        + UNPADDED
        + ["--config.model.hparams.dropout=0.1", "--config.model.hparams.head_dropout=0.3"],
    ),
    "now_no_rc": (
        NOW_CONFIG,
        False,
        NOW_SCHEDULE
        + UNPADDED
        + ["--config.augment.reverse_complement=False", "--config.eval.rc_average=False"],
    ),
    "old_no_rc": (
        OLD_CONFIG,
        True,
        OLD_MODEL
        + OLD_SCHEDULE
        + OLD_COMMON
        + ["--config.augment.reverse_complement=False", "--config.eval.rc_average=False"],
    ),
}


def shards(workdir: Path, task_dir: Path, padded: bool) -> Path:
    out = workdir / "shards" / (task_dir.name + ("_pad101" if padded else ""))
    convert(task_dir, out, ("--seq-len", "101") if padded else ())
    return out


def run_cell(workdir: Path, task_dir: Path, name: str, seeds: str) -> Path:
    config, padded, overrides = CELLS[name]
    out = workdir / name
    if not (out / "report.json").exists():
        run([
            sys.executable, "-m", "jaxssl.main", f"--config={config}", f"--workdir={out}",
            f"--config.data.path={shards(workdir, task_dir, padded)}", f"--config.seeds={seeds}",
            "--config.train.progress_bar=False", *overrides,
        ])  # fmt: skip
    return out


def cell_metrics(out: Path, seeds: list[int], split: str) -> list[float]:
    values = []
    for seed in seeds:
        report = json.loads((out / f"seed_{seed}" / "report.json").read_text())
        stage = report["stages"][-1]
        values.append(100 * stage["metrics"][split]["mean"]["mcc"])
    return values


def pm(values: list[float]) -> str:
    arr = np.asarray(values)
    sd = arr.std(ddof=1) if len(arr) > 1 else 0.0
    return f"{arr.mean():.2f} ± {sd:.2f} ({', '.join(f'{v:.1f}' for v in arr)})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--task", type=Path, default=REPO.parent / "shared/data/gue/prom_core_tata")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--cells", default=",".join(CELLS))
    p.add_argument("--test", action="store_true", help="also print test MCC of --cells")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    names = [c for c in args.cells.split(",") if c]
    if unknown := [c for c in names if c not in CELLS]:
        raise SystemExit(f"--cells: unknown {unknown}; choose from {', '.join(CELLS)}")
    rows = []
    for name in names:
        out = run_cell(args.workdir, args.task, name, args.seeds)
        row = f"| {name} | {pm(cell_metrics(out, seeds, 'valid'))} |"
        if args.test:
            row += f" {pm(cell_metrics(out, seeds, 'test'))} |"
        rows.append(row)
    header = "| cell | dev MCC ×100 |" + (" test MCC ×100 |" if args.test else "")
    print("\n" + header + "\n|---|---|" + ("---|" if args.test else ""))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
