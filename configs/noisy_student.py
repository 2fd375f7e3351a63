"""Noisy Student on cross-genome pseudo-labels: the main job (default data: the toy world).

    python -m jaxssl.main --config=configs/noisy_student.py --workdir=runs/noisy_student

Stages, each resumable in WORKDIR/seed_<n>/<stage> for each seed of config.seeds (0,1,2),
each early-stopped on the validation split (train.patience evaluations without a gain):
  pretrain       homology pseudo-labels of the other genomes (toy:homology)
  pseudo_label   fine-tunes `pretrain` on the real labels: the first teacher
  teacher_g      the teacher scores the homology pseudo-labels and unlabeled windows of every
                 genome (confidence = agreement, see jaxssl/pseudo_labels.py)
  student_g      trained with noise (substitutions, shifts, reverse complement, dropout) on
                 real labels + teacher-weighted pseudo-labels, starting from its teacher's
                 weights (from scratch when student_scale makes it larger); becomes the next
                 teacher
  student_g_no_pseudo   control: the same student (init, steps, noise) on real labels only
  supervised     control: real labels only, from scratch, bound to the kept generation
                 (its model and noise), its budget tuned on validation among 1/4, 1/2 and 1 x
                 every step of that generation's lineage, teachers included (train.budget_of,
                 train.budget_fractions; one annealed run per budget, planned as
                 supervised_<generation>_x<fraction>); report.json pairs each method with it
  noisy_student  (reported, not a stage) the generation kept: the last student that beat
                 its teacher on the validation split; a generation g > 1 runs only if
                 generation g - 1 improved (run_if_better), so generations=K is a maximum

Options after ':' (comma-separated): generations=K (default 2), model=NAME, student_scale=S
(multiplies the students' first-layer width: a student may be larger than its teacher).
Point it at your own data with --config.data.path=<labeled shard set> and
--config.pretrain.data.extra_train=<homology shard sets> --config.pseudo.sources=<sets to label>.
"""

from ml_collections import ConfigDict

from jaxssl.config import base_config, with_stage_slots


def _options(arg: str | None) -> dict:
    options = {"generations": "2", "model": "deepbind", "student_scale": "1"}
    for item in filter(None, (arg or "").split(",")):
        key, _, value = item.partition("=")
        if key not in options:
            raise ValueError(f"configs/noisy_student.py: unknown option {key!r}; known {options}")
        options[key] = value
    return options


def get_config(arg: str | None = None) -> ConfigDict:
    options = _options(arg)
    generations = int(options["generations"])
    config = base_config(options["model"])
    config.seeds = "0,1,2"
    config.data.require_screened = True  # every outside source screened against valid/test
    config.train.steps = 400
    config.train.learning_rate = 3e-3
    config.train.warmup_steps = 50
    config.train.eval_every = 100
    config.train.checkpoint_every = 100
    config.train.log_every = 25
    config.train.patience = 4

    stages = ["pretrain", "pseudo_label"]
    config.pretrain = ConfigDict(
        {"data": {"use_labeled_train": False, "extra_train": "toy:homology"}}
    )
    config.pseudo_label = ConfigDict(
        {"init_from": "prev", "train": {"learning_rate": 1e-3, "warmup_steps": 20}}
    )
    width_key = next(
        (k for k in ("num_filters", "filters", "channels", "width") if k in config.model.hparams),
        None,
    )
    scale = float(options["student_scale"])
    noise = {"substitution_rate": 0.02, "max_shift": 5}
    models = ["pseudo_label"]  # each generation's model; the last one teaches the next
    for g in range(1, generations + 1):
        teacher = models[-1]
        # Generation g > 1 runs only if the previous student beat its own teacher on the
        # validation split (the number of generations is chosen on validation, never test).
        gate = f"{models[-1]}:{models[-2]}" if g > 1 else ""
        stages += [f"teacher_{g}", f"student_{g}", f"student_{g}_no_pseudo"]
        config[f"teacher_{g}"] = ConfigDict(
            {
                "objective": "teacher_label",
                "pseudo": {"teacher": f"stage:{teacher}"},
                "run_if_better": gate,
            }
        )
        student = {
            # 1 pseudo-labeled row for 3 real ones: halving the real rows per step (@1.0)
            # cost the rare TF as much as the pseudo-labels could add
            # (docs/results/noisy_student.md).
            "data": {"extra_train": f"stage:teacher_{g}@0.333"},
            "augment": dict(noise),
            "train": {"steps": 400},
            # A student of the teacher's size starts from the teacher (short CPU budgets);
            # a larger one starts from scratch, as in Noisy Student.
            "init_from": f"stage:{teacher}",
            "run_if_better": gate,
        }
        if width_key and scale != 1:
            student["init_from"] = ""
            base_width = config.model.hparams[width_key]
            student["model"] = {"hparams": {width_key: type(base_width)(base_width * scale)}}
        config[f"student_{g}"] = ConfigDict(student)
        # Control (b): the same student (init, steps, noise) without pseudo-labeled data.
        control = {**student, "data": {"extra_train": ""}, "control_of": f"student_{g}"}
        config[f"student_{g}_no_pseudo"] = ConfigDict(control)
        models.append(f"student_{g}")
    # The model the method delivers: the last generation that improved on its teacher.
    config.select = "noisy_student=" + ",".join(models)
    # Control (a): real labels only, from scratch, bound to the generation the method kept
    # (its model and noise), tuned as hard as the method: one run per budget of 1/4, 1/2 and 1
    # x every step of the kept model's lineage (pretrain, pseudo_label, teachers, students),
    # each with its own annealed schedule; the one best on validation is the control.
    stages.append("supervised")
    config.supervised = ConfigDict(
        {
            "augment": dict(noise),
            "train": {"budget_of": "noisy_student", "budget_fractions": "0.25,0.5,1"},
            "control_of": "noisy_student",
        }
    )
    config.stages = ",".join(stages)
    return with_stage_slots(config)
