"""Variant effects against allele-specific binding: does the binding allele score higher?

Real data (``../shared/data``, see its README): a CTCF model is trained on GM12878 CTCF ChIP-seq
windows (4,000 peaks vs 4,536 matched background; 201 bp, centre-cropped to the 100 bp of the
variant pairs; chromosome splits from the ``chrN_i`` headers: valid chr7, test chr8 + chr9),
then ``python -m jaxssl score-variants`` scores 396 CTCF allele-specific binding SNPs in paired
mode (reference = non-binding allele, alternative = binding allele). Reported, for the model
and for a motif-only baseline (the JASPAR CTCF PWM's best log-odds over both strands):

- the fraction of pairs where the binding allele scores higher (ties count half),
- the AUROC of the difference: binding-minus-non-binding scores of every pair as positives
  against their negatives (P(d_i > -d_j)), 0.5 = no information.

Every command it runs is printed; the data preparation is the Python below (no from-fasta verb
yet). Also counted: pairs whose flanking sequence occurs in the training windows (the SNPs lie
in GM12878 CTCF peaks, so the model may have seen one allele's neighbourhood in training).

    python benchmarks/variant_effects.py --workdir runs/variant_effects --steps 1500
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jaxssl.data.writer import ShardSetWriter  # noqa: E402
from jaxssl.metrics import auroc  # noqa: E402
from jaxssl.tokens import N, encode  # noqa: E402
from jaxssl.toyworld.motifs import read_meme  # noqa: E402
from jaxssl.use.inputs import read_fasta  # noqa: E402
from jaxssl.use.output import read_tsv  # noqa: E402

VALID, TEST = {"chr7"}, {"chr8", "chr9"}
CTCF_MOTIFS = ("MA0139.2", "MA1929.2", "MA1930.2")


def run(cmd: list[str]) -> None:
    print("$", " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def build_shards(data: Path, out: Path, seq_len: int) -> None:
    """Peak (1) and background (0) windows, centre-cropped, split by the header's chromosome."""
    print(f"# shard set {out}: {data}/chipseq/*.fa.gz centre-cropped to {seq_len} bp", flush=True)
    with ShardSetWriter(
        out, seq_len=seq_len, task_names=["CTCF"], command="benchmarks/variant_effects.py"
    ) as writer:
        for label, name in ((1.0, "pos"), (0.0, "neg")):
            seqs = read_fasta(data / "chipseq" / f"CTCF_GM12878_hg19_{name}.fa.gz")
            chroms = np.asarray([n.rsplit("_", 1)[0] for n in seqs.names])
            lo = (len(seqs.sequences[0]) - seq_len) // 2
            tokens = np.stack([encode(s[lo : lo + seq_len]) for s in seqs.sequences])
            for split in ("train", "valid", "test"):
                held = VALID if split == "valid" else TEST if split == "test" else VALID | TEST
                keep = np.isin(chroms, list(held)) != (split == "train")
                n = int(keep.sum())
                writer.add_batch(
                    split,
                    tokens[keep],
                    np.full((n, 1), label, np.float32),
                    genome="hg19",
                    chrom=list(chroms[keep]),
                )


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


def seen_in_training(shards: Path, binding: list[bytes]) -> int:
    """Pairs whose 40 bp left flank (before the SNP) occurs verbatim in a training window."""
    from jaxssl.data.reader import load_split
    from jaxssl.tokens import decode

    train = load_split(shards, "train")["tokens"]
    text = "|".join(decode(t) for t in train)
    rc = "|".join(decode(np.where(t < N, 3 - t, t)[::-1]) for t in train)
    return sum((s[5:45].decode() in text) or (s[5:45].decode() in rc) for s in binding)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--workdir", type=Path, default=REPO / "runs" / "variant_effects")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--model", default="deepbind")
    args = p.parse_args()
    variants = args.data / "variants"
    if not (args.data / "chipseq").is_dir() or not variants.is_dir():
        sys.exit(f"{args.data}: needs chipseq/ and variants/ (see ../shared/data/README.md)")
    seq_len = 100
    shards = args.workdir / "shards"
    if not (shards / "manifest.json").is_file():
        build_shards(args.data, shards, seq_len)
    run_dir = args.workdir / "supervised"
    train = [sys.executable, "-m", "jaxssl.main", f"--config=configs/supervised.py:{args.model}"]
    run(
        [
            *train,
            f"--workdir={run_dir}",
            f"--config.data.path={shards}",
            f"--config.train.steps={args.steps}",
            "--config.train.eval_every=250",
            "--config.train.progress_bar=False",
        ]
    )
    binding = variants / "CTCF_ASB_GM12878_binding.fa.gz"
    nonbinding = variants / "CTCF_ASB_GM12878_nonbinding.fa.gz"
    out = args.workdir / "asb_scores.tsv"
    score = [sys.executable, "-m", "jaxssl", "score-variants", "--model", str(run_dir)]
    run([*score, "--ref-fasta", str(nonbinding), "--alt-fasta", str(binding), "--out", str(out)])
    table = read_tsv(out)
    model_diff = np.asarray(table["diff_CTCF"], np.float64)
    model_lor = np.asarray(table["log_odds_ratio_CTCF"], np.float64)
    results = {
        "model (diff of p)": pair_metrics(model_diff),
        "model (log odds ratio)": pair_metrics(model_lor),
    }

    motifs = {
        m.id: m
        for m in read_meme(args.data / "motifs" / "JASPAR2024_CORE_vertebrates_nonredundant.meme")
    }
    bind, nonb = read_fasta(binding), read_fasta(nonbinding)
    by_name = dict(zip(nonb.names, nonb.sequences, strict=True))
    for motif_id in CTCF_MOTIFS:
        llr = motifs[motif_id].log_odds()
        diff = np.asarray(
            [
                best_log_odds(llr, s) - best_log_odds(llr, by_name[n])
                for n, s in zip(bind.names, bind.sequences, strict=True)
            ]
        )
        results[f"motif {motif_id} {motifs[motif_id].name} (diff of best log-odds)"] = pair_metrics(
            diff
        )
    seen = seen_in_training(shards, bind.sequences)
    print(f"\n{len(model_diff)} allele-specific CTCF SNP pairs (GM12878, Shi et al. 2016)")
    print(f"pairs whose 40 bp left flank occurs in a training window: {seen}")
    print(f"{'scorer':<55} {'binding higher':>15} {'AUROC':>7}")
    for name, m in results.items():
        print(f"{name:<55} {m['binding_higher']:>15.3f} {m['auroc']:>7.3f}")
    done = run_dir / "supervised" / "done.json"
    if done.is_file():
        test = json.loads(done.read_text())["metrics"]["test"]["CTCF"]
        print(
            f"model test split (chr8, chr9): AUROC {test['auroc']:.3f}, AUPRC {test['auprc']:.3f}"
        )


if __name__ == "__main__":
    main()
