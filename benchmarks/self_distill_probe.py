"""Does self-distillation pre-training teach anything? A ridge probe on frozen pooled features.

    nice -n 10 python benchmarks/self_distill_probe.py --workdir /tmp/sd_probe --seeds 0,1
    nice -n 10 python benchmarks/self_distill_probe.py --workdir /tmp/sd_probe_old \
        --repo /tmp/jaxssl_before          # the same measurement of another checkout's objective
    python benchmarks/self_distill_probe.py --workdir /tmp/sd_probe --baseline /tmp/sd_probe_old

For each seed: the ``pretrain`` stage of ``configs/self_distill.py`` (an ordinary
``python -m jaxssl.main`` run in ``--repo``, printed before it starts, skipped when done), then
one ridge regression per task on the frozen pooled features (what the fine-tuning head reads)
of the toy world's labeled set, for the pre-trained backbone and for the same architecture at
the seed's own initialisation (the point pre-training started from). The ridge strength is
chosen on the valid split; test AUPRC/AUROC (mean over tasks) are printed side by side with
the pre-training trajectory (contrastive loss, teacher entropy against ln K, masked-nucleotide
accuracy). ``--config.*`` arguments pass through to every pre-training run.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxssl import metrics
from jaxssl.config import base_config
from jaxssl.data.reader import load_split
from jaxssl.datasets import labeled_path
from jaxssl.models import build_model
from jaxssl.rng import purpose_key
from jaxssl.teacher import load_trained_model
from jaxssl.train_state import merge_model, split_model

REPO = Path(__file__).resolve().parents[1]
RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
TRAJECTORY_KEYS = ("contrastive_loss", "teacher_entropy", "mlm_accuracy")


def pretrain(workdir: Path, seed: int) -> Path:
    """The seed's finished pretrain stage directory (runs it first when missing)."""
    stage_dir = workdir / f"seed_{seed}" / "pretrain"
    if not (stage_dir / "best.json").exists():
        cmd = [
            sys.executable,
            "-m",
            "jaxssl.main",
            "--config=configs/self_distill.py",
            f"--workdir={workdir}",
            "--config.stages=pretrain",
            f"--config.seeds={seed}",
            "--config.train.progress_bar=False",
            "--config.train.log_every=20",
            *ARGS.common,
        ]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ARGS.repo, check=True)
    return stage_dir


def trajectory(stage_dir: Path) -> list[dict]:
    """Training rows of metrics.jsonl that carry the contrastive monitors."""
    rows = [json.loads(line) for line in (stage_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "teacher_entropy" in r]


def pooled_features(stage_dir: Path, seed: int, splits: dict) -> dict[str, dict]:
    """{"pretrained"|"random": {split: features [N, D]}} of one seed."""
    graphdef, rest, params, spec = load_trained_model(stage_dir)
    fresh = build_model(
        spec["name"],
        num_outputs=int(spec["num_outputs"]),
        seq_len=int(spec["seq_len"]),
        rngs=nnx.Rngs(purpose_key(seed, "init")),  # the stage's own starting point
        **spec["hparams"],
    )
    _, random_params, _ = split_model(fresh)

    @jax.jit
    def pooled(p, tokens_BL):
        return merge_model(graphdef, p, rest).features(tokens_BL, deterministic=True)[1]

    out = {}
    for name, p in (("pretrained", params), ("random", random_params)):
        out[name] = {}
        for split, data in splits.items():
            tokens = data["tokens"]
            pad = -len(tokens) % 512
            padded = np.concatenate([tokens, np.full((pad, tokens.shape[1]), 4, np.uint8)])
            feats = [
                pooled(p, jnp.asarray(padded[i : i + 512])) for i in range(0, len(padded), 512)
            ]
            out[name][split] = np.asarray(jnp.concatenate(feats))[: len(tokens)]
    return out


def ridge_probe(features: dict[str, np.ndarray], splits: dict) -> dict[str, float]:
    """Per-task ridge on standardised features; alpha on valid AUPRC; test means over tasks."""
    mu, sd = features["train"].mean(0), features["train"].std(0) + 1e-6
    x = {s: np.c_[(f - mu) / sd, np.ones(len(f))] for s, f in features.items()}
    gram = x["train"].T @ x["train"]
    tasks = splits["train"]["labels"].shape[1]
    best = {"valid_auprc": [], "test_auprc": [], "test_auroc": []}
    for t in range(tasks):
        y = {s: splits[s]["labels"][:, t] for s in splits}
        keep = ~np.isnan(y["train"])
        target = x["train"][keep].T @ y["train"][keep]
        chosen = None
        for alpha in RIDGE_ALPHAS:
            w = np.linalg.solve(gram + alpha * np.eye(len(gram)), target)
            score = metrics.auprc(y["valid"] == 1, x["valid"] @ w)
            if chosen is None or score > chosen[0]:
                chosen = (score, w)
        score, w = chosen
        best["valid_auprc"].append(score)
        best["test_auprc"].append(metrics.auprc(y["test"] == 1, x["test"] @ w))
        best["test_auroc"].append(metrics.auroc(y["test"] == 1, x["test"] @ w))
    return {k: float(np.mean(v)) for k, v in best.items()}


def measure(seed: int, splits: dict) -> dict:
    stage_dir = pretrain(ARGS.workdir, seed)
    features = pooled_features(stage_dir, seed, splits)
    result = {name: ridge_probe(f, splits) for name, f in features.items()}
    result["trajectory"] = trajectory(stage_dir)
    return result


def print_results(results: dict, baseline: dict | None, num_prototypes: int) -> None:
    print(f"\nridge probe on frozen pooled features, test mean over tasks ({ARGS.workdir})")
    cols = ["seed", "AUPRC pre-trained", "AUPRC random", "AUROC pre-trained", "AUROC random"]
    if baseline:
        cols += ["AUPRC pre-trained (baseline)", "AUPRC random (baseline)"]
    print("| " + " | ".join(cols) + " |\n" + "|---" * len(cols) + "|")
    for seed, r in results.items():
        cells = [seed, r["pretrained"]["test_auprc"], r["random"]["test_auprc"]]
        cells += [r["pretrained"]["test_auroc"], r["random"]["test_auroc"]]
        if baseline and seed in baseline:
            cells += [baseline[seed]["pretrained"]["test_auprc"]]
            cells += [baseline[seed]["random"]["test_auprc"]]
        print("| " + " | ".join(c if isinstance(c, str) else f"{c:.3f}" for c in cells) + " |")
    print(f"\npre-training trajectory (ln K = {math.log(num_prototypes):.2f})")
    print(
        "| seed | step | contrastive loss | teacher entropy | mlm accuracy |"
        + (" baseline: contrastive | entropy | mlm acc |" if baseline else "")
    )
    for seed, r in results.items():
        old = {row["step"]: row for row in (baseline or {}).get(seed, {}).get("trajectory", [])}
        for row in r["trajectory"]:
            cells = [f"{row[k]:.3f}" for k in TRAJECTORY_KEYS]
            if row["step"] in old:
                cells += [f"{old[row['step']][k]:.3f}" for k in TRAJECTORY_KEYS]
            print(f"| {seed} | {row['step']} | " + " | ".join(cells) + " |")


def main() -> None:
    path = labeled_path(base_config().data)
    splits = {s: load_split(path, s) for s in ("train", "valid", "test")}
    results = {}
    for seed in ARGS.seeds.split(","):
        results[seed] = measure(int(seed), splits)
    (ARGS.workdir / "probe.json").write_text(json.dumps(results, indent=1))
    baseline = None
    if ARGS.baseline:
        baseline = json.loads((ARGS.baseline / "probe.json").read_text())
    num_prototypes = int(
        json.loads((ARGS.workdir / f"seed_{seed}" / "config.json").read_text())
        .get("self_distill", {})
        .get("num_prototypes", 512)
    )
    print_results(results, baseline, num_prototypes)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--repo", type=Path, default=REPO, help="checkout whose jaxssl pre-trains")
    p.add_argument("--baseline", type=Path, help="another --workdir whose probe.json to set beside")
    args, common = p.parse_known_args()
    if bad := [a for a in common if not a.startswith("--config.")]:
        p.error(f"unrecognized arguments: {bad} (only --config.* overrides pass through)")
    args.common = common
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    main()
