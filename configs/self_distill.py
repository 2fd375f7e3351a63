"""Self-distillation pre-training, then supervised fine-tuning (FinDNA, arXiv 2405.08538).

    python -m jaxssl.main --config=configs/self_distill.py --workdir=runs/self_distill
    python -m jaxssl.main --config=configs/self_distill.py:mixer --workdir=runs/sd_mixer

Stage ``pretrain`` (objective ``self_distill``) reads sequences only: by default unlabeled
windows sampled from every genome of the toy world (``toy:unlabeled``; the reference's
held-out chromosomes excluded). With your own ``--config.data.path`` give your own sequences:
windows of any FASTA (``python -m data_prep windows``) or any shard set's train split with its
labels ignored::

    --config.pretrain.data.extra_train=shards/sp1_windows,shards/sp2_windows
    --config.pretrain.data.extra_train=shards/my_labeled_set:train

(its validation loss is measured on the labeled set's valid split, labels ignored; the test
split is never read). Stage ``scratch`` is the control: the same model from scratch on the
labels, early-stopped, with the whole pretrain + finetune budget as its maximum; each stage
runs once per seed of ``config.seeds`` (0,1,2). Stage ``finetune`` trains the task head on
the labels, starting from the pre-trained backbone (the student's in this quick default, the
EMA teacher's in the long recipe; ``--config.self_distill.finetune_from=teacher|student``).

The text after ':' picks the backbone (its hyperparameters become --config.model.hparams.*).

What is equal between the arms (``tests/test_self_distill.py`` checks it on the planned
stages): ``finetune`` and ``scratch`` share the model, batch, augmentation, optimizer, peak
learning rate (1e-3), warm-up (100 steps, linear), cosine decay to 1 % and early stopping
(validation AUPRC every 100 steps, patience 4). Their maximum steps: ``finetune`` runs at most
400; ``scratch`` gets the method's whole lineage budget (``train.budget_of``: 400 pre-training
+ 400 fine-tuning = 800), so a control that picks its budget among 1/4, 1/2 and 1 of that
lineage on validation has, at 1/2, the fine-tune's schedule step for step. 400 steps is the
fine-tune's floor, not a tuning: on this task every start, pre-trained or random, sits at the
base rate (valid AUPRC ~0.23) for 150-200 steps at peak learning rate after its warm-up, so a
shorter fine-tune ends before it leaves that plateau (the earlier default, 200 steps with a
20-step warm-up, compared such a truncated run with a 400-step one).

This default is the quick one: a narrow ``dilated_resnet`` (64 channels, 4 blocks, 79k
parameters), batch 64, 400 pre-training steps (peak learning rate 1e-3), so that the whole
run (three seeds, with the control) finishes in minutes on a laptop CPU (its figures:
docs/results/self_distillation.md). It shows the method end to end, not its effect at scale:
``configs/self_distill_long.py`` is the full-width recipe (hours on a CPU).
"""

from jaxssl.config import base_config, with_stage_slots
from jaxssl.objectives.self_distill import default_settings

# Fine-tuning steps, and pre-training's too, so that the control's lineage budget is twice the
# fine-tune's (see above).
FINETUNE_STEPS = 400


def get_config(model: str | None = None):
    config = base_config(model or "dilated_resnet")
    config.data.require_screened = True  # every outside source screened against valid/test
    if model is None:  # the quick default backbone; `:dilated_resnet` is the full width
        config.model.hparams.channels = 64
        config.model.hparams.num_blocks = 4
        config.model.hparams.max_dilation = 8
    config.seeds = "0,1,2"
    config.stages = "pretrain,finetune,scratch"
    config.train.batch_size = 64
    config.train.eval_every = 100
    config.train.patience = 4
    config.self_distill = default_settings()  # read by the self_distill objective only
    # A few hundred steps leave the EMA teacher (momentum 0.996 -> 1) about a third random
    # initialisation, so the quick default fine-tunes the student (chosen on validation: 0.42
    # vs 0.35 valid AUPRC after 400 fine-tuning steps, seed 0); the long recipe, the teacher.
    config.self_distill.finetune_from = "student"

    config.pretrain = {
        "objective": "self_distill",
        "data": {"use_labeled_train": False, "extra_train": "toy:unlabeled"},
        "train": {"steps": FINETUNE_STEPS, "learning_rate": 1e-3, "warmup_steps": 40},
    }
    # Fine-tuning: the shared schedule (learning rate, warm-up, decay, early stopping), the
    # scratch control's, with no stage-specific override.
    config.finetune = {
        "objective": "supervised",
        "init_from": "prev",
        "init_exclude": "head",
        "train": {"steps": FINETUNE_STEPS},
    }
    # The from-scratch control: the same model and recipe on the labels only, its budget tuned
    # on validation among 1/4, 1/2 and 1 x the pretrain + finetune lineage (200, 400, 800
    # steps: the 1/2 run is fine-tune's schedule step for step), early-stopped like the method.
    config.scratch = {
        "objective": "supervised",
        "train": {"budget_of": "finetune", "budget_fractions": "0.25,0.5,1"},
        "control_of": "finetune",
    }
    return with_stage_slots(config)
