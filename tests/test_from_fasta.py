"""`data_prep from-fasta`: labels per file, chromosome or hashed-name splits, refused input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from data_prep.__main__ import main
from data_prep.from_fasta import chrom_of, hash_split, start_of
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import load_split
from jaxssl.tokens import decode

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "chipseq"


def fasta(path: Path, records: dict[str, str], *, gz: bool = False) -> Path:
    text = "".join(
        f">{name} some description\n{seq[:5]}\n{seq[5:]}\n" for name, seq in records.items()
    )
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


def test_names_carry_chromosomes_and_starts():
    assert chrom_of("chr8_12") == "chr8" and chrom_of("chr8:100-300") == "chr8"
    assert chrom_of("chrX-5") == "chrX" and chrom_of("chr21") == "chr21"
    assert chrom_of("8:100-300") == "8" and chrom_of("8_peak") is None
    assert chrom_of("peak_17") is None and chrom_of("chromatin_1") is None
    assert start_of("chr8:1,100-1,300") == 1100 and start_of("chr8_12") == -1
    assert hash_split("seq1", 0.1, 0.1) == hash_split("seq1", 0.1, 0.1)
    splits = [hash_split(f"r{i}", 0.2, 0.3) for i in range(2000)]
    assert abs(splits.count("test") / 2000 - 0.3) < 0.04
    assert abs(splits.count("valid") / 2000 - 0.2) < 0.04


def test_splits_by_chromosome_from_headers_with_labels_per_file(tmp_path, capsys):
    pos = fasta(
        tmp_path / "pos.fa.gz",
        {"chr1_1": "ACGTACGTAC", "chr7_2": "AAAAAAAAAA", "chr8:100-110": "CCCCCCCCCC"},
        gz=True,
    )
    neg = fasta(
        tmp_path / "neg.fa",
        {"chr2_1": "GGGGGGGGGGGG", "chr9_1": "TTTTTTTT", "chr1_1": "ACRTACGTAC"},
    )
    out = tmp_path / "out"
    argv = ["from-fasta", str(out), "--fasta", str(pos), "--fasta", str(neg), "--labels", "1,0"]
    assert main(argv) == 0
    m = load_manifest(out)
    assert m.seq_len == 10 and m.task_names == ["label"]
    assert m.metadata["split_by"] == "chrom"
    assert m.metadata["split_chroms"] == {"valid": ["chr7"], "test": ["chr8", "chr9"]}
    train = load_split(out, "train")
    assert [decode(t) for t in train["tokens"]] == [
        "ACGTACGTAC",
        "GGGGGGGGGG",  # 12 bp centre-cropped
        "ACNTACGTAC",  # IUPAC read as N
    ]
    assert train["labels"][:, 0].tolist() == [1, 0, 0]
    assert [str(c) for c in train["chrom"]] == ["chr1", "chr2", "chr1"]
    test = load_split(out, "test")
    assert [decode(t) for t in test["tokens"]] == ["CCCCCCCCCC", "NTTTTTTTTN"]  # 8 bp padded
    assert test["labels"][:, 0].tolist() == [1, 0] and int(test["start"][0]) == 100
    valid = load_split(out, "valid")
    assert valid["labels"][:, 0].tolist() == [1]
    assert m.metadata["length_fit"]["train"]["cropped"] == 1
    assert "split by chromosome" in capsys.readouterr().out

    # Held-out chromosomes are overridable, with or without 'chr'.
    out2 = tmp_path / "out2"
    assert main([*argv[:1], str(out2), *argv[2:], "--valid-chroms", "2", "--test-chroms", "1"]) == 0
    m = load_manifest(out2)
    assert m.splits["test"]["count"] == 2 and m.splits["valid"]["count"] == 1


def test_hash_split_when_names_carry_no_chromosome(tmp_path, capsys):
    rng = np.random.default_rng(0)
    files = []
    for k in range(3):
        recs = {f"seq{k}_{i}": decode(rng.integers(0, 4, 12)) for i in range(40)}
        recs["chr1_0"] = "ACGTACGTACG" + "ACG"[k]  # one chromosome-like name is not enough
        files.append(fasta(tmp_path / f"f{k}.fa", recs))
    out = tmp_path / "out"
    argv = ["from-fasta", str(out), "--labels", "0,1,2", "--label-type", "multiclass"]
    for f in files:
        argv += ["--fasta", str(f)]
    assert main([*argv, "--valid-fraction", "0.2", "--test-fraction", "0.2"]) == 0
    m = load_manifest(out)
    assert m.metadata["split_by"] == "hash"
    got = {}
    for split in ("train", "valid", "test"):
        data = load_split(out, split)
        got[split] = data["labels"][:, 0].tolist()
    assert sum(len(v) for v in got.values()) == 123
    assert {0.0, 1.0, 2.0} <= set(got["train"])
    for k in range(3):  # each file's records go where their names hash to
        names = [f"seq{k}_{i}" for i in range(40)] + ["chr1_0"]
        expected = [hash_split(n, 0.2, 0.2) for n in names]
        assert m.metadata["per_file_splits"][str(files[k])] == {
            s: expected.count(s) for s in ("train", "valid", "test")
        }
    # --split-by chrom names the first record without a chromosome.
    assert main([*argv[:1], str(tmp_path / "o2"), *argv[2:], "--split-by", "chrom"]) == 2
    assert "f0.fa: line 1: record name 'seq0_0' carries no chromosome" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("1", "has 1 labels for 2 --fasta files"),
        ("1,0,1", "has 3 labels for 2 --fasta files"),
        ("1,x", "'x' (for"),
        ("2,0", "not a binary label in [0, 1]"),
    ],
)
def test_bad_labels_are_refused(tmp_path, capsys, labels, message):
    a = fasta(tmp_path / "a.fa", {"chr1_1": "ACGTACGTAC"})
    b = fasta(tmp_path / "b.fa", {"chr7_1": "ACGTACGTAC"})
    argv = ["from-fasta", str(tmp_path / "o"), "--fasta", str(a), "--fasta", str(b)]
    assert main([*argv, "--labels", labels]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_bad_files_are_refused_with_file_and_line(tmp_path, capsys):
    good = fasta(tmp_path / "a.fa", {"chr1_1": "ACGTACGTAC"})
    argv = ["from-fasta", str(tmp_path / "o"), "--labels", "1,0", "--fasta", str(good)]
    assert main([*argv, "--fasta", str(tmp_path / "missing.fa")]) == 2
    assert "missing.fa: no such FASTA file" in capsys.readouterr().err
    protein = tmp_path / "p.fa"
    protein.write_text(">chr2_1\nACGTACGTAC\n>chr2_2\nMEEPQSDPSVEPPLSQETFSDLWKLL\n")
    assert main([*argv, "--fasta", str(protein)]) == 2
    assert "p.fa: line 3: " in capsys.readouterr().err
    empty = tmp_path / "e.fa"
    empty.write_text(">chr2_1\n>chr2_2\nACGT\n")
    assert main([*argv, "--fasta", str(empty)]) == 2
    assert "e.fa: line 1: record 'chr2_1' has no sequence" in capsys.readouterr().err
    headless = tmp_path / "h.fa"
    headless.write_text("ACGT\n")
    assert main([*argv, "--fasta", str(headless)]) == 2
    assert "h.fa: line 1: sequence before the first '>'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared CTCF ChIP-seq FASTA not present")
def test_ctcf_chipseq_fasta_splits_by_chromosome(tmp_path):
    pos, neg = (SHARED / f"CTCF_GM12878_hg19_{k}.fa.gz" for k in ("pos", "neg"))
    out = tmp_path / "ctcf"
    argv = ["from-fasta", str(out), "--fasta", str(pos), "--fasta", str(neg), "--labels", "1,0"]
    assert main([*argv, "--task-name", "CTCF"]) == 0
    m = load_manifest(out)
    assert m.seq_len == 201 and m.metadata["split_by"] == "chrom"
    assert sum(s["count"] for s in m.splits.values()) == 4000 + 4536
    test = load_split(out, "test")
    assert {str(c) for c in test["chrom"]} == {"chr8", "chr9"}


def test_multi_task_label_table_with_missing_labels(tmp_path, capsys):
    a = fasta(tmp_path / "a.fa", {"chr1_1": "ACGTACGTAC", "chr8_1": "CCCCCCCCCC"})
    b = fasta(tmp_path / "b.fa.gz", {"chr2_1": "GGGGGGGGGA", "chr7_1": "TTTTTTTTTT"}, gz=True)
    table = tmp_path / "labels.tsv"
    table.write_text(
        "record\tCTCF\tRAD21\n"
        "chr1_1\t1\t0\n"
        "chr2_1\t0\tNA\n"  # RAD21 not measured for this record
        "chr8_1\t1\t1\n"
        "chr7_1\t0\t\n"
        "chr5_9\t1\t1\n"  # a row without a record: counted, not an error
    )
    out = tmp_path / "out"
    argv = ["from-fasta", str(out), "--fasta", str(a), "--fasta", str(b)]
    assert main([*argv, "--label-table", str(table)]) == 0
    m = load_manifest(out)
    assert m.task_names == ["CTCF", "RAD21"]
    assert m.metadata["missing_labels"] == {"CTCF": 0, "RAD21": 2}
    assert m.metadata["table_rows_without_record"] == 1
    train = load_split(out, "train")
    np.testing.assert_array_equal(train["labels"], [[1, 0], [0, np.nan]])
    assert [str(c) for c in train["chrom"]] == ["chr1", "chr2"]
    np.testing.assert_array_equal(load_split(out, "test")["labels"], [[1, 1]])
    assert "missing (NaN, skipped by the loss)" in capsys.readouterr().out

    # A CSV with the names in another column, chosen by --name-column.
    csv = tmp_path / "labels.csv"
    csv.write_text("CTCF,name\n1,chr1_1\n0,chr2_1\n1,chr8_1\n0,chr7_1\n")
    out2 = tmp_path / "out2"
    argv2 = [*argv[:1], str(out2), *argv[2:], "--label-table", str(csv)]
    assert main([*argv2, "--name-column", "name"]) == 0
    assert load_manifest(out2).task_names == ["CTCF"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name\tCTCF\nchr1_1\t1\n", "b.fa: line 1: record 'chr2_1' has no row in"),
        ("name\tCTCF\nchr1_1\t1\nchr2_1\tyes\n", "line 3: task 'CTCF' of 'chr2_1' is 'yes'"),
        ("name\tCTCF\nchr1_1\t1\nchr2_1\t0\t1\n", "line 3: 3 fields, the header has 2"),
        ("name\tCTCF\nchr1_1\t1\nchr1_1\t0\n", "line 3: record 'chr1_1' again (first on line 2)"),
        ("name\tCTCF\nchr1_1\t1\nchr2_1\t2\n", "line 3: label 'CTCF' is 2"),
        ("name\nchr1_1\n", "line 1: header ['name']; expected the record-name column"),
    ],
)
def test_bad_label_tables_are_refused_with_file_and_line(tmp_path, capsys, text, message):
    a = fasta(tmp_path / "a.fa", {"chr1_1": "ACGTACGTAC"})
    b = fasta(tmp_path / "b.fa", {"chr2_1": "ACGTACGTAC"})
    table = tmp_path / "t.tsv"
    table.write_text(text)
    argv = ["from-fasta", str(tmp_path / "o"), "--fasta", str(a), "--fasta", str(b)]
    assert main([*argv, "--label-table", str(table)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not (tmp_path / "o").exists()
    assert main([*argv, "--label-table", str(table), "--task-name", "x"]) == 2
    assert "a --label-table names its tasks in its header" in capsys.readouterr().err


def test_one_sequence_labelled_both_ways_is_refused_naming_both_records(tmp_path, capsys):
    pos = fasta(tmp_path / "pos.fa", {"p1": "ACGTACGTAA", "p2": "CCCCGGGGAA"})
    # n7 is p2's reverse complement (lower case): the same sequence, labelled 0.
    neg = fasta(tmp_path / "neg.fa", {"n1": "GGGGGGGGGG", "n7": "ttccccgggg"})
    argv = ["from-fasta", str(tmp_path / "out"), "--fasta", str(pos), "--fasta", str(neg)]
    assert main([*argv, "--labels", "1,0"]) != 0
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{pos}: line 4: record 'p2' and {neg}: line 4: record 'n7' hold the same" in err
    assert "labelled [1] and [0]" in err
    assert not (tmp_path / "out").exists()


def test_plain_duplicates_are_kept_and_counted(tmp_path, capsys):
    # a2 repeats a1 (same labels); chr-less names, so records split by hashed name. "r1" is a
    # name used in both files for different sequences (numbered per file): counted, not refused.
    pos = fasta(tmp_path / "a.fa", {"a1": "ACGTACGTAA", "a2": "ACGTACGTAA", "r1": "CCCCCCCCAA"})
    neg = fasta(tmp_path / "b.fa", {"r1": "GGGGGGGGTT", "b2": "TTTTAAAACC"})
    out = tmp_path / "out"
    argv = ["from-fasta", str(out), "--fasta", str(pos), "--fasta", str(neg), "--labels", "1,0"]
    assert main([*argv, "--test-fraction", "0", "--valid-fraction", "0.01"]) == 0
    m = load_manifest(out)
    assert m.metadata["input_duplicates"] == {
        "same_sequence": 1,
        "same_name": 1,
        "same_name_other_labels": 1,
    }
    assert sum(s["count"] for s in m.splits.values()) == 5  # nothing dropped
    assert "repeated records (kept): 1 with a sequence seen before" in capsys.readouterr().out


def test_random_bytes_named_fa_gz_are_called_not_gzip(tmp_path, capsys):
    junk = tmp_path / "pos.fa.gz"
    junk.write_bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    neg = fasta(tmp_path / "neg.fa", {"n1": "GGGGGGGGGG"})
    argv = ["from-fasta", str(tmp_path / "o"), "--fasta", str(junk), "--fasta", str(neg)]
    assert main([*argv, "--labels", "1,0"]) == 2
    err = capsys.readouterr().err
    assert f"{junk}: not gzip data although named .gz" in err and "before the first" not in err
