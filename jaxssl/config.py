"""Run configuration: shared sections, per-stage overrides, and validation before any compile.

A run is a list of stages (``config.stages``, comma-separated names). Every stage starts from
the shared sections (``seed``, ``loss``, ``data``, ``model``, ``train``, ``augment``, ``eval``)
and applies its own section ``config.<stage name>``, which may override any of them plus
``objective`` and ``init_from``. So ``--config.finetune.train.learning_rate=1e-4`` changes one
stage and ``--config.train.batch_size=64`` all of them. ``with_stage_slots`` (called at the end
of every ``configs/*.py``) gives each stage section an unset slot for every shared key, because
``config_flags`` can only set keys that exist.
"""

from __future__ import annotations

import copy

from ml_collections import ConfigDict, config_dict

from jaxssl.errors import ConfigError
from jaxssl.models import default_hparams

__all__ = ["ConfigError", "base_config", "resolve_stage", "stage_names", "with_stage_slots"]

# Run-level keys: they choose what runs, they are not settings of a stage.
RUN_KEYS = ("stages", "seeds", "rerun", "select")
SHARED_SECTIONS = ("seed", "loss", "data", "model", "train", "augment", "eval", "pseudo")


def base_config(model_name: str = "deepbind") -> ConfigDict:
    """Shared defaults of every method; configs/*.py start from here."""
    c = ConfigDict()
    c.seed = 0
    # Several seeds: "0,1,2" runs every stage once per seed in WORKDIR/seed_<n>/ and reports
    # mean ± sd; "" runs once with `seed`, in WORKDIR itself.
    c.seeds = ""
    # Stages whose stored outputs may be replaced when their configuration changed (and every
    # stage that depends on them); without it a changed finished stage is refused.
    c.rerun = ""
    # "NAME=A,B,C": after the stages ran, report as NAME the last stage of the chain A, B, C
    # that improved on the one before it on the validation split (e.g. the noisy-student
    # generation to keep). Matched controls may name NAME in control_of.
    c.select = ""
    c.loss = "binary"  # "binary": multi-task sigmoid; "multiclass": softmax over a class label
    c.num_classes = 0  # multiclass only: number of classes (0 = infer from the data's labels)

    c.data = ConfigDict()
    c.data.path = ""  # labeled shard set (python -m data_prep ...); "" = the built-in toy world
    c.data.train_split = "train"
    c.data.valid_split = "valid"
    c.data.test_split = "test"
    # Extra training sources mixed with the labeled train split: "DIR[:SPLIT][@PROPORTION],...".
    # "@P" is the share of each batch drawn from that source (the labeled set has proportion 1).
    c.data.extra_train = ""
    c.data.use_labeled_train = True  # False: train only on extra_train (pre-training stages)
    # A source from outside the labeled set whose manifest records no leakage screen against
    # this run's valid and test splits (by content, jaxssl/screening.py): warned about; True
    # refuses it (the method configs set True).
    c.data.require_screened = False
    # The built-in world (jaxssl.toyworld.ToyWorldParams): `species` relatives of the reference;
    # `divergence` "CLOSEST,FARTHEST" spreads them over that range of expected substitutions per
    # neutral site ("" = the default ladder). A non-default world has its own cache directory.
    c.data.toy_world = ConfigDict({"seed": 0, "window": 200, "species": 3, "divergence": ""})
    # Label budget: keep at most this many positives per task of the labeled train split
    # (0 = all), drawn with `label_seed`; background negatives in the original proportion;
    # windows carried by homology from dropped rows are dropped too (jaxssl/datasets.py).
    c.data.max_positives = 0
    c.data.max_valid_positives = 0  # the same cap on the validation split (0 = all of it)
    # Which positives a budget keeps (the same in every stage of a run): -1 = the run's seed,
    # so under config.seeds the label subset (and the pool of rows it leaves) varies with the
    # seed; a number >= 0 pins one subset for every seed.
    c.data.label_seed = -1

    c.model = ConfigDict()
    c.model.name = model_name
    c.model.hparams = ConfigDict(_default_hparams(model_name))

    c.train = ConfigDict()
    c.train.steps = 2000
    c.train.batch_size = 128  # global, over all devices and processes
    c.train.learning_rate = 1e-3
    c.train.warmup_steps = 100
    c.train.final_lr_fraction = 0.01
    # "warmup_cosine" (linear warm-up from 0) | "one_cycle" (cosine rise from peak/25 over
    # warmup_steps, cosine fall): see jaxssl/optim.py.
    c.train.schedule = "warmup_cosine"
    c.train.weight_decay = 1e-2
    c.train.grad_clip_norm = 1.0
    c.train.freeze = ""  # parameter-path prefixes that are not trained, e.g. "motifs"
    c.train.dtype = "float32"  # compute dtype; parameters and loss stay float32
    c.train.log_every = 50
    c.train.eval_every = 500
    c.train.checkpoint_every = 500
    c.train.keep_checkpoints = 2
    c.train.selection_metric = "auprc"  # mean over tasks, on the validation split only
    # Early stopping: stop after this many validation evaluations without a better selection
    # score (train.steps is then the maximum); 0 = always run train.steps.
    c.train.patience = 5
    # Early stopping never stops before this step (patience counts from it): set it to the
    # warm-up's end so a run is not judged before its learning rate has peaked.
    c.train.min_steps = 0
    # "NAME": maximum steps = every step of stage NAME's lineage (NAME and the stages it was
    # initialised from): the budget of a matched control.
    c.train.budget_of = ""
    # A budget-matched control tunes its budget as hard as the method is tuned: one run per
    # fraction of the lineage budget ("0.25,0.5,1"), each with its own schedule over its own
    # steps (so each ends annealed); the run reports the one best on the validation split.
    c.train.budget_fractions = "1"
    c.train.progress_bar = True

    c.augment = ConfigDict()
    c.augment.reverse_complement = True
    c.augment.max_shift = 3
    c.augment.substitution_rate = 0.0
    # EvoAug (Lee et al. 2023; jaxssl.augment.evoaug_settings gives the published settings):
    # each op changes an example with its probability (0 = off, the step compiles without
    # it); lengths are drawn per example in [1, max] and the sequence length never changes.
    c.augment.insertion_prob = 0.0  # insert random bases, crop back to L (centred)
    c.augment.insertion_max_len = 20
    c.augment.deletion_prob = 0.0  # delete bases, pad both ends with random bases
    c.augment.deletion_max_len = 20
    c.augment.inversion_prob = 0.0  # reverse-complement a segment in place
    c.augment.inversion_max_len = 20
    c.augment.translocation_prob = 0.0  # circular roll by 1..max_shift either way
    c.augment.translocation_max_shift = 20

    c.eval = ConfigDict()
    c.eval.batch_size = 256  # global; larger batches spill the CPU caches (docs/performance.md)
    c.eval.rc_average = True

    # Teacher pseudo-labeling stages (objective "teacher_label"); see jaxssl/pseudo_labels.py.
    c.pseudo = ConfigDict()
    c.pseudo.teacher = "prev"  # "prev" | "stage:NAME" | a stage directory
    c.pseudo.sources = "toy:homology,toy:unlabeled"  # shard sets to label (as data.extra_train)
    c.pseudo.homology_mode = "weight"  # "weight" | "threshold" | "teacher"
    c.pseudo.unlabeled_mode = "soft"  # "soft" | "hard"
    c.pseudo.threshold = 0.7
    c.pseudo.max_examples = 0  # per source; 0 = all
    # A task whose teacher cannot rank it gets no teacher labels and keeps its carried labels
    # at weight 1: a teacher at chance on a rare TF would otherwise label every window at its
    # base rate with near-full confidence. The bar is max(min_teacher_auroc, 0.5 +
    # teacher_auroc_z x the AUROC sd of a blind scorer on the validation split's counts); a
    # refusal is logged and recorded (gate_closed, untrusted_tasks). See pseudo_labels.py
    # (DEFAULT_MIN_TEACHER_AUROC, DEFAULT_TEACHER_AUROC_Z); 0 turns the gate off.
    c.pseudo.min_teacher_auroc = 0.55
    c.pseudo.teacher_auroc_z = 2.33

    c.objective = "supervised"
    # A matched control names the stage it is the control of; the report pairs them per seed.
    c.control_of = ""
    # "A:B": run this stage only if stage A beat stage B on the validation split (e.g. a
    # noisy-student generation runs only if the previous one improved on its teacher).
    c.run_if_better = ""
    c.init_from = ""  # "" | "prev" (previous stage) | path to a run's stage directory
    c.init_exclude = ""  # parameter path prefixes not loaded by init_from, e.g. "head"
    return c


def _default_hparams(model_name: str) -> dict:
    try:
        return default_hparams(model_name)
    except ValueError:  # an unknown model: stage validation names it
        return {}


def stage_names(config: ConfigDict) -> list[str]:
    names = [n.strip() for n in str(config.get("stages", "main")).split(",") if n.strip()]
    if not names:
        raise ConfigError("config.stages is empty: list the stages to run, e.g. 'supervised'")
    if len(set(names)) != len(names):
        raise ConfigError(f"config.stages={config.stages!r} names a stage twice")
    return names


def run_seeds(config: ConfigDict) -> list[int] | None:
    """The seeds of `config.seeds`, or None for a single run with `config.seed`."""
    text = str(config.get("seeds", "") or "").strip()
    if not text:
        return None
    try:
        seeds = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise ConfigError(
            f"config.seeds={text!r}: expected comma-separated integers, e.g. 0,1,2"
        ) from None
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ConfigError(f"config.seeds={text!r} names a seed twice or none")
    return seeds


def selection(config: ConfigDict) -> tuple[str, list[str]] | None:
    """`config.select` = "NAME=A,B,C" -> ("NAME", ["A", "B", "C"]), or None."""
    text = str(config.get("select", "") or "").strip()
    if not text:
        return None
    name, _, chain = text.partition("=")
    stages = [s.strip() for s in chain.split(",") if s.strip()]
    if not name.strip() or not stages:
        raise ConfigError(f"config.select={text!r}: expected NAME=STAGE,STAGE,...")
    if unknown := set(stages) - set(stage_names(config)):
        raise ConfigError(f"config.select={text!r} names {sorted(unknown)}: not stages of this run")
    if name.strip() in stage_names(config):
        raise ConfigError(f"config.select={text!r}: {name.strip()!r} is already a stage name")
    return name.strip(), stages


def rerun_names(config: ConfigDict) -> set[str]:
    names = {n.strip() for n in str(config.get("rerun", "") or "").split(",") if n.strip()}
    if unknown := names - set(stage_names(config)):
        raise ConfigError(
            f"config.rerun names {sorted(unknown)}, which are not stages of this run "
            f"({stage_names(config)})"
        )
    return names


def with_stage_slots(config: ConfigDict) -> ConfigDict:
    """Adds to every stage section an unset slot (None) for each shared key it does not set.

    ``config_flags`` refuses to set a key that does not exist, so without the slots
    ``--config.<stage>.train.learning_rate=...`` would work only where the config file happened
    to list that key. Unset slots are skipped when a stage is resolved.
    """
    names = stage_names(config)
    shared = {
        k: v
        for k, v in config.items()
        if k not in names and k not in RUN_KEYS and not _is_stage_section(v)
    }
    for name in names:
        if config.get(name) is None:
            config[name] = ConfigDict()
        if not isinstance(config[name], ConfigDict):
            raise ConfigError(f"config.{name} must be a section of overrides, got {config[name]!r}")
        _add_slots(config[name], shared)
    return config


def _add_slots(section: ConfigDict, shared: dict) -> None:
    for key, value in shared.items():
        if isinstance(value, ConfigDict):
            if key not in section:
                section[key] = ConfigDict()
            if isinstance(section[key], ConfigDict):
                _add_slots(section[key], dict(value.items()))
        elif key not in section:
            section[key] = config_dict.placeholder(type(value))


def _merge(base: ConfigDict, override: ConfigDict, where: str) -> None:
    for key, value in override.items():
        if value is None:  # an unset slot (see with_stage_slots): the shared value stands
            continue
        if key not in base and isinstance(value, ConfigDict) and _all_unset(value):
            continue  # slots of a section this stage does not have (e.g. a stage not run now)
        if key not in base:
            raise ConfigError(f"{where}.{key} is not a known setting (known: {sorted(base)})")
        if isinstance(value, ConfigDict) and isinstance(base[key], ConfigDict):
            if key == "hparams":  # model hparams: validated against the model later
                for k, v in value.items():
                    if v is not None:
                        base[key][k] = v
            else:
                _merge(base[key], value, f"{where}.{key}")
        else:
            base[key] = value


def overridden_keys(config: ConfigDict, name: str) -> frozenset[str]:
    """Dotted keys ("train.steps", ...) that the stage's own section `config.<name>` sets."""
    section = config.get(name)
    if not isinstance(section, ConfigDict):
        return frozenset()

    def walk(node: ConfigDict, prefix: str) -> list[str]:
        keys = []
        for key, value in node.items():
            if isinstance(value, ConfigDict):
                keys += walk(value, f"{prefix}{key}.")
            elif value is not None:
                keys.append(f"{prefix}{key}")
        return keys

    return frozenset(walk(section, ""))


def _all_unset(section: ConfigDict) -> bool:
    return all(_all_unset(v) if isinstance(v, ConfigDict) else v is None for v in section.values())


def _is_stage_section(value: object) -> bool:
    """A stage's override section holds shared-section names (train, data, ...) as keys."""
    return isinstance(value, ConfigDict) and bool(set(value.keys()) & set(SHARED_SECTIONS))


def resolve_stage(config: ConfigDict, name: str) -> ConfigDict:
    """The full configuration of one stage: shared sections + ``config.<name>`` overrides."""
    stage = ConfigDict(copy.deepcopy(config.to_dict()))
    overrides = config.get(name)
    for other in stage_names(config):
        if other in stage:
            del stage[other]
    # Sections of stages that are not run this time (e.g. --config.stages=pretrain in a config
    # that also defines finetune) are not settings of this stage either.
    for key in [k for k, v in stage.items() if _is_stage_section(v)]:
        del stage[key]
    for key in RUN_KEYS:
        if key in stage:
            del stage[key]
    stage.unlock()
    if overrides is not None:
        if not isinstance(overrides, ConfigDict):
            raise ConfigError(f"config.{name} must be a section of overrides, got {overrides!r}")
        _merge(stage, overrides, f"config.{name}")
    if int(stage.data.get("label_seed", 0)) < 0:
        stage.data.label_seed = int(stage.seed)
    stage.stage_name = name
    return stage


def seed_variation(config: ConfigDict) -> dict[str, list[str]]:
    """What differs between the seeds of `config.seeds`, and what every seed shares.

    Always drawn per seed (jaxssl/rng.py): model initialisation, heads, data order, noise and
    dropout. The label subset of a budget follows the seed unless `data.label_seed` pins it;
    the toy world (genomes, relatives, unlabeled windows) is one world per `toy_world.seed`.
    """
    varied = ["model initialisation", "data order", "augmentation noise and dropout"]
    pinned = []
    data = config.data
    if int(data.get("max_positives", 0) or 0) or int(data.get("max_valid_positives", 0) or 0):
        if int(data.get("label_seed", -1)) < 0:
            varied.append("label subset (data.label_seed follows the seed) and its pool")
        else:
            pinned.append(f"label subset (data.label_seed={int(data.label_seed)})")
    else:
        pinned.append("labeled set (no label budget: every label is used)")
    if not data.path:
        pinned.append(
            f"toy world and its unlabeled windows (data.toy_world.seed={data.toy_world.seed})"
        )
    else:
        pinned.append(f"data sets ({data.path} and its sources)")
    return {"varied": varied, "pinned": pinned}
