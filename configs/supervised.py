"""Supervised training on a labeled shard set (default: the built-in toy world).

    python -m jaxssl.main --config=configs/supervised.py --workdir=runs/supervised
    python -m jaxssl.main --config=configs/supervised.py:basset --workdir=runs/basset \
        --config.data.path=shards/gue_tf0 --config.train.steps=5000

The text after ':' picks the model (its hyperparameters become --config.model.hparams.*).
"""

from jaxssl.config import base_config, with_stage_slots


def get_config(model: str | None = None):
    config = base_config(model or "deepbind")
    config.stages = "supervised"
    config.supervised = {}  # stage-specific overrides, e.g. --config.supervised.train.steps=...
    return with_stage_slots(config)
