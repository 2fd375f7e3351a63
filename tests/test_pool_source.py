"""labeled:pool: the labeled train rows a label budget leaves out, labels hidden, minus exact
copies (either strand) of held-out windows; cached like the budget sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxssl.config import base_config, resolve_stage, with_stage_slots
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import load_split
from jaxssl.data.writer import ShardSetWriter
from jaxssl.datasets import budget_selection, parse_sources, resolve_stage_data
from jaxssl.errors import ConfigError
from jaxssl.tokens import reverse_complement
from tests.test_label_budget import _stage

TASKS = ["a", "b"]
SEQ_LEN = 24
BUDGET, SEED = 8, 3


def _labels(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, len(TASKS))) < [0.3, 0.1]).astype(np.float32)
    return labels


@pytest.fixture
def labeled(tmp_path, monkeypatch) -> dict:
    """A tiny set whose left-out train rows hold a copy of a valid window and the reverse
    complement of a test window (planted after the budget's draw, which reads labels only)."""
    monkeypatch.setenv("JAXSSL_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    labels = {"train": _labels(400, 0), "valid": _labels(60, 1), "test": _labels(60, 2)}
    tokens = {s: rng.integers(0, 4, (len(v), SEQ_LEN), dtype=np.uint8) for s, v in labels.items()}
    kept, _, _ = budget_selection(labels["train"], BUDGET, SEED)
    left_out = np.setdiff1d(np.arange(400), kept)
    planted = left_out[[5, 17]]
    tokens["train"][planted[0]] = tokens["valid"][7]
    tokens["train"][planted[1]] = reverse_complement(tokens["test"][3])
    path = tmp_path / "labeled"
    with ShardSetWriter(path, seq_len=SEQ_LEN, task_names=TASKS, command="test") as writer:
        for split in labels:
            n = len(labels[split])
            writer.add_batch(split, tokens[split], labels[split], 1.0, genome="g", chrom="chr1",
                             start=np.arange(n))  # fmt: skip
    return {"path": path, "kept": kept, "planted": planted, "tokens": tokens}


def _pool(labeled: Path, seed: int = SEED) -> Path:
    stage = _stage(labeled, max_positives=BUDGET, label_seed=seed)
    (source,) = parse_sources("labeled:pool", stage.data)
    assert source.split == "train"
    return Path(source.path)


def test_pool_is_the_rest_of_train_minus_held_out_copies(labeled):
    pool = _pool(labeled["path"])
    cols = load_split(pool, "train")
    rows = cols["source_index"].astype(np.int64)
    assert np.all(np.diff(rows) > 0)  # file order, no duplicates
    # pool + kept + dropped copies = every train row, and pool and kept are disjoint.
    assert not np.intersect1d(rows, labeled["kept"]).size
    union = np.union1d(np.union1d(rows, labeled["kept"]), labeled["planted"])
    np.testing.assert_array_equal(union, np.arange(400))
    assert not np.intersect1d(rows, labeled["planted"]).size
    # The rows are the labeled set's rows (tokens), every label hidden.
    np.testing.assert_array_equal(cols["tokens"], labeled["tokens"]["train"][rows])
    assert cols["labels"].shape == (len(rows), len(TASKS)) and np.isnan(cols["labels"]).all()
    # The budget's kept rows are exactly those of the budgeted labeled set.
    data = resolve_stage_data(_stage(labeled["path"], max_positives=BUDGET, label_seed=SEED))
    budget_train = load_split(data.labeled, "train")["tokens"]
    np.testing.assert_array_equal(budget_train, labeled["tokens"]["train"][labeled["kept"]])


def test_no_held_out_window_on_either_strand(labeled):
    cols = load_split(_pool(labeled["path"]), "train")
    pool = {bytes(t) for t in cols["tokens"]} | {
        bytes(reverse_complement(t)) for t in cols["tokens"]
    }
    for split in ("valid", "test"):
        assert not any(bytes(t) in pool for t in labeled["tokens"][split]), split
    meta = load_manifest(_pool(labeled["path"])).metadata
    assert meta["unlabeled"] is True and meta["kind"] == "labeled_pool"
    leakage = meta["leakage"]
    assert leakage["held_out_duplicate"] == 2
    assert leakage["valid_duplicate"] == 1 and leakage["test_duplicate"] == 1
    assert [s.rsplit(":", 1)[1] for s in leakage["screened_against"]] == ["valid", "test"]
    pool_counts = meta["pool"]
    assert pool_counts["rows"] == len(cols["tokens"]) == 400 - len(labeled["kept"]) - 2
    assert pool_counts["dropped_held_out_copies"] == 2
    assert meta["label_budget"]["max_positives"] == BUDGET


def test_cached_per_seed_and_different_for_another(labeled):
    first = _pool(labeled["path"])
    stamp = (first / "manifest.json").stat().st_mtime_ns
    assert _pool(labeled["path"]) == first
    assert (first / "manifest.json").stat().st_mtime_ns == stamp  # read, not rebuilt
    other = _pool(labeled["path"], seed=SEED + 1)
    assert other != first
    a = load_split(first, "train")["source_index"]
    b = load_split(other, "train")["source_index"]
    assert len(a) != len(b) or not np.array_equal(a, b)


def test_pool_needs_a_label_budget(labeled):
    for data in ({}, {"max_valid_positives": 5}):
        stage = _stage(labeled["path"], **data)
        with pytest.raises(ConfigError, match=r"config\.data\.max_positives"):
            parse_sources("labeled:pool", stage.data, key="config.pseudo.sources")
    stage = _stage(labeled["path"], max_positives=BUDGET)
    with pytest.raises(ConfigError, match="labeled:pool"):
        parse_sources("labeled:nope", stage.data)


def test_toy_world_pool(tmp_path, monkeypatch):
    """data.path = "": the pool of the toy world's labeled set."""
    from tests.test_homology import SMALL

    monkeypatch.setenv("JAXSSL_CACHE", str(tmp_path / "cache"))
    config = base_config()
    config.stages = "main"
    config.data.path = ""
    for key, value in SMALL.to_dict().items():
        config.data.toy_world[key] = list(value) if isinstance(value, tuple) else value
    config.data.max_positives = 10
    config.data.label_seed = 0
    stage = resolve_stage(with_stage_slots(config), "main")
    (source,) = parse_sources("labeled:pool@0.5", stage.data)
    assert source.proportion == 0.5
    meta = load_manifest(source.path).metadata
    cols = load_split(source.path, "train")
    labeled = Path(meta["labeled"])
    train = load_split(labeled, "train")
    assert np.isnan(cols["labels"]).all()
    assert meta["pool"]["rows"] == len(cols["labels"]) > len(train["labels"]) // 2
    assert meta["pool"]["kept_by_budget"] + meta["pool"]["left_out"] == len(train["labels"])
    assert not set(cols["chrom"]) & {"chr4", "chr5"}  # the held-out chromosomes


def test_a_teacher_labels_the_whole_pool(tmp_path, monkeypatch):
    """Noisy Student on the pool: the teacher stage labels every pool row (soft labels)."""
    from jaxssl import train as train_lib
    from tests.synthetic import make_motif_shards
    from tests.test_noisy_student import noisy_config

    monkeypatch.setenv("JAXSSL_CACHE", str(tmp_path / "cache"))
    labeled = make_motif_shards(tmp_path / "labeled", n_train=200, n_eval=64)
    config = noisy_config(labeled, "labeled:pool")
    config.data.max_positives = 10
    config.data.label_seed = 0
    config.supervised.train.steps = 8
    config.stages = "supervised,teacher_1"
    report = train_lib.train_and_evaluate(config, tmp_path / "run")
    teacher = report["stages"][-1]
    (summary,) = teacher["pseudo_labels"]
    assert "label_budget" in summary["source"] and summary["labels_used"] == 1.0
    written = load_split(summary["output"], "train")
    pool = load_split(summary["source"], "train")
    np.testing.assert_array_equal(written["tokens"], pool["tokens"])
    assert not np.isnan(written["labels"]).any()


def test_pool_drops_partial_overlaps_not_only_copies(tmp_path, monkeypatch):
    """A left-out row holding 14 of a test window's 24 bases (K = 12) leaves the pool; one
    sharing 11 bases stays (jaxssl.data.overlap: one unbroken run of half the length)."""
    monkeypatch.setenv("JAXSSL_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(5)
    labels = {"train": _labels(200, 0), "valid": _labels(40, 1), "test": _labels(40, 2)}
    tokens = {s: rng.integers(0, 4, (len(v), SEQ_LEN), dtype=np.uint8) for s, v in labels.items()}
    kept, _, _ = budget_selection(labels["train"], BUDGET, SEED)
    straddle, near_miss = np.setdiff1d(np.arange(200), kept)[[3, 9]]
    tokens["train"][straddle, :14] = tokens["test"][4, 10:]  # its last 14 bases
    tokens["train"][near_miss, 13:] = tokens["valid"][2, :11]  # its first 11, at the row's end
    path = tmp_path / "labeled"
    with ShardSetWriter(path, seq_len=SEQ_LEN, task_names=TASKS, command="test") as writer:
        for split in labels:
            writer.add_batch(split, tokens[split], labels[split], 1.0, genome="g")
    pool = load_split(_pool(path), "train")["source_index"].astype(np.int64)
    assert straddle not in pool
    assert near_miss in pool
    meta = load_manifest(_pool(path)).metadata
    assert meta["leakage"]["method"] == "sequence_overlap"
    assert meta["leakage"]["test_duplicate"] >= 1
