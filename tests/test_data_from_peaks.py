"""`data_prep from-peaks` end to end on a tiny genome and peak files written here."""

from __future__ import annotations

import numpy as np
import pytest

from data_prep.__main__ import main
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import load_split
from jaxssl.tokens import decode


def tiny_genome(tmp_path, prefix="chr"):
    rng = np.random.default_rng(0)
    recs = {}
    for name, length in (("1", 6000), ("2", 4000), ("7", 3000), ("8", 3000)):
        seq = "".join(rng.choice(list("ACGT"), length))
        if name == "2":
            seq = seq[:1000] + "N" * 500 + seq[1500:]  # an assembly gap
        recs[prefix + name] = seq[:2000].lower() + seq[2000:]  # soft-masked start
    fa = tmp_path / "genome.fa"
    fa.write_text(
        "".join(
            f">{k}\n" + "\n".join(v[i : i + 70] for i in range(0, len(v), 70)) + "\n"
            for k, v in recs.items()
        )
    )
    return fa, recs


def narrowpeak(rows):
    return "".join(f"{c}\t{s}\t{e}\tp\t0\t.\t1\t1\t1\t{o}\n" for c, s, e, o in rows)


def run_peaks(tmp_path, *extra, peaks_text=None, name="out"):
    fa = tmp_path / "genome.fa"
    if not fa.exists():
        tiny_genome(tmp_path)
    p = tmp_path / "tfA.narrowPeak"
    if peaks_text is not None:
        p.write_text(peaks_text)
    return main(
        [
            "from-peaks",
            str(tmp_path / name),
            "--fasta",
            str(fa),
            "--peaks",
            str(p),
            "--seq-len",
            "100",
            *extra,
        ]
    )


PEAKS = narrowpeak(
    [
        ("chr1", 500, 700, 50),  # summit 550, in the soft-masked part
        ("chr1", 500, 700, 50),  # duplicate line
        ("chr1", 3000, 3400, -1),  # no summit: region centre 3200
        ("chr1", 5990, 6000, 5),  # at the chromosome end: N-padded window
        ("chr2", 1100, 1300, 100),  # inside the N gap: dropped by --max-n-frac
        ("chr2", 3000, 3200, 100),
        ("chr7", 1000, 1200, 100),
        ("chr8", 1000, 1200, 100),
    ]
)


def test_from_peaks_windows_labels_splits_and_negatives(tmp_path):
    fa, recs = tiny_genome(tmp_path)
    q = tmp_path / "tfB.bed"
    q.write_text("chr1\t520\t580\r\nchr8\t2000\t2100\r\n")  # CRLF BED, second task
    assert (
        main(
            [
                "from-peaks",
                str(tmp_path / "out"),
                "--fasta",
                str(fa),
                "--peaks",
                str(tmp_path / "tfA.narrowPeak"),
                str(q),
                "--seq-len",
                "100",
            ]
        )
        == 2
    )  # missing
    (tmp_path / "tfA.narrowPeak").write_text(PEAKS)
    assert (
        main(
            [
                "from-peaks",
                str(tmp_path / "out"),
                "--fasta",
                str(fa),
                "--peaks",
                str(tmp_path / "tfA.narrowPeak"),
                str(q),
                "--seq-len",
                "100",
                "--max-n-frac",
                "0.5",
            ]
        )
        == 0
    )
    m = load_manifest(tmp_path / "out")
    assert m.task_names == ["tfA", "tfB"] and m.seq_len == 100
    c = m.metadata["counts"]
    assert c["duplicate_peaks"] == 1 and c["dropped_n_frac"] == 1 and c["edge_padded"] == 1
    assert m.metadata["split_chroms"] == {"valid": ["chr7"], "test": ["chr8"]}
    train = load_split(tmp_path / "out", "train")
    pos = train["labels"][:, 0] == 1
    # Positives: chr1 550, chr1 3200, chr1 5995 (edge), chr2 3100, tfB's chr1 550 merged.
    starts = sorted(zip(train["chrom"][pos], train["start"][pos].tolist(), strict=True))
    assert starts == [("chr1", 500), ("chr1", 3150), ("chr1", 5945), ("chr2", 3050)]
    i = list(train["start"]).index(500)
    assert decode(train["tokens"][i]) == recs["chr1"][500:600].upper()
    assert train["labels"][i].tolist() == [1.0, 1.0]  # tfB peak overlaps the core
    j = list(train["start"]).index(5945)
    assert decode(train["tokens"][j]).endswith("N" * 45)
    # Negatives: GC-matched background, overlap no peak, one per positive, labels all 0.
    neg = ~pos & (train["labels"][:, 1] == 0)
    assert neg.sum() == pos.sum()
    for chrom, s in zip(train["chrom"][neg], train["start"][neg], strict=True):
        assert chrom in ("chr1", "chr2")
        assert not (chrom == "chr1" and s < 700 and s + 100 > 500)
    test = load_split(tmp_path / "out", "test")
    assert set(test["chrom"]) == {"chr8"}
    assert test["labels"][:, 1].sum() == 1  # tfB-only peak on chr8 -> its own window
    assert m.splits["valid"]["count"] == 2 and len(m.sources) == 3


@pytest.mark.parametrize("mode", ["shuffle", "flank"])
def test_from_peaks_other_negatives(tmp_path, mode):
    assert run_peaks(tmp_path, "--negatives", mode, peaks_text=PEAKS) == 0
    d = load_split(tmp_path / "out", "train")
    neg = d["labels"][:, 0] == 0
    assert neg.sum() >= 1
    if mode == "shuffle":
        assert set(d["strand"][neg]) == {"."}


def test_from_peaks_bad_inputs(tmp_path, capsys):
    tiny_genome(tmp_path)
    cases = {
        "chr1\t100\n": "tfA.narrowPeak: line 1: 2 field",
        "chr1\t100\t7000\n": "line 1: peak ends at 7000, beyond the end of chr1 (6000 bp",
        "chr1\t10\t20\nchrUn\t100\t200\n": "line 2: chromosome not in",
        "": "no intervals",
        "1\t100\t200\n": "peaks say '1', the FASTA says 'chr1'",
    }
    for text, msg in cases.items():
        assert run_peaks(tmp_path, peaks_text=text) == 2
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # The same inputs pass with the fixes the messages suggest.
    assert (
        run_peaks(
            tmp_path,
            "--fix-chrom-names",
            "--negatives",
            "none",
            peaks_text="1\t100\t200\n7\t100\t200\n8\t100\t200\n",
        )
        == 0
    )
    assert (
        run_peaks(
            tmp_path,
            "--skip-bad-peaks",
            "--negatives",
            "none",
            name="o2",
            peaks_text="chr1\t100\t7000\nchrUn\t1\t2\nchr1\t10\t200\nchr7\t1\t200\nchr8\t1\t200\n",
        )
        == 0
    )
    m = load_manifest(tmp_path / "o2")
    assert m.metadata["counts"]["skipped_out_of_bounds"] == 1
    assert m.metadata["counts"]["skipped_unknown_chrom"] == 1
    assert (
        run_peaks(tmp_path, "--valid-chroms", "chr5", name="o3", peaks_text="chr1\t10\t200\n") == 2
    )
    assert "--valid-chroms 'chr5': none of these" in capsys.readouterr().err
