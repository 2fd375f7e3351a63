"""Label budget (data.max_positives): how many positives each task keeps, which rows, and that
held-out splits and carried windows follow the rule documented in jaxssl/datasets.py."""

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
from tests.benchmark_module import load_benchmark

TASKS = ["a", "b", "c"]


def _labels(n: int = 3000, seed: int = 0) -> np.ndarray:
    """Half background rows; the rest positive for 1-3 tasks, task c rare (multi-task rows)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, len(TASKS)), np.float32)
    positive = rng.random(n) < 0.5
    labels[positive, 0] = rng.random(positive.sum()) < 0.6
    labels[positive, 1] = rng.random(positive.sum()) < 0.5
    labels[positive, 2] = rng.random(positive.sum()) < 0.04
    empty = positive & (labels.sum(axis=1) == 0)
    labels[empty, 0] = 1
    return labels


def test_each_task_keeps_exactly_min_budget_available():
    labels = _labels()
    available = (labels > 0.5).sum(axis=0)
    assert available[2] < 100 < available[0]
    for budget in (5, 25, 100, 10_000):
        rows, kept, counts = budget_selection(labels, budget, seed=3)
        assert (kept > 0.5).sum(axis=0).tolist() == np.minimum(budget, available).tolist()
        assert counts["kept_positives"] == np.minimum(budget, available).tolist()
        assert np.all(np.diff(rows) > 0)  # file order, no duplicates
        # Only positives the budget did not draw become missing; every 0 label stays.
        original = labels[rows]
        changed = ~np.isnan(kept) != np.ones_like(kept, bool)
        assert np.all(original[changed] == 1)
        assert np.array_equal(kept[~changed], original[~changed])


def test_negatives_keep_the_original_proportion():
    labels = _labels()
    rows, kept, counts = budget_selection(labels, 25, seed=0)
    background = (labels > 0.5).sum(axis=1) == 0
    positive_rows = ~background
    drawn_rows = (kept > 0.5).any(axis=1)
    assert counts["kept_positive_rows"] == int(drawn_rows.sum())
    expected = round(background.sum() * drawn_rows.sum() / positive_rows.sum())
    assert counts["kept_background_rows"] == expected
    assert int(background[rows].sum()) == expected
    assert len(rows) == drawn_rows.sum() + expected


def test_deterministic_for_a_seed_nested_and_different_for_another():
    labels = _labels()
    rows_a, kept_a, _ = budget_selection(labels, 25, seed=1)
    rows_b, kept_b, _ = budget_selection(labels, 25, seed=1)
    assert np.array_equal(rows_a, rows_b)
    assert np.array_equal(kept_a, kept_b, equal_nan=True)
    rows_c, _, _ = budget_selection(labels, 25, seed=2)
    assert not np.array_equal(rows_a, rows_c)
    # A larger budget keeps every positive a smaller one kept (same seed).
    rows_big, kept_big, _ = budget_selection(labels, 50, seed=1)
    for t in range(len(TASKS)):
        small = set(rows_a[kept_a[:, t] > 0.5].tolist())
        assert small <= set(rows_big[kept_big[:, t] > 0.5].tolist())


def test_non_binary_labels_are_refused():
    with pytest.raises(ConfigError, match="binary"):
        budget_selection(np.array([[0.0], [2.0], [1.0]], np.float32), 1, seed=0)


def _write_set(out: Path, labels_by_split: dict[str, np.ndarray], seq_len: int = 20) -> Path:
    rng = np.random.default_rng(0)
    with ShardSetWriter(out, seq_len=seq_len, task_names=TASKS, command="test") as writer:
        for split, labels in labels_by_split.items():
            n = len(labels)
            tokens = rng.integers(0, 4, (n, seq_len), dtype=np.uint8)
            writer.add_batch(split, tokens, labels, 1.0, genome="g", chrom="chr1",
                             start=np.arange(n))  # fmt: skip
    return out


def _write_carried(out: Path, labeled: Path, source_rows: np.ndarray, labels: np.ndarray) -> Path:
    """A homology set as `data_prep homology` writes it (source_index = labeled train row)."""
    rng = np.random.default_rng(1)
    metadata = {"kind": "homology", "labeled": str(labeled), "source_split": "train",
                "leakage": {"held_out_chroms": []}}  # fmt: skip
    with ShardSetWriter(
        out, seq_len=20, task_names=TASKS, command="test", metadata=metadata,
        extra_fields=["mapq", "source_index"],
    ) as writer:  # fmt: skip
        tokens = rng.integers(0, 4, (len(source_rows), 20), dtype=np.uint8)
        writer.add_batch("train", tokens, labels[source_rows], 1.0, genome="sp1",
                         mapq=60.0, source_index=source_rows)  # fmt: skip
    return out


@pytest.fixture
def labeled(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("JAXSSL_CACHE", str(tmp_path / "cache"))
    splits = {"train": _labels(800, 0), "valid": _labels(300, 1), "test": _labels(300, 2)}
    return _write_set(tmp_path / "labeled", splits)


def _stage(labeled: Path, **data) -> object:
    config = base_config()
    config.stages = "main"
    config.data.path = str(labeled)
    for key, value in data.items():
        config.data[key] = value
    return resolve_stage(with_stage_slots(config), "main")


def test_stage_data_budgets_train_only_and_reports_counts(labeled):
    stage = _stage(labeled, max_positives=10, label_seed=4)
    data = resolve_stage_data(stage)
    (source,) = data.train_sources
    budget_set = Path(source.path)
    assert budget_set != labeled and data.labeled == budget_set
    train = load_split(budget_set, "train")
    original = load_split(labeled, "train")
    available = (original["labels"] > 0.5).sum(axis=0)
    assert (train["labels"] > 0.5).sum(axis=0).tolist() == np.minimum(10, available).tolist()
    counts = data.label_budget["splits"]["train"]
    assert counts["rows"] == len(train["labels"])
    assert counts["kept_positives"] == np.minimum(10, available).tolist()
    assert "valid" not in data.label_budget["splits"]
    # Kept rows are the original rows (tokens and provenance), and the draw follows the seed.
    rows, _, _ = budget_selection(original["labels"], 10, seed=4)
    assert np.array_equal(train["tokens"], original["tokens"][rows])
    assert np.array_equal(train["start"], original["start"][rows])
    # Validation and test are the original splits, row for row.
    for split in ("valid", "test"):
        a, b = load_split(labeled, split), load_split(budget_set, split)
        assert np.array_equal(a["tokens"], b["tokens"])
        assert np.array_equal(a["labels"], b["labels"], equal_nan=True)
    # The same budget again is the same cached set; another seed is another set.
    assert resolve_stage_data(stage).labeled == budget_set
    other = resolve_stage_data(_stage(labeled, max_positives=10, label_seed=5)).labeled
    assert other != budget_set
    assert not np.array_equal(load_split(other, "train")["tokens"], train["tokens"])


def test_validation_cap_is_separate_and_test_is_untouched(labeled):
    data = resolve_stage_data(_stage(labeled, max_positives=10, max_valid_positives=5))
    valid = load_split(data.labeled, "valid")
    available = (load_split(labeled, "valid")["labels"] > 0.5).sum(axis=0)
    assert (valid["labels"] > 0.5).sum(axis=0).tolist() == np.minimum(5, available).tolist()
    assert (
        data.label_budget["splits"]["valid"]["kept_positives"] == np.minimum(5, available).tolist()
    )
    test_a, test_b = load_split(labeled, "test"), load_split(data.labeled, "test")
    assert np.array_equal(test_a["tokens"], test_b["tokens"])
    assert load_manifest(data.labeled).splits["test"]["count"] == len(test_a["tokens"])


def test_no_budget_reads_the_labeled_set_itself(labeled):
    data = resolve_stage_data(_stage(labeled))
    assert data.labeled == labeled and data.label_budget is None
    assert [Path(s.path) for s in data.train_sources] == [labeled]


def test_carried_windows_follow_their_source_rows(labeled, tmp_path):
    original = load_split(labeled, "train")["labels"]
    source_rows = np.arange(0, len(original), 2)  # every other row was carried
    carried = _write_carried(tmp_path / "carried", labeled, source_rows, original)
    stage = _stage(labeled, max_positives=10, label_seed=4)
    (source,) = parse_sources(str(carried), stage.data)
    out = load_split(source.path, "train")
    rows, kept_labels, _ = budget_selection(original, 10, seed=4)
    expected = np.intersect1d(source_rows, rows)
    assert np.array_equal(np.sort(out["source_index"].astype(int)), expected)
    for idx, labels in zip(out["source_index"].astype(int), out["labels"], strict=True):
        np.testing.assert_array_equal(labels, kept_labels[np.searchsorted(rows, idx)])
    # A homology set carried from another labeled set cannot follow this budget.
    other = _write_carried(tmp_path / "other", tmp_path / "elsewhere", source_rows, original)
    with pytest.raises(ConfigError, match="cannot"):
        parse_sources(str(other), stage.data)
    # Without a budget every carried window stays.
    (plain,) = parse_sources(str(carried), _stage(labeled).data)
    assert Path(plain.path) == carried


def test_budget_refuses_multiclass_and_negative_values(labeled):
    with pytest.raises(ConfigError, match="binary"):
        stage = _stage(labeled, max_positives=5)
        stage.loss = "multiclass"
        resolve_stage_data(stage)
    with pytest.raises(ConfigError, match="max_positives"):
        resolve_stage_data(_stage(labeled, max_positives=-1))


def test_label_budget_preset_parses():
    from configs.label_budget import get_config

    config = get_config("25,steps=50")
    assert config.data.max_positives == 25
    assert config.data.toy_world.species == 12
    names = config.stages.split(",")
    assert {"supervised", "supervised_evoaug", "pseudo_label", "student_1", "sd_finetune"} <= set(
        names
    )
    # The control binds to the generation kept and tunes its budget on validation.
    assert config.supervised.train.budget_of == "noisy_student"
    assert config.supervised.train.budget_fractions == "0.25,0.5,1"
    assert config.pretrain.data.extra_train == "toy:homology"
    from jaxssl.stage_plan import resolved_stages

    planned = [s.stage_name for s in resolved_stages(config)]
    assert planned.index("supervised_student_1_x0.25") > planned.index("student_1")
    oracle = get_config("25,carried=oracle")
    assert oracle.pretrain.data.extra_train == "toy:homology_oracle"
    assert oracle.pseudo.sources == "toy:homology_oracle,toy:unlabeled"
    assert get_config("25,carried=random").pretrain.data.extra_train == "toy:homology_random"
    with pytest.raises(ValueError, match="unknown option"):
        get_config("bogus=1")
    with pytest.raises(ValueError, match="carried='truth'"):
        get_config("carried=truth")


def test_benchmark_pairs_every_method_with_supervised_per_seed(tmp_path):
    bench = load_benchmark("label_budget")

    def stage(name: str, auprc: float) -> dict:
        metrics = {t: {"auprc": auprc, "auroc": 0.5, "mcc": 0.0, "accuracy": 0.5}
                   for t in ("CTCF", "mean")}  # fmt: skip
        return {"name": name, "steps_run": 100, "metrics": {"test": metrics, "valid": metrics}}

    bonuses = (0, 0.01, 0.02, -0.01, 0)  # supervised, EvoAug, pseudo_label, noisy, self-dist.
    runs = [
        [stage(n, base + b) for n, b in zip(bench.METHODS, bonuses, strict=True)]
        for base in (0.3, 0.5)
    ]
    summary = bench.summarize_budget(runs, [0, 1])
    gain = summary["gains"]["pseudo_label"]["CTCF"]
    assert gain["values"] == pytest.approx([0.02, 0.02]) and gain["wins"] == 2
    assert summary["gains"]["noisy_student"]["mean"]["wins"] == 0
    assert summary["methods"]["supervised"]["CTCF"]["mean"] == pytest.approx(0.4)
    results = {"budgets": {"25": summary, "100": summary}, "seeds": [0, 1]}
    assert "| pseudo_label | +0.020 ± 0.000" in bench.markdown(results)
    bench.plot(results, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 10_000
    command = bench.run_command(25, 1, 50, tmp_path / "w", ["pseudo.max_examples=10"])
    assert "--config.data.label_seed=1" in command and "--config.seed=1" in command
    assert command[-1] == "--config.pseudo.max_examples=10"


def test_benchmark_reports_the_kept_generation_and_its_lineage():
    bench = load_benchmark("label_budget")
    run = {
        "pretrain": {"steps_run": 300},
        "pseudo_label": {"steps_run": 200},
        "student_1": {"steps_run": 150},
        "student_2": {"steps_run": 400},
        "noisy_student": {"selected": "student_1"},
    }
    assert bench.lineage_steps(run) == 650  # student_2 was not kept
    run["noisy_student"]["selected"] = "pseudo_label"
    assert bench.lineage_steps(run) == 500


def test_stage_report_holds_the_budget_counts(labeled, tmp_path):
    from jaxssl import train as train_lib

    config = base_config()
    config.stages = "main"
    config.data.path = str(labeled)
    config.data.max_positives = 7
    config.model.hparams.num_filters = 8
    config.train.steps = 4
    config.train.batch_size = 32
    config.train.eval_every = 4
    config.train.log_every = 2
    config.train.progress_bar = False
    config.eval.batch_size = 64
    report = train_lib.train_and_evaluate(with_stage_slots(config), tmp_path / "run")
    budget = report["stages"][0]["data"]["label_budget"]
    available = (load_split(labeled, "train")["labels"] > 0.5).sum(axis=0)
    assert budget["splits"]["train"]["kept_positives"] == np.minimum(7, available).tolist()
