"""Self-distillation on clean real sequence, then the GUE recipe, vs the same recipe from scratch.

    python benchmarks/gue_self_distill.py --workdir runs/gue_bench --pretrain-only
    python benchmarks/gue_self_distill.py --workdir runs/gue_bench --tasks tf0,tf2 --seeds 0,1,2

1. Every GUE task folder under --gue (and every --tasks folder) is converted once with
   ``data_prep from-csv`` (as benchmarks/gue.py does).
2. The pre-training corpus (``data_prep corpus``, 101 bp): the train splits of all those tasks
   (labels dropped), the human CTCF peak and background windows and the two C. jejuni genomes
   of ``../shared/data`` when present, minus every window that shares a run of called bases
   with a valid or test sequence of any of those tasks, on either strand, and minus repeats.
3. One pre-training run (``configs/gue_self_distill.py``, stage ``pretrain``, seed 0; its
   validation loss on the first 101-bp task's dev split, labels ignored). ``--pretrain-only``
   stops here (pre-train once, then fine-tune tasks in parallel processes).
4. For each task and seed, two runs of ``configs/gue.py`` with the flags of
   ``benchmarks/gue.py`` (its epochs, step floor, strand mode, schedule and early stopping on
   dev MCC): ``scratch`` is benchmarks/gue.py's own run directory (``SIZE_TASK_STRAND``; with
   the same --workdir its finished table runs are the control, untouched), ``finetune``
   (``SIZE_TASK_STRAND_sd{RUN_NAME}``) the same flags started from the pre-trained backbone
   (``init_from``, head excluded). The pre-training steps are the method's extra compute, not
   given to the control: the control's best step and early stop say whether more steps would
   have helped it.

Prints and writes (WORKDIR/gue_self_distill{RUN_NAME}.{md,json}) test MCC x100 mean ± sd of
both arms, the paired per-seed difference and the dev MCC. Finished runs are reused.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from gue import (
    STAGE,
    STRAND_FLAGS,
    _pm,
    best_of_run,
    convert,
    schedule_flags,
    seed_results,
    task_dirs,
    train_task,
)
from gue_supervised import DNABERT2_MCC, run

from jaxssl.verdict import paired_interval

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FASTA_SOURCES = (
    "chipseq/CTCF_GM12878_hg19_pos.fa.gz",
    "chipseq/CTCF_GM12878_hg19_neg.fa.gz",
    "cross_genome/cjejuni_NCTC11168/genome.fa.gz",
    "cross_genome/cjejuni_RM1221/genome.fa.gz",
)
CORPUS_LEN = 101


def build_corpus(workdir: Path, shard_sets: list[Path], fasta: list[Path]) -> Path:
    corpus = workdir / "corpus"
    if not (corpus / "manifest.json").exists():
        sets = ",".join(map(str, shard_sets))
        cmd = [sys.executable, "-m", "data_prep", "corpus", str(corpus),
               f"--seq-len={CORPUS_LEN}", f"--from={sets}", f"--exclude={sets}"]  # fmt: skip
        if fasta:
            cmd.append("--from=" + ",".join(map(str, fasta)))
        run(cmd)
    return corpus


EARLY = 0.1  # share of the schedule over which a pre-trained start should show


def early_dev_mcc(workdir: Path, seeds: list[int], max_steps: int) -> list[float]:
    """Best dev MCC x100 of each seed within the first EARLY share of the schedule (the first
    evaluation at least): how far ahead a start is before the schedule, not the backbone,
    decides the figure (a useful backbone shows here; see docs/results/self_distillation.md)."""
    early = []
    for seed in seeds:
        lines = (workdir / f"seed_{seed}" / STAGE / "metrics.jsonl").read_text().splitlines()
        valid = [m for m in map(json.loads, lines) if m.get("split") == "valid"]
        within = [m for m in valid if m["step"] <= EARLY * max_steps] or valid[:1]
        early.append(100 * max(m["mean_mcc"] for m in within))
    return early


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--tasks", default="prom_core_tata", help="tasks to fine-tune, a,b,c")
    parser.add_argument("--gue", type=Path, default=SHARED / "gue")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--size", default="base", help="rescnn size (configs/gue.py)")
    parser.add_argument("--epochs", type=float, default=8.0)
    parser.add_argument(
        "--min-steps", type=int, default=1560, help="step floor, as benchmarks/gue.py"
    )
    parser.add_argument("--strand", choices=sorted(STRAND_FLAGS), default="symmetric")
    parser.add_argument(
        "--pretrain-only", action="store_true", help="build the corpus and pre-train; no task"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--pretrain-steps", type=int, default=2000)
    parser.add_argument(
        "--fasta",
        default=None,
        help="FASTA files added to the corpus, a,b,c ('' for none); default: the CTCF windows "
        "and C. jejuni genomes of ../shared/data that are present",
    )
    parser.add_argument(
        "--run-name",
        default="",
        help="suffix of the pre-training and fine-tuned run directories (a pre-training "
        "variant); the from-scratch runs are shared",
    )
    parser.add_argument(
        "extra",
        nargs="*",
        help="--config.* flags (after --): --config.pretrain.* and --config.self_distill.* go "
        "to the pre-training run only, the others to every run",
    )
    args = parser.parse_args()
    only_pretrain = ("--config.pretrain.", "--config.self_distill.")
    pretrain_extra = [e for e in args.extra if e.startswith(only_pretrain)]
    extra = [e for e in args.extra if not e.startswith(only_pretrain)]
    seeds = ",".join(s.strip() for s in args.seeds.split(",") if s.strip())
    shards_root = args.workdir / "shards"

    every_gue = [p for p in args.gue.iterdir() if p.is_dir()] if args.gue.is_dir() else []
    pooled = sorted({*every_gue, *task_dirs(args.tasks, args.gue)}, key=lambda p: p.name)
    for task_dir in pooled:
        convert(task_dir, shards_root / task_dir.name)
    if args.fasta is None:
        fasta = [SHARED / f for f in FASTA_SOURCES if (SHARED / f).is_file()]
    else:
        fasta = [Path(f.strip()) for f in args.fasta.split(",") if f.strip()]
    corpus = build_corpus(args.workdir, [shards_root / p.name for p in pooled], fasta)
    valid_101 = next(
        (shards_root / p.name for p in pooled
         if json.loads((shards_root / p.name / "manifest.json").read_text())["seq_len"]
         == CORPUS_LEN),
        None,
    )  # fmt: skip
    if valid_101 is None:
        raise SystemExit(f"benchmarks/gue_self_distill.py: no {CORPUS_LEN}-bp task to validate on")

    pretrain = args.workdir / f"pretrain_{args.size}{args.run_name}"
    timing = pretrain / "timing.json"
    trained_before = (pretrain / "seed_0" / "pretrain" / "done.json").exists()
    started = time.perf_counter()
    run([sys.executable, "-m", "jaxssl.main", f"--config=configs/gue_self_distill.py:{args.size}",
         f"--workdir={pretrain}", "--config.stages=pretrain", "--config.seeds=0",
         f"--config.data.path={valid_101}", f"--config.pretrain.data.extra_train={corpus}",
         f"--config.pretrain.train.steps={args.pretrain_steps}",
         f"--config.train.batch_size={args.batch_size}",
         "--config.train.progress_bar=False", *extra, *pretrain_extra])  # fmt: skip
    if not trained_before:
        timing.write_text(json.dumps({"wall_seconds": time.perf_counter() - started}))
    pretrain_wall = json.loads(timing.read_text())["wall_seconds"] if timing.exists() else None
    pre = seed_results(pretrain, [0], "pretrain")[0]

    if args.pretrain_only:
        print(f"pre-trained: {pretrain / 'seed_0' / 'pretrain'} (best step {pre['best_step']})")
        return
    seed_list = [int(s) for s in seeds.split(",")]
    arm_args = argparse.Namespace(size=args.size, batch_size=args.batch_size, extra=extra)
    rows = []
    for task_dir in task_dirs(args.tasks, args.gue):
        name = task_dir.name
        shards = shards_root / name
        flags, steps = schedule_flags(shards, args.epochs, args.batch_size, args.min_steps)
        flags += STRAND_FLAGS[args.strand]
        scratch = args.workdir / f"{args.size}_{name}_{args.strand}"  # benchmarks/gue.py's run
        arms = {
            "scratch": (scratch, []),
            "finetune": (
                scratch.with_name(f"{scratch.name}_sd{args.run_name}"),
                [f"--config.init_from={pretrain / 'seed_0' / 'pretrain'}",
                 "--config.init_exclude=head"],
            ),
        }  # fmt: skip
        results, wall, early = {}, {}, {}
        for arm, (workdir, arm_flags) in arms.items():
            wall[arm] = train_task(arm_args, workdir, shards, seed_list, flags + arm_flags)
            results[arm] = seed_results(workdir, seed_list)
            early[arm] = early_dev_mcc(workdir, seed_list, steps)
        test = {
            a: [100 * r["metrics"]["test"]["mean"]["mcc"] for r in rs] for a, rs in results.items()
        }
        dev = {
            a: [100 * r["metrics"]["valid"]["mean"]["mcc"] for r in rs] for a, rs in results.items()
        }
        diff = list(np.subtract(test["finetune"], test["scratch"]))
        rows.append({
            "task": name,
            "seeds": seeds,
            "max_steps": steps,
            "test_mcc": test,
            "dev_mcc": dev,
            "early_dev_mcc": early,
            "paired_difference": diff,
            "paired": (paired := paired_interval(diff)),  # mean, 95 % paired-t interval, word
            "wins": paired["wins"],
            "best_step": {a: [r["best_step"] for r in rs] for a, rs in results.items()},
            "steps_run": {a: [r["steps_run"] for r in rs] for a, rs in results.items()},
            "wall_seconds": {a: w["wall_seconds"] for a, w in wall.items()},
            "dnabert2_published": DNABERT2_MCC.get(name),
        })  # fmt: skip

    lines = [
        "| task | seeds | from scratch | fine-tuned | paired fine-tuned − scratch [95 % interval] "
        "| wins | verdict "
        "| dev MCC scratch / fine-tuned | best dev MCC in the first 10 % of steps, scratch / "
        "fine-tuned "
        "| best step / steps run, scratch / fine-tuned (max) | DNABERT-2 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        paired = r["paired"]
        interval = (
            f"{paired['mean']:+.2f} [{paired['low']:+.2f}, {paired['high']:+.2f}]"
            if paired["n"] > 1
            else f"{paired['mean']:+.2f}"
        )
        steps = {a: best_of_run(r["best_step"][a], r["steps_run"][a]) for a in r["steps_run"]}
        lines.append(
            f"| {r['task']} | {r['seeds']} | {_pm(r['test_mcc']['scratch'])} | "
            f"{_pm(r['test_mcc']['finetune'])} | {interval} | "
            f"{r['wins']}/{len(r['paired_difference'])} | {paired['word']} | "
            f"{_pm(r['dev_mcc']['scratch'])} / "
            f"{_pm(r['dev_mcc']['finetune'])} | {_pm(r['early_dev_mcc']['scratch'])} / "
            f"{_pm(r['early_dev_mcc']['finetune'])} | {steps['scratch']} / {steps['finetune']} "
            f"({r['max_steps']}) | {r['dnabert2_published'] or '–'} |"
        )
    corpus_meta = json.loads((corpus / "manifest.json").read_text())["metadata"]
    table = "\n".join(lines)
    print(
        f"\nrescnn:{args.size}; pre-training {args.pretrain_steps} steps "
        f"({pre['train_seconds']:.0f} s training, {pretrain_wall or float('nan'):.0f} s wall) on "
        f"{corpus_meta['counts']['written']:,} windows; fine-tuning {args.epochs:g} epochs\n"
    )
    print(table)
    out_md = args.workdir / f"gue_self_distill{args.run_name}.md"
    out_json = out_md.with_name(out_md.name.removesuffix(".md") + ".json")
    out_md.write_text(table + "\n")
    out_json.write_text(json.dumps({
        "size": args.size, "epochs": args.epochs, "min_steps": args.min_steps,
        "strand": args.strand, "pretrain_steps": args.pretrain_steps,
        "pretrain_train_seconds": pre["train_seconds"],
        "pretrain_wall_seconds": pretrain_wall, "run_name": args.run_name, "extra": args.extra,
        "corpus": corpus_meta, "tasks": rows}, indent=2))  # fmt: skip
    print(f"\nwritten: {out_md}, {out_json}")


if __name__ == "__main__":
    main()
