"""Cross-genome pseudo-labeling: pre-train on labels carried by homology, fine-tune on real ones.

    python -m jaxssl.main --config=configs/pseudo_label.py --workdir=runs/pseudo_label
    python -m jaxssl.main --config=configs/pseudo_label.py:basset --workdir=runs/pl_basset

Three stages per seed (``config.seeds``, default 0,1,2; ``WORKDIR/seed_<n>/<stage>``), each
early-stopped on the validation split, so that report.json and the printed table compare the
method with its matched control per task (mean ± sd and paired differences over seeds):

``pretrain``    the pseudo-labeled windows of every other genome (``toy:homology`` = the toy
                world's labels carried through its chains; for real data list the shard sets
                of ``python -m data_prep homology``), without the reference's own training
                windows unless ``--config.pretrain.data.use_labeled_train=True``;
``finetune``    starts from the pre-trained parameters (``init_from="prev"``, head included,
                since the tasks are the same) and trains on the real labels with its own
                learning rate (``--config.finetune.train.learning_rate``, 1e-3; choose it
                on the validation split, never on test); optional frozen layers with
                ``--config.finetune.train.freeze=motifs`` (parameter-path prefixes);
``supervised``  the matched control: the reference's real labels only, from scratch, with
                a maximum budget of every pretrain + finetune step (``train.budget_of``).

All stages select their checkpoint on the reference's validation chromosomes and report the
held-out test chromosomes (the homology shard sets exclude windows homologous to both). For a
real labeled set::

    --config.data.path=shards/hg38_tfs \
    --config.pretrain.data.extra_train=pseudo/mm10,pseudo/canFam3@0.5

The text after ':' picks the model (any registered one; its hyperparameters become
--config.model.hparams.*). Step counts keep each stage near a minute on 2 CPU cores with the
default toy world; at that budget no stage learns the rare TF (SPI1 test AUPRC ~0.07 for all,
base rate 0.046). It takes thousands of steps: supervised alone reaches 0.17 with 4000 steps
and 0.46 with 8000, pre-train 4000 + fine-tune 4000 reaches 0.33, i.e. on the toy world the
pseudo-labels do not help the rare TF (they are homologs of the same few regions with a
weaker motif signal; see docs/results/label_budget.md). Raise the steps for real data, e.g.
--config.supervised.train.steps=8000 --config.pretrain.train.steps=8000.
"""

from jaxssl.config import base_config, with_stage_slots


def get_config(model: str | None = None):
    config = base_config(model or "deepbind")
    config.seeds = "0,1,2"
    config.data.require_screened = True  # every outside source screened against valid/test
    config.stages = "pretrain,finetune,supervised"
    config.train.eval_every = 200
    config.train.checkpoint_every = 200
    config.train.patience = 4

    config.pretrain = {
        "data": {"use_labeled_train": False, "extra_train": "toy:homology"},
        "train": {"steps": 1200},
    }
    config.finetune = {
        "init_from": "prev",
        # freeze: parameter-path prefixes kept fixed, e.g. "motifs" (deepbind's first layer)
        "train": {"steps": 600, "learning_rate": 1e-3, "warmup_steps": 50, "freeze": ""},
    }
    # The matched control: real labels only, from scratch, its budget tuned on validation
    # among 1/4, 1/2 and 1 x every pretrain + finetune step (one annealed run each,
    # early-stopped like the method).
    config.supervised = {
        "train": {"budget_of": "finetune", "budget_fractions": "0.25,0.5,1"},
        "control_of": "finetune",
    }
    return with_stage_slots(config)
