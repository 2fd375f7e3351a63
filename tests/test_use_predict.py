"""`python -m jaxssl predict`: the trainer's own numbers, length handling, model resolution."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxssl import metrics as metrics_lib
from jaxssl.__main__ import main
from jaxssl.evaluate import predict_split
from jaxssl.predict import make_predict_fn
from jaxssl.sharding import batch_sharding, make_mesh, replicated
from jaxssl.teacher import load_trained_model
from jaxssl.tokens import N, decode, encode
from jaxssl.use import lengths
from jaxssl.use.inputs import SequenceSet
from jaxssl.use.model import Predictor, load_model, resolve_stage_dirs
from jaxssl.use.output import read_tsv
from jaxssl.use.score import score_sequences
from tests.use_model import trained_run


@pytest.fixture(scope="module")
def run() -> tuple[Path, Path]:
    return trained_run()


def test_predict_on_shards_equals_the_trainers_evaluation(run, tmp_path):
    data, run_dir = run
    out = tmp_path / "pred.tsv"
    argv = ["predict", "--model", str(run_dir), "--shards", str(data), "--split", "test"]
    assert main([*argv, "--out", str(out), "--batch-size", "48", "--no-progress"]) == 0
    table = read_tsv(out)
    got = np.asarray([table["p_ap1"], table["p_ebox"]], np.float64).T

    stage = run_dir / "supervised"
    graphdef, rest, params, _ = load_trained_model(stage)
    mesh = make_mesh()
    fn = jax.jit(
        make_predict_fn(graphdef, rest, loss_type="binary", rc_average=True),
        in_shardings=(replicated(mesh), batch_sharding(mesh)),
        out_shardings=batch_sharding(mesh),
    )
    expected = predict_split(fn, params, data, "test", batch_size=64, mesh=mesh)
    np.testing.assert_allclose(got, expected.probs, rtol=1e-6, atol=1e-7)
    # ... and so the trainer's reported test AUROC follows from the written table.
    done = json.loads((stage / "done.json").read_text())
    labels = np.asarray(table["label_ap1"], np.float32)
    auroc = metrics_lib.binary_task_metrics(labels, got[:, 0].astype(np.float32))["auroc"]
    assert auroc == pytest.approx(done["metrics"]["test"]["ap1"]["auroc"], abs=1e-6)


def test_tile_starts_cover_the_sequence_end_to_end():
    assert lengths.tile_starts(100, 40, 30) == [0, 30, 60]
    assert lengths.tile_starts(95, 40, 30) == [0, 30, 55]  # last tile flush with the end
    assert lengths.tile_starts(40, 40, 7) == [0]
    assert lengths.tile_starts(30, 40, 7) == [-5]  # shorter: one centred, N-padded tile
    with pytest.raises(ValueError, match="positive"):
        lengths.tile_starts(30, 40, 0)


def test_crop_pad_and_tiles_on_hand_made_sequences(run, tmp_path):
    _, run_dir = run
    predictor = Predictor(load_model(run_dir), batch_size=16, progress=False)
    rng = np.random.default_rng(1)
    long = decode(rng.integers(0, 4, 57))
    short = decode(rng.integers(0, 4, 31))
    exact = "RYACGT" + decode(rng.integers(0, 4, 34))  # IUPAC codes read as N
    fasta = tmp_path / "x.fa"
    fasta.write_text(f">long\n{long[:30]}\n{long[30:]}\n>short\n{short}\n>exact\n{exact}\n")

    out = tmp_path / "fit.tsv"
    argv = ["predict", "--model", str(run_dir), "--fasta", str(fasta), "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    table = read_tsv(out)
    assert table["name"] == ["long", "short", "exact"]
    cropped = encode(long)[8:48]  # (57 - 40) // 2 = 8
    padded = np.full(40, N, np.uint8)
    padded[4:35] = encode(short)  # (40 - 31) // 2 = 4
    manual = predictor(np.stack([cropped, padded, encode(exact)]))
    got = np.asarray([table["p_ap1"], table["p_ebox"]], np.float64).T
    np.testing.assert_allclose(got, manual, rtol=1e-6, atol=1e-7)
    assert encode(exact)[0] == N and encode(exact)[1] == N

    out = tmp_path / "tiles.tsv"
    assert main([*argv, "--out", str(out), "--tile", "10"]) == 0
    table = read_tsv(out)
    starts = [int(s) for s in table["tile_start"]]
    assert table["name"] == ["long"] * 3 + ["short", "exact"]
    assert starts == [0, 10, 17, -4, 0]
    tiles = [encode(long)[s : s + 40] for s in (0, 10, 17)] + [padded, encode(exact)]
    np.testing.assert_allclose(
        np.asarray(table["p_ebox"], np.float64), predictor(np.stack(tiles))[:, 1], atol=1e-6
    )


def test_parquet_output_matches_tsv(run, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    data, run_dir = run
    predictor = Predictor(load_model(run_dir), batch_size=32, progress=False)
    seqs = SequenceSet(["a", "b"], [b"ACGT" * 10, b"TGACTCA" * 6])
    scored = score_sequences(predictor, seqs)
    from jaxssl.use.output import write_table

    write_table(tmp_path / "p.parquet", scored.columns)
    frame = pd.read_parquet(tmp_path / "p.parquet")
    assert list(frame["name"]) == ["a", "b"]
    np.testing.assert_allclose(frame["p_ap1"], scored.columns["p_ap1"])
    assert not list(tmp_path.glob(".p.parquet*"))  # no temporary left behind


def test_model_resolution_stage_run_seeds_and_ensemble(run, tmp_path):
    _, run_dir = run
    stage = run_dir / "supervised"
    assert resolve_stage_dirs(stage) == [stage]
    assert resolve_stage_dirs(run_dir) == [stage]
    with pytest.raises(ValueError, match="no trained stage 'student_1'"):
        resolve_stage_dirs(run_dir, stage="student_1")
    seeds = tmp_path / "seeds"
    for s in (0, 1):
        shutil.copytree(run_dir, seeds / f"seed_{s}", symlinks=True)
    assert resolve_stage_dirs(seeds, seed=1) == [seeds / "seed_1" / "supervised"]
    with pytest.raises(ValueError, match="no seed_7"):
        resolve_stage_dirs(seeds, seed=7)
    ensemble = load_model(seeds)
    assert len(ensemble.params) == 2
    tokens = np.random.default_rng(0).integers(0, 4, (5, 40)).astype(np.uint8)
    single = Predictor(load_model(stage), batch_size=8, progress=False)(tokens)
    mean = Predictor(ensemble, batch_size=8, progress=False)(tokens)
    np.testing.assert_allclose(mean, single, rtol=1e-6)


def test_cli_errors_are_one_line(run, tmp_path, capsys):
    _, run_dir = run
    code = main(["predict", "--model", str(tmp_path / "nope"), "--fasta", "x.fa", "--out", "o"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxssl predict: error:") and "no such model directory" in err
    bad = tmp_path / "bad.fa"
    bad.write_text("ACGT\n>x\nACGT\n")
    argv = ["predict", "--model", str(run_dir), "--fasta", str(bad), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "line 1: sequence before the first '>' header" in capsys.readouterr().err
    junk = tmp_path / "junk.fa.gz"  # random bytes, named as gzip: said so, as data_prep does
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert main([*argv[:3], "--fasta", str(junk), *argv[5:]]) == 2
    err = capsys.readouterr().err
    assert f"{junk}: not gzip data although named .gz" in err and "before the first" not in err, err
    binary = tmp_path / "binary.fa"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    assert main([*argv[:3], "--fasta", str(binary), *argv[5:]]) == 2
    assert f"{binary}: binary data, not FASTA text" in capsys.readouterr().err


def test_bed_regions_are_model_windows_centred_on_the_region(run, tmp_path):
    _, run_dir = run
    chrom = decode(np.random.default_rng(2).integers(0, 4, 200))
    genome = tmp_path / "g.fa"
    genome.write_text(f">chr1\n{chrom}\n")
    bed = tmp_path / "r.bed"
    bed.write_text("1\t100\t110\n1\t0\t6\n")  # Ensembl name; the second runs off the start
    out = tmp_path / "bed.tsv"
    argv = ["predict", "--model", str(run_dir), "--bed", str(bed), "--genome", str(genome)]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 2  # chr1 vs 1: explained
    assert main([*argv, "--out", str(out), "--no-progress", "--fix-chrom-names"]) == 0
    table = read_tsv(out)
    assert table["name"] == ["1:100-110", "1:0-6"]
    assert table["start"] == ["85", "-17"] and table["end"] == ["125", "23"]
    edge = np.full(40, N, np.uint8)
    edge[17:] = encode(chrom[:23])
    manual = Predictor(load_model(run_dir), progress=False)(np.stack([encode(chrom[85:125]), edge]))
    np.testing.assert_allclose(np.asarray(table["p_ap1"], float), manual[:, 0], atol=1e-6)
