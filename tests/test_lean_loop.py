"""The lean training loop: metrics read once per log window, only step inputs on the device,
and results equal to those recorded before the loop was restructured."""

from __future__ import annotations

from pathlib import Path

import pytest

from jaxssl import train as train_lib
from jaxssl.data.pipeline import load_split
from jaxssl.data.writer import ShardSetWriter
from tests.synthetic import make_motif_shards
from tests.test_train import small_config

# Recorded with the trainer as of commit 49d6d26 (before the stage was split into steps and the
# loop stopped syncing every step), on the same data and config: `small_config(data, steps=40)`;
# re-recorded when the random streams were split by purpose (jaxssl/rng.py), the only change
# since: with the old keys patched back in, this test reproduced the 49d6d26 figures exactly.
REFERENCE = {
    "best_step": 40,
    "test": {
        "ap1": {"auroc": 0.5980074719800748, "auprc": 0.49608307699688087},
        "ebox": {"auroc": 0.571071071071071, "auprc": 0.512371788336651},
        "mean": {"auroc": 0.5845392715255728, "auprc": 0.504227432666766},
    },
    "valid_mean_auprc": 0.5467936482614069,
}


@pytest.fixture(scope="module")
def motif_data(tmp_path_factory) -> Path:
    return make_motif_shards(tmp_path_factory.mktemp("lean") / "motifs")


def test_metrics_fetched_once_per_log_window_and_results_match_the_reference(
    motif_data, tmp_path, monkeypatch
):
    fetches: list[int] = []
    real_fetch = train_lib._fetch_metrics

    def counting_fetch(tree):
        fetches.append(len(tree))
        return real_fetch(tree)

    monkeypatch.setattr(train_lib, "_fetch_metrics", counting_fetch)
    sent: list[set[str]] = []
    real_to_global = train_lib.to_global_batch

    def recording_to_global(batch, mesh):
        sent.append(set(batch))
        return real_to_global(batch, mesh)

    monkeypatch.setattr(train_lib, "to_global_batch", recording_to_global)
    config = small_config(motif_data, steps=40)  # log_every 10, eval 20, checkpoints every 10
    stage = train_lib.train_and_evaluate(config, tmp_path)["stages"][0]

    assert fetches == [10, 10, 10, 10]  # one read per log window of 10 steps, not 40 reads
    assert sent and all(keys <= set(train_lib.DEVICE_FIELDS) for keys in sent)
    assert stage["best_step"] == REFERENCE["best_step"]
    for task, values in REFERENCE["test"].items():
        for metric, value in values.items():
            assert stage["metrics"]["test"][task][metric] == pytest.approx(value, abs=1e-3)
    assert stage["metrics"]["valid"]["mean"]["auprc"] == pytest.approx(
        REFERENCE["valid_mean_auprc"], abs=1e-3
    )


def test_extra_fields_stay_on_the_host(motif_data, tmp_path, monkeypatch):
    """A homology-like source's `mapq` reaches the host batch but never the device."""
    data = load_split(motif_data, "train")
    extra = tmp_path / "with_mapq"
    with ShardSetWriter(
        extra, seq_len=40, task_names=["ap1", "ebox"], command="test", extra_fields=["mapq"]
    ) as writer:
        writer.add_batch("train", data["tokens"], data["labels"], data["weights"], mapq=60.0)
    seen: list[tuple[set[str], set[str]]] = []
    real = train_lib._device_fields

    def recording(host_batch):
        device = real(host_batch)
        seen.append((set(host_batch), set(device)))
        return device

    monkeypatch.setattr(train_lib, "_device_fields", recording)
    config = small_config(motif_data, steps=10)
    config.data.extra_train = f"{extra}@0.5"
    train_lib.train_and_evaluate(config, tmp_path / "run")
    assert len(seen) == 10
    assert all(
        "mapq" in host and device == {"tokens", "labels", "weights"} for host, device in seen
    )


def test_a_nan_inside_a_window_names_its_step(motif_data, tmp_path, monkeypatch):
    real_fetch = train_lib._fetch_metrics

    def poisoned(tree):
        values = real_fetch(tree)
        values[3] = {**values[3], "training_loss": float("nan")}
        return values

    monkeypatch.setattr(train_lib, "_fetch_metrics", poisoned)
    config = small_config(motif_data, steps=20)
    with pytest.raises(train_lib.TrainingDiverged, match="at step 4;"):
        train_lib.train_and_evaluate(config, tmp_path)
