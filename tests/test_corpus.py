"""`data_prep corpus`: a pre-training corpus sharing no K bases with a held-out sequence (exact,
both strands; jaxssl.data.overlap), checked against benchmarks/corpus_check.py's brute force."""

from __future__ import annotations

import gzip
import json

import numpy as np

from data_prep.__main__ import main
from jaxssl.data.manifest import load_manifest
from jaxssl.data.overlap import OverlapIndex, shares_held_out
from jaxssl.data.reader import load_split
from jaxssl.data.writer import ShardSetWriter
from jaxssl.prep.corpus import build_corpus, window_starts
from jaxssl.tokens import decode, encode
from tests.benchmark_module import load_benchmark

RC = str.maketrans("ACGTN", "TGCAN")


def rc(s: str) -> str:
    return s.translate(RC)[::-1]


def rand(rng, n: int) -> str:
    return "".join(rng.choice(list("ACGT"), n))


def mutate(s: str, i: int) -> str:
    return s[:i] + "ACGT"[("ACGT".index(s[i]) + 1) % 4] + s[i + 1 :]


def write_fasta(path, records: dict[str, str]):
    path.write_text("".join(f">{k}\n{v}\n" for k, v in records.items()))
    return path


def test_held_out_windows_and_duplicates_are_dropped_exactly(tmp_path, capsys):
    rng = np.random.default_rng(0)
    h, long = rand(rng, 20), rand(rng, 120)
    held = write_fasta(tmp_path / "held.fa", {"h": "NN" + h + "N", "long": long})
    r1 = list(rand(rng, 200))
    r1[60:80] = h  # window [50, 100): forward
    r1[110:130] = mutate(mutate(h, 6), 13)  # window [100, 150): longest shared run 6 < 10, kept
    r1[160:180] = rc(h)  # window [150, 200): reverse strand
    r1 = "".join(r1)
    r6 = rand(rng, 30)
    src = write_fasta(
        tmp_path / "src.fa",
        {
            "r1": r1,
            "r2": long[30:80],  # inside a longer held-out sequence
            "r3": mutate(mutate(long[30:80], 24), 25),  # ... but runs of 24 < K = 25: kept
            "r6": r6,  # shorter than W: centred, N-padded
            "r7": "N" * 50,
        },
    )
    d4 = rand(rng, 60)
    src2 = write_fasta(
        tmp_path / "src2.fa",
        {
            "d1": r1[:50],  # duplicate of r1's first window
            "d2": rc(r1[100:150]),  # reverse-complement duplicate
            "d3": rc(h) + rand(rng, 30),
            "d4": d4,  # windows at 0 and 10 (the last one ends at the end)
        },
    )
    out = tmp_path / "corpus"
    argv = [
        "corpus",
        str(out),
        "--seq-len",
        "50",
        "--from",
        f"{src},{src2}",
        "--exclude",
        str(held),
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "total" in text and str(src2) in text
    meta = load_manifest(out).metadata
    assert meta["kind"] == "corpus" and meta["check"].startswith("a common substring of >= K")
    assert meta["sources"] == [
        {"source": str(src), "considered": 8, "dropped_n_frac": 1, "dropped_held_out": 3,
         "dropped_duplicate": 0, "written": 4},
        {"source": str(src2), "considered": 5, "dropped_n_frac": 0, "dropped_held_out": 1,
         "dropped_duplicate": 2, "written": 2},
    ]  # fmt: skip
    assert meta["held_out"] == [{"source": str(held), "sequences": 2, "lengths": [20, 120]}]
    d = load_split(out, "train")
    got = {
        (c, int(s)): decode(t) for c, s, t in zip(d["chrom"], d["start"], d["tokens"], strict=True)
    }
    assert got == {
        ("r1", 0): r1[:50],
        ("r1", 100): r1[100:150],
        ("r3", 0): mutate(mutate(long[30:80], 24), 25),
        ("r6", 0): "N" * 10 + r6 + "N" * 10,
        ("d4", 0): d4[:50],
        ("d4", 10): d4[10:],
    }
    assert d["labels"].shape == (6, 0) and set(d["genome"]) == {str(src), str(src2)}
    sources = [s["path"] for s in json.loads((out / "manifest.json").read_text())["sources"]]
    assert {str(src), str(src2), str(held)} <= set(sources)


def shard_set(path, rows: dict[str, list[str]], seq_len: int = 30):
    with ShardSetWriter(path, seq_len=seq_len, task_names=["t"], command="test") as w:
        for split, seqs in rows.items():
            for s in seqs:
                pad = (seq_len - len(s)) // 2
                padded = "N" * pad + s + "N" * (seq_len - len(s) - pad)
                w.add(split, encode(padded), np.ones(1, np.float32))
    return path


def test_shard_set_sources_and_excluded_splits(tmp_path):
    rng = np.random.default_rng(1)
    train_full, train_short = rand(rng, 30), rand(rng, 20)
    valid, test = rand(rng, 30), rand(rng, 20)  # test is padded in its set: stripped
    labeled = shard_set(
        tmp_path / "lab", {"train": [train_full, train_short], "valid": [valid], "test": [test]}
    )
    genome = rand(rng, 25) + valid[2:27] + rand(rng, 25) + rand(rng, 2) + test + rand(rng, 3)
    fa = tmp_path / "g.fa.gz"  # gzip; windows of 25 at 0, 25, 50, 75
    fa.write_bytes(gzip.compress(f">g\n{genome}\n".encode()))
    base = ["--seq-len", "25", "--from", str(labeled), "--from", str(fa)]

    assert main(["corpus", str(tmp_path / "a"), *base, "--exclude", str(labeled)]) == 0
    meta = load_manifest(tmp_path / "a").metadata
    assert [s["source"] for s in meta["sources"]] == [str(labeled), str(fa)]
    # train: train_full -> windows 0 and 5, train_short -> one padded window
    assert meta["sources"][0]["written"] == 3
    assert meta["sources"][1]["dropped_held_out"] == 2  # inside valid; holds test
    assert meta["held_out"] == [
        {"source": f"{labeled}:valid+test", "sequences": 2, "lengths": [20, 30]}
    ]
    d = load_split(tmp_path / "a", "train")
    assert d["tokens"].shape == (5, 25) and d["labels"].shape == (5, 0)
    assert decode(d["tokens"][2]) == "NN" + train_short + "NNN"
    assert decode(d["tokens"][0]) == train_full[:25] and decode(d["tokens"][1]) == train_full[5:]

    assert main(["corpus", str(tmp_path / "b"), *base, "--exclude", f"{labeled}:test"]) == 0
    meta = load_manifest(tmp_path / "b").metadata
    assert meta["sources"][1]["dropped_held_out"] == 1  # only the window holding test
    assert meta["held_out"][0]["source"] == f"{labeled}:test"
    assert main(["corpus", str(tmp_path / "c"), *base, "--exclude", f"{labeled}:valid+test"]) == 0
    assert load_manifest(tmp_path / "c").metadata["sources"][1]["dropped_held_out"] == 2


def test_errors_name_the_flag_and_path(tmp_path, capsys):
    rng = np.random.default_rng(2)
    labeled = shard_set(tmp_path / "lab", {"train": [rand(rng, 30)], "test": [rand(rng, 30)]})
    missing = tmp_path / "nope.fa"
    cases = [
        (["--from", str(missing)], ["--from", str(missing)]),
        (["--from", f"{labeled}:nosuch"], [str(labeled), "'nosuch'", "--from"]),
        (["--from", str(labeled), "--exclude", f"{labeled}:nosuch"], ["--exclude", "'nosuch'"]),
        (["--from", str(labeled), "--exclude", str(missing)], ["--exclude", str(missing)]),
    ]
    for flags, words in cases:
        assert main(["corpus", str(tmp_path / "o"), "--seq-len", "30", *flags]) == 2
        err = capsys.readouterr().err
        assert err.startswith("data_prep corpus: error:") and all(w in err for w in words), err
    assert main(["corpus", str(tmp_path / "o"), "--seq-len", "0", "--from", str(labeled)]) == 2
    assert "--seq-len" in capsys.readouterr().err
    # everything held out (the train sequence is also the test sequence): nothing written
    same = rand(rng, 30)
    both = shard_set(tmp_path / "both", {"train": [same], "test": [same]})
    argv = ["corpus", str(tmp_path / "o"), "--seq-len", "30", "--from", str(both)]
    assert main([*argv, "--exclude", str(both)]) == 2
    assert "nothing written" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_window_starts_tile_and_end_flush():
    seq, start, content = window_starts(np.array([10, 4, 12, 0]), 4, 3)
    assert seq.tolist() == [0, 0, 0, 1, 2, 2, 2, 2, 3]
    assert start.tolist() == [0, 3, 6, 0, 0, 3, 6, 8, 0]
    assert content.tolist() == [4, 4, 4, 4, 4, 4, 4, 4, 0]


def test_overlap_not_containment(tmp_path):
    """A 101 bp test sequence t: split 41 + 60 over two windows, shifted by one base, with one
    mismatch, on the other strand; K = floor(101 / 2) = 50 bases, K - 1 kept."""
    rng = np.random.default_rng(4)
    t = rand(rng, 101)
    held = write_fasta(tmp_path / "test.fa", {"t": t})
    tail = rand(rng, 60)
    after = lambda i: "ACGT"[("ACGT".index(t[i]) + 1) % 4]  # noqa: E731  # breaks the run
    records = {
        "straddle": rand(rng, 60) + t + rand(rng, 41),  # windows hold t[:41] and t[41:]
        "shift": t[1:] + rand(rng, 1),  # 100 of 101 bases
        "mismatch": mutate(t, 50),  # all but one base: runs of 50 and 50
        "reverse": rand(rng, 20) + rc(t[10:70]) + rand(rng, 21),  # 60 bases, other strand
        "k": t[:50] + after(50) + tail[:50],  # a run of exactly K = 50
        "k_minus_1": t[:49] + after(49) + tail[:51],  # 49: kept
        "k_minus_1_rc": rc(t[:49] + after(49)) + tail[:51],  # 49, other strand: kept
    }
    src = write_fasta(tmp_path / "src.fa", records)
    out = tmp_path / "corpus"
    m = build_corpus(out, seq_len=101, sources=[str(src)], exclude=[str(held)])
    assert m.metadata["sources"][0]["dropped_held_out"] == 5
    d = load_split(out, "train")
    kept = {(c, int(s)) for c, s in zip(d["chrom"], d["start"], strict=True)}
    assert kept == {("straddle", 0), ("k_minus_1", 0), ("k_minus_1_rc", 0)}
    assert m.metadata["leakage"]["method"] == "sequence_overlap"
    # --min-shared 60: the straddle's 60 and the reverse 60 still go, the 50-base runs stay.
    m = build_corpus(
        tmp_path / "c60", seq_len=101, sources=[str(src)], exclude=[str(held)], min_shared=60
    )
    assert m.metadata["sources"][0]["dropped_held_out"] == 3
    assert m.metadata["min_shared"] == 60


def test_overlap_index_matches_brute_force():
    """Short random strings over ACGT (with N) share runs often, on both strands; the index and
    corpus_check's string search agree window by window, for the default K and a fixed one."""
    brute = load_benchmark("corpus_check")
    rng = np.random.default_rng(3)
    base = rand(rng, 300)

    def piece(n: int) -> str:
        start = int(rng.integers(0, len(base) - n))
        s = list(base[start : start + n] if rng.random() < 0.5 else rc(base[start : start + n]))
        for i in rng.integers(0, n, int(rng.integers(0, 4))):
            s[i] = "ACGTN"[rng.integers(0, 5)]
        return "".join(s)

    held = [piece(int(n)) for n in rng.integers(12, 40, 30)]
    rows = [piece(int(n)) for n in rng.integers(10, 40, 400)]
    padded = np.stack([encode(r.center(40, "N")) for r in rows])
    held_rows = [encode(h) for h in held]
    for min_shared in (None, 9):
        got = shares_held_out(padded, held_rows, min_shared=min_shared)
        want = brute.brute_force_hits(rows, held, brute.threshold_rule(min_shared))
        assert got.tolist() == want and 40 < sum(want) < 360, (min_shared, sum(want))
    # Longer sequences: 32-mer seeds every few bases (K - 31 apart) must not miss a run.
    base = rand(rng, 2500)
    held = [piece(int(n)) for n in rng.integers(70, 120, 20)]
    rows = [piece(101) for _ in range(150)]
    for min_shared in (None, 40):
        got = shares_held_out(
            np.stack([encode(r) for r in rows]), map(encode, held), min_shared=min_shared
        )
        want = brute.brute_force_hits(rows, held, brute.threshold_rule(min_shared))
        assert got.tolist() == want and 10 < sum(want) < 140, (min_shared, sum(want))
    index = OverlapIndex(held_rows)
    assert index.threshold(101, [101, 30, 1]).tolist() == [50, 15, 1]
    assert not shares_held_out(padded, []).any()
