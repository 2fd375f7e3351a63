"""Few labeled peaks, many related genomes: the regime where cross-genome pseudo-labels should help.

    python -m jaxssl.main --config=configs/label_budget.py:100 --workdir=runs/label_budget/b100
    python benchmarks/label_budget.py --workdir runs/label_budget     # budgets 25..400, plot

The text after ':' is the label budget (labeled positives per TF kept from the reference's
train split, `data.max_positives`; background negatives kept in proportion, valid and test
untouched; see jaxssl/datasets.py) and, comma-separated, options: species=K (12 relatives),
closest=D, farthest=D (their spread in expected substitutions per neutral site, 0.02 to 0.5,
geometric), steps=S (maximum steps of every training stage, 400), generations=G (1),
pseudo_share=P (pseudo-labeled rows per real row in a student batch, 1.0), model=NAME
(deepbind, for every method), no_pseudo_controls=1 (adds student_g_no_pseudo),
carried=homology|oracle|random (the relatives' labels: carried by homology; their true binding,
the ceiling of cross-genome pseudo-labeling; random at the carried base rate, its floor).

The toy world is built once with 12 relatives (its own cache directory; the default world is
untouched) and the labels carried to every one of them come only from the kept positives and
negatives. Stages per seed (config.seeds, 0,1,2), all the same model, each early-stopped on the
validation split (eval every 50 steps, patience 4):

  supervised         the budgeted labels only, from scratch, the students' noise; maximum
                     budget = every step of the final student's lineage (train.budget_of);
                     the matched control of noisy_student
  supervised_evoaug  the same with EvoAug augmentation (jaxssl.augment.evoaug_settings):
                     is pseudo-labeling better than just augmenting?
  pretrain, pseudo_label, teacher_g, student_g   configs/noisy_student.py's recipe (pretrain
                     on the carried labels, fine-tune = first teacher, teachers label the
                     carried and unlabeled windows, noisy students); `pseudo_label` is the
                     cross-genome pseudo-labeling method, `noisy_student` (select) the
                     generation kept on validation
  sd_pretrain, sd_finetune   configs/self_distill.py's recipe (self-distillation on unlabeled
                     windows of every genome, then fine-tuning) with the same model

One supervised control serves every method: bound to the generation noisy_student kept, its
budget tuned on validation among 1/4, 1/2 and 1 x that generation's lineage (pretrain +
pseudo_label + students; one annealed run each), early-stopped like every stage.
benchmarks/label_budget.py pairs every method with it per seed. The label subset follows the
seed (data.label_seed = -1), so the spread over seeds includes the choice of peaks.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ml_collections import ConfigDict

from jaxssl.augment import evoaug_settings
from jaxssl.config import with_stage_slots

DEFAULTS = {
    "budget": "100",
    "species": "12",
    "closest": "0.02",
    "farthest": "0.5",
    "steps": "400",
    "generations": "1",
    "pseudo_share": "1.0",
    "model": "deepbind",
    "no_pseudo_controls": "0",
    "carried": "homology",
}
# What the relatives' windows are labeled with (positive control A and its floor): the labels
# carried by homology, the windows' true binding (the ceiling of cross-genome pseudo-labels), or
# random labels at the carried base rate.
CARRIED = {
    "homology": "toy:homology",
    "oracle": "toy:homology_oracle",
    "random": "toy:homology_random",
}


def _options(arg: str | None) -> dict[str, str]:
    options = dict(DEFAULTS)
    for item in filter(None, (arg or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep and key.strip().isdigit():
            key, value = "budget", key
        if key not in options:
            raise ValueError(
                f"configs/label_budget.py: unknown option {key!r}; known {sorted(options)}"
            )
        options[key] = value
    if options["carried"] not in CARRIED:
        raise ValueError(
            f"configs/label_budget.py: carried={options['carried']!r}; known {sorted(CARRIED)}"
        )
    return options


def _sibling(name: str):
    """Another config of this folder as a module (works wherever the repository lies)."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"jaxssl_configs_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_config(arg: str | None = None) -> ConfigDict:
    options = _options(arg)
    steps, generations = int(options["steps"]), int(options["generations"])
    # The noisy-student recipe (pretrain, pseudo_label, teacher_g, student_g and the
    # supervised control) as configs/noisy_student.py defines it.
    config = _sibling("noisy_student").get_config(
        f"generations={generations},model={options['model']}"
    )
    config.data.max_positives = int(options["budget"])
    config.data.toy_world.species = int(options["species"])
    config.data.toy_world.divergence = f"{options['closest']},{options['farthest']}"
    config.train.steps = steps
    config.train.eval_every = 50
    config.train.checkpoint_every = 100
    config.train.patience = 4
    # Teachers label 5,000 unlabeled windows per genome (13 genomes) plus every carried window.
    config.pseudo.max_examples = 5000
    carried = CARRIED[options["carried"]]
    config.pretrain.data.extra_train = carried
    config.pseudo.sources = f"{carried},toy:unlabeled"

    stages = [s for s in config.stages.split(",") if s != "supervised"]
    if options["no_pseudo_controls"] != "1":
        stages = [s for s in stages if not s.endswith("_no_pseudo")]
    share = float(options["pseudo_share"])
    for g in range(1, generations + 1):
        student = config[f"student_{g}"]
        student.train.steps = steps
        # With a few hundred labeled rows, a quarter of each batch pseudo-labeled (the main
        # job's @0.333) would leave the carried and teacher-labeled windows a minor part.
        student.data.extra_train = f"stage:teacher_{g}@{share:g}"
        if f"student_{g}_no_pseudo" in config:
            config[f"student_{g}_no_pseudo"].train.steps = steps
    final = f"student_{generations}"

    # Self-distillation: configs/self_distill.py's pretrain/finetune recipe, this run's model.
    sd = _sibling("self_distill").get_config(options["model"])
    config.self_distill = sd.self_distill
    config.sd_pretrain = ConfigDict(sd.pretrain.to_dict())
    config.sd_pretrain.train.steps = steps
    config.sd_finetune = ConfigDict(sd.finetune.to_dict())
    config.sd_finetune.init_from = "stage:sd_pretrain"
    config.sd_finetune.train.steps = steps

    config.supervised_evoaug = ConfigDict(
        {"augment": evoaug_settings(), "train": {"budget_of": final}}
    )
    # The control binds to the generation kept on validation, so it runs after the students.
    config.stages = ",".join(
        [*stages, "supervised", "supervised_evoaug", "sd_pretrain", "sd_finetune"]
    )
    return with_stage_slots(config)
