"""`data_prep windows` (sampled and tiled unlabeled windows) and `data_prep inspect`."""

from __future__ import annotations

import numpy as np

from data_prep.__main__ import main
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import load_split
from jaxssl.tokens import decode


def genome(tmp_path):
    rng = np.random.default_rng(1)
    a = "".join(rng.choice(list("ACGT"), 3000))
    b = "".join(rng.choice(list("acgt"), 1000))
    fa = tmp_path / "other.fa"
    fa.write_text(f">a\n{a[:1000]}{'N' * 1000}{a[2000:]}\n>b\n{b}\n>tiny\nACGT\n")
    return fa, a, b


def test_tiled_windows_drop_n_and_keep_provenance(tmp_path, capsys):
    fa, a, b = genome(tmp_path)
    out = tmp_path / "w"
    assert (
        main(["windows", str(out), "--fasta", str(fa), "--seq-len", "100", "--stride", "100"]) == 0
    )
    m = load_manifest(out)
    assert m.task_names == [] and m.metadata["mode"] == "tile"
    c = m.metadata["counts"]
    # a: 30 tiles, 10 inside the N gap dropped; b: 10 tiles; tiny (< seq_len) skipped.
    assert c == {"considered": 40, "dropped_n_frac": 10, "written": 30}
    d = load_split(out, "train")
    assert d["labels"].shape == (30, 0) and set(d["genome"]) == {"other"}
    i = list(zip(d["chrom"], d["start"].tolist(), strict=True)).index(("b", 300))
    assert decode(d["tokens"][i]) == b[300:400].upper()
    assert main(["inspect", str(out), "--examples", "2"]) == 0
    text = capsys.readouterr().out
    assert "(unlabeled)" in text and "[train] role unlabeled; 30 examples" in text
    assert "other:a:0(+) labels [] w 1.00 GC" in text and a[:20] in text


def test_sampled_windows_count_and_determinism(tmp_path):
    fa, _, _ = genome(tmp_path)
    args = ["--fasta", str(fa), "--seq-len", "50", "--count", "200", "--seed", "3"]
    assert main(["windows", str(tmp_path / "s1"), *args]) == 0
    assert main(["windows", str(tmp_path / "s2"), *args]) == 0
    d1, d2 = load_split(tmp_path / "s1", "train"), load_split(tmp_path / "s2", "train")
    np.testing.assert_array_equal(d1["tokens"], d2["tokens"])
    c = load_manifest(tmp_path / "s1").metadata["counts"]
    assert c["considered"] == 200 and c["written"] == len(d1["tokens"]) == 200 - c["dropped_n_frac"]
    # uniform over bases: chrom a (2951 starts) gets ~3x chrom b (951)
    assert (d1["chrom"] == "a").sum() > 2 * (d1["chrom"] == "b").sum()


def test_windows_and_inspect_errors(tmp_path, capsys):
    fa, _, _ = genome(tmp_path)
    assert (
        main(
            [
                "windows",
                str(tmp_path / "x"),
                "--fasta",
                str(fa),
                "--seq-len",
                "100",
                "--count",
                "5",
                "--chroms",
                "zz",
            ]
        )
        == 2
    )
    assert "--chroms ['zz'] not in" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "x")]) == 2
    assert "no such shard-set directory" in capsys.readouterr().err
