"""FASTA and BED/narrowPeak readers, overlap index and negative sampling on tiny files."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from jaxssl.genome.background import dinucleotide_shuffle, match_gc
from jaxssl.genome.fasta import Genome, resolve_chroms
from jaxssl.genome.intervals import IntervalIndex, read_intervals
from jaxssl.tokens import decode, encode


def write_fasta(path, records: dict[str, str], width: int = 60, crlf: bool = False) -> None:
    nl = "\r\n" if crlf else "\n"
    lines = []
    for name, seq in records.items():
        lines.append(f">{name} description")
        lines += [seq[i : i + width] for i in range(0, len(seq), width)]
    path.write_text(nl.join(lines) + nl)


def test_fasta_lowercase_iupac_edges_and_counts(tmp_path):
    fa = tmp_path / "g.fa"
    write_fasta(fa, {"chr1": "ACGTacgtRYN*ACGT", "chr2": "GGGG"}, width=5)
    g = Genome(fa)
    assert g.lengths == {"chr1": 16, "chr2": 4} and g.name == "g"
    assert decode(g.fetch("chr1", 0, 8)) == "ACGTACGT"  # soft-masked read as bases
    assert decode(g.fetch("chr1", 8, 12)) == "NNNN"
    assert g.counts.iupac_or_n == 3 and g.counts.invalid == 1 and g.counts.invalid_chars == {"*"}
    assert decode(g.fetch("chr2", -2, 6)) == "NNGGGGNN"  # past both ends: N-padded


def test_fasta_crlf_and_missing_then_stale_index(tmp_path):
    fa = tmp_path / "g.fa"
    write_fasta(fa, {"1": "ACGT" * 30, "2": "TTTT" * 10}, crlf=True)
    assert not (tmp_path / "g.fa.fai").exists()
    g = Genome(fa)  # builds the missing index
    assert (tmp_path / "g.fa.fai").exists() and decode(g.fetch("2", 0, 4)) == "TTTT"
    assert decode(g.fetch("1", 58, 66)) == "GTACGTAC"
    g.close()
    # A FASTA rewritten under an index that is newer than it: detected, explained.
    write_fasta(fa, {"1": "ACGT" * 3, "2": "TTTT" * 40})
    future = time.time() + 100
    os.utime(tmp_path / "g.fa.fai", (future, future))
    with pytest.raises(ValueError, match=r"g\.fa\.fai: line 1: stale or foreign index.*delete"):
        Genome(fa)


def test_missing_fasta_and_chrom_name_mismatch(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such FASTA"):
        Genome(tmp_path / "none.fa")
    fa = tmp_path / "g.fa"
    write_fasta(fa, {"1": "ACGT", "MT": "AC"})
    g = Genome(fa)
    with pytest.raises(ValueError, match=r"peaks say 'chr1', the FASTA says '1'.*fix-chrom-names"):
        resolve_chroms(["chr1"], g, source="p.bed")
    assert resolve_chroms(["chr1", "chrM", "chrZ"], g, source="p.bed", fix_names=True) == {
        "chr1": "1",
        "chrM": "MT",
        "chrZ": None,
    }


def test_read_intervals_narrowpeak_bed_dedupe_and_errors(tmp_path):
    p = tmp_path / "a.narrowPeak"
    p.write_text(
        "track name=x\r\n"
        "chr1\t100\t200\tp1\t0\t.\t5\t1\t1\t30\r\n"
        "chr1\t100\t200\tp1\t0\t.\t5\t1\t1\t30\r\n"
        "chr2\t10\t20\tp2\t0\t.\t5\t1\t1\t-1\r\n"
    )
    iv = read_intervals(p)
    assert list(iv.chrom) == ["chr1", "chr2"] and iv.duplicates == 1
    assert list(iv.summit) == [130, 15] and list(iv.line) == [2, 4] and iv.has_summits
    bad = {
        "chr1\t100\n": "line 1: 2 field",
        "chr1\tx\t200\n": "line 1: start/end 'x'",
        "chr1\t300\t200\n": r"line 1: interval \[300, 200\) is empty",
        "# only a comment\n": "no intervals",
        "": "no intervals",
        "chr1\t0\t10\ta\t0\t.\t1\t1\t1\t50\n": "summit offset 50 outside",
    }
    for text, msg in bad.items():
        p.write_text(text)
        with pytest.raises(ValueError, match=msg):
            read_intervals(p)


def test_interval_index_overlaps():
    iv = read_intervals_from([("c", 10, 20), ("c", 5, 8), ("c", 30, 100)])
    idx = IntervalIndex(iv)
    q = np.array([0, 8, 19, 20, 25, 99, 100])
    np.testing.assert_array_equal(
        idx.overlaps("c", q, q + 2), [False, False, True, False, False, True, False]
    )
    assert not idx.overlaps("other", q, q + 2).any()


def read_intervals_from(rows):
    from pathlib import Path

    from jaxssl.genome.intervals import Intervals

    arr = np.asarray([r[1:] for r in rows], np.int64)
    return Intervals(
        Path("x"),
        np.asarray([r[0] for r in rows], object),
        arr[:, 0],
        arr[:, 1],
        arr.sum(1) // 2,
        np.arange(len(rows)),
    )


def test_dinucleotide_shuffle_keeps_dinucleotide_counts():
    rng = np.random.default_rng(0)
    seq = encode("ACGTTGCANNACGGGTACCATGACGATCGATCGTAGCTAGCTAGGCATCG")

    def dinucs(t):
        return sorted(zip(t[:-1].tolist(), t[1:].tolist(), strict=True))

    outs = [dinucleotide_shuffle(seq, rng) for _ in range(5)]
    for out in outs:
        assert dinucs(out) == dinucs(seq) and out[0] == seq[0] and out[-1] == seq[-1]
    assert any(not np.array_equal(o, seq) for o in outs)


def test_match_gc_follows_target_histogram():
    rng = np.random.default_rng(0)
    target = np.full(100, 0.72)
    cand = rng.random(5000)
    pick, short = match_gc(target, cand, 2.0, rng)
    assert len(pick) == 200 and short == 0 and len(set(pick.tolist())) == 200
    assert np.all(np.abs(cand[pick] - 0.72) < 0.05)
    pick, short = match_gc(target, cand[:10], 1.0, rng)  # too few: borrow, then report shortfall
    assert len(pick) == 10 and short == 90


def test_random_bytes_are_not_taken_for_fasta(tmp_path):
    rng = np.random.default_rng(0)
    named_gz = tmp_path / "genome.fa.gz"
    named_gz.write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=rf"^{named_gz}: not gzip data although named \.gz"):
        Genome(named_gz)
    plain = tmp_path / "genome.fa"
    plain.write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=rf"^{plain}: binary data, not FASTA text"):
        Genome(plain)
