"""`data_prep from-sites`: strand-aware windows around point features, region splits, label
budgets and the clean subset of another genome (tiny hand-made genomes)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from data_prep.__main__ import main as data_prep
from jaxssl.data.manifest import load_manifest
from jaxssl.data.reader import load_split
from jaxssl.genome.fasta import Genome
from jaxssl.homology.leakage import held_out_of_set, training_region_of_set
from jaxssl.prep.regions import RegionSplits
from jaxssl.prep.sites import build_from_sites, site_window_starts
from jaxssl.prep.windows import build_windows
from jaxssl.tokens import reverse_complement

L = 40


def write_genome(path: Path, seqs: dict[str, str]) -> Path:
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in seqs.items()))
    return path


def random_seq(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


def write_sites(path: Path, rows: list[tuple[str, int, str]]) -> Path:
    path.write_text("".join(f"{c}\t{p}\t{p + 1}\t.\t0\t{s}\n" for c, p, s in rows))
    return path


@pytest.fixture
def genome(tmp_path: Path) -> Path:
    return write_genome(tmp_path / "g.fa", {"chr": random_seq(4000, 0)})


def test_minus_strand_window_is_reverse_complement_of_plus_slice(tmp_path, genome):
    sites = write_sites(tmp_path / "s.bed", [("chr", 500, "+"), ("chr", 1500, "-")])
    for anchor in ("center", "end"):
        out = tmp_path / f"set_{anchor}"
        build_from_sites(out, fasta=genome, sites=sites, seq_len=L, anchor=anchor, all_test=True)
        data = load_split(out, "test")
        g = Genome(genome)
        pos = data["labels"][:, 0] > 0.5
        by_strand = {s: i for i, s in zip(np.flatnonzero(pos), data["strand"][pos], strict=True)}
        plus, minus = by_strand["+"], by_strand["-"]
        p_start, m_start = int(data["start"][plus]), int(data["start"][minus])
        np.testing.assert_array_equal(data["tokens"][plus], g.fetch("chr", p_start, p_start + L))
        np.testing.assert_array_equal(
            data["tokens"][minus], reverse_complement(g.fetch("chr", m_start, m_start + L))
        )
        # the site sits on the anchor token, read on its own strand
        t = L // 2 if anchor == "center" else L - 1
        assert data["tokens"][plus][t] == g.fetch("chr", 500, 501)[0]
        assert data["tokens"][minus][t] == reverse_complement(g.fetch("chr", 1500, 1501))[0]
        assert p_start + t == 500 and m_start + L - 1 - t == 1500
        # negatives: none near a site
        neg = ~pos
        for s in data["start"][neg]:
            assert not (s - L // 2 <= 500 < s + L + L // 2) and not (
                s - L // 2 <= 1500 < s + L + L // 2
            )
        g.close()


def test_window_start_arithmetic():
    minus = np.array([False, True])
    np.testing.assert_array_equal(site_window_starts([100, 100], minus, 10, "center"), [95, 96])
    np.testing.assert_array_equal(site_window_starts([100, 100], minus, 10, "end"), [91, 100])


def test_region_splits_never_overlap_and_refuse_overlap():
    lengths = {"a": 1000, "b": 500}
    s = RegionSplits.from_fractions(lengths, (0.6, 0.2, 0.2))
    covered = {c: np.zeros(n, int) for c, n in lengths.items()}
    for split in ("train", "valid", "test"):
        for c, a, b in s.regions[split]:
            covered[c][a:b] += 1
    assert all((v == 1).all() for v in covered.values())  # a partition: no overlap, no gap
    with pytest.raises(ValueError, match="overlap on a:151-200"):
        RegionSplits.from_regions(lengths, [("a", 100, 200)], [("a", 150, 300)])
    with pytest.raises(ValueError, match="TRAIN,VALID,TEST"):
        RegionSplits.from_fractions(lengths, (0.5, 0.2, 0.2))


def test_cli_refuses_overlapping_regions(tmp_path, genome, capsys):
    sites = write_sites(tmp_path / "s.bed", [("chr", 500, "+")])
    rc = data_prep(
        [
            "from-sites",
            str(tmp_path / "o"),
            "--fasta",
            str(genome),
            "--sites",
            str(sites),
            "--seq-len",
            str(L),
            "--valid-regions",
            "chr:1001-2000",
            "--test-regions",
            "chr:1901-3000",
        ]  # fmt: skip
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "--valid-regions and --test-regions overlap on chr:1901-2000" in err
    assert not (tmp_path / "o").exists()


def test_windows_straddling_a_boundary_are_dropped(tmp_path, genome):
    # valid = chr:1001-2000 (0-based [1000, 2000)); a site at 1005 straddles train|valid.
    rows = [("chr", 500, "+"), ("chr", 1005, "+"), ("chr", 1500, "-"), ("chr", 2500, "+")]
    sites = write_sites(tmp_path / "s.bed", rows)
    m = build_from_sites(
        tmp_path / "o",
        fasta=genome,
        sites=sites,
        seq_len=L,
        valid_regions="chr:1001-2000",
        test_regions="chr:3001-4000",
    )
    assert m.metadata["counts"]["straddles_split_boundary"] == 1
    assert m.splits["train"]["positives"] == [2] and m.splits["valid"]["positives"] == [1]
    assert "test" not in m.splits or m.splits["test"]["positives"] == [0]
    regions = m.metadata["split_regions"]
    assert regions["valid"] == [["chr", 1000, 2000]] and regions["test"] == [["chr", 3000, 4000]]
    for split, (lo, hi) in (("train", (0, 1000)), ("valid", (1000, 2000))):
        d = load_split(tmp_path / "o", split)
        ok = (d["start"] >= lo) & (d["start"] + L <= hi)
        if split == "train":  # train is [0, 1000) and [2000, 3000)
            ok |= (d["start"] >= 2000) & (d["start"] + L <= 3000)
        assert ok.all(), split


def test_label_budget_and_held_out_regions(tmp_path, genome):
    rows = [("chr", p, "+-"[i % 2]) for i, p in enumerate(range(100, 3900, 100))]
    sites = write_sites(tmp_path / "s.bed", rows)
    kw = dict(fasta=genome, sites=sites, seq_len=L, split_fractions="0.7,0.1,0.2")
    full = build_from_sites(tmp_path / "full", seed=3, **kw)
    b1 = build_from_sites(tmp_path / "b1", max_positives=5, seed=3, **kw)
    build_from_sites(tmp_path / "b2", max_positives=5, seed=3, **kw)
    # blocks [0, 2800), [2800, 3200), [3200, 4000): the sites at 2800 and 3200 straddle
    assert full.metadata["counts"]["straddles_split_boundary"] == 2
    assert [full.splits[s]["positives"][0] for s in ("train", "valid", "test")] == [27, 3, 6]
    assert b1.splits["train"]["positives"] == [5] and b1.splits["train"]["count"] == 10
    for split in ("train", "valid", "test"):
        a, b = load_split(tmp_path / "b1", split), load_split(tmp_path / "b2", split)
        np.testing.assert_array_equal(a["tokens"], b["tokens"])  # deterministic
    for split in ("valid", "test"):  # the budget leaves held-out data alone
        a, b = load_split(tmp_path / "full", split), load_split(tmp_path / "b1", split)
        np.testing.assert_array_equal(a["tokens"], b["tokens"])
    # the leakage guard holds out the whole valid/test regions, not only their windows
    held = held_out_of_set(tmp_path / "b1")
    assert held.overlaps(np.array(["chr"], object), [2850], [2851])[0]  # valid, no window
    assert not held.overlaps(np.array(["chr"], object), [10], [11])[0]
    train = training_region_of_set(tmp_path / "b1", {"chr": 4000})
    assert train.overlaps(np.array(["chr"], object), [10], [11])[0]
    assert not train.overlaps(np.array(["chr"], object), [3500], [3501])[0]


def test_clean_subset_of_another_genome(tmp_path):
    pytest.importorskip("mappy")
    ref_seq = random_seq(20000, 1)
    rng = np.random.default_rng(2)
    rel = np.array(list(ref_seq))
    flip = rng.random(len(rel)) < 0.02
    rel[flip] = rng.choice(list("ACGT"), int(flip.sum()))
    ref = write_genome(tmp_path / "ref.fa", {"r": ref_seq})
    rel_fa = write_genome(tmp_path / "rel.fa", {"q": "".join(rel)})
    L2 = 100
    positions = list(range(1000, 19000, 1000))
    write_sites(tmp_path / "ref.bed", [("r", p, "+") for p in positions])
    write_sites(tmp_path / "rel.bed", [("q", p, "-") for p in positions])
    build_from_sites(
        tmp_path / "ref_set",
        fasta=ref,
        sites=tmp_path / "ref.bed",
        seq_len=L2,
        split_fractions="0.5,0.2,0.3",
    )
    m = build_from_sites(
        tmp_path / "rel_set",
        fasta=rel_fa,
        sites=tmp_path / "rel.bed",
        seq_len=L2,
        all_test=True,
        clean_against=tmp_path / "ref_set",
    )
    data = load_split(tmp_path / "rel_set", "test")
    pos = data["labels"][:, 0] > 0.5
    centre = data["start"] + L2 // 2
    in_ref_train = centre < 10000
    clean = data["clean"] > 0.5
    # orthologs of the reference's training region are not clean; the rest are
    assert not clean[pos & in_ref_train].any()
    far = pos & (centre > 10000 + L2)
    assert clean[far].all()
    counts = m.metadata["clean"]["test_clean"]
    assert counts["positives"] == int((clean & pos).sum())
    assert load_manifest(tmp_path / "rel_set").splits["test_clean"]["count"] == int(clean.sum())
    # the leakage guard keeps the relative's windows homologous to the reference's valid/test
    # regions (the whole second half here, not only its windows) out of unlabeled pools
    w = build_windows(
        tmp_path / "unl",
        fasta=rel_fa,
        seq_len=L2,
        count=300,
        exclude_homologs_of=tmp_path / "ref_set",
        reference_fasta=ref,
    )
    kept = load_split(tmp_path / "unl", "train")["start"]
    assert w.metadata["leakage"]["held_out_ortholog"] > 100
    assert (kept + L2 <= 10000 + L2 // 2).all()


def test_real_tss_windows(tmp_path, shared_data):
    src = shared_data / "cross_genome" / "cjejuni_NCTC11168"
    if not src.is_dir():
        pytest.skip(f"{src} not found")
    fa = tmp_path / "g.fa"
    with gzip.open(src / "genome.fa.gz", "rb") as f, open(fa, "wb") as g:
        shutil.copyfileobj(f, g)
    m = build_from_sites(
        tmp_path / "o", fasta=fa, sites=src / "tss.bed", seq_len=100, split_fractions="0.7,0.1,0.2"
    )
    positives = sum(m.splits[s]["positives"][0] for s in ("train", "valid", "test"))
    counts = m.metadata["counts"]
    assert counts["sites"] == 1905
    assert positives + counts["off_chrom_end"] + counts["straddles_split_boundary"] == 1905
    assert m.splits["test"]["count"] == 2 * m.splits["test"]["positives"][0]
    train = load_split(tmp_path / "o", "train")
    neg = train["labels"][:, 0] < 0.5
    assert 0.4 < (train["strand"][neg] == "-").mean() < 0.6  # negatives from both strands
