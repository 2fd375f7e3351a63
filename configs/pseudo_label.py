"""Cross-genome pseudo-labeling: pre-train on labels carried by homology, fine-tune on real ones.

    python -m jaxssl.main --config=configs/pseudo_label.py --workdir=runs/pseudo_label
    python -m jaxssl.main --config=configs/pseudo_label.py:basset --workdir=runs/pl_basset

Three stages, so that report.json and the printed table compare the methods per task:

``supervised``  the baseline: the reference's real labels only, from scratch;
``pretrain``    the pseudo-labeled windows of every other genome (``toy:homology`` = the toy
                world's labels carried through its chains; for real data list the shard sets
                of ``python -m data_prep homology``), without the reference's own training
                windows unless ``--config.pretrain.data.use_labeled_train=True``;
``finetune``    starts from the pre-trained parameters (``init_from="prev"``, head included,
                since the tasks are the same) and trains on the real labels with its own,
                lower learning rate.

All stages select their checkpoint on the reference's validation chromosomes and report the
held-out test chromosomes (the homology shard sets exclude windows homologous to both). For a
real labeled set::

    --config.data.path=shards/hg38_tfs \
    --config.pretrain.data.extra_train=pseudo/mm10,pseudo/canFam3@0.5

The text after ':' picks the model (any registered one; its hyperparameters become
--config.model.hparams.*). Step counts keep each stage near a minute on 2 CPU cores with the
default toy world; raise them for real data (e.g. --config.train.steps=20000).
"""

from jaxssl.config import base_config


def get_config(model: str | None = None):
    config = base_config(model or "deepbind")
    config.stages = "supervised,pretrain,finetune"
    config.train.eval_every = 200
    config.train.checkpoint_every = 500

    config.supervised = {"train": {"steps": 1200}}
    config.pretrain = {
        "data": {"use_labeled_train": False, "extra_train": "toy:homology"},
        "train": {"steps": 1200},
    }
    config.finetune = {
        "init_from": "prev",
        "train": {"steps": 600, "learning_rate": 3e-4, "warmup_steps": 50},
    }
    return config
