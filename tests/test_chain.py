"""UCSC chain reader and liftOver: hand-worked cases, a brute-force oracle, the real hg19->mm9."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from jaxssl.homology.chain import (
    DELETED,
    DUPLICATED,
    MAPPED,
    PARTIAL,
    ChainIndex,
    read_chains,
)

# t 100-150 -> q 0-50, t 160-200 -> q 50-90, t 200-290 -> q 110-200 (chrA, + strand);
# t 500-600 -> chrB reverse strand 10-110, i.e. forward 190-290 reversed;
# chain 3 aligns t 100-150 a second time, to chrC.
CHAINS = """\
chain 100 chr1 1000 + 100 290 chrA 500 + 0 200 1
50 10 0
40 0 20
90

chain 50 chr1 1000 + 500 600 chrB 300 - 10 110 2
100

chain 10 chr1 1000 + 100 150 chrC 100 + 0 50 3
50
"""


@pytest.fixture
def chain_file(tmp_path) -> Path:
    path = tmp_path / "toy.chain"
    path.write_text(CHAINS)
    return path


def lift_one(index: ChainIndex, chrom, start, end, strand="+", **kw):
    r = index.lift([chrom], [start], [end], [strand], **kw)
    return [(r.status[i], r.chrom[i], int(r.start[i]), int(r.end[i]), r.strand[i])
            for i in range(len(r.source))]  # fmt: skip


def test_read_chains_fields_and_blocks(chain_file):
    chains = read_chains(chain_file)
    assert [c.id for c in chains] == [1, 2, 3]
    a, b, _ = chains
    assert (a.score, a.t_name, a.t_size, a.t_start, a.t_end) == (100, "chr1", 1000, 100, 290)
    assert (a.q_name, a.q_size, a.q_strand, a.q_start, a.q_end) == ("chrA", 500, "+", 0, 200)
    np.testing.assert_array_equal(a.t_starts, [100, 160, 200])
    np.testing.assert_array_equal(a.q_starts, [0, 50, 110])
    np.testing.assert_array_equal(a.sizes, [50, 40, 90])
    assert a.aligned_bases == 180
    assert b.q_strand == "-" and list(b.q_starts) == [10]


def test_gzip_is_read_transparently(chain_file, tmp_path):
    gz = tmp_path / "toy.chain.gz"
    gz.write_bytes(gzip.compress(chain_file.read_bytes()))
    assert [c.aligned_bases for c in read_chains(gz)] == [180, 100, 50]


def test_lift_hand_worked_cases(chain_file):
    index = ChainIndex.from_file(chain_file)
    assert index.target_chroms == ["chr1"]
    assert lift_one(index, "chr1", 160, 180) == [(MAPPED, "chrA", 50, 70, "+")]
    # Spanning a query-only gap: reported from first to last mapped base, like liftOver.
    assert lift_one(index, "chr1", 190, 210) == [(MAPPED, "chrA", 80, 120, "+")]
    # Minus-strand chain: reverse-strand 10-20 is forward 280-290, strand flips.
    assert lift_one(index, "chr1", 500, 510) == [(MAPPED, "chrB", 280, 290, "-")]
    assert lift_one(index, "chr1", 500, 510, "-") == [(MAPPED, "chrB", 280, 290, "+")]
    assert lift_one(index, "chr1", 590, 600) == [(MAPPED, "chrB", 190, 200, "-")]
    # 20 of 30 bases aligned (target gap 150-160).
    assert lift_one(index, "chr1", 140, 170)[0][0] == PARTIAL
    assert lift_one(index, "chr1", 140, 170, min_match=0.6) == [(MAPPED, "chrA", 40, 60, "+")]
    assert lift_one(index, "chr1", 150, 160)[0][0] == DELETED
    assert lift_one(index, "chr1", 295, 400)[0][0] == DELETED
    assert lift_one(index, "chrX", 0, 10)[0][0] == DELETED
    # Two chains align t 100-120: duplicated unless multiple hits are asked for.
    assert lift_one(index, "chr1", 100, 120)[0][:2] == (DUPLICATED, "")
    assert lift_one(index, "chr1", 100, 120, multiple=True) == [
        (MAPPED, "chrA", 0, 20, "+"),
        (MAPPED, "chrC", 0, 20, "+"),
    ]


def test_lift_keeps_input_order_and_reports_matched_fraction(chain_file):
    index = ChainIndex.from_file(chain_file)
    r = index.lift(["chr1", "chr1", "chr2", "chr1"], [500, 140, 0, 160], [510, 170, 5, 180])
    np.testing.assert_array_equal(r.source, [0, 1, 2, 3])
    assert list(r.status) == [MAPPED, PARTIAL, DELETED, MAPPED]
    np.testing.assert_allclose(r.matched, [1.0, 20 / 30, 0.0, 1.0])
    np.testing.assert_array_equal(r.chain_id, [2, -1, -1, 1])
    empty = index.lift([], [], [])
    assert len(empty.source) == 0


def test_lift_rejects_bad_arguments(chain_file):
    index = ChainIndex.from_file(chain_file)
    with pytest.raises(ValueError, match="start < end"):
        index.lift(["chr1"], [10], [10])
    with pytest.raises(ValueError, match="min_match"):
        index.lift(["chr1"], [10], [20], min_match=0)
    with pytest.raises(ValueError, match="same length"):
        index.lift(["chr1", "chr1"], [10], [20])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chain 1 chr1 100 + 0 10 chrA 100 + 0 10\n", "chain 1 has no alignment"),
        ("chain 1 chr1 100 + 0 10 chrA 100 +\n10\n", ":1: a chain header has 12 or 13 fields"),
        ("chain 1 chr1 100 - 0 10 chrA 100 + 0 10 1\n10\n", "tStrand must be"),
        ("chain 1 chr1 100 + 0 10 chrA 100 * 0 10 1\n10\n", "qStrand must be"),
        ("chain 1 chr1 100 + 0 20 chrA 100 + 0 20 1\n5 x 0\n10\n", ":2: expected 'size dt dq'"),
        ("chain 1 chr1 100 + 0 20 chrA 100 + 0 20 1\n5 5 5\n5 5\n", ":3: expected 'size'"),
        ("chain 1 chr1 100 + 0 20 chrA 100 + 0 20 1\n5 0 0\n10\n", "blocks of chain 1 end at t 15"),
        ("chain 1 chr1 100 + 0 200 chrA 100 + 0 20 1\n20\n", "0 <= start < end <= size"),
        ("hello\n", ":1: expected a 'chain' header"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.chain"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        read_chains(path)
    assert str(path) in str(err.value)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="nope.chain"):
        read_chains("nope.chain")


def oracle(chains, chrom, s, e):
    """Per chain with aligned bases in [s, e): (chain id, aligned, q_start, q_end, strand).

    Brute force over every block (no binary search), independent of ChainIndex."""
    hits = []
    for c in chains:
        if c.t_name != chrom:
            continue
        lo = np.maximum(s, c.t_starts)
        hi = np.minimum(e, c.t_starts + c.sizes)
        over = np.flatnonzero(lo < hi)
        if len(over) == 0:
            continue
        k1, k2 = over[0], over[-1]
        first = int(c.q_starts[k1] + lo[k1] - c.t_starts[k1])
        last = int(c.q_starts[k2] + hi[k2] - c.t_starts[k2])
        if c.q_strand == "-":
            first, last = c.q_size - last, c.q_size - first
        hits.append((c.id, int((hi - lo)[over].sum()), first, last, c.q_strand))
    return sorted(hits)


def check_against_oracle(chains, index, chroms, starts, ends):
    r = index.lift(chroms, starts, ends, min_match=1e-9, multiple=True)
    for i in range(len(starts)):
        rows = np.flatnonzero((r.source == i) & r.mapped)
        got = sorted(
            (int(r.chain_id[k]), round(float(r.matched[k]) * (ends[i] - starts[i])),
             int(r.start[k]), int(r.end[k]), r.strand[k])
            for k in rows
        )  # fmt: skip
        assert got == oracle(chains, chroms[i], int(starts[i]), int(ends[i])), i


def random_chain_text(rng: np.random.Generator, n_chains: int) -> str:
    out = []
    for cid in range(1, n_chains + 1):
        n = int(rng.integers(1, 8))
        sizes = rng.integers(1, 60, n)
        dt, dq = rng.integers(0, 30, n - 1), rng.integers(0, 30, n - 1)
        t0, q0 = int(rng.integers(0, 2000)), int(rng.integers(0, 500))
        t_end = t0 + int(sizes.sum() + dt.sum())
        q_end = q0 + int(sizes.sum() + dq.sum())
        strand = "-" if rng.random() < 0.5 else "+"
        chrom = f"chr{int(rng.integers(1, 3))}"
        out.append(f"chain {cid} {chrom} 5000 + {t0} {t_end} q{cid % 3} 3000 {strand} {q0} "
                   f"{q_end} {cid}\n")  # fmt: skip
        out.extend(f"{a} {b} {c}\n" for a, b, c in zip(sizes[:-1], dt, dq, strict=True))
        out.append(f"{sizes[-1]}\n\n")
    return "".join(out)


def test_lift_matches_brute_force_on_random_chains(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "random.chain"
    path.write_text(random_chain_text(rng, 40))
    chains = read_chains(path)
    index = ChainIndex(chains)
    starts = rng.integers(0, 2500, 400)
    ends = starts + rng.integers(1, 150, 400)
    chroms = np.array([f"chr{k}" for k in rng.integers(1, 3, 400)], object)
    check_against_oracle(chains, index, chroms, starts, ends)


def test_real_hg19_to_mm9_chain(shared_data):
    path = shared_data / "chain" / "hg19.mm9.rBest.chain.gz"
    chains = read_chains(path)
    assert len(chains) == 2
    first = chains[0]
    assert (first.score, first.t_name, first.t_size, first.t_start, first.t_end) == (
        355917360, "chr16", 90354753, 46693272, 90110030,
    )  # fmt: skip
    assert (first.q_name, first.q_size, first.q_strand, first.q_start, first.q_end, first.id) == (
        "chr8", 131738871, "+", 87782678, 126060687, 16,
    )  # fmt: skip
    assert chains[1].q_strand == "-" and chains[1].id == 97
    for c in chains:  # blocks are ordered and disjoint on both sequences
        assert (np.diff(c.t_starts) >= c.sizes[:-1]).all()
        assert (np.diff(c.q_starts) >= c.sizes[:-1]).all()
    index = ChainIndex(chains)
    rng = np.random.default_rng(1)
    starts = rng.integers(46_600_000, 90_200_000, 300)
    ends = starts + rng.integers(1, 3000, 300)
    chroms = np.full(300, "chr16", object)
    check_against_oracle(chains, index, chroms, starts, ends)
    # Inside the inverted chain every lifted interval lands on the minus strand of chr8, within
    # the header's qStart-qEnd (which count on the reverse strand).
    s = rng.integers(70_206_183, 74_355_000, 1000)
    r = index.lift(np.full(1000, "chr16", object), s, s + 100, min_match=0.9)
    assert r.mapped.mean() > 0.2
    assert set(r.strand[r.mapped]) == {"-"} and set(r.chrom[r.mapped]) == {"chr8"}
    lo, hi = 131738871 - 21650091, 131738871 - 18131328
    assert ((r.start[r.mapped] >= lo) & (r.end[r.mapped] <= hi)).all()


def test_swap_chain_inverts_lifting(tmp_path):
    from jaxssl.homology.chain import swap_chain

    rng = np.random.default_rng(2)
    path = tmp_path / "random.chain"
    path.write_text(random_chain_text(rng, 30))
    chains = read_chains(path)
    for c in chains:
        twice = swap_chain(swap_chain(c))
        for key in ("t_name", "t_start", "t_end", "q_name", "q_strand", "q_start", "q_end"):
            assert getattr(twice, key) == getattr(c, key)
        np.testing.assert_array_equal(twice.t_starts, c.t_starts)
        np.testing.assert_array_equal(twice.q_starts, c.q_starts)
    forward, back = ChainIndex(chains), ChainIndex([swap_chain(c) for c in chains])
    # Every aligned block lifts forward and back onto itself.
    for c in chains:
        r = forward.lift([c.t_name] * len(c.sizes), c.t_starts, c.t_starts + c.sizes,
                         min_match=1.0, multiple=True)  # fmt: skip
        rows = np.flatnonzero(r.chain_id == c.id)
        assert len(rows) == len(c.sizes)
        b = back.lift(r.chrom[rows], r.start[rows], r.end[rows], r.strand[rows], min_match=1.0,
                      multiple=True)  # fmt: skip
        mine = b.chain_id == c.id
        np.testing.assert_array_equal(b.start[mine], c.t_starts)
        np.testing.assert_array_equal(b.end[mine], c.t_starts + c.sizes)
        assert set(b.strand[mine]) == {"+"}  # back onto the reference's + strand


def test_headers_remember_their_line(chain_file):
    assert [c.line for c in read_chains(chain_file)] == [1, 6, 9]


def test_real_chain_checked_against_genome_sizes_and_mapped(shared_data):
    from jaxssl.homology.chain import check_chain_genomes
    from jaxssl.homology.mapping import map_by_chains, window_starts

    path = shared_data / "chain" / "hg19.mm9.rBest.chain.gz"
    chains = read_chains(path)
    hg19, mm9 = {"chr16": 90354753, "chr1": 249250621}, {"chr8": 131738871}
    check_chain_genomes(chains, path, target_sizes=hg19, query_sizes=mm9)
    with pytest.raises(ValueError, match=r"gz:1: chain 16 says target sequence 'chr16' is "
                                         r"90,354,753 bp, hg18 has 88,827,254"):  # fmt: skip
        check_chain_genomes(chains, path, target_sizes={"chr16": 88827254}, query_sizes=mm9,
                            target_what="hg18")  # fmt: skip
    with pytest.raises(ValueError, match="query sequence 'chr8'.*not in mm10 FASTA"):
        check_chain_genomes(chains, path, target_sizes=hg19, query_sizes={"chr7": 1},
                            query_what="mm10 FASTA")  # fmt: skip
    with pytest.raises(ValueError, match="run the other way"):
        check_chain_genomes(chains, path, target_sizes=mm9, query_sizes=hg19)

    # 200 bp windows through the real chains: an aligned centre base lands where its block
    # puts it (q = block q start + offset, mirrored on a minus-strand chain).
    index = ChainIndex(chains)
    rng = np.random.default_rng(3)
    starts = rng.integers(46_700_000, 90_000_000, 2000)
    strands = np.where(rng.random(2000) < 0.5, "+", "-").astype(object)
    m = map_by_chains(index, np.full(2000, "chr16", object), starts, strands, 200, min_match=0.5)
    assert len(m.source) > 200 and m.counts["source_windows"] == 2000
    assert m.minus.any() and (~m.minus).any()
    centre = np.where(strands == "+", starts + 100, starts + 99)[m.source]
    expected = np.full(len(centre), -1)
    for c in chains:
        k = np.clip(np.searchsorted(c.t_starts, centre, "right") - 1, 0, None)
        inside = (centre >= c.t_starts[k]) & (centre < c.t_starts[k] + c.sizes[k])
        q = c.q_starts[k] + centre - c.t_starts[k]
        q = c.q_size - 1 - q if c.q_strand == "-" else q
        flip = (strands[m.source] == "-") ^ (c.q_strand == "-")
        expected = np.where(inside & (flip == m.minus), q, expected)
    aligned = expected >= 0
    assert aligned.mean() > 0.9 and m.counts["centre_in_gap"] == (~aligned).sum()
    np.testing.assert_array_equal(m.centre[aligned], expected[aligned])
    ws = window_starts(m.centre, m.minus, 200)
    assert ((ws >= 0) & (ws + 200 <= 131738871)).all()


def test_gzipped_garbage_is_refused_naming_the_chain_file(tmp_path):
    path = tmp_path / "ref_to_tgt.chain.gz"
    path.write_bytes(gzip.compress(bytes(range(256)) * 8))
    with pytest.raises(ValueError) as err:
        read_chains(path)
    message = str(err.value)
    assert message.startswith(f"{path}:2: gzip-compressed data that is not text (byte 128)")
    assert "not a chain file" in message
    cut = tmp_path / "cut.chain.gz"  # real gzip, cut short
    cut.write_bytes(gzip.compress(b"chain 1 a 10 + 0 10 b 10 + 0 10 1\n10\n" * 50)[:-20])
    with pytest.raises(ValueError, match=rf"^{cut}: corrupt or truncated gzip data"):
        read_chains(cut)
