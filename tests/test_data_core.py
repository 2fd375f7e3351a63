"""Manifest, atomic writer, block records and the grain pipeline on tiny shard sets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxssl.data import records
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import Source, eval_batches, load_split, train_iterator
from jaxssl.data.writer import ShardSetWriter, examples_per_record
from jaxssl.tokens import N


def make_set(path, n=3000, seq_len=37, tasks=("a", "b"), seed=0, extra=(), splits=("train",)):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (n, seq_len), dtype=np.uint8)
    labels = rng.integers(0, 2, (n, len(tasks))).astype(np.float32)
    if len(tasks):
        labels[::7, 0] = np.nan
    with ShardSetWriter(
        path, seq_len=seq_len, task_names=list(tasks), command="test", extra_fields=extra
    ) as w:
        for split in splits:
            w.add_batch(
                split,
                tokens,
                labels,
                np.full(n, 0.5, np.float32),
                genome="g1",
                chrom=[f"chr{i % 3}" for i in range(n)],
                start=np.arange(n),
                strand=["+-"[i % 2] for i in range(n)],
                **{e: np.arange(n, dtype=np.float32) for e in extra},
            )
    return tokens, labels


def test_block_roundtrip_keeps_every_column():
    rng = np.random.default_rng(1)
    tok = rng.integers(0, 5, (5, 9), dtype=np.uint8)
    lab = rng.random((5, 2), dtype=np.float32)
    rec = records.encode_block(
        tok,
        lab,
        np.arange(5, dtype=np.float32),
        np.ones((5, 1), np.float32),
        np.arange(5) * 10,
        records.strand_codes("+-.+-"),
        ["hg38"] * 5,
        ["chr1", "chr2", "chr1", "chrX", "chr2"],
        ["conf"],
    )
    out = records.decode_block(rec)
    np.testing.assert_array_equal(out["tokens"], tok)
    np.testing.assert_array_equal(out["labels"], lab)
    np.testing.assert_array_equal(out["start"], [0, 10, 20, 30, 40])
    assert list(out["chrom"]) == ["chr1", "chr2", "chr1", "chrX", "chr2"]
    assert list(out["strand"]) == list("+-.+-")
    np.testing.assert_array_equal(out["conf"], np.ones(5))
    with pytest.raises(ValueError, match="not a jaxssl shard block"):
        records.decode_block(b"nope" + rec[4:])


def test_manifest_counts_and_load_split_roundtrip(tmp_path):
    tokens, labels = make_set(tmp_path / "s", extra=("conf",))
    m = load_manifest(tmp_path / "s")
    assert m.schema_version == 1 and m.seq_len == 37 and m.task_names == ["a", "b"]
    assert m.extra_fields == ["conf"] and m.command == "test"
    split = m.splits["train"]
    assert split["count"] == 3000
    assert sum(split["records"]) == -(-3000 // examples_per_record(37))
    assert split["missing"] == [int(np.isnan(labels[:, 0]).sum()), 0]
    assert split["positives"] == [int((labels > 0.5).sum(0)[i]) for i in range(2)]
    data = load_split(tmp_path / "s", "train")
    np.testing.assert_array_equal(data["tokens"], tokens)
    np.testing.assert_array_equal(data["labels"], labels)  # NaN == NaN here
    np.testing.assert_array_equal(data["start"], np.arange(3000))
    np.testing.assert_array_equal(data["conf"], np.arange(3000))
    assert data["weights"].dtype == np.float32 and (data["weights"] == 0.5).all()
    assert data["chrom"][4] == "chr1" and data["strand"][3] == "-" and data["genome"][0] == "g1"


def test_writer_is_atomic_and_refuses_existing(tmp_path):
    out = tmp_path / "s"
    with (
        pytest.raises(RuntimeError, match="boom"),
        ShardSetWriter(out, seq_len=4, task_names=["t"], command="c") as w,
    ):
        w.add("train", np.zeros(4, np.uint8), [1.0])
        raise RuntimeError("boom")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    make_set(out, n=10)
    with pytest.raises(FileExistsError, match="already exists"):
        make_set(out, n=10)
    # overwrite replaces only on success: a failed overwrite keeps the old set.
    with (
        pytest.raises(ValueError, match=r"shape \[N, 37\]"),
        ShardSetWriter(out, seq_len=37, task_names=["a", "b"], command="c", overwrite=True) as w,
    ):
        w.add("train", np.zeros(5, np.uint8), [1.0, 0.0])
    assert load_manifest(out).splits["train"]["count"] == 10
    with ShardSetWriter(out, seq_len=3, task_names=[], command="c2", overwrite=True) as w:
        w.add("train", np.zeros(3, np.uint8), [])
    assert load_manifest(out).command == "c2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_writer_rejects_bad_examples(tmp_path):
    with ShardSetWriter(tmp_path / "s", seq_len=4, task_names=["t"], command="c") as w:
        with pytest.raises(ValueError, match="0..4"):
            w.add("train", np.array([0, 1, 2, 9]), [1.0])
        with pytest.raises(ValueError, match="declares 1"):
            w.add("train", np.zeros(4, np.uint8), [1.0, 0.0])
        with pytest.raises(ValueError, match="unknown extra fields"):
            w.add("train", np.zeros(4, np.uint8), [1.0], mapq=3.0)
        with pytest.raises(ValueError, match="strand"):
            w.add("train", np.zeros(4, np.uint8), [1.0], strand="x")


def test_load_manifest_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such shard-set directory"):
        load_manifest(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    with pytest.raises(FileNotFoundError, match="not a finished shard set"):
        load_manifest(tmp_path / "half")
    make_set(tmp_path / "s", n=5)
    path = tmp_path / "s" / "manifest.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "schema_version": 99}))
    with pytest.raises(ValueError, match="schema_version 99"):
        load_manifest(tmp_path / "s")
    path.write_text("{bad")
    with pytest.raises(ValueError, match="line 1"):
        load_manifest(tmp_path / "s")


def test_train_iterator_shapes_epoch_coverage_and_determinism(tmp_path):
    tokens, _ = make_set(tmp_path / "s", n=3000, extra=("conf",))
    kw = dict(batch_size=100, seed=3, shard_index=0, shard_count=1, shuffle_buffer_bytes=4096)
    it = train_iterator([Source(tmp_path / "s")], **kw)
    batches = [next(it) for _ in range(30)]  # exactly one epoch
    b = batches[0]
    assert b["tokens"].shape == (100, 37) and b["tokens"].dtype == np.uint8
    assert b["labels"].shape == (100, 2) and b["labels"].dtype == np.float32
    assert b["weights"].shape == (100, 2) and b["weights"].dtype == np.float32
    seen = np.concatenate([x["conf"] for x in batches]).astype(int)
    assert sorted(seen) == list(range(3000))  # every example once per epoch
    np.testing.assert_array_equal(batches[0]["tokens"], tokens[seen[:100]])
    assert not np.array_equal(seen[:100], np.arange(100))  # shuffled
    again = train_iterator([Source(tmp_path / "s")], **kw)
    np.testing.assert_array_equal(next(again)["tokens"], b["tokens"])
    epoch2 = np.concatenate([next(it)["conf"] for _ in range(30)]).astype(int)
    assert sorted(epoch2) == list(range(3000)) and not np.array_equal(epoch2, seen)
    other = train_iterator([Source(tmp_path / "s")], **{**kw, "seed": 4})
    assert not np.array_equal(next(other)["tokens"], b["tokens"])


def test_train_iterator_resumes_with_exact_next_batch(tmp_path):
    make_set(tmp_path / "s", n=2000)
    kw = dict(batch_size=64, seed=0, shard_index=0, shard_count=1, shuffle_buffer_bytes=8192)
    it = train_iterator([Source(tmp_path / "s")], **kw)
    for _ in range(45):  # crosses an epoch boundary
        next(it)
    state = json.loads(json.dumps(it.get_state()))  # what a checkpoint stores
    expected = [next(it) for _ in range(3)]
    resumed = train_iterator([Source(tmp_path / "s")], **kw)
    resumed.set_state(state)
    for want in expected:
        got = next(resumed)
        np.testing.assert_array_equal(got["tokens"], want["tokens"])
        np.testing.assert_array_equal(got["labels"], want["labels"])


def test_train_iterator_checkpoints_with_orbax(tmp_path):
    import grain
    import orbax.checkpoint as ocp

    make_set(tmp_path / "s", n=500)
    kw = dict(batch_size=32, seed=0, shard_index=0, shard_count=1)
    it = train_iterator([Source(tmp_path / "s")], **kw)
    for _ in range(5):
        next(it)
    ckpt = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
    ckpt.save(tmp_path / "ckpt", args=ocp.args.Composite(ds=grain.checkpoint.CheckpointSave(it)))
    want = next(it)
    resumed = train_iterator([Source(tmp_path / "s")], **kw)
    ckpt.restore(
        tmp_path / "ckpt", args=ocp.args.Composite(ds=grain.checkpoint.CheckpointRestore(resumed))
    )
    np.testing.assert_array_equal(next(resumed)["tokens"], want["tokens"])


def test_process_sharding_is_disjoint_and_covers(tmp_path):
    make_set(tmp_path / "s", n=3000, extra=("conf",))
    seen = []
    for p in range(2):
        it = train_iterator(
            [Source(tmp_path / "s")],
            batch_size=50,
            seed=1,
            shard_index=p,
            shard_count=2,
            shuffle_buffer_bytes=2048,
            prefetch=0,
        )
        # Each process reads its own blocks; 2000 draws cover a process's whole share.
        seen.append(set(np.concatenate([next(it)["conf"] for _ in range(40)]).astype(int)))
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(3000))


def test_mixing_follows_proportions_and_checks_compatibility(tmp_path):
    make_set(tmp_path / "a", n=1000, seed=0)
    rng = np.random.default_rng(0)
    with ShardSetWriter(tmp_path / "b", seq_len=37, task_names=["a", "b"], command="c") as w:
        w.add_batch("train", rng.integers(0, 4, (500, 37)), np.zeros((500, 2)), 2.0)
    it = train_iterator(
        [Source(tmp_path / "a", proportion=3.0), Source(tmp_path / "b", proportion=1.0)],
        batch_size=200,
        seed=0,
        shard_index=0,
        shard_count=1,
    )
    frac_b = np.mean([np.mean(next(it)["weights"] == 2.0) for _ in range(20)])
    assert 0.2 < frac_b < 0.3
    make_set(tmp_path / "c", n=10, seq_len=38)
    with pytest.raises(ValueError, match="seq_len"):
        train_iterator(
            [Source(tmp_path / "a"), Source(tmp_path / "c")],
            batch_size=4,
            seed=0,
            shard_count=1,
            shard_index=0,
        )
    with pytest.raises(ValueError, match="no split 'test'"):
        train_iterator([Source(tmp_path / "a", split="test")], batch_size=4, seed=0)


def test_eval_batches_every_example_once_with_padding_mask(tmp_path):
    tokens, labels = make_set(tmp_path / "s", n=1234, extra=("conf",))
    batches = list(eval_batches(tmp_path / "s", "train", batch_size=100))
    assert len(batches) == 13
    assert all(b["tokens"].shape == (100, 37) for b in batches)
    last = batches[-1]
    assert last["mask"].sum() == 34 and not last["mask"][34:].any()
    assert (last["tokens"][34:] == N).all() and (last["weights"][34:] == 0).all()
    real = np.concatenate([b["tokens"][b["mask"]] for b in batches])
    np.testing.assert_array_equal(real, tokens)
    np.testing.assert_array_equal(
        np.concatenate([b["conf"][b["mask"]] for b in batches]), np.arange(1234)
    )
