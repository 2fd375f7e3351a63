"""Self-distillation pre-training on a clean real-sequence corpus, then the GUE recipe.

    python -m data_prep corpus runs/corpus --seq-len 101 \
        --from data/tf0:train,data/prom_core_all:train,genome.fa.gz \
        --exclude data/tf0,data/prom_core_all          # valid + test, both strands, exact
    python -m jaxssl.main --config=configs/gue_self_distill.py --workdir=runs/gue_sd_tata \
        --config.data.path=data/prom_core_tata \
        --config.pretrain.data.extra_train=runs/corpus

Stage ``pretrain`` (objective ``self_distill``) reads only the corpus given as
``pretrain.data.extra_train`` (labels, if any, ignored; its validation loss is measured on the
labeled set's valid split, labels ignored; no test split is read). ``finetune`` is the
``configs/gue.py`` recipe started from the pre-trained backbone (the EMA teacher's; the
``self_distill.finetune_from`` key). The matched control is ``configs/gue.py`` with the same
flags (same model, steps, schedule, augmentation and early stopping, random initialisation).
``benchmarks/gue_self_distill.py`` builds the corpus from every GUE task, pre-trains once and
runs both arms over seeds. The text after ':' is a ``rescnn`` size as in ``configs/gue.py``.
"""

from configs.gue import get_config as gue_config
from jaxssl.config import with_stage_slots
from jaxssl.objectives.self_distill import default_settings


def get_config(size: str | None = None):
    config = gue_config(size)
    del config["gue"]
    config.data.require_screened = True  # the corpus screened against this set's valid/test
    config.seeds = "0,1,2"
    config.stages = "pretrain,finetune"
    config.self_distill = default_settings()
    config.self_distill.finetune_from = "teacher"
    config.pretrain = {
        "objective": "self_distill",
        "data": {"use_labeled_train": False, "extra_train": ""},
        "train": {
            "steps": 2000,
            "learning_rate": 1e-3,
            "schedule": "warmup_cosine",
            "warmup_steps": 200,
            "final_lr_fraction": 0.0,
            "eval_every": 250,
            "checkpoint_every": 250,
            "patience": 0,
            "min_steps": 0,
        },
    }
    config.finetune = {"objective": "supervised", "init_from": "prev", "init_exclude": "head"}
    return with_stage_slots(config)
