"""`python -m jaxssl score-variants`: windows centred on the allele, REF checks, splitting."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from jaxssl.__main__ import main
from jaxssl.tokens import N, decode, encode, reverse_complement
from jaxssl.use import bgzf, variants
from jaxssl.use.model import Predictor, load_model
from jaxssl.use.output import read_tsv
from tests.use_model import trained_run

RNG = np.random.default_rng(7)
CHROM = decode(RNG.integers(0, 4, 300))


def fetch(lo: int, hi: int) -> np.ndarray:
    out = np.full(hi - lo, N, np.uint8)
    a, b = max(lo, 0), min(hi, len(CHROM))
    out[a - lo : b - lo] = encode(CHROM[a:b])
    return out


def window(pos1: int, ref: str, alt: str, seq_len: int) -> tuple[str, str]:
    p, r, a = variants.minimal_alleles(pos1 - 1, ref, alt)
    return (
        decode(variants.allele_window(fetch, p, len(r), r, seq_len)),
        decode(variants.allele_window(fetch, p, len(r), a, seq_len)),
    )


@pytest.mark.parametrize("seq_len", [41, 40])
def test_snv_window_puts_the_alt_base_at_the_centre(seq_len):
    pos1 = 101
    alt = "ACGT"[("ACGT".index(CHROM[100]) + 1) % 4]
    ref_w, alt_w = window(pos1, CHROM[100], alt, seq_len)
    c = seq_len // 2
    assert ref_w == CHROM[100 - c : 100 - c + seq_len]
    assert alt_w[c] == alt and alt_w[:c] == ref_w[:c] and alt_w[c + 1 :] == ref_w[c + 1 :]
    # The other strand: the complement base sits at the centre of the reversed window.
    rc = decode(reverse_complement(encode(alt_w)))
    assert rc[seq_len - 1 - c] == "TGCA"["ACGT".index(alt)]
    assert abs((seq_len - 1 - c) - (seq_len - 1) / 2) <= 0.5


@pytest.mark.parametrize("seq_len", [41, 40])
def test_insertion_and_deletion_windows_are_centred(seq_len):
    c = seq_len // 2
    pad = CHROM[99]  # VCF's padding base before the indel at 0-based 100
    # insertion of GGA after 0-based position 99
    ref_w, alt_w = window(100, pad, pad + "GGA", seq_len)
    assert alt_w[c - 1 : c + 2] == "GGA"
    assert alt_w[: c - 1] == CHROM[100 - (c - 1) : 100]
    assert alt_w[c + 2 :] == CHROM[100 : 100 + seq_len - c - 2]
    assert len(ref_w) == len(alt_w) == seq_len
    # On the reverse strand the inserted bases are centred too (within half a base).
    rc = decode(reverse_complement(encode(alt_w)))
    mid = seq_len - 1 - c  # the middle inserted base, counted on the other strand
    assert rc[mid - 1 : mid + 2] == "TCC" and abs(mid - (seq_len - 1) / 2) <= 0.5
    # deletion of the 3 bases at 0-based 100..102
    ref_w, alt_w = window(100, pad + CHROM[100:103], pad, seq_len)
    assert ref_w[c - 1 : c + 2] == CHROM[100:103]  # deleted bases centred in the ref window
    assert alt_w[:c] == CHROM[100 - c : 100]  # junction at the centre
    assert alt_w[c:] == CHROM[103 : 103 + seq_len - c]


def test_allele_longer_than_the_window_is_refused():
    with pytest.raises(ValueError, match="longer than the 4 bp window"):
        variants.allele_window(fetch, 10, 0, "ACGTA", 4)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("variants")
    genome = root / "genome.fa"
    genome.write_text(f">chr1\n{CHROM}\n>chr2\n{CHROM[::-1]}\n")
    wrong = "ACGT"[("ACGT".index(CHROM[150]) + 1) % 4]
    other = [b for b in "ACGT" if b != CHROM[60]]
    rows = [
        ("chr1", 101, "rs1", CHROM[100], other[0] if CHROM[100] != other[0] else other[1]),
        ("chr1", 61, "rs2", CHROM[60], f"{other[0]},{other[1]}"),  # multi-allelic
        ("chr1", 151, "bad", wrong, CHROM[150]),  # REF mismatch
        ("chr1", 200, "ins", CHROM[199], CHROM[199] + "TTT"),
        ("chr1", 120, "del", CHROM[119:125], CHROM[119]),
        ("chr3", 10, "nochrom", "A", "C"),
        ("chr1", 10, "sym", CHROM[9], "<DEL>"),
    ]
    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    body = "".join(f"{c}\t{p}\t{i}\t{r}\t{a}\t.\tPASS\t.\n" for c, p, i, r, a in rows)
    vcf = root / "v.vcf.gz"
    with gzip.open(vcf, "wt") as f:
        f.write(header + body)
    plain = root / "ens.vcf"
    plain.write_text(header + body.replace("chr1\t", "1\t"))
    return {"genome": genome, "vcf": vcf, "ensembl": plain, "root": root}


def test_vcf_rows_split_multiallelic_and_skip_with_reasons(world):
    pairs = variants.vcf_pairs(world["vcf"], world["genome"], seq_len=40)
    ids = pairs.columns["id"]
    assert ids == ["rs1", "rs2", "rs2", "bad", "ins", "del", "nochrom", "sym"]
    assert pairs.columns["alt"][1:3] == [a for a in pairs.columns["alt"][1:3]]
    assert len(set(pairs.columns["alt"][1:3])) == 2
    status = dict(zip(ids[3:], pairs.status[3:], strict=True))
    assert status == {
        "bad": "REF does not match the genome",
        "ins": "ok",
        "del": "ok",
        "nochrom": "chromosome not in genome",
        "sym": "symbolic or non-ACGTN allele",
    }
    assert pairs.columns["ref_match"][:6] == [True, True, True, False, True, True]
    assert (pairs.ref_NL[3] == N).all()  # a skipped row is not scored


def test_ref_mismatch_modes(world):
    with pytest.raises(ValueError, match=r"v.vcf.gz: line 5: REF .* at chr1:151"):
        variants.vcf_pairs(world["vcf"], world["genome"], seq_len=40, ref_mismatch="error")
    pairs = variants.vcf_pairs(world["vcf"], world["genome"], seq_len=40, ref_mismatch="genome")
    assert pairs.status[3] == "ok" and pairs.columns["ref_match"][3] is False
    assert decode(pairs.ref_NL[3]) == CHROM[150 - 20 : 150 + 20]  # the genome's own window
    assert decode(pairs.alt_NL[3]) == decode(pairs.ref_NL[3])  # ALT equals the genome base here


def test_chromosome_names_reconciled_as_in_from_peaks(world):
    with pytest.raises(ValueError, match="--fix-chrom-names"):
        variants.vcf_pairs(world["ensembl"], world["genome"], seq_len=40)
    pairs = variants.vcf_pairs(world["ensembl"], world["genome"], seq_len=40, fix_chrom_names=True)
    assert pairs.status[0] == "ok" and pairs.columns["chrom"][0] == "1"


def test_cli_scores_vcf_and_paired_fasta(world, tmp_path):
    _, run_dir = trained_run()
    out = tmp_path / "v.tsv"
    argv = ["score-variants", "--model", str(run_dir), "--no-progress"]
    vcf_args = ["--vcf", str(world["vcf"]), "--genome", str(world["genome"])]
    assert main([*argv, *vcf_args, "--out", str(out)]) == 0
    table = read_tsv(out)
    assert table["status"][3] == "REF does not match the genome" and table["p_ref_ap1"][3] == ""
    p_ref = np.asarray(table["p_ref_ebox"][:3], np.float64)
    p_alt = np.asarray(table["p_alt_ebox"][:3], np.float64)
    np.testing.assert_allclose(np.asarray(table["diff_ebox"][:3], float), p_alt - p_ref, atol=1e-6)
    lor = np.log(p_alt / (1 - p_alt)) - np.log(p_ref / (1 - p_ref))
    np.testing.assert_allclose(np.asarray(table["log_odds_ratio_ebox"][:3], float), lor, atol=1e-4)
    predictor = Predictor(load_model(run_dir), progress=False)
    pairs = variants.vcf_pairs(world["vcf"], world["genome"], seq_len=40)
    np.testing.assert_allclose(p_alt, predictor(pairs.alt_NL[:3])[:, 1], atol=1e-6)

    ref_fa, alt_fa = tmp_path / "ref.fa", tmp_path / "alt.fa"
    ref_fa.write_text(">a\n" + CHROM[:40] + "\n>b\n" + CHROM[40:70] + "\n")
    alt_fa.write_text(
        ">b\n" + CHROM[40:55] + "CACGTG" + CHROM[61:70] + "\n>a\n" + CHROM[:40] + "\n"
    )
    out = tmp_path / "pairs.tsv"
    paired = ["--ref-fasta", str(ref_fa), "--alt-fasta", str(alt_fa), "--out", str(out)]
    assert main([*argv, *paired]) == 0
    table = read_tsv(out)
    assert table["name"] == ["a", "b"] and float(table["diff_ap1"][0]) == 0.0
    alt_fa.write_text(">c\n" + CHROM[:40] + "\n>a\n" + CHROM[:40] + "\n")
    assert main([*argv, *paired]) == 2


def test_vcf_output_adds_info_per_alt(world, tmp_path):
    _, run_dir = trained_run()
    out = tmp_path / "out.vcf.gz"
    argv = ["score-variants", "--model", str(run_dir), "--no-progress", "--vcf", str(world["vcf"])]
    assert main([*argv, "--genome", str(world["genome"]), "--out", str(out)]) == 0
    data = out.read_bytes()  # BGZF, as bgzip writes it (tabix-ready)
    assert len(bgzf.blocks(data)) >= 2 and data.endswith(bgzf.EOF_BLOCK)
    with gzip.open(out, "rt") as f:
        lines = f.read().splitlines()
    assert sum(line.startswith("##INFO=<ID=JAXSSL_") for line in lines) == 4 * 2 + 1
    records = [line.split("\t") for line in lines if not line.startswith("#")]
    assert len(records) == 7
    multi = dict(kv.split("=") for kv in records[1][7].split(";"))
    assert len(multi["JAXSSL_DIFF_ebox"].split(",")) == 2 and multi["JAXSSL_STATUS"] == "ok,ok"
    bad = dict(kv.split("=") for kv in records[2][7].split(";"))
    assert bad["JAXSSL_P_ALT_ap1"] == "." and bad["JAXSSL_STATUS"].startswith("REF_does_not")


def test_bgzf_blocks_carry_bc_field_and_end_with_the_eof_block(tmp_path):
    rng = np.random.default_rng(3)
    payload = "".join(f"chr1\t{i}\t.\t{decode(rng.integers(0, 4, 30))}\n" for i in range(6000))
    out = tmp_path / "x.gz"
    with open(out, "wb") as raw, bgzf.BgzfWriter(raw) as w:
        w.write(payload.encode())
    data = out.read_bytes()
    assert gzip.decompress(data).decode() == payload  # any gzip reader reads it whole
    found = bgzf.blocks(data)  # every member is a BGZF block (BC extra field, BSIZE)
    assert len(found) >= 4 and all(size <= 1 << 16 for _, size in found)
    assert data[-28:] == bgzf.EOF_BLOCK and found[-1] == (len(data) - 28, 28)
    assert gzip.decompress(data[found[1][0] : found[2][0]])  # blocks decompress on their own
    with pytest.raises(ValueError, match="not a gzip member"):
        bgzf.blocks(b"plain text, not BGZF at all")
    bio_bgzf = pytest.importorskip("Bio.bgzf")
    with bio_bgzf.BgzfReader(str(out), "rb") as f:
        assert f.read(len(payload) + 1).decode() == payload
