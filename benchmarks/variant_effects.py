"""Variant effects: do destroyed bound motifs and allele-specific binding SNPs score as such?

Two checks, each printing every command it runs (all scoring goes through
``python -m jaxssl score-variants``, the same code path a user runs).

``--toy``: planted truth. A deepbind is trained on the built-in toy world (or ``--model DIR``
is reused). On the test chromosome (chr5, never trained on) every bound motif instance of the
world's noise-free truth (``truth/ref/<TF>.bed``) gets one SNV that destroys it: the base
change that lowers the TF's PWM score most, kept only when the world's own occupancy rule
(``jaxssl.toyworld.binding.call_sites``, re-run on the mutated neighbourhood) calls the site
unbound afterwards. Each gets a matched control: a random SNV in the same model window
(uniform within L/2 of the site's centre, outside every bound site of every TF, redrawn
until the occupancy rule calls the same sites of every TF as before). The variants are written
as a VCF against the world's reference FASTA and scored; reported per TF (the TF's own task)
and pooled: AUROC of |alt - ref| of the destroying SNVs against the controls.

    python benchmarks/variant_effects.py --toy --workdir runs/ve_toy

Default: allele-specific CTCF binding (real data in ``../shared/data``, see its README). The
GM12878 CTCF ChIP-seq windows (4,000 peaks, 4,536 matched background; 201 bp) become a
shard set with ``data_prep from-fasta`` (centre-cropped to the 100 bp of the variant pairs;
valid chr7, test chr8 + chr9 from the ``chrN_i`` headers). ``configs/ctcf_ssl.py`` then
trains, once per seed: self-distillation pre-training on the train split with labels ignored,
fine-tuning on the labels (``finetune``), and the supervised control from scratch
(``scratch``). ``score-variants`` scores the 396 CTCF allele-specific binding SNP pairs in
paired mode (reference = non-binding allele, alternative = binding allele). Reported per
stage as mean +- sd over seeds, beside a motif-only baseline (the best log-odds of a JASPAR
CTCF PWM over both strands):

- the fraction of pairs where the binding allele scores higher (ties count half),
- the AUROC of the difference: binding-minus-non-binding scores of every pair as positives
  against their negatives (P(d_i > -d_j)), 0.5 = no information.

Leakage is counted, not assumed away (the SNPs lie in GM12878 CTCF peaks, so the ChIP windows
may hold them): pair sequences (either allele, either strand) equal to a training window or
contained in a train-chromosome 201 bp record, and pairs sharing a 40 bp flank with one.

    python benchmarks/variant_effects.py --workdir runs/ve
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jaxssl.metrics import auroc  # noqa: E402
from jaxssl.tokens import N, decode, encode, reverse_complement  # noqa: E402
from jaxssl.toyworld.motifs import read_meme  # noqa: E402
from jaxssl.use.inputs import read_fasta  # noqa: E402
from jaxssl.use.output import read_tsv  # noqa: E402

VALID, TEST = {"chr7"}, {"chr8", "chr9"}
CTCF_MOTIFS = ("MA0139.2", "MA1929.2", "MA1930.2")
SEQ_LEN = 100  # the variant pairs' length


def run(cmd: list[str]) -> None:
    print("$", " ".join(shlex.quote(str(c)) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=REPO)


def pair_metrics(diff: np.ndarray) -> dict[str, float]:
    frac = float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))
    labels = np.concatenate([np.ones(len(diff)), np.zeros(len(diff))]).astype(np.float32)
    return {"binding_higher": frac, "auroc": float(auroc(labels, np.concatenate([diff, -diff])))}


def best_log_odds(llr_W4: np.ndarray, seq: bytes) -> float:
    """Best PWM log-odds (bits) over every position and both strands; N scores -inf."""
    tokens = encode(seq)
    width = len(llr_W4)
    with_n = np.concatenate([llr_W4, np.full((width, 1), -np.inf)], axis=1)
    rc = np.concatenate([llr_W4[::-1, ::-1], np.full((width, 1), -np.inf)], axis=1)
    n = len(tokens) - width + 1
    fwd, rev = np.zeros(n), np.zeros(n)
    for j in range(width):
        fwd += with_n[j][tokens[j : j + n]]
        rev += rc[j][tokens[j : j + n]]
    return float(max(fwd.max(), rev.max()))


# --- allele-specific binding (real data) -------------------------------------------------


def leakage(
    data: Path, shards: Path, pairs: dict[str, tuple[bytes, bytes]]
) -> tuple[dict[str, int], set[str]]:
    """How many pairs (either allele, either strand) the training data holds: as a whole
    training window, inside a train-chromosome 201 bp record, or by a 40 bp left flank; and
    the names of those inside a record."""
    from jaxssl.data.reader import load_split

    train = load_split(shards, "train")["tokens"]
    windows = {decode(t) for t in train} | {decode(reverse_complement(t)) for t in train}
    records = []
    for name in ("pos", "neg"):
        seqs = read_fasta(data / "chipseq" / f"CTCF_GM12878_hg19_{name}.fa.gz")
        for n, s in zip(seqs.names, seqs.sequences, strict=True):
            if n.rsplit("_", 1)[0] not in VALID | TEST:
                text = s.decode().upper()
                records += [text, decode(reverse_complement(encode(text)))]
    joined = "|".join(records)
    count = {"equal to a training window": 0, "inside a train-chromosome record": 0}
    count["sharing a 40 bp flank"] = 0
    held = set()
    for name, pair in pairs.items():
        seqs = [s.decode().upper() for s in pair]
        count["equal to a training window"] += any(s in windows for s in seqs)
        if any(s in joined for s in seqs):
            held.add(name)
        count["sharing a 40 bp flank"] += seqs[0][5:45] in joined
    count["inside a train-chromosome record"] = len(held)
    return count, held


def asb(args: argparse.Namespace) -> None:
    chip, variants = args.data / "chipseq", args.data / "variants"
    if not chip.is_dir() or not variants.is_dir():
        sys.exit(f"{args.data}: needs chipseq/ and variants/ (see ../shared/data/README.md)")
    began = time.perf_counter()
    shards = args.workdir / "shards"
    if not (shards / "manifest.json").is_file():
        run(
            [
                sys.executable,
                "-m",
                "data_prep",
                "from-fasta",
                shards,
                "--fasta",
                chip / "CTCF_GM12878_hg19_pos.fa.gz",
                "--fasta",
                chip / "CTCF_GM12878_hg19_neg.fa.gz",
                "--labels",
                "1,0",
                "--task-name",
                "CTCF",
                "--seq-len",
                SEQ_LEN,
                "--genome",
                "hg19",
            ]
        )
    run_dir = args.workdir / "ssl"
    stages = args.stages.split(",")
    config = [
        f"--config=configs/ctcf_ssl.py:{args.model}",
        f"--workdir={run_dir}",
        f"--config.data.path={shards}",
        f"--config.pretrain.data.extra_train={shards}:train",
        f"--config.seeds={args.seeds}",
        f"--config.pretrain.train.steps={args.pretrain_steps}",
        f"--config.finetune.train.steps={args.finetune_steps}",
    ]
    seeds = [int(s) for s in args.seeds.split(",")]
    finished = [run_dir / f"seed_{s}" / st / "done.json" for s in seeds for st in stages]
    if all(f.is_file() for f in finished):
        print(f"# {run_dir}: every stage and seed finished; reused (delete it to retrain)")
    else:
        run([sys.executable, "-m", "jaxssl.main", *config])
    trained = time.perf_counter() - began

    binding = variants / "CTCF_ASB_GM12878_binding.fa.gz"
    nonbinding = variants / "CTCF_ASB_GM12878_nonbinding.fa.gz"
    bind, nonb = read_fasta(binding), read_fasta(nonbinding)
    by_name = dict(zip(nonb.names, nonb.sequences, strict=True))
    pairs = {n: (s, by_name[n]) for n, s in zip(bind.names, bind.sequences, strict=True)}
    seen, held = leakage(args.data, shards, pairs)
    per_stage: dict[str, dict[str, list[float]]] = {}
    for stage in stages:
        for seed in seeds:
            out = args.workdir / f"asb_{stage}_seed{seed}.tsv"
            run(
                [
                    *(sys.executable, "-m", "jaxssl", "score-variants", "--model", run_dir),
                    *("--stage", stage, "--seed", seed, "--no-progress"),
                    *("--ref-fasta", nonbinding, "--alt-fasta", binding, "--out", out),
                ]
            )
            table = read_tsv(out)
            lor = np.asarray(table["log_odds_ratio_CTCF"], np.float64)
            m = pair_metrics(lor)
            clean = pair_metrics(lor[[n not in held for n in table["name"]]])
            d = pair_metrics(np.asarray(table["diff_CTCF"], np.float64))
            done = json.loads((run_dir / f"seed_{seed}" / stage / "done.json").read_text())
            test = done["metrics"]["test"]["CTCF"]
            rows = per_stage.setdefault(stage, {})
            for key, value in (
                ("binding higher", m["binding_higher"]),
                ("AUROC (log odds ratio)", m["auroc"]),
                ("AUROC (diff of p)", d["auroc"]),
                ("test AUROC", test["auroc"]),
                ("binding higher, unseen", clean["binding_higher"]),
                ("AUROC (LOR), unseen", clean["auroc"]),
                ("steps run", done["steps_run"]),
            ):
                rows.setdefault(key, []).append(float(value))

    motifs = {
        m.id: m
        for m in read_meme(args.data / "motifs" / "JASPAR2024_CORE_vertebrates_nonredundant.meme")
    }
    baseline = {}
    for motif_id in CTCF_MOTIFS:
        llr = motifs[motif_id].log_odds()
        diff = np.asarray(
            [
                best_log_odds(llr, s) - best_log_odds(llr, by_name[n])
                for n, s in zip(bind.names, bind.sequences, strict=True)
            ]
        )
        unseen = np.asarray([n not in held for n in bind.names])
        baseline[f"{motif_id} PWM"] = (pair_metrics(diff), pair_metrics(diff[unseen]))

    print(f"\n{len(pairs)} allele-specific CTCF SNP pairs (GM12878, Shi et al. 2016)")
    print("pairs held by the training data (either allele, either strand): " + str(seen))
    print(f"seeds {args.seeds}; mean ± sd over seeds")
    keys = ["binding higher", "AUROC (log odds ratio)", "AUROC (diff of p)", "test AUROC"]
    keys += ["binding higher, unseen", "AUROC (LOR), unseen"]
    print(f"unseen: the {len(pairs) - len(held)} pairs in no train-chromosome record")
    print(f"{'scorer':<20}" + "".join(f"{k:>24}" for k in keys))
    for stage, rows in per_stage.items():
        cells = "".join(
            f"{np.mean(rows[k]):>16.3f} ± {np.std(rows[k], ddof=1) if len(rows[k]) > 1 else 0:.3f}"
            for k in keys
        )
        print(f"{stage:<20}{cells}")
        for k in keys[:2]:
            print(f"{'':<20}{k} per seed: {', '.join(f'{v:.3f}' for v in rows[k])}")
    for name, (m, u) in baseline.items():
        cells = [m["binding_higher"], m["auroc"], np.nan, np.nan, u["binding_higher"], u["auroc"]]
        print(f"{name:<20}" + "".join(f"{c:>24.3f}" for c in cells))
    print(f"wall time {time.perf_counter() - began:.0f} s (training {trained:.0f} s)")


# --- planted truth (toy world) -----------------------------------------------------------


def _region_sites(region: np.ndarray, lo: int, models: dict) -> dict[str, set[int]]:
    """Bound-site starts of every TF in a region starting at ``lo`` (genome coordinates), by
    the world's occupancy rule."""
    from jaxssl.toyworld import binding

    part = {"x": region}
    return {
        tf: {int(s) + lo for s in binding.call_sites(part, m).start} for tf, m in models.items()
    }


def toy_variants(world: Path, chrom: str, seq_len: int, per_tf: int, seed: int) -> list[tuple]:
    """(pos0, ref, alt, tf, kind) rows: an SNV destroying each bound site of chrom (by the
    world's truth) and a matched random SNV in the same window; see the module docstring."""
    from jaxssl.genome.fasta import Genome
    from jaxssl.toyworld.world import binding_models, load_world_info

    rng = np.random.default_rng(seed)
    info = load_world_info(world)
    models = binding_models(info)
    genome = Genome(world / "genomes" / f"{info['reference']}.fa")
    seq = genome.chromosome(chrom)
    genome.close()
    truth = {}
    for tf in models:
        rows = [
            line.split("\t")
            for line in (world / "truth" / info["reference"] / f"{tf}.bed").read_text().splitlines()
        ]
        truth[tf] = [(int(r[1]), int(r[2])) for r in rows if r[0] == chrom]
    busy = np.zeros(len(seq), bool)  # inside (or 3 bp beside) any bound site of any TF
    for sites in truth.values():
        for start, end in sites:
            busy[max(start - 3, 0) : end + 3] = True
    ctx = 400  # the rule looks at most GC_WINDOW + COFACTOR_WINDOW (+ width) bp away
    out, dropped = [], 0
    for tf, model in models.items():
        sites = truth[tf]
        picked = rng.permutation(len(sites))[: per_tf * 2]
        kept = 0
        for k in picked:
            if kept == per_tf:
                break
            start, end = sites[k]
            lo, hi = max(start - ctx, 0), min(end + ctx, len(seq))
            if lo + ctx != start or hi - ctx != end:
                continue
            before = _region_sites(seq[lo:hi], lo, models)
            window = seq[start:end]
            base_score = model.scorer.score_windows(window[None])[0]
            best = (base_score, -1, -1)
            for j in range(end - start):
                for b in range(4):
                    if b != window[j]:
                        mutated = window.copy()
                        mutated[j] = b
                        score = model.scorer.score_windows(mutated[None])[0]
                        best = min(best, (score, j, b))
            _, j, b = best
            pos = start + j
            alt_seq = seq[lo:hi].copy()
            alt_seq[pos - lo] = b
            after = _region_sites(alt_seq, lo, models)
            if after[tf] & set(range(start - model.motif.width + 1, end)):
                dropped += 1
                continue
            # A matched control in the same model window, changing no TF's bound sites.
            centre = (start + end) // 2
            for _ in range(50):
                c = int(rng.integers(centre - seq_len // 2 + 1, centre + seq_len // 2))
                if busy[c] or seq[c] >= N:
                    continue
                cb = int(rng.choice([x for x in range(4) if x != seq[c]]))
                ctrl = seq[lo:hi].copy()
                ctrl[c - lo] = cb
                if _region_sites(ctrl, lo, models) == before:
                    break
            else:
                continue
            out.append((pos, "ACGT"[seq[pos]], "ACGT"[b], tf, "destroy"))
            out.append((c, "ACGT"[seq[c]], "ACGT"[cb], tf, "random"))
            kept += 1
    print(
        f"# {chrom}: {len(out) // 2} destroyed bound sites + as many matched random SNVs "
        f"({dropped} sites skipped: still bound after the best single substitution)"
    )
    return sorted(out)


def toy_world_of(model_dir: Path) -> dict:
    """The toy world (config.data.toy_world) a run or stage directory was trained on."""
    for path in (model_dir / "stage_config.json", model_dir / "config.json"):
        if path.is_file():
            stored = json.loads(path.read_text())
            if "config" in stored:  # a stage's flat "a.b.c" keys
                flat = stored["config"]
                prefix = "data.toy_world."
                toy = {k[len(prefix) :]: v for k, v in flat.items() if k.startswith(prefix)}
                data = {"path": flat.get("data.path", ""), "toy_world": toy}
            else:
                data = stored["data"]
            if data.get("path"):
                sys.exit(f"{model_dir} was trained on {data['path']}, not on the toy world")
            return data["toy_world"]
    sys.exit(f"{model_dir}: no config.json or stage_config.json; not a jaxssl run or stage")


def toy(args: argparse.Namespace) -> None:
    from jaxssl.toy_data import TEST_CHROMS, toy_world_dir
    from jaxssl.use.model import load_model

    began = time.perf_counter()
    model_dir = args.model_dir
    if model_dir is None and (args.workdir / "supervised" / "supervised" / "done.json").is_file():
        model_dir = args.workdir / "supervised"
        print(f"# {model_dir}: finished; reused (delete it to retrain)")
    elif model_dir is None:
        model_dir = args.workdir / "supervised"
        run(
            [
                *(
                    sys.executable,
                    "-m",
                    "jaxssl.main",
                    f"--config=configs/supervised.py:{args.model}",
                ),
                f"--workdir={model_dir}",
                f"--config.train.steps={args.toy_steps}",
                "--config.train.progress_bar=False",
            ]
        )
    model = load_model(model_dir)
    world = toy_world_dir(toy_world_of(Path(model_dir)))
    rows = toy_variants(world, TEST_CHROMS, model.seq_len, args.per_tf, args.seed)
    vcf = args.workdir / "toy_variants.vcf"
    vcf.parent.mkdir(parents=True, exist_ok=True)
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [
        f"{TEST_CHROMS}\t{pos + 1}\t{tf}_{kind}_{i}\t{ref}\t{alt}\t.\tPASS\t."
        for i, (pos, ref, alt, tf, kind) in enumerate(rows)
    ]
    vcf.write_text("\n".join(lines) + "\n")
    out = args.workdir / "toy_scores.tsv"
    genome = world / "genomes" / "ref.fa"
    run(
        [
            *(sys.executable, "-m", "jaxssl", "score-variants", "--model", model_dir),
            *("--vcf", vcf, "--genome", genome, "--out", out, "--no-progress"),
        ]
    )
    table = read_tsv(out)
    ids = table["id"]
    tf_of = [i.split("_")[0] for i in ids]
    positive = np.asarray(["_destroy_" in i for i in ids])
    own = np.asarray([abs(float(table[f"diff_{tf}"][r])) for r, tf in enumerate(tf_of)])
    print(
        f"\nAUROC of |alt - ref| (own TF's task): destroyed bound motif vs random SNV, {model_dir}"
    )
    print(f"{'TF':<8}{'destroy':>9}{'random':>8}{'AUROC':>8}{'median |diff| destroy/random':>32}")
    for tf in [*dict.fromkeys(tf_of), "all"]:
        sel = np.ones(len(ids), bool) if tf == "all" else np.asarray([t == tf for t in tf_of])
        pos, neg = own[sel & positive], own[sel & ~positive]
        a = auroc(positive[sel].astype(np.float32), own[sel])
        print(
            f"{tf:<8}{len(pos):>9}{len(neg):>8}{a:>8.3f}"
            f"{np.median(pos):>20.4f} / {np.median(neg):.4f}"
        )
    print(f"wall time {time.perf_counter() - began:.0f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--toy", action="store_true", help="planted-truth check on the toy world")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--model", default="deepbind", help="architecture to train")
    p.add_argument("--seeds", default="0,1,2", help="allele-specific binding: seeds to train")
    p.add_argument(
        "--stages",
        default="finetune,scratch",
        help="allele-specific binding: stages of configs/ctcf_ssl.py to score",
    )
    p.add_argument("--pretrain-steps", type=int, default=3000)
    p.add_argument("--finetune-steps", type=int, default=3000)
    p.add_argument("--model-dir", type=Path, help="--toy: reuse this trained run/stage")
    p.add_argument("--toy-steps", type=int, default=2000, help="--toy: training steps")
    p.add_argument("--per-tf", type=int, default=100, help="--toy: destroyed sites per TF")
    p.add_argument("--seed", type=int, default=0, help="--toy: variant sampling seed")
    args = p.parse_args()
    if args.workdir is None:
        args.workdir = REPO / "runs" / ("ve_toy" if args.toy else "ve")
    (toy if args.toy else asb)(args)


if __name__ == "__main__":
    main()
