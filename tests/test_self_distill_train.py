"""configs/self_distill.py through the real trainer: pre-train -> fine-tune on a tiny shard set.

Checks what the reference code got wrong end to end: the pre-training stage selects on the
validation split only (the test split is never read), every validation row is scored, and
fine-tuning starts from exactly the pre-trained (teacher) backbone, refusing another
architecture.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

import configs.self_distill as self_distill_config
from jaxssl import train as train_lib
from jaxssl.metric_writer import read_metrics
from jaxssl.objectives.self_distill import SelfDistill
from tests.synthetic import make_motif_shards

N_EVAL = 40


@pytest.fixture(scope="module")
def motif_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sd_data") / "motifs"
    return make_motif_shards(root, seq_len=32, n_train=128, n_eval=N_EVAL)


def tiny_config(data: Path, num_filters: int = 8):
    config = self_distill_config.get_config("deepbind")
    config.seeds = ""
    config.stages = "pretrain,finetune"  # the from-scratch control is test_train's business
    config.data.path = str(data)
    config.pretrain.data.extra_train = f"{data}:train"  # its sequences, labels ignored
    config.model.hparams.num_filters = num_filters
    config.model.hparams.filter_width = 5
    config.self_distill.finetune_from = "teacher"  # what this test checks is loaded exactly
    config.self_distill.num_prototypes = 16
    config.self_distill.projector_hidden = 16
    config.self_distill.projector_bottleneck = 8
    config.train.batch_size = 32
    config.train.log_every = 5
    config.train.progress_bar = False
    config.eval.batch_size = 16  # 40 rows: the last batch is padded
    config.pretrain.train.steps = 10
    config.pretrain.train.warmup_steps = 2
    config.pretrain.train.eval_every = 10
    config.pretrain.train.checkpoint_every = 10
    config.finetune.train.steps = 6
    config.finetune.train.eval_every = 6
    config.finetune.train.checkpoint_every = 6
    return config


def test_pretrain_then_finetune_loads_the_teacher_exactly(motif_data, tmp_path, monkeypatch):
    splits_read: list[str] = []
    real_eval_batches = train_lib.eval_batches

    def recording_eval_batches(path, split, **kw):
        splits_read.append(split)
        return real_eval_batches(path, split, **kw)

    monkeypatch.setattr(train_lib, "eval_batches", recording_eval_batches)
    exported: list[dict] = []
    real_eval_params = SelfDistill.eval_params

    def recording_eval_params(self, state):
        out = real_eval_params(self, state)
        exported.append(jax.device_get({"out": out, "student": state.params["model"]}))
        return out

    monkeypatch.setattr(SelfDistill, "eval_params", recording_eval_params)
    rows_scored: list[int] = []
    real_eval_loss = SelfDistill.eval_loss

    def recording_eval_loss(self, state, batch, key):
        total, count = real_eval_loss(self, state, batch, key)
        jax.debug.callback(lambda n: rows_scored.append(int(n)), count)
        return total, count

    monkeypatch.setattr(SelfDistill, "eval_loss", recording_eval_loss)

    config = tiny_config(motif_data)
    config.stages = "pretrain"
    report = train_lib.train_and_evaluate(config, tmp_path)
    pre = report["stages"][0]
    assert pre["objective"] == "self_distill"
    assert set(pre["metrics"]) == {"valid"} and np.isfinite(
        pre["metrics"]["valid"]["mean"]["masked_nucleotide_loss_teacher"]
    )
    assert splits_read and set(splits_read) == {"valid"}  # never the test split
    jax.effects_barrier()
    assert sum(rows_scored) == N_EVAL  # padded rows excluded, no real row dropped
    records = read_metrics(tmp_path / "pretrain")
    train_rows = [r for r in records if r["split"] == "train"]
    assert {"mlm_loss", "contrastive_loss", "momentum", "teacher_entropy"} <= set(train_rows[0])

    # The best/ checkpoint holds the teacher's backbone (exported at the only evaluation).
    (last,) = exported
    teacher, student = last["out"], last["student"]
    assert not np.allclose(teacher["motifs"]["kernel"], student["motifs"]["kernel"])

    config = tiny_config(motif_data)  # same run dir: pretrain is skipped, finetune loads it
    stage = train_lib.resolve_stage(config, "finetune")
    data = train_lib.resolve_stage_data(stage)
    model, spec = train_lib.build_stage_model(stage, data)
    fresh = train_lib.split_model(model)[1]
    loaded = train_lib.initial_params(stage, tmp_path / "pretrain", spec, fresh)
    for path, value in jax.tree_util.tree_flatten_with_path(loaded)[0]:
        keys = [p.key for p in path]
        source = fresh if keys[0] == "head" else teacher
        for k in keys:
            source = source[k]
        np.testing.assert_array_equal(value, source, err_msg=str(keys))

    report = train_lib.train_and_evaluate(config, tmp_path)
    assert [s["name"] for s in report["stages"]] == ["pretrain", "finetune"]
    assert set(report["stages"][1]["metrics"]["test"]["mean"]) >= {"auroc", "auprc"}

    other = tiny_config(motif_data, num_filters=16)
    other.stages = "finetune"
    other.finetune.init_from = str(tmp_path / "pretrain")
    with pytest.raises(ValueError, match="architecture mismatch.*num_filters"):
        train_lib.train_and_evaluate(other, tmp_path / "other")
