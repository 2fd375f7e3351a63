"""Homology pseudo-labels: exact orientation on a hand-built genome pair, the leakage guard,
agreement of chains and minimap2, and faithfulness to a toy world's truth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from data_prep.__main__ import main as data_prep_main
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import load_split
from jaxssl.data.writer import ShardSetWriter
from jaxssl.genome.intervals import IntervalIndex, read_intervals
from jaxssl.homology.carry import CarryOptions, Target, carry_labels
from jaxssl.homology.mapping import source_centres, window_starts
from jaxssl.tokens import ALPHABET
from jaxssl.toyworld import ToyWorldParams, load_world_info

L = 100


def revcomp(tokens: np.ndarray) -> np.ndarray:
    rc = tokens[..., ::-1]
    return np.where(rc < 4, 3 - rc, rc).astype(np.uint8)


def test_window_rule_keeps_the_centre_token_on_the_mapped_base():
    # '+': token 50 of [100, 200) is base 150; '-': token 50 is base 100 + 99 - 50 = 149.
    np.testing.assert_array_equal(source_centres(np.array([100, 100]), np.array(["+", "-"]), L),
                                  [150, 149])  # fmt: skip
    np.testing.assert_array_equal(window_starts(np.array([150, 149]), np.array([False, True]), L),
                                  [100, 100])  # fmt: skip
    assert window_starts(np.array([10]), np.array([True]), 7)[0] == 10 - (7 - 1 - 3)


# --- a hand-built pair: target t1 = reverse complement of chrA, t2 = chrB -----------------
# chrA[1000:1300] is a copy of chrB[200:500] (held-out chromosome), so windows there are
# homologous to held-out sequence.


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("pair")
    rng = np.random.default_rng(0)
    chr_b = rng.integers(0, 4, 1000).astype(np.uint8)
    chr_a = rng.integers(0, 4, 3000).astype(np.uint8)
    chr_a[1000:1300] = chr_b[200:500]
    t1, t2 = revcomp(chr_a), chr_b.copy()

    def fasta(path: Path, seqs: dict) -> Path:
        path.write_text("".join(f">{k}\n{''.join(ALPHABET[t] for t in v)}\n"
                                for k, v in seqs.items()))  # fmt: skip
        return path

    ref = fasta(root / "ref.fa", {"chrA": chr_a, "chrB": chr_b})
    tgt = fasta(root / "tgt.fa", {"t1": t1, "t2": t2})
    chain = root / "ref_to_tgt.chain"
    chain.write_text(
        "chain 3000 chrA 3000 + 0 3000 t1 3000 - 0 3000 1\n3000\n\n"
        "chain 1000 chrB 1000 + 0 1000 t2 1000 + 0 1000 2\n1000\n\n"
        "chain 300 chrB 1000 + 200 500 t1 3000 - 1000 1300 3\n300\n"
    )
    starts = np.array([100, 400, 1100, 2000, 2950, 2900])
    strands = np.array(["+", "-", "+", "-", "+", "."])
    tokens = []
    for s, st in zip(starts.tolist(), strands.tolist(), strict=True):
        w = np.concatenate([chr_a[s : s + L], np.full(max(0, s + L - 3000), 4, np.uint8)])
        tokens.append(revcomp(w) if st == "-" else w)
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 0]], np.float32)
    labeled = root / "labeled"
    with ShardSetWriter(
        labeled,
        seq_len=L,
        task_names=["tf1", "tf2"],
        command="test",
        sources=[ref],
        metadata={"genome": "ref", "split_chroms": {"valid": ["chrB"]}},
    ) as w:
        w.add_batch(
            "train",
            np.stack(tokens)[:5],
            labels[:5],
            genome="ref",
            chrom="chrA",
            start=starts[:5],
            strand=strands[:5],
        )
        w.add_batch(
            "train",
            np.stack(tokens)[5:],
            labels[5:],
            genome="ref",
            chrom="chrA",
            start=starts[5:],
            strand=".",
        )  # a shuffled negative: not genomic
        w.add_batch("train", chr_b[None, :L], labels[:1], genome="ref", chrom="chrB", start=0)
        w.add_batch("valid", chr_b[None, 600:700], labels[:1], genome="ref", chrom="chrB",
                    start=600)  # fmt: skip
    return {"root": root, "ref": ref, "tgt": tgt, "chain": chain, "labeled": labeled,
            "source": load_split(labeled, "train")}  # fmt: skip


@pytest.mark.parametrize("method", ["chain", "minimap2"])
def test_exact_windows_orientation_and_leakage_guard(pair, tmp_path, method):
    if method == "minimap2":
        pytest.importorskip("mappy")
    target = Target(pair["tgt"], pair["chain"] if method == "chain" else None)
    (out,) = carry_labels(pair["labeled"], tmp_path, [target],
                          options=CarryOptions(min_match=0.9))  # fmt: skip
    m = load_manifest(out)
    assert m.splits.keys() == {"train"} and m.extra_fields == ["mapq", "source_index"]
    assert m.metadata["method"] == method and m.metadata["target"] == "tgt"
    got = load_split(out, "train")
    src = pair["source"]
    rows = got["source_index"].astype(int)
    # Kept: the windows at 100 ('+'), 400 ('-') and 2000 ('-'); 1100 is homologous to held-out
    # chrB, the chrB window is on a held-out chromosome, 2950 hangs half off the end, and
    # the shuffled one is not genomic.
    assert sorted(src["start"][rows].tolist()) == [100, 400, 2000]
    for i, r in enumerate(rows):
        np.testing.assert_array_equal(got["tokens"][i], src["tokens"][r])  # identical sequence
        np.testing.assert_array_equal(got["labels"][i], src["labels"][r])
        assert got["chrom"][i] == "t1"
        assert got["strand"][i] == ("-" if src["strand"][r] == "+" else "+")
        assert got["start"][i] == 3000 - src["start"][r] - L  # mirrored coordinates
    assert (got["mapq"] == 60).all() if method == "chain" else (got["mapq"] > 0).all()
    leak = m.metadata["leakage"]
    assert leak["held_out_chroms"] == ["chrB"]
    assert leak["source_in_held_out"] == 1
    assert leak["target_maps_back_to_held_out"] == 1
    counts = m.metadata["counts"]
    assert counts["written"] == 3 and counts["source_windows"] == 7
    if method == "chain":
        assert counts["not_genomic"] == 1 and counts["partially_deleted"] == 1
    else:
        assert counts["unmapped"] + counts["partially_aligned"] >= 1


def test_mapq_weights_and_existing_outputs(pair, tmp_path):
    target = Target(pair["tgt"], pair["chain"], name="mouse")
    opts = CarryOptions(min_match=0.9, weight_by_mapq=True)
    (out,) = carry_labels(pair["labeled"], tmp_path, [target], options=opts)
    assert out == tmp_path / "mouse"
    np.testing.assert_allclose(load_split(out, "train")["weights"], 1.0)
    with pytest.raises(FileExistsError, match="--overwrite"):
        carry_labels(pair["labeled"], tmp_path, [target], options=opts)
    carry_labels(pair["labeled"], tmp_path, [target], options=opts, overwrite=True)


@pytest.mark.parametrize(
    ("chain_text", "message"),
    [
        ("chain 1 chrA 3000 + 0 10 chrX 3000 + 0 10 1\n10\n", r":2: chain 1 names query .*'chrX'"),
        ("chain 1 chrA 3000 + 0 10 t1 2999 + 0 10 1\n10\n", r"'t1' is 2,999 bp.* has 3,000"),
        ("chain 1 chrA 3001 + 0 10 t1 3000 + 0 10 1\n10\n", r"target sequence 'chrA' is 3,001"),
        ("chain 1 A 3000 + 0 10 t1 3000 + 0 10 1\n10\n", r"'A'.*differ only by a 'chr' prefix"),
        ("chain 1 t1 3000 + 0 10 chrA 3000 + 0 10 1\n10\n", "run the other way.*chainSwap"),
    ],
)
def test_chains_that_do_not_match_the_genomes_are_refused(pair, tmp_path, capsys, chain_text,
                                                          message):  # fmt: skip
    bad = tmp_path / "bad.chain"
    bad.write_text("\n" + chain_text)
    argv = ["homology", str(tmp_path / "out"), "--labeled", str(pair["labeled"]), "--targets",
            str(pair["tgt"]), "--chains", str(bad)]  # fmt: skip
    assert data_prep_main(argv) == 2
    err = capsys.readouterr().err
    assert str(bad) in err
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()


def test_cli_argument_errors(pair, tmp_path, capsys):
    base = ["homology", str(tmp_path / "o"), "--labeled", str(pair["labeled"])]
    assert data_prep_main([*base, "--targets", str(pair["tgt"]), "--chains",
                           str(pair["chain"]), str(pair["chain"])]) == 2  # fmt: skip
    assert "one chain file per target" in capsys.readouterr().err
    assert data_prep_main([*base, "--targets", str(tmp_path / "none.fa")]) == 2
    assert "none.fa: no such file" in capsys.readouterr().err
    assert data_prep_main([*base, "--targets", str(pair["tgt"]), "--split", "nope"]) == 2
    assert "no split 'nope'" in capsys.readouterr().err


# --- a small toy world: the real use ----------------------------------------------------

SMALL = ToyWorldParams(seed=3, species=2, genome_size=500_000, chromosomes=5, sites_per_tf=300,
                       rare_sites=80, inversions=2.0)  # fmt: skip


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> dict:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAXSSL_CACHE", str(tmp_path_factory.mktemp("cache")))
        from jaxssl.toy_data import toy_homology_shards, toy_labeled_shards, toy_world_dir

        cfg = {**SMALL.to_dict(), "window": 200}
        paths = toy_homology_shards(cfg)
        stamps = [(p / "manifest.json").stat().st_mtime_ns for p in paths]
        assert toy_homology_shards(cfg) == paths  # cached: not rebuilt
        assert stamps == [(p / "manifest.json").stat().st_mtime_ns for p in paths]
        return {"paths": paths, "labeled": toy_labeled_shards(cfg), "world": toy_world_dir(cfg)}


def test_toy_pseudo_labels_follow_the_truth(toy):
    world, info = toy["world"], load_world_info(toy["world"])
    assert [p.name for p in toy["paths"]] == ["sp1", "sp2"]
    src = load_split(toy["labeled"], "train")
    for path in toy["paths"]:
        m = load_manifest(path)
        got = load_split(path, "train")
        rows = got["source_index"].astype(int)
        np.testing.assert_array_equal(got["labels"], src["labels"][rows])
        assert m.metadata["counts"]["written"] == len(rows) > 0.9 * len(src["start"])
        assert m.metadata["leakage"]["held_out_chroms"] == ["chr4", "chr5"]
        # Tokens near the centre match the source window on both strands (indels shift the rest).
        ident = (got["tokens"][:, 80:120] == src["tokens"][rows, 80:120]).mean(axis=1)
        minus = got["strand"] == "-"
        assert minus.sum() > 20 and (~minus).sum() > 20
        assert ident[minus].mean() > 0.7 and ident[~minus].mean() > 0.7, path
        # Positives carry a true site of their TF in the target's core far more than negatives.
        for t, tf in enumerate(info["tfs"]):
            truth = IntervalIndex(read_intervals(world / "truth" / path.name / f"{tf}.bed"))
            hit = np.zeros(len(rows), bool)
            for c in np.unique(got["chrom"]):
                sel = got["chrom"] == c
                hit[sel] = truth.overlaps(c, got["start"][sel] + 50, got["start"][sel] + 150)
            pos = got["labels"][:, t] > 0.5
            assert hit[pos].mean() > 0.3 and hit[pos].mean() > 10 * hit[~pos].mean(), (tf, path)


def test_minimap_agrees_with_the_true_chains(toy, tmp_path):
    pytest.importorskip("mappy")
    world = toy["world"]
    (out,) = carry_labels(toy["labeled"], tmp_path, [Target(world / "genomes" / "sp1.fa")],
                          options=CarryOptions(threads=2))  # fmt: skip
    mm = load_split(out, "train")
    ch = load_split(toy["paths"][0], "train")
    by_src = {int(s): i for i, s in enumerate(ch["source_index"])}
    common = [(i, by_src[int(s)]) for i, s in enumerate(mm["source_index"]) if int(s) in by_src]
    assert len(common) > 0.9 * len(ch["start"])
    a, b = np.array(common).T
    same = (mm["chrom"][a] == ch["chrom"][b]) & (mm["strand"][a] == ch["strand"][b])
    assert same.mean() > 0.98
    assert (mm["start"][a] == ch["start"][b]).mean() > 0.9
    meta = load_manifest(out).metadata
    assert meta["method"] == "minimap2" and "MAPQ" in meta["mapq"]
    assert json.dumps(meta)  # plain JSON all the way down
