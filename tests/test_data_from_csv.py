"""`data_prep from-csv` on tiny tables made here and on the real GUE tables when present."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from data_prep.__main__ import main
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import load_split
from jaxssl.tokens import decode


def write(path, text: str, *, gz: bool = False) -> None:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)


def test_splits_lengths_iupac_crlf_and_missing_labels(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    # CRLF, lowercase, IUPAC (R) and a non-nucleotide (*); one short and one long row.
    write(
        d / "train.csv.gz",
        "sequence,label,other\r\nACGTAC,1,0\r\nacgtac,0,NA\r\nACRTA*,1,\r\nACG,0,1\r\n"
        "AACCGGTT,1,1\r\n",
        gz=True,
    )
    write(d / "dev.csv", "sequence,label,other\nTTTTTT,0,1\n")
    write(d / "test.tsv", "sequence\tlabel\tother\nGGGGGG\t1\t0\n")
    assert main(["from-csv", str(tmp_path / "out"), "--input", str(d)]) == 0
    m = load_manifest(tmp_path / "out")
    assert m.seq_len == 6 and m.task_names == ["label", "other"]
    assert list(m.splits) == ["train", "valid", "test"]
    assert m.splits["train"]["count"] == 5 and m.splits["train"]["missing"] == [0, 2]
    fit = m.metadata["length_fit"]["train"]
    assert fit == {"exact": 3, "padded": 1, "cropped": 1, "iupac_or_n": 1, "invalid": 1}
    data = load_split(tmp_path / "out", "train")
    assert [decode(t) for t in data["tokens"]] == ["ACGTAC", "ACGTAC", "ACNTAN", "NACGNN", "ACCGGT"]
    assert np.isnan(data["labels"][1, 1]) and np.isnan(data["labels"][2, 1])
    assert "1 padded, 1 cropped" in capsys.readouterr().out
    assert len(m.sources) == 3 and all(len(s["sha256"]) == 64 for s in m.sources)
    assert m.command.startswith("python -m data_prep from-csv")


def test_declared_length_strict_and_bad_rows(tmp_path, capsys):
    f = tmp_path / "t.csv"
    write(f, "sequence,label\nACGT,1\nACGTAA,0\n")
    out = tmp_path / "o"
    assert (
        main(
            [
                "from-csv",
                str(out),
                "--split",
                f"train={f}",
                "--seq-len",
                "8",
                "--length-policy",
                "left",
            ]
        )
        == 0
    )
    assert [decode(t) for t in load_split(out, "train")["tokens"]] == ["ACGTNNNN", "ACGTAANN"]
    assert main(["from-csv", str(tmp_path / "o2"), "--split", f"train={f}", "--strict-length"]) == 2
    assert f"{f}: line 3: sequence of length 6, expected 4" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()
    write(f, "sequence,label\nACGT,yes\n")
    assert main(["from-csv", str(tmp_path / "o3"), "--split", f"train={f}"]) == 2
    assert "line 2: label 'label' is 'yes'; expected a number" in capsys.readouterr().err
    write(f, "sequence,label\nACGT,1,3\n")
    assert main(["from-csv", str(tmp_path / "o3"), "--split", f"train={f}"]) == 2
    assert "line 2: 3 fields, the header has 2" in capsys.readouterr().err
    write(f, "ACGT,1\n")
    assert main(["from-csv", str(tmp_path / "o3"), "--split", f"train={f}"]) == 2
    assert "add a header line" in capsys.readouterr().err
    write(f, "")
    assert main(["from-csv", str(tmp_path / "o3"), "--split", f"train={f}"]) == 2
    assert "empty file" in capsys.readouterr().err
    write(f, "sequence,label\n")
    assert main(["from-csv", str(tmp_path / "o3"), "--split", f"train={f}"]) == 2
    assert "no data rows" in capsys.readouterr().err
    assert main(["from-csv", str(out), "--split", f"train={f}"]) == 2  # exists, no --overwrite
    assert "already exists" in capsys.readouterr().err
    assert not (tmp_path / "o3").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o", "t.csv"]


@pytest.mark.parametrize("name", ["tf0", "prom_core_notata"])
def test_real_gue_tables(shared_data, tmp_path, name):
    src = shared_data / "gue" / name
    if not src.is_dir():
        pytest.skip(f"{src} not present")
    out = tmp_path / name
    assert main(["from-csv", str(out), "--input", str(src)]) == 0
    m = load_manifest(out)
    with gzip.open(src / "dev.csv.gz", "rt") as f:
        rows = f.read().splitlines()[1:]
    assert m.splits["valid"]["count"] == len(rows)
    assert set(m.splits) == {"train", "valid", "test"}
    valid = load_split(out, "valid")
    first_seq, first_label = rows[0].split(",")
    assert decode(valid["tokens"][0]) == first_seq[: m.seq_len].upper()
    assert valid["labels"][0, 0] == float(first_label)
    assert m.splits["train"]["positives"][0] > 0
