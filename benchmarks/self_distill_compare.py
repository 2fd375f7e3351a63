"""Fine-tuned after self-distillation vs trained from scratch, on the toy world or on GUE.

    python benchmarks/self_distill_compare.py toy --workdir runs/sd_toy
    python benchmarks/self_distill_compare.py gue --workdir runs/sd_gue \
        --gue-shards /tmp/sd_gue   # shard sets made with data_prep from-csv --seq-len 101

One pre-training run (``configs/self_distill.py``, stage ``pretrain``) on the pooled
unlabeled sequences (toy: windows of every genome of the toy world; GUE: the train splits of
every listed set, labels ignored), then for each labeled set two runs of the ``finetune``
stage with identical settings: ``init_from`` the pre-trained stage, and from scratch. Prints
a markdown table of test metrics (selection on the validation split only). Every run is an
ordinary ``python -m jaxssl.main`` command, printed before it starts, and is skipped when
its report exists, so an interrupted comparison resumes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GUE_SETS = ("tf0", "tf1", "tf2", "prom_core_all", "prom_core_notata", "prom_core_tata")
# Published DNABERT-2 (117M parameters) test MCC x100 on GUE (Zhou et al., ICLR 2024).
DNABERT2_MCC = {
    "tf0": 71.99,
    "tf1": 76.06,
    "tf2": 66.52,
    "prom_core_all": 69.37,
    "prom_core_notata": 68.04,
    "prom_core_tata": 74.17,
}


def run(workdir: Path, overrides: list[str]) -> dict:
    report = workdir / "report.json"
    if not report.exists():
        cmd = [
            sys.executable,
            "-m",
            "jaxssl.main",
            "--config=configs/self_distill.py:" + ARGS.model,
            f"--workdir={workdir}",
            "--config.train.progress_bar=False",
            *ARGS.common,
            *overrides,
        ]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=REPO, check=True)
    return json.loads(report.read_text())


def toy_sources() -> tuple[str, list[str]]:
    """'' (the toy labeled set) and unlabeled windows of every genome of the toy world."""
    from jaxssl.config import base_config
    from jaxssl.toy_data import toy_unlabeled_shards, toy_world_dir

    toy = base_config().data.toy_world
    info = json.loads((toy_world_dir(toy) / "world.json").read_text())
    return "", [str(toy_unlabeled_shards(toy, species)) for species in info["species"]]


def main() -> None:
    out = ARGS.workdir
    finetune_args = [
        f"--config.finetune.train.steps={ARGS.finetune_steps}",
        f"--config.train.eval_every={ARGS.finetune_steps // 4}",
        f"--config.train.checkpoint_every={ARGS.finetune_steps}",
        f"--config.train.selection_metric={ARGS.selection}",
    ]
    if ARGS.suite == "toy":
        labeled, unlabeled = toy_sources()
        targets = {"toy": labeled}
        pretrain_valid = labeled
    else:
        root = Path(ARGS.gue_shards)
        pooled = {name: str(root / name) for name in ARGS.sets.split(",")}
        unlabeled = [f"{path}:train" for path in pooled.values()]
        pretrain_valid = next(iter(pooled.values()))
        names = ARGS.finetune_sets.split(",") if ARGS.finetune_sets else list(pooled)
        targets = {name: str(root / name) for name in names}
    pre = run(
        out / "pretrain",
        [
            "--config.stages=pretrain",
            f"--config.data.path={pretrain_valid}",
            "--config.pretrain.data.use_labeled_train=False",
            "--config.pretrain.data.extra_train=" + ",".join(unlabeled),
            f"--config.pretrain.train.steps={ARGS.pretrain_steps}",
            f"--config.train.eval_every={ARGS.pretrain_steps // 4}",
            f"--config.train.checkpoint_every={ARGS.pretrain_steps}",
        ],
    )
    pretrain_seconds = pre["stages"][0]["train_seconds"]
    rows = []
    for name, path in targets.items():
        data = [f"--config.data.path={path}"] if path else []
        result = {}
        for kind, init in (("fine-tuned", str(out / "pretrain" / "pretrain")), ("scratch", "")):
            report = run(
                out / f"{name}_{kind}",
                ["--config.stages=finetune", f"--config.finetune.init_from={init}", *data]
                + finetune_args,
            )
            result[kind] = report["stages"][0]["metrics"]["test"]["mean"]
        rows.append((name, result))
    metrics = ("mcc", "auroc", "auprc")
    print(f"\npre-training: {ARGS.pretrain_steps} steps, {pretrain_seconds:.0f} s\n")
    header = "| set | " + " | ".join(f"{m} scratch | {m} fine-tuned" for m in metrics)
    print(header + " | DNABERT-2 mcc |")
    print("|---" * (2 * len(metrics) + 2) + "|")
    for name, result in rows:
        cells = []
        for m in metrics:
            cells += [f"{100 * result['scratch'][m]:.2f}", f"{100 * result['fine-tuned'][m]:.2f}"]
        ref = DNABERT2_MCC.get(name)
        print(f"| {name} | " + " | ".join(cells) + f" | {ref if ref else '-'} |")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("suite", choices=["toy", "gue"])
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--gue-shards", default="/tmp/sd_gue", help="dir of from-csv shard sets")
    p.add_argument("--sets", default=",".join(GUE_SETS), help="GUE sets (comma-separated)")
    p.add_argument("--finetune-sets", default="", help="GUE sets to fine-tune (default: --sets)")
    p.add_argument("--model", default="dilated_resnet")
    p.add_argument("--pretrain-steps", type=int, default=1500)
    p.add_argument("--finetune-steps", type=int, default=800)
    p.add_argument("--selection", default="mcc", help="validation metric for model selection")
    args, common = p.parse_known_args()
    if bad := [a for a in common if not a.startswith("--config.")]:
        p.error(f"unrecognized arguments: {bad} (only --config.* overrides pass through)")
    args.common = common  # --config.* overrides applied to every run
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    main()
