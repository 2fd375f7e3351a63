"""Few labels, many unlabeled sequences of the same kind: the in-domain positive control.

    python -m jaxssl.main --config=configs/scarce_labels.py --workdir=runs/scarce_tf0 \
        --config.data.path=shards/gue_tf0 --config.data.max_positives=25

The labeled set's train split is cut to `data.max_positives` positives per task (background
rows in proportion, drawn with the seed: `data.label_seed` follows `config.seeds`); the rest of
that split is the unlabeled pool (`labeled:pool`: every label hidden, exact copies of valid or
test windows removed, either strand); valid and test are never in any pool. Every stage shares
one noise recipe (the teacher's included: a student learning from a teacher weaker than its
control cannot win), and each is early-stopped on validation. Stages per seed:

  teacher        supervised on the kept labels: the first teacher
  label_soft     the teacher's probabilities on every pool window (weight max(p, 1 - p))
  noisy_student  a student `student_scale` x as wide, from scratch, on the kept labels plus the
                 teacher-labeled pool (half of each batch)
  label_hard     the teacher's calls where it is sure (max(p, 1 - p) >= pseudo.threshold)
  pseudo_label   the same student on the kept labels plus those hard labels
  sd_pretrain    self-distillation on the pool (masked nucleotides + EMA teacher + DINO loss)
  sd_finetune    fine-tunes the pre-trained backbone on the kept labels
  supervised     control of noisy_student and pseudo_label (same model, noise and lineage budget
                 of teacher + student): labels only, from scratch, its budget tuned on validation
                 among 1/4, 1/2 and 1 x that lineage (one annealed run each)
  scratch        control of sd_finetune: the same, tuned among 1/4, 1/2, 1 x (sd_pretrain +
                 sd_finetune), with sd_finetune's model

Options after ':' (comma-separated): steps=S (each training stage's maximum, 1200),
student_scale=X (2), model=NAME (deepbind), methods=noisy_student+pseudo_label+self_distill
(any subset, '+'-separated; their controls follow).
"""

from __future__ import annotations

from ml_collections import ConfigDict

from jaxssl.config import base_config, with_stage_slots
from jaxssl.objectives.self_distill import default_settings

DEFAULTS = {
    "steps": "1200",
    "student_scale": "2",
    "model": "deepbind",
    "methods": "noisy_student+pseudo_label+self_distill",
}
METHODS = ("noisy_student", "pseudo_label", "self_distill")
# Input noise of every stage (the pilot on GUE tf0 with 25 positives: a teacher without it is
# weaker than the noisy control, and its student loses; with it the student wins).
NOISE = {"substitution_rate": 0.05, "insertion_prob": 0.5, "deletion_prob": 0.5, "max_shift": 3}
TUNED = "0.25,0.5,1"


def _options(arg: str | None) -> dict[str, str]:
    options = dict(DEFAULTS)
    for item in filter(None, (arg or "").split(",")):
        key, _, value = item.partition("=")
        if key not in options:
            raise ValueError(
                f"configs/scarce_labels.py: unknown option {key!r}; known {sorted(options)}"
            )
        options[key] = value
    methods = [m for m in options["methods"].split("+") if m]
    if unknown := set(methods) - set(METHODS):
        raise ValueError(f"configs/scarce_labels.py: methods {sorted(unknown)}; known {METHODS}")
    return options


def _width_key(hparams: ConfigDict) -> str | None:
    return next((k for k in ("num_filters", "filters", "channels", "width") if k in hparams), None)


def get_config(arg: str | None = None) -> ConfigDict:
    options = _options(arg)
    methods = options["methods"].split("+")
    steps = int(options["steps"])
    config = base_config(options["model"])
    config.seeds = "0,1,2,3,4"
    config.data.require_screened = True  # every outside source screened against valid/test
    config.data.max_positives = 25
    config.augment.update(NOISE)
    config.train.steps = steps
    config.train.learning_rate = 1e-3
    config.train.warmup_steps = 100
    config.train.min_steps = 100  # never judged before the learning rate has peaked
    config.train.eval_every = 100
    config.train.checkpoint_every = 200
    config.train.log_every = 50
    config.train.patience = 4
    config.pseudo.sources = "labeled:pool"

    student: dict = {"data": {"extra_train": ""}, "init_from": ""}
    width = _width_key(config.model.hparams)
    scale = float(options["student_scale"])
    if width and scale != 1:
        base = config.model.hparams[width]
        student["model"] = {"hparams": {width: type(base)(base * scale)}}

    stages = []
    if {"noisy_student", "pseudo_label"} & set(methods):
        stages.append("teacher")
        config.teacher = ConfigDict()
    # Each teacher-student method: the teacher labels the pool, a student learns from it.
    for method, labels, mode in (
        ("noisy_student", "label_soft", "soft"),
        ("pseudo_label", "label_hard", "hard"),
    ):
        if method not in methods:
            continue
        stages += [labels, method]
        config[labels] = ConfigDict(
            {
                "objective": "teacher_label",
                "pseudo": {"teacher": "stage:teacher", "unlabeled_mode": mode},
            }
        )
        config[method] = ConfigDict({**student, "data": {"extra_train": f"stage:{labels}@1.0"}})
    if "self_distill" in methods:
        stages += ["sd_pretrain", "sd_finetune"]
        config.self_distill = default_settings()
        config.self_distill.finetune_from = "student"
        config.sd_pretrain = ConfigDict(
            {
                "objective": "self_distill",
                "data": {"use_labeled_train": False, "extra_train": "labeled:pool"},
                "train": {"learning_rate": 5e-4},
            }
        )
        config.sd_finetune = ConfigDict(
            {"objective": "supervised", "init_from": "prev", "init_exclude": "head"}
        )
    method = "noisy_student" if "noisy_student" in methods else "pseudo_label"
    if {"noisy_student", "pseudo_label"} & set(methods):
        stages.append("supervised")
        config.supervised = ConfigDict(
            {
                "train": {"budget_of": method, "budget_fractions": TUNED},
                "control_of": method,
            }
        )
    if "self_distill" in methods:
        stages.append("scratch")
        config.scratch = ConfigDict(
            {
                "train": {"budget_of": "sd_finetune", "budget_fractions": TUNED},
                "control_of": "sd_finetune",
            }
        )
    config.stages = ",".join(stages)
    return with_stage_slots(config)
