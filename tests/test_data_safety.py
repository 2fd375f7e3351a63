"""Issue #16 (never lose data) and #10 (data hygiene): each test first builds the situation a
user hit, then asserts the fix: a refused `--overwrite` keeps the inputs, killed writes are
cleaned up, corrupt inputs and shards are named in one line (exit code 2), protein and
out-of-range labels are refused, duplicates across splits are counted and `--dedup` drops them.
"""

from __future__ import annotations

import gzip
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from data_prep.__main__ import main
from jaxssl.data import writer as writer_lib
from jaxssl.data.manifest import load_manifest
from jaxssl.data.reader import CorruptShardError, SplitReader, load_split
from jaxssl.data.writer import ShardSetWriter, sequence_keys
from jaxssl.tokens import decode, encode
from tests.synthetic import make_motif_shards
from tests.test_data_from_peaks import PEAKS, narrowpeak, tiny_genome

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tables(
    d, *, train="ACGTAC,1\nGGGTTT,0\nCCCAAA,1\n", dev="TTTAAA,0\n", test="GGCCAA,1\nTGCATG,0\n"
):
    d.mkdir(parents=True, exist_ok=True)
    (d / "train.csv").write_text("sequence,label\n" + train)
    (d / "dev.csv").write_text("sequence,label\n" + dev)
    (d / "test.csv").write_text("sequence,label\n" + test)
    return d


def snapshot(d):
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


# --- 1. --overwrite never loses data ------------------------------------------------------------


def test_overwrite_refuses_output_dir_holding_the_csv_inputs(tmp_path, capsys):
    out = tmp_path / "DIR"
    inputs = tables(out / "in")
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    rc = main(["from-csv", str(out), "--input", str(inputs), "--overwrite"])
    assert rc == 2
    err = one_line_error(capsys)
    assert str(out) in err and "inside this output directory" in err and "train.csv" in err
    assert snapshot(out) == before  # nothing deleted, nothing written
    assert [p.name for p in tmp_path.iterdir()] == ["DIR"]  # no temp folder left either


def test_overwrite_refuses_a_directory_that_is_not_a_shard_set(tmp_path, capsys):
    inputs = tables(tmp_path / "in")
    out = tmp_path / "results"
    out.mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt", "g.txt"):
        (out / name).write_text(name)
    assert main(["from-csv", str(out), "--input", str(inputs), "--overwrite"]) == 2
    err = one_line_error(capsys)
    assert "not a jaxssl shard set (no manifest.json)" in err and "a.txt, b.txt" in err
    assert "and 2 more" in err and "choose a new output directory" in err
    assert len(list(out.iterdir())) == 7


def test_overwrite_refuses_a_shard_set_with_extra_files(tmp_path, capsys):
    inputs = tables(tmp_path / "in")
    out = tmp_path / "set"
    assert main(["from-csv", str(out), "--input", str(inputs)]) == 0
    (out / "my_analysis.ipynb").write_text("{}")
    assert main(["from-csv", str(out), "--input", str(inputs), "--overwrite"]) == 2
    err = one_line_error(capsys)
    assert "my_analysis.ipynb" in err and "not part of its shard set" in err
    assert (out / "my_analysis.ipynb").exists() and (out / "manifest.json").exists()


def test_already_exists_proposes_overwrite_only_where_it_would_work(tmp_path, capsys):
    inputs = tables(tmp_path / "in")
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["from-csv", str(out), "--input", str(inputs)]) == 2
    err = one_line_error(capsys)
    assert "already exists and is not a jaxssl shard set" in err and "notes.txt" in err
    assert "--overwrite would not replace it either" in err and "pass overwrite" not in err
    (out / "notes.txt").unlink()
    (tmp_path / "set").mkdir()
    assert main(["from-csv", str(tmp_path / "set"), "--input", str(inputs)]) == 2
    assert "pass overwrite (--overwrite)" in one_line_error(capsys)  # empty: it would work


def test_corrupt_shard_hint_never_offers_to_overwrite_another_set(tmp_path):
    """A set copied elsewhere records the command that wrote the original: the hint says to
    re-make the damaged copy in its own place, without --overwrite."""
    inputs = tables(tmp_path / "in")
    original = tmp_path / "original"
    assert main(["from-csv", str(original), "--input", str(inputs), "--overwrite"]) == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in original.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    (copy / "train-00000.array_record").write_bytes(b"garbage")
    with pytest.raises(CorruptShardError) as err:
        SplitReader(copy, "train")
    message = str(err.value)
    assert f"delete {copy}, then run the command recorded in its manifest with {copy}" in message
    assert str(original) in message and "--overwrite" not in message


def test_overwrite_replaces_a_shard_set_and_an_empty_dir(tmp_path, capsys):
    inputs = tables(tmp_path / "in")
    out = tmp_path / "set"
    assert main(["from-csv", str(out), "--input", str(inputs)]) == 0
    (out / "train.tfrecord").write_bytes(b"")  # an export into the set is the set's own file
    (inputs / "train.csv").write_text("sequence,label\nAAAAAA,1\nCCCCCC,0\n")
    assert main(["from-csv", str(out), "--input", str(inputs), "--overwrite"]) == 0
    assert load_manifest(out).splits["train"]["count"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "set"]  # no .set.old-* left
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["from-csv", str(empty), "--input", str(inputs), "--overwrite"]) == 0
    assert load_manifest(empty).splits["valid"]["count"] == 1
    capsys.readouterr()


def test_from_peaks_refuses_output_dir_holding_the_fasta(tmp_path, capsys):
    out = tmp_path / "OUTDIR"
    out.mkdir()
    fa, _ = tiny_genome(out)
    peaks = out / "tfA.narrowPeak"
    peaks.write_text(PEAKS)
    before = snapshot(out)
    argv = ["from-peaks", str(out), "--fasta", str(fa), "--peaks", str(peaks), "--seq-len", "100"]
    assert main([*argv, "--overwrite"]) == 2
    err = one_line_error(capsys)
    assert "genome.fa" in err and "inside this output directory" in err
    assert snapshot(out) == before


def test_windows_refuses_output_dir_holding_the_fasta(tmp_path, capsys):
    out = tmp_path / "OUTDIR"
    out.mkdir()
    fa, _ = tiny_genome(out)
    before = snapshot(out)
    argv = ["windows", str(out), "--fasta", str(fa), "--seq-len", "100", "--count", "10"]
    assert main([*argv, "--overwrite"]) == 2
    assert "inside this output directory" in one_line_error(capsys)
    after = snapshot(out)  # (windows indexes the FASTA before the writer refuses: a new .fai)
    assert {k: after.get(k) for k in before} == before


def test_writer_refuses_source_inside_and_rechecks_before_the_final_rename(tmp_path):
    out = tmp_path / "s"
    make_motif_shards(out, n_train=16, n_eval=8)
    src = out / "manifest.json"  # e.g. a teacher relabeling a set into itself
    with pytest.raises(FileExistsError, match="inside this output directory"):
        ShardSetWriter(
            out, seq_len=4, task_names=[], command="c", sources=[src], overwrite=True
        ).__enter__()
    # A file that appears in the target during a long write stops the final rename.
    with (
        pytest.raises(FileExistsError, match="late.txt"),
        ShardSetWriter(out, seq_len=4, task_names=[], command="c", overwrite=True) as w,
    ):
        w.add("train", np.zeros(4, np.uint8), [])
        (out / "late.txt").write_text("keep me")
    assert (out / "late.txt").read_text() == "keep me" and (out / "manifest.json").exists()
    # Without overwrite, a target that another process created meanwhile is never replaced.
    other = tmp_path / "other"
    with (
        pytest.raises(FileExistsError, match="already exists"),
        ShardSetWriter(other, seq_len=4, task_names=[], command="c") as w,
    ):
        w.add("train", np.zeros(4, np.uint8), [])
        other.mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "s"]


def test_killed_write_leaves_a_temp_folder_that_the_next_write_removes(tmp_path, caplog):
    out = tmp_path / "s"
    script = textwrap.dedent(
        f"""
        import os, numpy as np
        from jaxssl.data.writer import ShardSetWriter
        with ShardSetWriter({str(out)!r}, seq_len=4, task_names=[], command="c") as w:
            w.add_batch("train", np.zeros((3000, 4), np.uint8), np.zeros((3000, 0)))
            os.kill(os.getpid(), 9)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stderr=subprocess.PIPE)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == -9, stderr.decode()
    (stale,) = [p for p in tmp_path.iterdir() if p.name.startswith(".s.tmp-")]
    assert stale.name.startswith(f".s.tmp-{proc.pid}-")
    # A temp folder of a live writer (this process) and another target's are left alone.
    live = tmp_path / (writer_lib._scratch_prefix(out, "tmp") + "busy")
    live.mkdir()
    foreign = tmp_path / f".t.tmp-{proc.pid}-{writer_lib._HOST_TAG}-x"
    foreign.mkdir()
    with (
        caplog.at_level(logging.WARNING),
        ShardSetWriter(out, seq_len=4, task_names=[], command="c") as w,
    ):
        w.add("train", np.zeros(4, np.uint8), [])
    assert not stale.exists() and live.exists() and foreign.exists()
    assert any(
        "killed writers" in r.getMessage() and stale.name in r.getMessage() for r in caplog.records
    )
    assert load_manifest(out).splits["train"]["count"] == 1


# --- 2. corrupt inputs and shards are named, one line, exit code 2 ------------------------------


def test_truncated_and_corrupt_gzip_tables_are_named(tmp_path, capsys):
    d = tmp_path / "in"
    tables(d)
    rows = "".join(f"{'ACGT' * 5},{i % 2}\n" for i in range(3000))
    blob = gzip.compress(("sequence,label\n" + rows).encode())
    (d / "train.csv").unlink()
    (d / "train.csv.gz").write_bytes(blob[: len(blob) // 2])
    assert main(["from-csv", str(tmp_path / "o"), "--input", str(d)]) == 2
    err = one_line_error(capsys)
    assert "train.csv.gz" in err and "truncated or corrupt" in err and "after line" in err
    bad = bytearray(blob)
    bad[40:60] = b"\xff" * 20
    (d / "train.csv.gz").write_bytes(bytes(bad))
    assert main(["from-csv", str(tmp_path / "o"), "--input", str(d)]) == 2
    err = one_line_error(capsys)
    assert "train.csv.gz" in err and "truncated or corrupt" in err
    assert not (tmp_path / "o").exists()


def test_truncated_peaks_gz_is_named(tmp_path, capsys):
    fa, _ = tiny_genome(tmp_path)
    blob = gzip.compress((PEAKS * 200).encode())
    for name in ("tfA.narrowPeak.gz", "tfB.bed.gz"):
        (tmp_path / name).write_bytes(blob[:-12])
        argv = ["from-peaks", str(tmp_path / "o"), "--fasta", str(fa), "--peaks"]
        assert main([*argv, str(tmp_path / name), "--seq-len", "100"]) == 2
        err = one_line_error(capsys)
        assert name in err and "truncated or corrupt" in err


def test_truncated_and_corrupt_shards_name_the_file_and_block(tmp_path, capsys):
    out = tmp_path / "s"
    rng = np.random.default_rng(0)
    with ShardSetWriter(out, seq_len=5000, task_names=["t"], command="make it") as w:
        w.add_batch("train", rng.integers(0, 4, (200, 5000)), rng.random((200, 1)) < 0.5)
        w.add_batch("valid", rng.integers(0, 4, (20, 5000)), rng.random((20, 1)) < 0.5)
    shard = out / "train-00000.array_record"
    good = shard.read_bytes()
    reader = SplitReader(out, "train")  # opened while intact, read after the damage
    flipped = bytearray(good)
    flipped[len(good) // 3 : len(good) // 3 + 64] = bytes(64)
    shard.write_bytes(bytes(flipped))
    with pytest.raises(CorruptShardError, match=r"train-00000\.array_record: block \d+") as e:
        reader.read_blocks(list(range(reader.num_blocks)))
    assert e.value.block is not None and e.value.path == shard and "\n" not in str(e.value)
    with pytest.raises(CorruptShardError, match=rf"block \d+.*delete {out}, then .*\(make it\)"):
        list(SplitReader(out, "train", random_access=False).iter_blocks())
    shard.write_bytes(good[: len(good) // 2])  # a copy cut short
    with pytest.raises(CorruptShardError, match=r"train-00000\.array_record: shard is truncated"):
        SplitReader(out, "train")
    with pytest.raises(CorruptShardError, match="train-00000"):
        load_split(out, "train")
    assert main(["inspect", str(out)]) == 2
    err = one_line_error(capsys)
    assert str(shard) in err and "truncated or corrupt" in err
    assert isinstance(CorruptShardError(shard, "x"), ValueError)


def test_from_peaks_all_n_genome_and_seq_len_longer_than_every_contig(tmp_path, capsys):
    fa, recs = tiny_genome(tmp_path)
    (tmp_path / "tfA.narrowPeak").write_text(PEAKS)
    argv = ["from-peaks", str(tmp_path / "o"), "--fasta", str(fa), "--peaks"]
    assert main([*argv, str(tmp_path / "tfA.narrowPeak"), "--seq-len", "7000"]) == 2
    err = one_line_error(capsys)
    assert "--seq-len 7000 is longer than every sequence" in err and "chr1, has 6000 bp" in err
    n_fa = tmp_path / "allN.fa"
    n_fa.write_text("".join(f">{k}\n{'N' * len(v)}\n" for k, v in recs.items()))
    argv = ["from-peaks", str(tmp_path / "o"), "--fasta", str(n_fa), "--peaks"]
    assert main([*argv, str(tmp_path / "tfA.narrowPeak"), "--seq-len", "100"]) == 2
    err = one_line_error(capsys)
    assert "allN.fa: every base is N" in err and "6000 bp" in err
    assert not (tmp_path / "o").exists()


def test_protein_and_rna_tables_are_refused(tmp_path, capsys):
    protein = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"
    d = tables(tmp_path / "p", train=f"ACGTACGTAC,1\n{protein},0\n{protein[::-1]},1\n")
    assert main(["from-csv", str(tmp_path / "o"), "--input", str(d)]) == 2
    err = one_line_error(capsys)
    assert "train.csv: line 3" in err and "protein" in err
    d = tables(tmp_path / "r", train="ACGUACGUAC,1\nUUUAAACCGG,0\n")
    assert main(["from-csv", str(tmp_path / "o"), "--input", str(d)]) == 2
    err = one_line_error(capsys)
    assert "train.csv: line 2" in err and "RNA" in err and "U by T" in err
    # DNA with IUPAC codes and the odd stray character is still accepted (read as N, counted).
    d = tables(tmp_path / "ok", train="ACGTRYAC,1\nACGT*ACG,0\nNNNNACGT,1\n")
    assert main(["from-csv", str(tmp_path / "o"), "--input", str(d)]) == 0


def test_labels_outside_their_range_are_refused(tmp_path, capsys):
    d = tables(tmp_path / "a", train="ACGTAC,1\nGGGTTT,NA\nCCCAAA,8\n")
    assert main(["from-csv", str(tmp_path / "o"), "--input", str(d)]) == 2
    err = one_line_error(capsys)
    assert "train.csv: line 4: label 'label' is 8" in err and "[0, 1]" in err
    assert "--label-type multiclass" in err
    d = tables(tmp_path / "b", dev="TTTAAA,0,1\n", test="GGCCAA,1,0\n", train="ACGTAC,1,-1\n")
    for f in d.iterdir():
        f.write_text(f.read_text().replace("sequence,label", "sequence,a,b"))
    assert main(["from-csv", str(tmp_path / "o"), "--input", str(d)]) == 2
    assert "train.csv: line 2: label 'b' is -1" in one_line_error(capsys)
    # Class indices are fine as multiclass, fractions are not.
    assert (
        main(
            [
                "from-csv",
                str(tmp_path / "m"),
                "--input",
                str(tmp_path / "a"),
                "--label-type",
                "multiclass",
            ]
        )
        == 0
    )
    assert load_manifest(tmp_path / "m").metadata["label_type"] == "multiclass"
    d = tables(tmp_path / "c", train="ACGTAC,1.5\nGGGTTT,0\n")
    assert (
        main(["from-csv", str(tmp_path / "o"), "--input", str(d), "--label-type", "multiclass"])
        == 2
    )
    assert "is 1.5" in one_line_error(capsys)


# --- 3. duplicates across splits ----------------------------------------------------------------


def rc(seq: str) -> str:
    return seq.translate(str.maketrans("ACGTN", "TGCAN"))[::-1]


def test_sequence_keys_match_either_strand_only():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 5, (2000, 50), dtype=np.uint8)
    keys = sequence_keys(tokens)
    assert len(np.unique(keys)) == len(np.unique(tokens, axis=0))
    rc_tokens = np.where(tokens < 4, 3 - tokens, 4)[:, ::-1]
    np.testing.assert_array_equal(sequence_keys(rc_tokens), keys)
    one = encode("ACGTTN")
    assert sequence_keys(one[None])[0] == sequence_keys(encode(rc("ACGTTN"))[None])[0]
    assert sequence_keys(one[None])[0] != sequence_keys(encode("ACGTTA")[None])[0]
    assert sequence_keys(one[None])[0] != sequence_keys(one[::-1][None])[0]  # reverse only


def test_duplicates_across_splits_counted_and_dedup(tmp_path, capsys):
    a, b, c = "ACGTACGTAA", "GGGTTTCCCA", "CCCAAATTTG"
    d = tables(
        tmp_path / "in",
        train=f"{a},1\n{a},1\n{b},0\n{c},1\nTTTTTTTTTT,0\n",
        dev=f"{a},1\nGATTACAGAT,0\n",  # a: verbatim in train (twice)
        test=f"{rc(b)},0\n{c},1\nCATCATCATC,1\n",  # b on the other strand, c verbatim
    )
    out = tmp_path / "o"
    assert main(["from-csv", str(out), "--input", str(d)]) == 0
    dup = load_manifest(out).metadata["duplicates"]
    assert dup == {"valid_in_train": 1, "test_in_train": 2, "test_in_valid": 0}
    assert main(["inspect", str(out), "--examples", "0"]) == 0
    assert "duplicates valid_in_train 1, test_in_train 2" in capsys.readouterr().out

    assert main(["from-csv", str(tmp_path / "dd"), "--input", str(d), "--dedup"]) == 0
    m = load_manifest(tmp_path / "dd")
    assert m.metadata["duplicates"]["removed_from_train"] == 4  # a twice, b, c
    assert m.metadata["duplicates"]["valid_in_train"] == 0
    assert m.metadata["duplicates"]["test_in_train"] == 0
    assert m.metadata["duplicates"]["before_dedup"]["test_in_train"] == 2
    assert [decode(t) for t in load_split(tmp_path / "dd", "train")["tokens"]] == ["T" * 10]
    assert m.splits["valid"]["count"] == 2 and m.splits["test"]["count"] == 3
    # A set made before duplicates were recorded: inspect counts them on request.
    raw = (out / "manifest.json").read_text().replace('"duplicates"', '"old_duplicates"')
    (out / "manifest.json").write_text(raw)
    capsys.readouterr()
    assert main(["inspect", str(out), "--examples", "0"]) == 0
    assert "pass --count-duplicates" in capsys.readouterr().out
    assert main(["inspect", str(out), "--examples", "0", "--count-duplicates"]) == 0
    assert "valid_in_train 1, test_in_train 2, test_in_valid 0" in capsys.readouterr().out


def test_from_peaks_counts_and_dedups_a_window_repeated_on_a_held_out_chromosome(tmp_path):
    fa, recs = tiny_genome(tmp_path)
    # chr7 (valid) carries a copy of chr1:3000-4000: the window at its peak repeats train's.
    recs["chr7"] = recs["chr7"][:1000] + recs["chr1"][3000:4000] + recs["chr7"][2000:]
    fa.write_text("".join(f">{k}\n{v}\n" for k, v in recs.items()))
    peaks = tmp_path / "tfA.narrowPeak"
    peaks.write_text(
        narrowpeak(
            [
                ("chr1", 3100, 3300, 100),
                ("chr7", 1100, 1300, 100),
                ("chr2", 3000, 3200, 100),
                ("chr8", 1000, 1200, 100),
            ]
        )
    )
    argv = [
        "from-peaks",
        "--fasta",
        str(fa),
        "--peaks",
        str(peaks),
        "--seq-len",
        "100",
        "--negatives",
        "none",
    ]
    assert main([argv[0], str(tmp_path / "o"), *argv[1:]]) == 0
    m = load_manifest(tmp_path / "o")
    assert m.metadata["duplicates"]["valid_in_train"] == 1
    assert main([argv[0], str(tmp_path / "dd"), *argv[1:], "--dedup"]) == 0
    m = load_manifest(tmp_path / "dd")
    assert m.metadata["duplicates"]["removed_from_train"] == 1
    assert m.metadata["duplicates"]["valid_in_train"] == 0
    assert m.splits["train"]["count"] == 1 and m.splits["valid"]["count"] == 1


def test_gue_prom_core_all_test_sequences_in_train(shared_data, tmp_path, capsys):
    src = shared_data / "gue" / "prom_core_all"
    if not src.is_dir():
        pytest.skip(f"{src} not present")
    assert main(["from-csv", str(tmp_path / "o"), "--input", str(src)]) == 0
    dup = load_manifest(tmp_path / "o").metadata["duplicates"]
    # 43 test rows (42 distinct sequences of 5,916) occur verbatim in train.
    assert dup["test_in_train"] == 43 and dup["valid_in_train"] == 54
    capsys.readouterr()


def test_one_class_test_split_is_warned_when_the_set_is_made(tmp_path, capsys):
    inputs = tables(tmp_path / "in", test="GGCCAA,1\nTGCATG,1\n")
    out = tmp_path / "set"
    assert main(["from-csv", str(out), "--input", str(inputs)]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "the test split 'test' holds one class only for" in err
    assert "label (all positive)" in err
    warnings = load_manifest(out).metadata["warnings"]
    assert len(warnings) == 1 and "AUPRC 1.0" in warnings[0]
    two = tables(tmp_path / "in2")  # both classes in test: nothing to say
    assert main(["from-csv", str(tmp_path / "set2"), "--input", str(two)]) == 0
    assert "one class" not in capsys.readouterr().err
    assert "warnings" not in load_manifest(tmp_path / "set2").metadata
