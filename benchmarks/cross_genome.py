"""Cross-genome transfer of site labels (e.g. TSS) with label budgets: supervised vs
supervised + EvoAug vs pseudo-labels by homology vs Noisy Student.

    python benchmarks/cross_genome.py \
        --reference ../shared/data/cross_genome/cjejuni_NCTC11168 \
        --targets ../shared/data/cross_genome/cjejuni_RM1221 --workdir runs/cross_genome
    python benchmarks/cross_genome.py ... --quick        # one budget, one seed

Each DIR holds ``genome.fa.gz`` (or ``genome.fa``) and ``tss.bed`` (chrom, TSS, TSS + 1, .,
0, strand). Everything is built with the command line, and every command is printed:

1. ``data_prep from-sites``: the reference's windows, split into consecutive blocks
   (``--split-fractions``, default 0.7,0.1,0.2: train, valid, test = the last 20 %), once per
   label budget (``--max-positives``; valid and test are the same for every budget);
2. ``data_prep from-sites --all-test --clean-against``: each target's own TSS windows, all as
   test, with the clean subset (windows with no minimap2 hit in the reference's training
   region, decided by the leakage guard);
3. ``data_prep windows``: unlabeled windows of each target for the teachers, without those
   that map back into the reference's valid/test regions;
4. ``data_prep homology`` (minimap2): each budget's training windows carried to every target;
5. transductive exposure excluded (unless ``--transductive``): a target window a model trains
   on must not share K bases (``jaxssl.data.overlap``: a common run of at least half the
   shorter length, either strand) with that target's own evaluation windows: unlabeled windows
   are screened against every test window, carried windows against ``test_clean`` (carried
   labels on the other test windows are the transfer the "all" columns measure). Screened
   copies go to WORKDIR/screened; the counts are in the table. A target that receives no
   carried labels at a budget is reported and left out of that budget's carried sources;
6. ``python -m jaxssl.main --config=configs/cross_genome.py``: per budget, every method and
   control for every seed, early-stopped on the reference's validation region.

Then each model (the stage's checkpoint chosen on validation) scores the reference's test
region and every target's windows, in this process (the equivalent ``python -m jaxssl
predict`` command is printed), and the script prints mean ± sd test AUPRC over seeds per
budget and method, the paired differences against supervised training, and measurements
that explain them (identity of the carried windows to their sources; how many carried
positives land on a target TSS). Results: WORKDIR/cross_genome.json and
WORKDIR/cross_genome.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
METHODS = ("supervised", "supervised_evoaug", "pseudo_label", "noisy_student")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", type=Path, required=True, help="DIR with genome.fa.gz, tss.bed")
    p.add_argument("--targets", type=Path, nargs="+", required=True, help="DIRs, same layout")
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument(
        "--budgets", default="100,300,all", help="training positives (default 100,300,all)"
    )
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--quick", action="store_true", help="one budget (the first), one seed")
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--anchor", choices=["center", "end"], default="center")
    p.add_argument("--split-fractions", default="0.7,0.1,0.2")
    p.add_argument("--negatives-per-positive", type=float, default=1.0)
    p.add_argument("--unlabeled", type=int, default=10000, help="unlabeled windows per target")
    p.add_argument("--generations", type=int, default=1, help="noisy-student generations (max)")
    p.add_argument("--model", default="deepbind")
    p.add_argument("--steps", type=int, help="max steps per stage (default: the config's, 400)")
    p.add_argument("--eval-every", type=int, help="validation interval (default: the config's)")
    p.add_argument("--batch-size", type=int, help="training batch (default: the config's, 128)")
    p.add_argument("--threads", type=int, default=1, help="minimap2 threads")
    p.add_argument(
        "--transductive",
        action="store_true",
        help="let target windows that overlap the target's test windows train (default: drop "
        "them; the table says which)",
    )
    p.add_argument(
        "--config-override",
        action="append",
        default=[],
        help="extra --config.KEY=VALUE for every training run (repeatable)",
    )
    args = p.parse_args(argv)
    args.budget_list = [b.strip() for b in args.budgets.split(",") if b.strip()]
    args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    if args.quick:
        args.budget_list, args.seed_list = args.budget_list[:1], args.seed_list[:1]
    for b in args.budget_list:
        if b != "all" and (not b.isdigit() or int(b) <= 0):
            raise SystemExit(f"--budgets: {b!r} is neither a positive count nor 'all'")
    return args


def balanced_auprc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision with the negatives weighted to as many as the positives (base rate
    0.5), so that sets with different base rates (all windows vs the clean subset) compare."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    scores = np.asarray(scores, np.float64)
    order = np.argsort(-scores, kind="mergesort")
    tp = np.cumsum(labels[order])
    fp = np.cumsum(~labels[order]) * (n_pos / n_neg)
    last = np.r_[np.flatnonzero(np.diff(scores[order])), len(order) - 1]
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    return float(np.sum(np.diff(np.r_[0.0, tp / n_pos]) * precision))


def run(cmd: list[str], log: list[dict], what: str) -> float:
    """Runs a command from the repository root, printing it first; returns its wall time."""
    print("\n$ " + " ".join(shlex.quote(str(c)) for c in cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run([str(c) for c in cmd], cwd=REPO, check=True)
    seconds = time.perf_counter() - t0
    log.append({"what": what, "command": " ".join(map(str, cmd)), "seconds": round(seconds, 1)})
    print(f"[{what}: {seconds:.1f} s]", flush=True)
    return seconds


def genome_fasta(src: Path, genomes: Path, log: list[dict]) -> Path:
    """A plain FASTA of DIR's genome in the workdir (pyfaidx needs an index beside it and
    cannot index plain gzip)."""
    out = genomes / f"{src.name}.fa"
    if out.is_file():
        return out
    genomes.mkdir(parents=True, exist_ok=True)
    gz, plain = src / "genome.fa.gz", src / "genome.fa"
    if plain.is_file():
        print(f"\n$ cp {plain} {out}", flush=True)
        shutil.copyfile(plain, out)
    elif gz.is_file():
        print(f"\n$ gunzip -c {gz} > {out}   # (done in Python)", flush=True)
        tmp = out.with_suffix(".fa.tmp")
        with gzip.open(gz, "rb") as f, open(tmp, "wb") as g:
            shutil.copyfileobj(f, g)
        tmp.rename(out)
    else:
        raise SystemExit(f"{src}: no genome.fa.gz or genome.fa")
    if not (src / "tss.bed").is_file():
        raise SystemExit(f"{src}: no tss.bed")
    log.append({"what": f"genome {src.name}", "command": f"gunzip -c {gz} > {out}"})
    return out


def data_prep(args: argparse.Namespace, log: list[dict]) -> dict:
    """Every shard set, built once (a finished set is reused: its manifest exists)."""
    w = args.workdir
    py = sys.executable
    ref_name = args.reference.name
    ref_fa = genome_fasta(args.reference, w / "genomes", log)
    targets = {t.name: genome_fasta(t, w / "genomes", log) for t in args.targets}
    if ref_name in targets or len(targets) != len(args.targets):
        raise SystemExit("reference and target folder names must all differ")
    common = ["--seq-len", args.seq_len, "--anchor", args.anchor]
    common += ["--negatives-per-positive", args.negatives_per_positive]
    sets: dict = {"reference": {}, "targets": {}, "unlabeled": {}, "pseudo": {}}
    budgets = sorted(set(args.budget_list) | {"all"}, key=lambda b: int(b) if b != "all" else 1e18)
    for budget in budgets:
        out = w / "sets" / f"{ref_name}_b{budget}"
        sets["reference"][budget] = out
        if not (out / "manifest.json").is_file():
            cmd = [py, "-m", "data_prep", "from-sites", out, "--fasta", ref_fa]
            cmd += ["--sites", args.reference / "tss.bed", *common]
            cmd += ["--split-fractions", args.split_fractions, "--overwrite"]
            if budget != "all":
                cmd += ["--max-positives", budget]
            run(cmd, log, f"reference windows, budget {budget}")
    full = sets["reference"]["all"]
    for name, fa in targets.items():
        src = next(t for t in args.targets if t.name == name)
        out = w / "sets" / f"{name}_eval"
        sets["targets"][name] = out
        if not (out / "manifest.json").is_file():
            cmd = [py, "-m", "data_prep", "from-sites", out, "--fasta", fa]
            cmd += ["--sites", src / "tss.bed", *common, "--all-test"]
            cmd += ["--clean-against", full, "--reference-fasta", ref_fa]
            cmd += ["--threads", args.threads, "--overwrite"]
            run(cmd, log, f"{name}: evaluation windows (all + clean)")
        out = w / "unlabeled" / name
        sets["unlabeled"][name] = out
        if not (out / "manifest.json").is_file():
            cmd = [py, "-m", "data_prep", "windows", out, "--fasta", fa]
            cmd += ["--seq-len", args.seq_len, "--count", args.unlabeled]
            cmd += ["--exclude-homologs-of", full, "--reference-fasta", ref_fa]
            cmd += ["--threads", args.threads, "--overwrite"]
            run(cmd, log, f"{name}: unlabeled windows")
    for budget in args.budget_list:
        out = w / "pseudo" / f"b{budget}"
        sets["pseudo"][budget] = {name: out / name for name in targets}
        if not all((p / "manifest.json").is_file() for p in sets["pseudo"][budget].values()):
            cmd = [py, "-m", "data_prep", "homology", out, "--labeled", sets["reference"][budget]]
            cmd += ["--targets", *targets.values(), "--target-names", ",".join(targets)]
            cmd += ["--reference-fasta", ref_fa, "--threads", args.threads, "--overwrite"]
            run(cmd, log, f"homology, budget {budget}")
    sets["genomes"] = {"reference": ref_fa, **targets}
    return sets


def screened_copy(src: Path, out: Path, index, against: str) -> tuple[Path, dict]:
    """``src`` without its windows that share K bases with ``index``'s sequences, written to
    ``out`` once (reused while the source and the rule are the same); returns it and counts."""
    from jaxssl.data.manifest import load_manifest
    from jaxssl.data.reader import load_split
    from jaxssl.data.writer import ShardSetWriter

    source = load_manifest(src)
    fingerprint = {"source": str(src), "created": source.created, "against": against,
                   "rule": index.rule()}  # fmt: skip
    if (out / "manifest.json").is_file():
        done = load_manifest(out).metadata.get("transductive", {})
        if done.get("fingerprint") == fingerprint:
            return out, done
    counts = {"against": against, "rule": index.rule(), "fingerprint": fingerprint}
    metadata = dict(source.metadata)
    with ShardSetWriter(
        out,
        seq_len=source.seq_len,
        task_names=source.task_names,
        command=f"benchmarks/cross_genome.py: {src} minus windows sharing K bases with {against}",
        sources=[src / "manifest.json"],
        extra_fields=source.extra_fields,
        overwrite=True,
        metadata=metadata,
    ) as writer:
        for split in source.splits:
            cols = load_split(src, split)
            drop = index.screen(cols["tokens"])
            counts[split] = {"windows": int(len(drop)), "dropped": int(drop.sum())}
            keep = np.flatnonzero(~drop)
            if len(keep):
                writer.add_batch(
                    split,
                    cols["tokens"][keep],
                    cols["labels"][keep],
                    cols["weights"][keep],
                    genome=cols["genome"][keep],
                    chrom=cols["chrom"][keep],
                    start=cols["start"][keep],
                    strand=cols["strand"][keep],
                    **{f: cols[f][keep] for f in source.extra_fields},
                )
        writer.metadata["transductive"] = counts
    return out, counts


def has_train_windows(path: Path) -> bool:
    manifest = load_json(path / "manifest.json")
    return manifest["splits"].get("train", {}).get("count", 0) > 0


def exclude_transductive(args: argparse.Namespace, sets: dict) -> dict:
    """Step 5 of the module doc: screened unlabeled and carried sets replace the raw ones in
    ``sets`` (unless --transductive), and targets without carried labels leave a budget's
    carried sources. Returns what was dropped and skipped, for the table."""
    from jaxssl.data.overlap import OverlapIndex
    from jaxssl.data.reader import load_split

    exposure: dict = {"transductive": bool(args.transductive), "dropped": {}, "skipped": {}}
    for name, eval_set in {} if args.transductive else sets["targets"].items():
        test = load_split(eval_set, "test")
        every = OverlapIndex.from_rows(test["tokens"])
        clean = OverlapIndex.from_rows(test["tokens"][test["clean"] > 0.5])
        exposure["rule"] = every.rule()
        screened = args.workdir / "screened"
        path, c = screened_copy(
            sets["unlabeled"][name], screened / "unlabeled" / name, every, f"{eval_set}:test"
        )
        sets["unlabeled"][name] = path
        exposure["dropped"][f"{name} unlabeled"] = c.get("train", {"windows": 0, "dropped": 0})
        for budget in args.budget_list:
            raw = sets["pseudo"][budget][name]
            if not has_train_windows(raw):
                continue
            path, c = screened_copy(
                raw, screened / f"b{budget}" / name, clean, f"{eval_set}:test (clean rows)"
            )
            sets["pseudo"][budget][name] = path
            exposure["dropped"][f"{name} carried, budget {budget}"] = c["train"]
    for name, path in list(sets["unlabeled"].items()):
        if not has_train_windows(path):
            del sets["unlabeled"][name]
            print(f"{name}: no unlabeled window left ({path}): not a teacher source", flush=True)
    for budget in args.budget_list:
        for name, path in list(sets["pseudo"][budget].items()):
            if not has_train_windows(path):
                del sets["pseudo"][budget][name]
                exposure["skipped"].setdefault(budget, []).append(name)
                print(
                    f"budget {budget}: {name} received no carried labels ({path} has no "
                    "training windows): left out of the carried sources",
                    flush=True,
                )
    return exposure


def exposure_lines(exposure: dict) -> list[str]:
    """The table's statement of what the students may have seen of the targets' test windows."""
    if exposure["transductive"]:
        lines = [
            "Transductive exposure ALLOWED (--transductive): target windows the models train on "
            "(unlabeled, teacher-labeled, carried) may overlap that target's test windows."
        ]
    else:
        lines = [
            "Transductive exposure excluded: no target window a model trains on shares K bases "
            f"with that target's test windows ({exposure.get('rule', '')}); unlabeled windows "
            "are screened against every test window, carried windows against test_clean. "
            "Dropped: "
            + "; ".join(
                f"{k} {v['dropped']} of {v['windows']}" for k, v in exposure["dropped"].items()
            )
            + "."
        ]
    for budget, names in exposure["skipped"].items():
        lines.append(
            f"Budget {budget}: no carried labels reached {', '.join(names)} (reported, left out "
            "of the carried sources; still evaluated)."
        )
    return lines


def train(args: argparse.Namespace, sets: dict, budget: str, log: list[dict]) -> Path:
    out = args.workdir / "runs" / f"b{budget}"
    pseudo = [str(p) for p in sets["pseudo"][budget].values()]
    unlabeled = [str(p) for p in sets["unlabeled"].values()]
    config = f"configs/cross_genome.py:generations={args.generations},model={args.model}"
    cmd = [sys.executable, "-m", "jaxssl.main", f"--config={config}", f"--workdir={out}"]
    cmd += [f"--config.data.path={sets['reference'][budget]}"]
    cmd += [f"--config.seeds={','.join(map(str, args.seed_list))}"]
    cmd += [f"--config.pretrain.data.extra_train={','.join(pseudo)}"]
    cmd += [f"--config.pseudo.sources={','.join(pseudo + unlabeled)}"]
    cmd += ["--config.train.progress_bar=False"]
    if args.steps:
        # Stage sections set their own steps in noisy_student.py, so set them all.
        cmd += [f"--config.train.steps={args.steps}"]
        cmd += [f"--config.{s}.train.steps={args.steps}" for s in student_stages(args)]
    if args.eval_every:
        cmd += [f"--config.train.eval_every={args.eval_every}"]
        cmd += [f"--config.train.checkpoint_every={args.eval_every}"]
    if args.batch_size:
        cmd += [f"--config.train.batch_size={args.batch_size}"]
    cmd += [f"--config.{o.removeprefix('--config.')}" for o in args.config_override]
    run(cmd, log, f"training, budget {budget}")
    return out


def student_stages(args: argparse.Namespace) -> list[str]:
    return [f"student_{g}" for g in range(1, args.generations + 1)]


def stage_dir(run_dir: Path, seed: int, method: str) -> Path:
    from jaxssl.use.model import final_stage, reported_stage

    seed_dir = run_dir / f"seed_{seed}"
    if method == "noisy_student":
        return final_stage(seed_dir)  # the generation kept on validation (report.json)
    return reported_stage(seed_dir, method)  # a tuned control: the budget it chose


def evaluate(args: argparse.Namespace, sets: dict, runs: dict, log: list[dict]) -> dict:
    """AUPRC of every (budget, seed, method) model on the reference's test region and on each
    target's windows (all, and the clean subset)."""
    from jaxssl.data.reader import load_split
    from jaxssl.metrics import auprc, auroc
    from jaxssl.use.model import Predictor, load_model

    ref_test = load_split(sets["reference"]["all"], "test")
    target_test = {n: load_split(p, "test") for n, p in sets["targets"].items()}
    results: dict = {}
    t0 = time.perf_counter()
    for budget, run_dir in runs.items():
        for seed in args.seed_list:
            for method in METHODS:
                stage = stage_dir(run_dir, seed, method)
                if not stage.is_dir():
                    print(f"  (no stage {stage}: skipped)")
                    continue
                print(
                    f"# evaluate: python -m jaxssl predict --model {stage} --shards "
                    f"{sets['reference']['all']} --split test --out ...  (and each target; "
                    "in this process)",
                    flush=True,
                )
                predictor = Predictor(load_model(stage), progress=False)
                row = {"stage": stage.name}
                p = predictor(ref_test["tokens"])[:, 0]
                row["reference_test"] = auprc(ref_test["labels"][:, 0], p)
                row["auroc:reference_test"] = auroc(ref_test["labels"][:, 0], p)
                for name, data in target_test.items():
                    p = predictor(data["tokens"])[:, 0]
                    y = data["labels"][:, 0]
                    clean = data["clean"] > 0.5
                    row[f"{name}:all"] = auprc(y, p)
                    row[f"{name}:clean"] = auprc(y[clean], p[clean])
                    row[f"auroc:{name}:all"] = auroc(y, p)
                    row[f"auroc:{name}:clean"] = auroc(y[clean], p[clean])
                    row[f"balanced:{name}:all"] = balanced_auprc(y, p)
                    row[f"balanced:{name}:clean"] = balanced_auprc(y[clean], p[clean])
                results.setdefault(budget, {}).setdefault(method, {})[seed] = row
    log.append({"what": "evaluation (all models)", "seconds": round(time.perf_counter() - t0, 1)})
    return results


def near_site(sites, chroms, strands, positions, within: int) -> np.ndarray:
    """bool[N]: a site on the same chromosome and strand within `within` bases of each position."""
    out = np.zeros(len(positions), bool)
    for key in {(str(c), str(d)) for c, d in zip(chroms, strands, strict=True)}:
        rows = np.flatnonzero((chroms == key[0]) & (strands == key[1]))
        pos = np.sort(sites.start[(sites.chrom == key[0]) & (sites.strand == key[1])])
        if len(pos) == 0:
            continue
        k = np.searchsorted(pos, positions[rows])
        lo = np.abs(positions[rows] - pos[np.clip(k - 1, 0, len(pos) - 1)])
        hi = np.abs(positions[rows] - pos[np.clip(k, 0, len(pos) - 1)])
        out[rows] = np.minimum(lo, hi) <= within
    return out


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def carried_measurements(sets: dict, targets: list[Path], budget: str, seq_len: int) -> dict:
    """Why pseudo-labels help or not, measured: how identical the carried windows are to their
    reference sources, and how many carried positives land on one of the target's own TSS."""
    from jaxssl.data.reader import load_split
    from jaxssl.genome.intervals import read_intervals

    source = load_split(sets["reference"][budget], "train")
    out = {}
    for src in targets:
        if src.name not in sets["pseudo"][budget]:
            continue  # no carried labels (exclude_transductive reported it)
        path = sets["pseudo"][budget][src.name]
        carried = load_split(path, "train")
        idx = carried["source_index"].astype(np.int64)
        same = (carried["tokens"] == source["tokens"][idx]).mean(axis=1)
        y = carried["labels"][:, 0] > 0.5
        tss = read_intervals(src / "tss.bed")
        centre = np.where(
            carried["strand"] == "-",
            carried["start"] + seq_len - 1 - seq_len // 2,
            carried["start"] + seq_len // 2,
        )
        on_tss = near_site(tss, carried["chrom"], carried["strand"], centre, 10)
        tss_inside = near_site(tss, carried["chrom"], carried["strand"], centre, seq_len // 2)
        pos_rows = np.flatnonzero(y)
        neg_rows = np.flatnonzero(~y)
        manifest = json.loads((path / "manifest.json").read_text())
        out[src.name] = {
            "carried": int(len(y)),
            "of_source": int(len(source["start"])),
            "carried_positives": int(y.sum()),
            "identity_mean": float(same.mean()) if len(same) else float("nan"),
            "identity_median": float(np.median(same)) if len(same) else float("nan"),
            "identical_windows": float((same == 1.0).mean()) if len(same) else float("nan"),
            "positives_on_target_tss_10bp": _mean(on_tss[pos_rows]),
            "negatives_with_target_tss_in_window": _mean(tss_inside[neg_rows]),
            "counts": manifest["metadata"]["counts"],
            "leakage": manifest["metadata"]["leakage"],
        }
    return out


def _mean_sd(values: list[float]) -> str:
    v = np.asarray([x for x in values if x == x], float)
    if len(v) == 0:
        return "–"
    if len(v) == 1:
        return f"{v[0]:.3f}"
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"


def report(args: argparse.Namespace, sets: dict, results: dict, extra: dict, exposure: dict) -> str:
    targets = list(sets["targets"])
    columns = ["reference_test"] + [f"{t}:{k}" for t in targets for k in ("all", "clean")]
    head = [f"{args.reference.name} held-out"] + [
        f"{t} {k}" for t in targets for k in ("all", "clean")
    ]
    lines = ["", *exposure_lines(exposure)]
    for budget, per_method in results.items():
        ref = load_json(sets["reference"][budget] / "manifest.json")
        n_pos = ref["splits"]["train"]["positives"][0]
        lines += [
            "",
            f"Budget {budget} ({n_pos} training positives, {ref['splits']['train']['count']} "
            f"training windows); test AUPRC, mean ± sd over seeds {args.seed_list}; "
            f"transductive exposure {'ALLOWED' if args.transductive else 'excluded'}:",
            "",
            "| method | " + " | ".join(head) + " |",
            "|---" * (len(head) + 1) + "|",
        ]
        for method in METHODS:
            if method not in per_method:
                continue
            rows = per_method[method]
            cells = [_mean_sd([rows[s][c] for s in rows]) for c in columns]
            stages = sorted({rows[s]["stage"] for s in rows})
            name = method if method != "noisy_student" else f"noisy_student ({'/'.join(stages)})"
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "AUPRC at base rate 0.5 on the targets (negatives reweighted to as many as the "
            "positives; the clean subset's own base rate is higher):",
            "",
        ]
        bal = [c for c in columns if c != "reference_test"]
        lines += ["| method | " + " | ".join(head[1:]) + " |", "|---" * len(head) + "|"]
        for method in METHODS:
            rows = per_method.get(method, {})
            if rows:
                cells = [_mean_sd([rows[s][f"balanced:{c}"] for s in rows]) for c in bal]
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", "AUROC (does not depend on the base rate):", ""]
        lines += ["| method | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
        for method in METHODS:
            rows = per_method.get(method, {})
            if rows:
                cells = [_mean_sd([rows[s][f"auroc:{c}"] for s in rows]) for c in columns]
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", "Paired differences (method − supervised, per seed; seeds won):", ""]
        lines += ["| comparison | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
        base = per_method.get("supervised", {})
        for method in METHODS[1:]:
            rows = per_method.get(method, {})
            seeds = [s for s in rows if s in base]
            if not seeds:
                continue
            diffs = {c: [rows[s][c] - base[s][c] for s in seeds] for c in columns}
            cells = [
                f"{np.mean(d):+.3f} ({sum(x > 0 for x in d)}/{len(d)})" for d in diffs.values()
            ]
            lines.append(f"| {method} − supervised | " + " | ".join(cells) + " |")
    lines += ["", "Evaluation sets (base rate = positives / windows):", ""]
    for name, path in sets["targets"].items():
        m = load_json(path / "manifest.json")
        clean = m["metadata"]["clean"]["test_clean"]
        n_all = m["splits"]["test"]["count"]
        p_all = m["splits"]["test"]["positives"][0]
        n_clean = clean["positives"] + clean["negatives"]
        lines.append(
            f"- {name}: all {n_all} windows ({p_all} TSS, base rate {p_all / n_all:.2f}); clean "
            f"{n_clean} ({clean['positives']} of {clean['of_positives']} TSS, "
            f"{clean['negatives']} of {clean['of_negatives']} negatives, base rate "
            f"{clean['positives'] / max(n_clean, 1):.2f})"
        )
    m = load_json(sets["reference"]["all"] / "manifest.json")
    t = m["splits"]["test"]
    lines.append(
        f"- {args.reference.name} held-out (test) region: {t['count']} windows "
        f"({t['positives'][0]} TSS, base rate {t['positives'][0] / t['count']:.2f})"
    )
    lines += ["", "Carried pseudo-labels (data_prep homology, minimap2):", ""]
    for budget, per_target in extra.items():
        for name, c in per_target.items():
            lines.append(
                f"- budget {budget} → {name}: {c['carried']} of {c['of_source']} training "
                f"windows carried ({c['carried_positives']} positives); identity to the source "
                f"window mean {c['identity_mean']:.3f}, median {c['identity_median']:.3f}, "
                f"{100 * c['identical_windows']:.0f} % identical; carried positives within 10 "
                f"bp of a {name} TSS (same strand): {100 * c['positives_on_target_tss_10bp']:.0f}"
                f" %; carried negatives with a {name} TSS in the window: "
                f"{100 * c['negatives_with_target_tss_in_window']:.0f} %"
            )
    return "\n".join(lines)


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    log: list[dict] = []
    sets = data_prep(args, log)
    exposure = exclude_transductive(args, sets)
    t_data = time.perf_counter() - t_start
    no_carried = [b for b in args.budget_list if not sets["pseudo"][b]]
    if no_carried:
        raise SystemExit(
            f"budget(s) {', '.join(no_carried)}: no target received carried labels, so there is "
            "nothing to pre-train on; add a closer target genome"
        )
    runs = {b: train(args, sets, b, log) for b in args.budget_list}
    t_train = time.perf_counter() - t_start - t_data
    results = evaluate(args, sets, runs, log)
    extra = {b: carried_measurements(sets, args.targets, b, args.seq_len) for b in args.budget_list}
    wall = time.perf_counter() - t_start
    text = report(args, sets, results, extra, exposure)
    text += (
        f"\n\nWall time {wall / 60:.1f} min (data {t_data:.0f} s, training {t_train:.0f} s, "
        f"evaluation {wall - t_data - t_train:.0f} s)."
    )
    print(text)
    summary = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "results": results,
        "carried": extra,
        "exposure": exposure,
        "log": log,
        "wall_seconds": round(wall, 1),
    }
    (args.workdir / "cross_genome.json").write_text(json.dumps(summary, indent=1, default=str))
    (args.workdir / "cross_genome.md").write_text(text + "\n")
    print(f"\nwrote {args.workdir / 'cross_genome.json'} and cross_genome.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
