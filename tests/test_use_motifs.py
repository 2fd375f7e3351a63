"""`python -m jaxssl motifs`: filters built from known PWMs match those JASPAR motifs first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxssl.__main__ import main
from jaxssl.tokens import decode
from jaxssl.toyworld.motifs import SHIPPED_MEME, read_meme
from jaxssl.use import motifs
from jaxssl.use.output import read_tsv
from tests.use_model import trained_run

DATABASE = read_meme(SHIPPED_MEME)
JASPAR = (
    Path(__file__).resolve().parents[2]
    / "shared/data/motifs/JASPAR2024_CORE_vertebrates_nonredundant.meme"
)


def _sample_site(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.choice(4, p=row / row.sum()) for row in probs], np.uint8)


def test_similarity_is_one_for_the_motif_itself_on_either_strand():
    ctcf = next(m for m in DATABASE if m.name == "CTCF")
    best = motifs.match(ctcf.probs, DATABASE)[0]
    assert best.target.name == "CTCF" and best.strand == "+" and best.offset == 0
    assert best.score == pytest.approx(1.0, abs=1e-6)
    rc = motifs.match(ctcf.probs[::-1, ::-1], DATABASE)[0]
    assert rc.target.name == "CTCF" and rc.strand == "-" and rc.r == pytest.approx(1.0)
    # A sub-motif (columns 3..11) aligns at offset 3 with partial credit.
    part = motifs.match(ctcf.probs[3:12], DATABASE, trim_bits=0.0)[0]
    assert part.target.name == "CTCF" and part.offset == 3 and part.r == pytest.approx(1.0)


def test_activations_equal_a_brute_force_convolution():
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(5, 4, 3)), rng.normal(size=3)
    tokens = rng.integers(0, 5, (2, 12)).astype(np.uint8)
    act = motifs.activations(tokens, kernel, bias)
    onehot = np.eye(5)[tokens][..., :4]
    for n, i, f in [(0, 0, 0), (1, 7, 2), (1, 3, 1)]:
        expected = (onehot[n, i : i + 5] * kernel[:, :, f]).sum() + bias[f]
        assert act[n, i, f] == pytest.approx(expected, rel=1e-5)


def test_filters_built_from_known_pwms_match_those_motifs_first(tmp_path):
    rng = np.random.default_rng(1)
    chosen = DATABASE[:4]
    width = max(m.width for m in chosen) + 2
    kernel = np.zeros((width, 4, len(chosen) + 1), np.float32)
    for f, m in enumerate(chosen):  # a log-odds filter, flipped for the odd ones (- strand)
        lo = m.log_odds() if f % 2 == 0 else m.log_odds()[::-1, ::-1]
        kernel[1 : 1 + m.width, :, f] = lo
    kernel[:, :, -1] = -1.0  # a filter that never fires
    tokens = rng.integers(0, 4, (400, 60)).astype(np.uint8)
    for n in range(len(tokens)):  # one planted site per sequence, random motif and position
        m = chosen[n % len(chosen)]
        site = _sample_site(m.probs, rng)
        pos = rng.integers(0, 60 - m.width)
        tokens[n, pos : pos + m.width] = site if rng.random() < 0.5 else 3 - site[::-1]
    bias = np.zeros(kernel.shape[2], np.float32)
    pwms = motifs.filter_pwms(tokens, kernel, bias)
    table = motifs.match_table(pwms, DATABASE, null_size=2000)
    for f, m in enumerate(chosen):
        assert table["match1_id"][f] == m.id, (f, m.name, table["match1_name"][f])
        assert table["match1_score"][f] > 0.8
        assert table["match1_p"][f] <= 2e-3 and table["match1_q"][f] < 0.05
        assert table["match1_strand"][f] == ("+" if f % 2 == 0 else "-")
        assert pwms[f].nsites > 50
    assert pwms[-1].nsites == 0 and table["match1_id"][-1] == ""
    (tmp_path / "x.meme").write_text(motifs.meme_text(pwms))
    reread = read_meme(tmp_path / "x.meme")
    assert [r.id for r in reread] == [p.name for p in pwms]
    np.testing.assert_allclose(reread[0].probs, pwms[0].probs, atol=1e-6)


def _random_filters(rng: np.random.Generator, filters: int) -> list[motifs.FilterPWM]:
    """PWMs of random-weight filters read through random sequences (no planted motif)."""
    kernel = rng.normal(size=(12, 4, filters)).astype(np.float32)
    tokens = rng.integers(0, 4, (400, 60)).astype(np.uint8)
    return motifs.filter_pwms(tokens, kernel, np.zeros(filters, np.float32))


def test_random_filters_get_no_significant_match():
    pwms = _random_filters(np.random.default_rng(5), 12)
    table = motifs.match_table(pwms, DATABASE, null_size=2000)
    e, q = np.asarray(table["match1_e"]), np.asarray(table["match1_q"])
    assert (q >= 0.01).all()  # E is per filter: 1 in 12 below 0.05 is what chance allows
    assert (e < 0.05).sum() <= 1 and np.median(e) > 0.3


def test_significance_is_an_empirical_p_against_permuted_queries():
    ctcf = next(m for m in DATABASE if m.name == "CTCF")
    found = motifs.match(ctcf.probs, DATABASE, null_shuffles=50)
    floor = 1 / (1 + 50 * len(DATABASE))
    assert found[0].target.name == "CTCF" and found[0].p_value == pytest.approx(floor)
    assert found[0].e_value == pytest.approx(floor * len(DATABASE))
    assert all(0 < m.p_value <= 1 and m.p_value <= m.q_value <= 1 for m in found)
    assert np.isnan(motifs.match(ctcf.probs, DATABASE)[0].p_value)  # no null asked for
    q = motifs.benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5]))
    np.testing.assert_allclose(q, [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])


@pytest.mark.skipif(not JASPAR.is_file(), reason="JASPAR file of ../shared/data not present")
def test_jaspar_ctcf_filter_is_significant_and_random_filters_are_not():
    jaspar = read_meme(JASPAR)
    ctcf = next(m for m in jaspar if m.id == "MA0139.2")
    rng = np.random.default_rng(1)
    kernel = np.zeros((ctcf.width + 2, 4, 1), np.float32)
    kernel[1:-1, :, 0] = ctcf.log_odds()
    tokens = rng.integers(0, 4, (300, 60)).astype(np.uint8)
    for n in range(0, 300, 2):
        pos = rng.integers(0, 60 - ctcf.width)
        tokens[n, pos : pos + ctcf.width] = _sample_site(ctcf.probs, rng)
    pwms = motifs.filter_pwms(tokens, kernel, np.zeros(1, np.float32))
    pwms += _random_filters(np.random.default_rng(5), 4)
    table = motifs.match_table(pwms, jaspar, null_size=5000)
    assert table["match1_id"][0] == "MA0139.2"
    assert table["match1_p"][0] < 1e-3 and table["match1_q"][0] < 0.05
    assert min(table["match1_q"][1:]) > 0.05


def test_motifs_cli_writes_meme_and_table(tmp_path):
    data, run_dir = trained_run()
    rng = np.random.default_rng(2)
    fasta = tmp_path / "s.fa"
    fasta.write_text("".join(f">s{i}\n{decode(rng.integers(0, 4, 40))}\n" for i in range(50)))
    out = tmp_path / "m.meme"
    argv = ["motifs", "--model", str(run_dir), "--fasta", str(fasta), "--out", str(out)]
    argv += ["--null-size", "2000"]
    assert main(argv) == 0
    pwms = read_meme(out)
    assert [p.id for p in pwms] == [f"filter_{f}" for f in range(8)]
    assert all(p.width == 19 for p in pwms)
    table = read_tsv(tmp_path / "m.meme.tsv")
    assert table["filter"] == [p.id for p in pwms]
    assert set(table["match1_name"]) <= {m.name for m in DATABASE} | {""}
    assert {"match1_p", "match1_e", "match1_q"} <= set(table)
    argv = ["motifs", "--model", str(run_dir), "--shards", str(data), "--split", "test"]
    argv += ["--null-size", "2000"]
    assert main([*argv, "--out", str(tmp_path / "s.meme"), "--table", str(tmp_path / "t.tsv")]) == 0
    assert len(read_tsv(tmp_path / "t.tsv")["filter"]) == 8
