"""Cross-genome transfer with few labels: pseudo-labels by homology and Noisy Student against
supervised training, with and without EvoAug, in one run (benchmarks/cross_genome.py).

    python -m jaxssl.main --config=configs/cross_genome.py --workdir=runs/cg \
        --config.data.path=shards/ref \
        --config.pretrain.data.extra_train=pseudo/rel1,pseudo/rel2 \
        --config.pseudo.sources=pseudo/rel1,pseudo/rel2,unlabeled/rel1,unlabeled/rel2

The method stages are those of configs/noisy_student.py (its recipe, reused as it is):
``pretrain`` on the carried pseudo-labels only, ``pseudo_label`` (= pretrain fine-tuned on the
real labels: the pseudo-label method and the first teacher), ``teacher_g`` / ``student_g``
(``noisy_student`` = the generation kept on validation). Controls, each from scratch on the
real labels only, early-stopped, with a maximum budget of every step of the final student's
lineage (``train.budget_of``):

``supervised``         the noisy-student config's control (its student noise: substitutions,
                       shifts, reverse complement);
``supervised_evoaug``  the same, but with EvoAug's published ChIP-seq settings
                       (``jaxssl.augment.evoaug_settings()``: insertions, deletions,
                       translocations, substitutions, reverse complement): is pseudo-labeling
                       better than augmenting?

The students' no-pseudo-label controls of noisy_student.py are left out to save CPU time
(``:controls=1`` keeps them). Options after ':' (comma-separated): generations=K (default 1),
model=NAME, controls=0|1. With no overrides it runs on the toy world, like the configs it
builds on.
"""

from ml_collections import ConfigDict

from configs import noisy_student
from jaxssl.augment import evoaug_settings
from jaxssl.config import with_stage_slots


def _options(arg: str | None) -> dict:
    options = {"generations": "1", "model": "deepbind", "controls": "0"}
    for item in filter(None, (arg or "").split(",")):
        key, _, value = item.partition("=")
        if key not in options:
            raise ValueError(f"configs/cross_genome.py: unknown option {key!r}; known {options}")
        options[key] = value
    return options


def get_config(arg: str | None = None) -> ConfigDict:
    options = _options(arg)
    config = noisy_student.get_config(
        f"generations={options['generations']},model={options['model']}"
    )
    stages = [s for s in config.stages.split(",")]
    if options["controls"] != "1":
        for name in [s for s in stages if s.endswith("_no_pseudo")]:
            stages.remove(name)
            del config[name]
    # Not a `control_of` stage: a matched control takes its method's noise, and this one's
    # point is its own augmentation. Same model, budget and early stopping as `supervised`.
    config.supervised_evoaug = ConfigDict(
        {
            "augment": evoaug_settings(),
            "train": {"budget_of": config.supervised.train.budget_of},
        }
    )
    stages.append("supervised_evoaug")
    config.stages = ",".join(stages)
    return with_stage_slots(config)
