"""rescnn and BatchNorm: statistics trained, frozen at evaluation, checkpointed, device-count free.

BatchNorm running statistics ride in the params dict (``train_state.split_model``); these tests
follow them through the train step, evaluation, checkpoints (latest, best, resume), init_from,
prediction from a stage directory, and a 1- vs 8-device step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxssl import train as train_lib
from jaxssl.checkpointing import StageCheckpoints, check_same_architecture
from jaxssl.config import base_config
from jaxssl.evaluate import predict_split
from jaxssl.metrics import best_mcc_threshold
from jaxssl.models import build_model, count_params
from jaxssl.objectives.self_distill import SelfDistill
from jaxssl.objectives.supervised import Supervised
from jaxssl.optim import learning_rate_schedule, make_optimizer
from jaxssl.predict import make_predict_fn
from jaxssl.sharding import make_mesh, replicated
from jaxssl.teacher import load_trained_model
from jaxssl.train_state import (
    TrainState,
    merge_model,
    model_statistics,
    split_model,
    statistic_paths,
)
from tests.synthetic import make_motif_shards
from tests.test_run_safety import _kill_at, _Killed, _wait_for_checkpoint
from tests.test_train import small_config

REPO = Path(__file__).resolve().parents[1]
TINY = {"channels": 8, "stem_width": 5, "dilations": (1, 2)}


def _tokens(batch: int, length: int, seed: int = 0) -> jnp.ndarray:
    return jnp.asarray(np.random.default_rng(seed).integers(0, 4, (batch, length)), jnp.uint8)


def _objective(**hparams):
    """A Supervised objective on a tiny rescnn, input noise off (the forward is repeatable)."""
    config = base_config("rescnn")
    config.augment.reverse_complement = False
    config.augment.max_shift = 0
    config.train.steps = 10
    config.train.warmup_steps = 0
    config.train.learning_rate = 1e-2
    config.train.weight_decay = 0.5  # large: a decayed statistic would show
    model = build_model(
        "rescnn", num_outputs=2, seq_len=40, rngs=nnx.Rngs(0), **{**TINY, **hparams}
    )
    graphdef, params, rest = split_model(model)
    tx = make_optimizer(config.train, statistic_paths(model))
    objective = Supervised(config, graphdef, rest, tx)
    return objective, TrainState.create(params, tx, jax.random.PRNGKey(0)), model


def _stats(params: dict) -> dict:
    return {
        i: {k: np.asarray(block["norm"]["inner"][k]) for k in ("mean", "var")}
        for i, block in params["blocks"].items()
    }


def test_statistics_are_what_the_batch_measured_and_not_trained():
    objective, state, model = _objective()
    assert statistic_paths(model) == (
        "blocks/0/norm/inner/mean",
        "blocks/0/norm/inner/var",
        "blocks/1/norm/inner/mean",
        "blocks/1/norm/inner/var",
    )
    batch = {
        "tokens": _tokens(32, 40),
        "labels": jnp.asarray(np.random.default_rng(1).integers(0, 2, (32, 2)), jnp.float32),
        "weights": jnp.ones((32, 2), jnp.float32),
    }
    before = jax.tree.map(np.asarray, state.params)
    # What one training-mode forward pass at the old params measures (momentum 0.9).
    probe = merge_model(objective.graphdef, state.params, objective.rest)
    probe(batch["tokens"], deterministic=False, rngs=nnx.Rngs(dropout=0))
    expected = model_statistics(probe)

    new_state, metrics = jax.jit(objective.train_step)(state, batch)
    after = jax.tree.map(np.asarray, new_state.params)
    for i, block in expected["blocks"].items():
        stats = block["norm"]["inner"]
        np.testing.assert_allclose(after["blocks"][i]["norm"]["inner"]["mean"], stats["mean"],
                                   rtol=1e-5, atol=1e-6)  # fmt: skip
        np.testing.assert_allclose(after["blocks"][i]["norm"]["inner"]["var"], stats["var"],
                                   rtol=1e-5, atol=1e-6)  # fmt: skip
        assert not np.allclose(before["blocks"][i]["norm"]["inner"]["var"], stats["var"])
    # Trainable leaves moved; the optimizer holds no moments for the statistics.
    assert not np.allclose(before["stem"]["kernel"], after["stem"]["kernel"])
    assert not np.allclose(before["blocks"][0]["norm"]["inner"]["scale"],
                           after["blocks"][0]["norm"]["inner"]["scale"])  # fmt: skip
    assert np.isfinite(float(metrics["training_loss"]))
    # count_params: trainable scalars only (2 blocks x 2 statistics x 8 channels left out).
    every_leaf = sum(x.size for x in jax.tree.leaves(before))
    assert count_params(model) == every_leaf - 2 * 2 * 8


def test_evaluation_uses_running_statistics():
    objective, state, _ = _objective()
    batch = {
        "tokens": _tokens(32, 40),
        "labels": jnp.zeros((32, 2), jnp.float32),
        "weights": jnp.ones((32, 2), jnp.float32),
    }
    step = jax.jit(objective.train_step)
    for _ in range(3):
        state, _ = step(state, batch)
    predict = jax.jit(
        make_predict_fn(objective.graphdef, objective.rest, loss_type="binary", rc_average=True)
    )
    tokens = _tokens(16, 40, seed=5)
    full = np.asarray(predict(state.params, tokens))
    # A row's prediction does not depend on the rows beside it: running, not batch, statistics.
    alone = np.asarray(predict(state.params, tokens[3:4]))
    np.testing.assert_allclose(full[3], alone[0], rtol=1e-5, atol=1e-6)
    # Evaluation leaves the statistics as they were (and the loss is repeatable).
    stats = _stats(jax.tree.map(np.asarray, state.params))
    key = jax.random.PRNGKey(0)
    held_out = {"tokens": tokens, "labels": batch["labels"][:16], "weights": batch["weights"][:16]}
    eval_loss = jax.jit(objective.eval_loss)
    first = eval_loss(state, held_out, key)
    again = eval_loss(state, held_out, key)
    np.testing.assert_array_equal(np.asarray(first[0]), np.asarray(again[0]))
    after = _stats(jax.tree.map(np.asarray, state.params))
    for i in stats:
        np.testing.assert_array_equal(stats[i]["mean"], after[i]["mean"])


@pytest.mark.parametrize(
    "hparams",
    [{"norm": "layer", "gated": True}, {"norm": "rms", "squeeze_excitation": True}],
)
def test_variants_without_batch_norm_have_no_statistics(hparams):
    model = build_model("rescnn", num_outputs=1, seq_len=40, rngs=nnx.Rngs(0), **TINY, **hparams)
    assert statistic_paths(model) == ()
    logits = model(_tokens(4, 40))
    assert logits.shape == (4, 1) and np.all(np.isfinite(np.asarray(logits)))
    with pytest.raises(ValueError, match="norm must be one of"):
        build_model("rescnn", num_outputs=1, seq_len=40, rngs=nnx.Rngs(0), norm="group")


def test_mean_max_pool_doubles_the_pooled_width_and_sees_a_single_motif():
    mean = build_model("rescnn", num_outputs=1, seq_len=40, rngs=nnx.Rngs(0), **TINY)
    both = build_model(
        "rescnn", num_outputs=1, seq_len=40, rngs=nnx.Rngs(0), **TINY, pool="mean_max"
    )
    channels = TINY["channels"]
    tokens = _tokens(3, 40)
    assert mean.features(tokens, deterministic=True)[1].shape == (3, channels)
    seq_BLD, pooled_BD = both.features(tokens, deterministic=True)
    assert pooled_BD.shape == (3, 2 * channels) and seq_BLD.shape == (3, 40, channels)
    # 2 C more LayerNorm scale + bias and C more head weights than the mean-only model.
    assert count_params(both) - count_params(mean) == 3 * channels
    with pytest.raises(ValueError, match="pool must be one of"):
        build_model("rescnn", num_outputs=1, seq_len=40, rngs=nnx.Rngs(0), pool="attention")


def test_named_sizes_span_100k_to_5m_parameters():
    from jaxssl.models.rescnn import SIZES

    counts = {
        name: count_params(
            nnx.eval_shape(
                lambda h=h: build_model("rescnn", num_outputs=1, seq_len=101, rngs=nnx.Rngs(0), **h)
            )
        )
        for name, h in SIZES.items()
    }
    assert counts["base"] == 305_409  # the 305k-parameter reference shape
    assert 90_000 < counts["tiny"] < 110_000 and 4_000_000 < counts["xl"] < 5_000_000
    assert list(counts.values()) == sorted(counts.values())


def test_one_cycle_schedule():
    config = base_config("rescnn")
    config.train.schedule = "one_cycle"
    config.train.steps, config.train.warmup_steps = 100, 30
    config.train.learning_rate, config.train.final_lr_fraction = 2e-3, 1e-4
    schedule = learning_rate_schedule(config.train)
    assert float(schedule(0)) == pytest.approx(2e-3 / 25)
    assert float(schedule(30)) == pytest.approx(2e-3)
    assert float(schedule(100)) == pytest.approx(2e-7, rel=1e-3)
    values = [float(schedule(s)) for s in range(101)]
    assert values[:31] == sorted(values[:31]) and values[30:] == sorted(values[30:], reverse=True)
    config.train.schedule = "linear"
    with pytest.raises(ValueError, match="one_cycle"):
        learning_rate_schedule(config.train)


def test_self_distill_keeps_student_and_teacher_statistics():
    config = base_config("rescnn")
    config.train.steps, config.train.warmup_steps, config.train.weight_decay = 10, 0, 0.5
    model = build_model("rescnn", num_outputs=1, seq_len=40, rngs=nnx.Rngs(0), **TINY)
    graphdef, params, rest = split_model(model)
    tx = make_optimizer(config.train, statistic_paths(model))
    objective = SelfDistill(config, graphdef, rest, tx)
    params = objective.init_params(params, jax.random.PRNGKey(1))
    state = TrainState.create(params, tx, jax.random.PRNGKey(0), objective.init_extra(params))
    batch = {"tokens": _tokens(16, 40), "labels": jnp.zeros((16, 1)), "weights": jnp.ones(16)}
    # What the student's training-mode forward pass on its view measures.
    student, _ = objective.make_views(jax.random.split(jax.random.fold_in(state.rng, 0))[0],
                                      batch["tokens"])  # fmt: skip
    probe = merge_model(graphdef, state.params["model"], rest)
    probe.features(student.inputs_BL, deterministic=False, rngs=nnx.Rngs(dropout=0))
    expected = model_statistics(probe)["blocks"][0]["norm"]["inner"]["var"]
    new_state, _ = jax.jit(objective.train_step)(state, batch)
    var = np.asarray(new_state.params["model"]["blocks"][0]["norm"]["inner"]["var"])
    np.testing.assert_allclose(var, expected, rtol=1e-5, atol=1e-6)
    teacher = np.asarray(new_state.extra["teacher"]["model"]["blocks"][0]["norm"]["inner"]["var"])
    assert np.all((teacher < 1.0) == (var < 1.0)) and not np.allclose(teacher, 1.0)  # EMA of both


def test_best_checkpoint_round_trip_is_exact(tmp_path):
    objective, state, _ = _objective()
    batch = {
        "tokens": _tokens(32, 40),
        "labels": jnp.ones((32, 2), jnp.float32),
        "weights": jnp.ones((32, 2), jnp.float32),
    }
    state, _ = jax.jit(objective.train_step)(state, batch)
    params = jax.device_get(state.params)
    ckpts = StageCheckpoints(tmp_path, keep=1)
    ckpts.save_best(params, step=1, score=0.5, valid={})
    zeros = jax.tree.map(np.zeros_like, params)
    restored = ckpts.restore_best(zeros)
    ckpts.close()
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ---------------------------------------------------------------------------------------------
# Through the trainer: resume, best checkpoint, predict, init_from, dev threshold.


@pytest.fixture(scope="module")
def motif_data(tmp_path_factory) -> Path:
    return make_motif_shards(tmp_path_factory.mktemp("data") / "motifs")


def _rescnn_config(data: Path, steps: int = 20):
    config = small_config(data, steps=steps)
    config.model.name = "rescnn"
    config.model.hparams = dict(TINY)
    config.train.patience = 0
    config.train.eval_every = 10
    config.train.checkpoint_every = 10
    return config


def test_statistics_through_resume_best_checkpoint_predict_and_init_from(
    motif_data, tmp_path, monkeypatch
):
    config = _rescnn_config(motif_data)
    whole = train_lib.train_and_evaluate(config, tmp_path / "whole")["stages"][0]

    monkeypatch.setattr(train_lib, "_after_step", _kill_at(10))
    with pytest.raises(_Killed):
        train_lib.train_and_evaluate(config, tmp_path / "resumed")
    monkeypatch.setattr(train_lib, "_after_step", lambda stage_name, step: None)
    _wait_for_checkpoint(tmp_path / "resumed" / "supervised" / "checkpoints", 10)
    resumed = train_lib.train_and_evaluate(config, tmp_path / "resumed")["stages"][0]
    assert resumed["metrics"]["test"]["mean"] == whole["metrics"]["test"]["mean"]

    # The best checkpoint holds trained statistics, identical after a resume.
    stage_dir = tmp_path / "whole" / "supervised"
    graphdef, rest, params, spec = load_trained_model(stage_dir)
    _, _, params_resumed, _ = load_trained_model(tmp_path / "resumed" / "supervised")
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(params_resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    var = np.asarray(params["blocks"][0]["norm"]["inner"]["var"])
    assert not np.allclose(var, 1.0)  # moved from its initial value

    # Predicting from the stage directory reproduces the stage's test figures.
    mesh = make_mesh()
    predict = jax.jit(make_predict_fn(graphdef, rest, loss_type="binary", rc_average=True))
    pred = predict_split(
        predict, jax.device_put(params, replicated(mesh)), motif_data, "test",
        batch_size=64, mesh=mesh,
    )  # fmt: skip
    from jaxssl.metrics import auroc

    assert auroc(pred.labels_BT[:, 0], pred.probs[:, 0]) == pytest.approx(
        whole["metrics"]["test"]["ap1"]["auroc"], abs=1e-6
    )

    # The dev threshold is the best one on the validation predictions.
    valid = predict_split(
        predict, jax.device_put(params, replicated(mesh)), motif_data, "valid",
        batch_size=64, mesh=mesh,
    )  # fmt: skip
    chosen = whole["metrics"]["dev_threshold"]
    assert chosen["thresholds"]["ap1"] == pytest.approx(
        best_mcc_threshold(valid.labels_BT[:, 0], valid.probs[:, 0]), abs=1e-6
    )
    assert set(chosen["test"]) == {"ap1", "ebox", "mean"}

    # init_from loads the statistics with the weights.
    fine = _rescnn_config(motif_data)
    fine.init_from = str(stage_dir)
    stage = train_lib.resolve_stage(fine, "supervised")
    model, fine_spec = train_lib.build_stage_model(stage, train_lib.resolve_stage_data(stage))
    loaded = train_lib.initial_params(stage, None, fine_spec, split_model(model)[1])
    np.testing.assert_array_equal(loaded["blocks"][0]["norm"]["inner"]["var"], var)

    # rescnn holds no length-dependent weight: a model of windows half as long loads it too
    # (pre-trained on 101 bp, fine-tuned on 70 bp); deepbind-style length checks stay.
    short = _rescnn_config(motif_data)
    short.init_from, short.init_exclude = str(stage_dir), "head"
    stage = train_lib.resolve_stage(short, "supervised")
    spec = {**fine_spec, "seq_len": fine_spec["seq_len"] // 2}
    model = build_model("rescnn", num_outputs=2, seq_len=spec["seq_len"], rngs=nnx.Rngs(1),
                        **spec["hparams"])  # fmt: skip
    loaded = train_lib.initial_params(stage, None, spec, split_model(model)[1])
    np.testing.assert_array_equal(loaded["blocks"][0]["norm"]["inner"]["var"], var)
    with pytest.raises(ValueError, match="seq_len: checkpoint has"):
        check_same_architecture({**spec, "name": "deepbind"}, {**fine_spec, "name": "deepbind"},
                                stage_dir, ignore=("num_outputs", "task_names"))  # fmt: skip


_DEVICE_SCRIPT = """
import json, sys
sys.path.insert(0, {repo!r})
import jax, jax.numpy as jnp, numpy as np
from tests.test_rescnn import _objective
from tests.test_run_safety import _Killed, _kill_at, _wait_for_checkpoint
from jaxssl.sharding import batch_sharding, make_mesh, replicated, to_global_batch
objective, state, _ = _objective()
mesh = make_mesh()
repl, batch_sh = replicated(mesh), batch_sharding(mesh)
step = jax.jit(objective.train_step, in_shardings=(repl, batch_sh),
               out_shardings=(repl, repl), donate_argnums=(0,))
state = jax.device_put(state, repl)
rng = np.random.default_rng(3)
for _ in range(3):
    batch = {{"tokens": rng.integers(0, 4, (32, 40)).astype(np.uint8),
              "labels": rng.integers(0, 2, (32, 2)).astype(np.float32),
              "weights": np.ones((32, 2), np.float32)}}
    state, metrics = step(state, to_global_batch(batch, mesh))
params = jax.device_get(state.params)
print("RESULT" + json.dumps({{"devices": jax.device_count(),
      "loss": float(metrics["training_loss"]),
      "stats": [np.asarray(b["norm"]["inner"][k]).tolist()
                for b in params["blocks"].values() for k in ("mean", "var")],
      "stem": np.asarray(params["stem"]["kernel"]).ravel().tolist()}}))
"""


def _run_with_devices(n: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
    out = subprocess.run(
        [sys.executable, "-c", _DEVICE_SCRIPT.format(repo=str(REPO))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def test_one_and_eight_devices_give_the_same_statistics():
    one, eight = _run_with_devices(1), _run_with_devices(8)
    assert (one["devices"], eight["devices"]) == (1, 8)
    # Each device holds 4 of the 32 rows: per-device statistics would differ by far more.
    np.testing.assert_allclose(one["stats"], eight["stats"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(one["stem"], eight["stem"], rtol=1e-4, atol=1e-6)
    assert one["loss"] == pytest.approx(eight["loss"], rel=1e-4)


def test_unknown_schedule_is_refused_before_anything_runs():
    from jaxssl.config import resolve_stage, with_stage_slots
    from jaxssl.errors import ConfigError
    from jaxssl.stage_checks import validate_stage

    config = base_config()
    config.stages = "main"
    config.train.schedule = "linear"
    with pytest.raises(ConfigError, match="config.train.schedule='linear'"):
        validate_stage(resolve_stage(with_stage_slots(config), "main"))
