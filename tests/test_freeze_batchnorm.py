"""train.freeze keeps a frozen layer's BatchNorm statistics as well as its weights (issue 23
item 6): the train step writes back only the statistics of layers that train."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from jaxssl.config import base_config
from jaxssl.models import build_model
from jaxssl.objectives import get_objective
from jaxssl.optim import make_optimizer, param_path
from jaxssl.train_state import TrainState, split_model, statistic_paths


def _flat(params: dict) -> dict[str, np.ndarray]:
    return {
        param_path(p): np.asarray(v) for p, v in jax.tree_util.tree_flatten_with_path(params)[0]
    }


@pytest.mark.parametrize(("objective", "prefix"), [("supervised", ""), ("self_distill", "model/")])
def test_frozen_batchnorm_statistics_stay_put(objective, prefix):
    config = base_config("rescnn")
    config.objective = objective
    config.model.hparams.update({"channels": 8, "dilations": (1, 2), "norm": "batch"})
    config.train.steps = 4
    config.train.freeze = f"{prefix}stem,{prefix}blocks/0"
    model = build_model(
        "rescnn", num_outputs=2, seq_len=40, rngs=nnx.Rngs(0), **config.model.hparams.to_dict()
    )
    stats = statistic_paths(model)
    graphdef, params, rest = split_model(model)
    tx = make_optimizer(config.train, stats)
    obj = get_objective(objective)(config, graphdef, rest, tx)
    params = obj.init_params(params, jax.random.key(1))
    state = TrainState.create(params, tx, jax.random.key(2), obj.init_extra(params))
    before = _flat(state.params)
    rng = np.random.default_rng(0)
    step = jax.jit(obj.train_step)
    for _ in range(3):
        batch = {
            "tokens": rng.integers(0, 4, (16, 40), dtype=np.uint8),
            "labels": (rng.random((16, 2)) < 0.5).astype(np.float32),
            "weights": np.ones(16, np.float32),
        }
        state, _ = step(state, batch)
    after = _flat(state.params)
    frozen = [f"{prefix}{s}" for s in stats if s.startswith("blocks/0/")]
    moving = [f"{prefix}{s}" for s in stats if s.startswith("blocks/1/")]
    assert len(frozen) == len(moving) == 2  # mean and var of one BatchNorm each
    for key in frozen:
        np.testing.assert_array_equal(after[key], before[key])
    for key in moving:
        assert not np.allclose(after[key], before[key])
    # The frozen layer's weights do not move either; the trained ones do.
    conv = [k for k in after if k.startswith(f"{prefix}blocks/0/") and k.endswith("kernel")]
    assert conv and all(np.array_equal(after[k], before[k]) for k in conv)
    head = [k for k in after if k.startswith(f"{prefix}blocks/1/") and k.endswith("kernel")]
    assert head and any(not np.array_equal(after[k], before[k]) for k in head)
