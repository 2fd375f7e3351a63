"""The GUE recipe's pieces: the reverse-complement gate, the seed ensemble, the k-mer floor,
and `benchmarks/gue.py --all` end to end on two tiny synthetic tasks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxssl.kmer_baseline import fit_logistic, kmer_floor, kmer_frequencies, predict_logistic
from jaxssl.models import build_model, count_params
from jaxssl.models.rescnn import bin_edges, other_strand
from jaxssl.tokens import reverse_complement
from jaxssl.train_state import split_model
from jaxssl.use.model import LoadedModel, Predictor
from tests.benchmark_module import load_benchmark

REPO = Path(__file__).resolve().parents[1]
SMALL = {"channels": 16, "dilations": (1, 2), "pool": "mean_max", "norm": "layer"}


def _tokens(n: int, length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 5, (n, length)).astype(np.uint8)


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_rc_gate_gives_one_output_for_a_window_and_its_reverse_complement(norm):
    model = build_model(
        "rescnn", num_outputs=3, seq_len=40, rngs=nnx.Rngs(0), **SMALL | {"norm": norm}
    )
    model_rc = build_model(
        "rescnn", num_outputs=3, seq_len=40, rngs=nnx.Rngs(0), **SMALL | {"rc_gate": True}
    )
    tokens = _tokens(6, 40)
    rc = reverse_complement(tokens)
    gated = build_model(
        "rescnn",
        num_outputs=3,
        seq_len=40,
        rngs=nnx.Rngs(0),
        **SMALL | {"norm": norm, "rc_gate": True},
    )
    out, out_rc = gated(jnp.asarray(tokens)), gated(jnp.asarray(rc))
    assert out.shape == (6, 3)
    np.testing.assert_allclose(np.asarray(out), np.asarray(out_rc), atol=1e-5)
    seq, pooled = gated.features(jnp.asarray(tokens))
    assert seq.shape == (6, 40, 16) and pooled.shape == (6, 32)
    # Without the gate the same architecture is not strand-symmetric.
    plain = model(jnp.asarray(tokens)) - model(jnp.asarray(rc))
    assert float(jnp.abs(plain).max()) > 1e-3
    # One gate convolution (16 x 16 x 3 + 16) per block.
    assert count_params(model_rc) - count_params(model) == 2 * (16 * 16 * 3 + 16)


def test_rc_gate_training_mode_is_strand_symmetric_too():
    gated = build_model(
        "rescnn",
        num_outputs=1,
        seq_len=30,
        rngs=nnx.Rngs(1),
        **SMALL | {"rc_gate": True, "norm": "batch", "dropout": 0.0},
    )
    tokens = _tokens(4, 30, seed=1)
    rngs = nnx.Rngs(dropout=0)
    a = gated(jnp.asarray(tokens), deterministic=False, rngs=rngs)
    b = gated(jnp.asarray(reverse_complement(tokens)), deterministic=False, rngs=rngs)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_edge_pad_equals_n_padded_input_and_crops_the_features():
    kwargs = SMALL | {"edge_pad": 16}
    padded = build_model("rescnn", num_outputs=1, seq_len=70, rngs=nnx.Rngs(0), **kwargs)
    plain = build_model("rescnn", num_outputs=1, seq_len=102, rngs=nnx.Rngs(0), **SMALL)
    tokens = _tokens(3, 70, seed=3)
    n_padded = np.pad(tokens, ((0, 0), (16, 16)), constant_values=4)  # 4 = N
    np.testing.assert_allclose(
        np.asarray(padded(jnp.asarray(tokens))), np.asarray(plain(jnp.asarray(n_padded))), atol=1e-6
    )
    seq, _ = padded.features(jnp.asarray(tokens))
    full, _ = plain.features(jnp.asarray(n_padded))
    assert seq.shape == (3, 70, 16)
    np.testing.assert_allclose(np.asarray(seq), np.asarray(full)[:, 16:86], atol=1e-6)
    with pytest.raises(ValueError, match="edge_pad must be >= 0"):
        build_model("rescnn", num_outputs=1, seq_len=70, rngs=nnx.Rngs(0), edge_pad=-1)


def test_pool_bins_pool_each_stretch_of_the_window_on_its_own():
    binned = build_model(
        "rescnn", num_outputs=1, seq_len=70, rngs=nnx.Rngs(0), **SMALL | {"pool_bins": 3}
    )
    whole = build_model("rescnn", num_outputs=1, seq_len=70, rngs=nnx.Rngs(0), **SMALL)
    tokens = jnp.asarray(_tokens(5, 70, seed=4))
    seq, pooled = binned.features(tokens)
    assert seq.shape == (5, 70, 16) and pooled.shape == (5, 3 * 32)
    h = np.asarray(seq)
    by_hand = np.concatenate(
        [np.concatenate([h[:, a:b].mean(1), h[:, a:b].max(1)], -1) for a, b in bin_edges(70, 3)],
        -1,
    )
    np.testing.assert_allclose(
        np.asarray(pooled), np.asarray(binned.pool_norm(jnp.asarray(by_hand))), atol=1e-5
    )
    # Same trunk weights, one bin: the whole-window model (only head and pool norm widen).
    np.testing.assert_allclose(h, np.asarray(whole.features(tokens)[0]), atol=1e-6)
    # Two more bins of 32 pooled features: pool LayerNorm scale and bias, one head weight each.
    assert count_params(binned) - count_params(whole) == 2 * 64 + 64
    assert bin_edges(70, 3) == [(0, 23), (23, 47), (47, 70)]
    assert bin_edges(5, 5) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    with pytest.raises(ValueError, match="pool_bins must be >= 1"):
        build_model("rescnn", num_outputs=1, seq_len=70, rngs=nnx.Rngs(0), pool_bins=0)
    with pytest.raises(ValueError, match="pool_bins > 1 with rc_gate"):
        build_model(
            "rescnn", num_outputs=1, seq_len=70, rngs=nnx.Rngs(0), pool_bins=2, rc_gate=True
        )
    with pytest.raises(ValueError, match="pool_bins=8 is more than the 4 positions"):
        build_model(
            "rescnn", num_outputs=1, seq_len=4, rngs=nnx.Rngs(0), **SMALL | {"pool_bins": 8}
        )(jnp.asarray(_tokens(1, 4)))


def test_other_strand_pairs_each_row_with_its_partner_base_by_base():
    h = jnp.arange(2 * 2 * 3 * 1, dtype=jnp.float32).reshape(4, 3, 1)  # rows f0, f1, r0, r1
    out = np.asarray(other_strand(h))[..., 0]
    np.testing.assert_array_equal(out[0], np.asarray(h)[2, ::-1, 0])
    np.testing.assert_array_equal(out[3], np.asarray(h)[1, ::-1, 0])


def _member(seed: int):
    model = build_model("rescnn", num_outputs=2, seq_len=24, rngs=nnx.Rngs(seed), **SMALL)
    graphdef, params, rest = split_model(model)
    spec = {"name": "rescnn", "seq_len": 24, "num_outputs": 2, "task_names": ["a", "b"]}
    return graphdef, rest, params, spec


def test_seed_ensemble_is_the_mean_of_its_members():
    graphdef, rest, p0, spec = _member(0)
    _, _, p1, _ = _member(1)
    tokens = _tokens(11, 24, seed=2)
    singles = [
        Predictor(
            LoadedModel([Path("m")], spec, graphdef, rest, [p]), batch_size=4, progress=False
        )(tokens)
        for p in (p0, p1)
    ]
    assert np.abs(singles[0] - singles[1]).max() > 1e-3  # distinct members
    both = LoadedModel([Path("m0"), Path("m1")], spec, graphdef, rest, [p0, p1])
    mean = Predictor(both, batch_size=4, progress=False)(tokens)
    assert mean.shape == (11, 2)
    np.testing.assert_allclose(mean, (singles[0] + singles[1]) / 2, rtol=1e-5, atol=1e-6)


def test_kmer_frequencies_count_words_and_skip_n():
    tokens = np.array([[0, 0, 1, 4, 3]], np.uint8)  # A A C N T
    feats = kmer_frequencies(tokens, max_k=2)
    assert feats.shape == (1, 4 + 16)
    np.testing.assert_allclose(feats[0, :4], [2 / 4, 1 / 4, 0, 1 / 4])
    pairs = feats[0, 4:]  # AA and AC; the pairs with N are skipped
    assert pairs[0] == pytest.approx(0.5) and pairs[1] == pytest.approx(0.5)
    assert pairs.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="expected tokens"):
        kmer_frequencies(np.zeros(5, np.uint8))


def test_logistic_regression_fits_a_separable_rule():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] - x[:, 1] > 0).astype(np.float64)
    w = fit_logistic(x, y, l2=1e-3)
    assert np.mean((predict_logistic(w, x) > 0.5) == y) > 0.97
    assert w[0] > 0 > w[1]


def _planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (n, 30)).astype(np.uint8)
    labels = (rng.random(n) < 0.5).astype(np.float32)
    motif = np.array([2, 0, 3, 0, 2, 2], np.uint8)  # GATAGG
    for i in np.flatnonzero(labels):
        start = rng.integers(0, 24)
        tokens[i, start : start + 6] = motif
    return tokens, labels[:, None]


def test_kmer_floor_finds_a_planted_word_and_chooses_l2_on_valid():
    result = kmer_floor(_planted(300, 0), _planted(150, 1), _planted(150, 2), max_k=3)
    assert result.l2 in (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    assert result.valid["mcc"] > 0.6 and result.test["mcc"] > 0.6


def _write_task(folder: Path, seed: int) -> None:
    folder.mkdir(parents=True)
    alphabet = np.array(list("ACGT"))
    for split, n in (("train", 256), ("dev", 64), ("test", 64)):
        tokens, labels = _planted(n, seed * 10 + len(split))
        rows = ["sequence,label"] + [
            f"{''.join(alphabet[t])},{int(y[0])}" for t, y in zip(tokens, labels, strict=True)
        ]
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n")


@pytest.mark.slow
def test_gue_benchmark_all_runs_every_task_with_ensemble_and_floor(tmp_path):
    gue = tmp_path / "gue"
    _write_task(gue / "task_a", 1)
    _write_task(gue / "task_b", 2)
    (gue / "not_a_task").mkdir()
    out = tmp_path / "bench"
    cmd = [
        sys.executable, "benchmarks/gue.py", "--workdir", str(out), "--all", "--gue", str(gue),
        "--seeds", "0,1", "--size", "tiny", "--epochs", "2", "--min-steps", "0",
        "--batch-size", "32", "--strand", "dev", "--",
        "--config.model.hparams.channels=8", "--config.model.hparams.dilations=1,2",
        "--config.eval.batch_size=64",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "gue_benchmark.json").read_text())
    rows = {row["task"]: row for row in summary["tasks"]}
    assert sorted(rows) == ["task_a", "task_b"]
    for row in rows.values():
        assert row["seeds"] == 2 and len(row["test_mcc"]) == 2
        # The strand mode was chosen on the first seed's dev MCC, both modes tried.
        assert sorted(row["strand_dev_mcc"]) == ["oriented", "symmetric"]
        best = max(row["strand_dev_mcc"].values())
        assert row["strand_dev_mcc"][row["strand"]] == best
        assert (out / f"tiny_{row['task']}_{row['strand']}" / "seed_1").is_dir()
        assert row["ensemble"]["members"] == 2
        assert -100 <= row["ensemble"]["test"]["mcc"] <= 100
        assert row["kmer_floor"]["test_mcc"] > 50  # the planted word is easy for k-mers
    table = (out / "gue_benchmark.md").read_text()
    assert "seed ensemble" in table and "task_a" in table and "k-mer floor" in table
    assert (out / "gue_benchmark.png").stat().st_size > 5_000
    header, rule, *body = table.splitlines()
    assert header.count("|") == rule.count("|") == body[0].count("|")  # one cell per column
    pairs = zip(row["best_step"], row["steps_run"], strict=True)
    best_steps = ", ".join(f"{b}/{n}" for b, n in pairs)
    assert any(best_steps in line for line in body)

    # --table-only trains nothing: the same table from the finished runs; an unfinished seed
    # leaves its task out, named on stderr; a task added since is named, not converted.
    (out / "gue_benchmark.md").unlink()
    _write_task(gue / "task_c", 3)
    split = cmd.index("--")
    table_only = [*cmd[:split], "--table-only", *cmd[split:]]
    proc = subprocess.run(table_only, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "gue_benchmark.md").read_text() == table
    assert "task_c: not converted" in proc.stderr
    assert not (out / "shards" / "task_c").exists()
    more_seeds = [("0,1,2" if c == "0,1" else c) for c in table_only]
    proc = subprocess.run(more_seeds, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tiny_task_a_" in proc.stderr and "seed(s) 2 not finished" in proc.stderr
    assert not (out / "tiny_task_a_symmetric" / "seed_2").exists()  # nothing was trained
    summary = json.loads((out / "gue_benchmark.json").read_text())
    assert summary["tasks"] == [] and len(summary["left_out"]) == 3
    # A --run-name writes its own table: the protocol's is not replaced.
    protocol_table = (out / "gue_benchmark.md").read_text()
    probe = [*table_only[:split], "--run-name", "_probe", *table_only[split:]]
    proc = subprocess.run(probe, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(json.loads((out / "gue_benchmark_probe.json").read_text())["left_out"]) == 3
    assert (out / "gue_benchmark.md").read_text() == protocol_table


def test_schedule_is_eight_epochs_with_a_step_floor_for_small_splits(tmp_path):
    bench = load_benchmark("gue")
    for name, count in (("small", 4904), ("large", 47356)):
        (tmp_path / name).mkdir()
        manifest = {"splits": {"train": {"count": count}}}
        (tmp_path / name / "manifest.json").write_text(json.dumps(manifest))
    flags, steps = bench.schedule_flags(tmp_path / "small", 8.0, 128, min_steps=1560)
    assert steps == 1560  # 8 epochs would be 312 steps: the floor wins
    assert "--config.train.warmup_steps=468" in flags
    assert "--config.train.eval_every=19" in flags  # half an epoch of 39 batches
    _, steps = bench.schedule_flags(tmp_path / "large", 8.0, 128, min_steps=1560)
    assert steps == 8 * 370  # 47,356 / 128 -> 370 batches per epoch
    args = bench.parse_args(["--workdir", "w", "--quick"])
    assert (args.epochs, args.min_steps) == (2.0, 0)
    args = bench.parse_args(["--workdir", "w"])
    assert (args.epochs, args.min_steps) == (8.0, 1560)


def _write_101bp_task(folder: Path, seed: int) -> None:
    """A planted-word task of 101-bp windows (the pre-training corpus's length)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", 256), ("dev", 64), ("test", 64)):
        tokens = rng.integers(0, 4, (n, 101))
        labels = rng.random(n) < 0.5
        for i in np.flatnonzero(labels):
            start = rng.integers(0, 95)
            tokens[i, start : start + 6] = [2, 0, 3, 0, 2, 2]  # GATAGG
        rows = ["sequence,label"] + [
            f"{''.join('ACGT'[t] for t in row)},{int(y)}"
            for row, y in zip(tokens, labels, strict=True)
        ]
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n")


@pytest.mark.slow
def test_gue_self_distill_controls_with_the_gue_benchmark_runs_themselves(tmp_path):
    """The scratch arm is benchmarks/gue.py's finished run (reused, not retrained); the
    fine-tuned arm has the same flags plus the pre-trained backbone."""
    gue = tmp_path / "gue"
    _write_101bp_task(gue / "task_a", 1)
    out = tmp_path / "bench"
    common = [
        "--workdir", str(out), "--gue", str(gue), "--tasks", "task_a", "--seeds", "0,1",
        "--size", "tiny", "--epochs", "2", "--min-steps", "0", "--batch-size", "32",
    ]  # fmt: skip
    tiny = ["--config.model.hparams.channels=8", "--config.model.hparams.dilations=1,2",
            "--config.eval.batch_size=64"]  # fmt: skip
    bench = [sys.executable, "benchmarks/gue.py", *common, "--no-kmer", "--", *tiny]
    proc = subprocess.run(bench, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table_row = json.loads((out / "gue_benchmark.json").read_text())["tasks"][0]
    scratch = out / "tiny_task_a_symmetric"
    done = {s: (scratch / f"seed_{s}" / "gue" / "done.json").stat().st_mtime_ns for s in (0, 1)}

    pre = ["--config.pretrain.train.warmup_steps=1", "--config.pretrain.train.eval_every=2",
           "--config.pretrain.train.checkpoint_every=2"]  # fmt: skip
    sd = [sys.executable, "benchmarks/gue_self_distill.py", *common, "--pretrain-steps", "4",
          "--fasta", "", "--", *tiny, *pre]  # fmt: skip
    split = sd.index("--")
    only = [*sd[:split], "--pretrain-only", *sd[split:]]
    proc = subprocess.run(only, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pretrained = out / "pretrain_tiny" / "seed_0" / "pretrain"
    assert (pretrained / "done.json").exists()
    assert not (out / "tiny_task_a_symmetric_sd").exists()  # --pretrain-only: no task
    corpus = json.loads((out / "corpus" / "manifest.json").read_text())["metadata"]
    assert corpus["counts"]["written"] == 256  # the train split only: --fasta '' adds none

    proc = subprocess.run(sd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for s in (0, 1):  # the control was read, not retrained
        assert (scratch / f"seed_{s}" / "gue" / "done.json").stat().st_mtime_ns == done[s]
    stage = json.loads((out / "tiny_task_a_symmetric_sd" / "seed_1" / "gue" /
                        "stage_config.json").read_text())  # fmt: skip
    assert str(pretrained) in json.dumps(stage)
    row = json.loads((out / "gue_self_distill.json").read_text())["tasks"][0]
    assert row["test_mcc"]["scratch"] == pytest.approx(table_row["test_mcc"])
    diff = np.subtract(row["test_mcc"]["finetune"], row["test_mcc"]["scratch"])
    assert row["paired_difference"] == pytest.approx(list(diff))
    assert row["wins"] == int(np.sum(diff > 0))
    paired = row["paired"]
    assert paired["mean"] == pytest.approx(float(np.mean(diff)))
    assert paired["low"] <= paired["mean"] <= paired["high"]
    assert paired["word"] in ("wins", "ties", "loses")
    for arm in ("scratch", "finetune"):
        assert len(row["early_dev_mcc"][arm]) == 2
        assert all(-100 <= v <= 100 for v in row["early_dev_mcc"][arm])
    assert "task_a" in (out / "gue_self_distill.md").read_text()


def test_early_dev_mcc_is_the_best_evaluation_in_the_first_tenth(tmp_path):
    bench = load_benchmark("gue_self_distill")
    stage = tmp_path / "seed_0" / "gue"
    stage.mkdir(parents=True)
    records = [{"step": 10, "split": "train", "loss": 0.7}]
    records += [{"step": s, "split": "valid", "mean_mcc": m} for s, m in
                ((10, 0.2), (20, 0.5), (30, 0.1), (200, 0.9))]  # fmt: skip
    (stage / "metrics.jsonl").write_text("\n".join(map(json.dumps, records)) + "\n")
    assert bench.early_dev_mcc(tmp_path, [0], max_steps=200) == [pytest.approx(50.0)]
    # No evaluation inside the first tenth: the first one stands in.
    assert bench.early_dev_mcc(tmp_path, [0], max_steps=50) == [pytest.approx(20.0)]
