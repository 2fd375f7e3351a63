"""The stage engine: every stage of a run resolved, budgeted and checked before any training.

A run's stages are planned here in one place: each stage's config (shared sections + its own
overrides, `train.budget_of` budgets), its data sources (`stage:` references checked by name,
held-out splits refused, leakage screening looked at), the labels and validation classes the
loss needs, and the stored record of what each stage's outputs depend on (stale outputs of
another configuration are refused). Also the decisions taken between stages on validation
scores (`run_if_better`, `select`).
"""

from __future__ import annotations

import copy
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils
from ml_collections import ConfigDict

from jaxssl.checkpointing import best_checkpoint_problem
from jaxssl.config import overridden_keys, resolve_stage, selection, stage_names
from jaxssl.data.manifest import load_manifest
from jaxssl.data.pipeline import load_split
from jaxssl.datasets import (
    StageData,
    labeled_path,
    parse_sources,
    resolve_stage_data,
    stage_key,
)
from jaxssl.errors import ConfigError, StaleStageError
from jaxssl.objectives import get_objective
from jaxssl.screening import check_init_weights, check_screened, init_dir, run_held_out
from jaxssl.sharding import is_main_process
from jaxssl.stage_checks import check_init_architectures, validate_stage
from jaxssl.stages import TEACHER_OBJECTIVE
from jaxssl.stored_config import (
    canonical_record,
    default_settings,
    differences,
    manifest_fingerprint,
    read_record,
    record_hash,
    stage_record,
    stale_error,
    without_added_defaults,
)

log = logging.getLogger("jaxssl")


@dataclass
class StagePlan:
    """One stage, resolved and checked, with what its outputs depend on."""

    stage: ConfigDict
    stage_dir: Path
    record: dict


@dataclass
class RunPlan:
    config: ConfigDict
    workdir: Path
    stages: list[StagePlan]


def plan_stages(config: ConfigDict, workdir: Path) -> RunPlan:
    """Resolves and checks every stage; raises ConfigError naming the stage's own key."""
    stages = resolved_stages(config)
    names = [s.stage_name for s in stages]  # a tuned control is one stage per budget
    for stage in stages:  # fail on a bad value before any data loading or compilation
        validate_stage(stage)
    _check_stage_references(stages)
    check_init_architectures(stages)  # a later stage's model mismatch, before the first trains
    planned: dict[str, str] = {}
    hashes: dict[str, str] = {}
    out: list[StagePlan] = []
    for i, stage in enumerate(stages):
        overridden = overridden_keys(config, stage.stage_name)
        fingerprints = _check_stage_data(stage, workdir, planned, overridden)
        upstream = {
            dep: hashes[dep] for dep in sorted(_dependencies(stage, names[:i])) if dep in hashes
        }
        record = stage_record(stage, fingerprints, upstream)
        hashes[stage.stage_name] = record_hash(record)
        planned[stage.stage_name] = str(stage.objective)
        out.append(StagePlan(stage, workdir / stage.stage_name, record))
    return RunPlan(config, workdir, out)


def resolved_stages(config: ConfigDict) -> list[ConfigDict]:
    """Every stage as it will run: recipes bound, tuned controls expanded, budgets set."""
    chosen = selection(config)
    stages = [resolve_stage(config, name) for name in stage_names(config)]
    return apply_budgets(expand_tuned_controls(apply_control_recipes(stages, chosen), chosen))


def apply_control_recipes(
    stages: list[ConfigDict], chosen: tuple[str, list[str]] | None = None
) -> list[ConfigDict]:
    """A matched control (`control_of=X`) takes X's recipe, so overriding X moves it too.

    Always X's model and augmentation (noise); a control without `train.budget_of` (the same
    stage without the extra data) also X's `train` settings and `init_from`. For
    `control_of` = a `select` name, X is the last stage of the selection chain.
    """
    by_name = {s.stage_name: s for s in stages}
    for stage in stages:
        target = str(stage.get("control_of", "") or "")
        if not target:
            continue
        if chosen is not None and target == chosen[0]:
            target = chosen[1][-1]
        if target not in by_name:
            raise ConfigError(
                f"config.{stage.stage_name}.control_of={stage.control_of!r} is not a stage (or "
                f"the select name) of this run ({list(by_name)})"
            )
        _take_recipe(stage, by_name[target])
    return stages


def _take_recipe(stage: ConfigDict, method: ConfigDict) -> None:
    stage.model = ConfigDict(method.model.to_dict())
    stage.augment = ConfigDict(method.augment.to_dict())
    if not str(stage.train.get("budget_of", "") or ""):
        stage.train = ConfigDict(method.train.to_dict())
        stage.init_from = method.init_from
        stage.init_exclude = method.init_exclude


def budget_fractions(stage: ConfigDict) -> list[float]:
    """`train.budget_fractions` ("0.25,0.5,1"), ascending; refused unless each is in (0, 1]."""
    text = str(stage.train.get("budget_fractions", "1") or "1")
    try:
        fractions = sorted({float(f) for f in text.split(",") if f.strip()})
    except ValueError:
        fractions = []
    if not fractions or not all(0 < f <= 1 for f in fractions):
        raise ConfigError(
            f"config.{stage.stage_name}.train.budget_fractions={text!r}: expected fractions of "
            "the lineage budget in (0, 1], e.g. 0.25,0.5,1"
        )
    return fractions


def variant_name(control: str, bound_to: str | None, fraction: float) -> str:
    """`supervised_x0.5`, or `supervised_student_1_x0.5` when bound to one generation."""
    middle = f"_{bound_to}" if bound_to else ""
    return f"{control}{middle}_x{fraction:g}"


def expand_tuned_controls(
    stages: list[ConfigDict], chosen: tuple[str, list[str]] | None = None
) -> list[ConfigDict]:
    """A budget-matched control tunes its own budget, and binds to the model the method kept.

    A stage with `train.budget_of` becomes one stage per fraction of `train.budget_fractions`
    (each with its own full schedule over fraction x the lineage budget, so each ends
    annealed); the run reports the control as the variant with the best validation score
    (`select_tuned_control`). When the control is of a `select` name (the noisy-student
    generation kept on validation), one set of variants is planned per candidate of the chain,
    each with that candidate's model, noise and lineage budget; at run time only the kept
    candidate's variants train (the others are skipped, see `unbound_reason`). A control with
    one fraction and a plain method stage is left as it is.
    """
    out: list[ConfigDict] = []
    by_name = {s.stage_name: s for s in stages}
    order = [s.stage_name for s in stages]
    for stage in stages:
        budget_of = str(stage.train.get("budget_of", "") or "")
        target = str(stage.get("control_of", "") or "")
        of_selection = chosen is not None and chosen[0] in (target, budget_of)
        fractions = budget_fractions(stage) if budget_of else [1.0]
        if not budget_of or (len(fractions) == 1 and not of_selection):
            out.append(stage)
            continue
        candidates: list[str | None] = [None]
        if of_selection:
            assert chosen is not None
            candidates = list(chosen[1])
            last = max(order.index(c) for c in candidates)
            if order.index(stage.stage_name) < last:
                raise ConfigError(
                    f"config.{stage.stage_name}: a control of {chosen[0]!r} must run after every "
                    f"stage of its selection chain {candidates} (it binds to the one kept)"
                )
        for candidate in candidates:
            for fraction in fractions:
                variant = ConfigDict(copy.deepcopy(stage.to_dict()))
                variant.stage_name = variant_name(stage.stage_name, candidate, fraction)
                variant.variant_of = stage.stage_name
                variant.bound_to = candidate or ""
                # Which candidate is kept decides whether it runs: the chain's stages are
                # its dependencies (a rerun of one of them replaces these variants too).
                variant.bound_chain = ",".join(c for c in candidates if c)
                variant.tuned_control_of = target
                variant.control_of = ""  # the tuned selection is the reported control
                if candidate is not None and target:  # a control takes its method's recipe
                    _take_recipe(variant, by_name[candidate])
                if candidate is not None and budget_of == chosen[0]:  # type: ignore[index]
                    variant.train.budget_of = candidate
                variant.train.budget_fractions = f"{fraction:g}"
                out.append(variant)
    return out


def tuned_controls(stages: list[ConfigDict]) -> dict[str, list[str]]:
    """Control name -> its budget variants, in planning order."""
    groups: dict[str, list[str]] = {}
    for stage in stages:
        if stage.get("variant_of"):
            groups.setdefault(str(stage.variant_of), []).append(str(stage.stage_name))
    return groups


def apply_budgets(stages: list[ConfigDict]) -> list[ConfigDict]:
    """`train.budget_of=NAME`: this stage's maximum steps = every step of NAME's lineage.

    A matched control gets the budget the method spent on the way to its final model: the
    named stage plus every stage it was initialised from, transitively.
    """
    by_name = {s.stage_name: s for s in stages}
    order = [s.stage_name for s in stages]
    for stage in stages:
        target = str(stage.train.get("budget_of", "") or "")
        if not target:
            continue
        if target not in by_name:
            raise ConfigError(
                f"config.{stage.stage_name}.train.budget_of={target!r} is not a stage of this "
                f"run ({order})"
            )
        total = sum(
            int(by_name[name].train.steps)
            for name in lineage(target, by_name, order)
            if by_name[name].objective != TEACHER_OBJECTIVE
        )
        fractions = budget_fractions(stage)
        if len(fractions) > 1:
            raise ConfigError(
                f"config.{stage.stage_name}.train.budget_fractions: several fractions need the "
                "run's planner (jaxssl.stage_plan.expand_tuned_controls) first"
            )
        stage.train.steps = max(1, round(total * fractions[0]))
    return stages


def lineage(name: str, by_name: dict[str, ConfigDict], order: list[str]) -> list[str]:
    """Every stage that produced stage `name`'s model: `name`, the stages whose weights it
    was initialised from, and the teachers (and their own lineages) whose pseudo-labels it
    trained on, transitively. A larger student starts from scratch (`init_from=""`) but still
    owes its training data to the whole teacher chain."""
    found: list[str] = []
    pending = [name]
    while pending:
        current = pending.pop()
        if current in found or current not in by_name:
            continue
        found.append(current)
        stage = by_name[current]
        earlier = order[: order.index(current)]
        pending += sorted(_producers(stage, earlier))
    return found


def _producers(stage: ConfigDict, earlier: list[str]) -> set[str]:
    """Earlier stages whose weights or written shard sets this stage's model is built from
    (not `run_if_better` gates: a gate decides whether a stage runs, not what it learns)."""
    found: set[str] = set()
    init = _init_source(stage, [*earlier, stage.stage_name])
    if init:
        found.add(init)
    refs = [str(stage.data.extra_train)]
    if stage.objective == TEACHER_OBJECTIVE:
        teacher = str(stage.pseudo.teacher)
        if teacher == "prev" and earlier:
            found.add(earlier[-1])
        elif teacher.startswith("stage:"):
            found.add(teacher.removeprefix("stage:"))
        refs.append(str(stage.pseudo.sources))
    for ref in refs:
        for item in ref.split(","):
            if item.strip().startswith("stage:"):
                found.add(item.strip().removeprefix("stage:").split("@")[0])
    return found & set(earlier)


def _init_source(stage: ConfigDict, order: list[str]) -> str | None:
    init = str(stage.init_from)
    if init == "prev":
        i = order.index(stage.stage_name)
        return order[i - 1] if i > 0 else None
    if init.startswith("stage:"):
        return init.removeprefix("stage:")
    return None


def _dependencies(stage: ConfigDict, earlier: list[str]) -> set[str]:
    """Earlier stages whose outputs this stage reads (weights, teacher, shard sets) or whose
    validation scores decide whether it runs."""
    gates = {n for n in str(stage.get("run_if_better", "") or "").split(":") if n}
    gates |= {n for n in str(stage.get("bound_chain", "") or "").split(",") if n}
    return (gates & set(earlier)) | _producers(stage, earlier)


def _check_stage_data(
    stage: ConfigDict, workdir: Path, planned: dict[str, str], overridden: frozenset[str]
) -> dict[str, str]:
    """Resolves the stage's data sources by name; returns manifest fingerprints by path."""
    fingerprints: dict[str, str] = {}
    if stage.objective == TEACHER_OBJECTIVE:
        key = stage_key(stage, "pseudo.sources", "pseudo.sources" in overridden)
        sources = parse_sources(stage.pseudo.sources, stage.data, workdir, key, planned)
        if not sources:
            raise ConfigError(f"{key} is empty: list the shard sets the teacher should label")
        teacher = str(stage.pseudo.teacher)
        is_path = teacher not in ("prev", "") and not teacher.startswith("stage:")
        if is_path and not Path(teacher).is_dir():
            raise ConfigError(
                f"{stage_key(stage, 'pseudo.teacher', 'pseudo.teacher' in overridden)}="
                f"{teacher!r} is not a stage directory"
            )
    else:
        data = resolve_stage_data(stage, workdir, planned, overridden)
        sources = list(data.train_sources)
        fingerprints[str(data.labeled)] = manifest_fingerprint(data.labeled)
        if stage_uses_labels(stage):
            check_validation_classes(stage, data)
            check_test_classes(stage, data)
            check_labeled_sources(stage, data, overridden)
            check_label_values(stage, data)
    labeled = None if stage.objective == TEACHER_OBJECTIVE else data.labeled
    held_set = labeled_path(stage.data)  # a label budget's copy holds the same valid/test
    held = run_held_out(held_set, stage.data.valid_split, stage.data.test_split)
    if stage.objective == TEACHER_OBJECTIVE:
        key = stage_key(stage, "pseudo.sources", "pseudo.sources" in overridden)
    else:
        key = stage_key(stage, "data.extra_train", "data.extra_train" in overridden)
    for source in sources:
        if (Path(source.path) / "manifest.json").is_file():
            fingerprints[f"{source.path}:{source.split}"] = manifest_fingerprint(source.path)
            if Path(source.path) != labeled:
                check_screened(stage, source, held, key, held_set)
    source_dir = init_dir(stage, None, None)  # a directory of another run (not prev/stage:)
    if source_dir is not None and source_dir.is_dir():
        check_init_weights(stage, source_dir, held)
    return fingerprints


def check_validation_classes(stage: ConfigDict, data: StageData) -> None:
    """Model selection needs both classes in the validation split (per the manifest)."""
    if stage.loss != "binary":
        return
    positives = data.manifest.split(data.valid_split, where=data.labeled).get("positives") or []
    single = one_class_tasks(data, data.valid_split)
    if positives and len(single) == len(positives):
        raise ConfigError(
            f"stage {stage.stage_name!r}: the {data.valid_split!r} split of {data.labeled} "
            f"holds only one class for every task ({single}); model selection needs positives "
            "and negatives. Choose other validation regions (e.g. --valid-chroms) when making "
            "the shard set"
        )
    if single:
        log.warning(
            "stage %s: tasks %s have one class only in the %r split; their validation "
            "metrics are undefined and left out of the mean",
            stage.stage_name,
            single,
            data.valid_split,
        )


def one_class_tasks(data: StageData, split: str) -> list[str]:
    """Tasks whose `split` holds one class only (per the manifest's counts)."""
    entry = data.manifest.split(split, where=data.labeled)
    count = int(entry["count"])
    positives = entry.get("positives") or []
    missing = entry.get("missing") or [0] * len(positives)
    return [
        task
        for task, pos, miss in zip(data.manifest.task_names, positives, missing, strict=False)
        if pos == 0 or pos == count - miss
    ]


def check_test_classes(stage: ConfigDict, data: StageData) -> None:
    """A one-class test split gives meaningless AUROC/AUPRC (e.g. AUPRC 1.0): warn, by task."""
    if stage.loss != "binary":
        return
    if single := one_class_tasks(data, data.test_split):
        log.warning(
            "stage %s: tasks %s have one class only in the test split %r of %s; their "
            "AUROC/AUPRC/MCC are undefined or meaningless (an all-positive split scores AUPRC "
            "1.0); the report flags them",
            stage.stage_name,
            single,
            data.test_split,
            data.labeled,
        )


def check_labeled_sources(
    stage: ConfigDict, data: StageData, overridden: frozenset[str] = frozenset()
) -> None:
    """A stage that learns from labels reads only sets with the labeled set's tasks: an
    unlabeled corpus (no tasks, role unlabeled) or another task list is refused by name."""
    key = stage_key(stage, "data.extra_train", "data.extra_train" in overridden)
    tasks = list(data.manifest.task_names)
    for source in data.train_sources:
        if Path(source.path) == Path(data.labeled):
            continue
        if not (Path(source.path) / "manifest.json").is_file():
            continue  # a planned stage's output, written later by this run
        manifest = load_manifest(source.path)
        role = manifest.role(source.split) if source.split in manifest.splits else "train"
        if role == "unlabeled" or not manifest.task_names:
            raise ConfigError(
                f"{key}: {source.path}:{source.split} is unlabeled (role {role!r}, tasks "
                f"{manifest.task_names}), but stage {stage.stage_name!r} (objective "
                f"{stage.objective!r}) learns from labels; use it for pre-training "
                "(self_distill) or have a teacher label it (config.pseudo.sources)"
            )
        if len(manifest.task_names) != len(tasks):
            raise ConfigError(
                f"{key}: {source.path} has tasks {manifest.task_names}, the labeled set "
                f"{data.labeled} has {tasks}; a stage trains on one task list"
            )


def check_label_values(stage: ConfigDict, data: StageData) -> None:
    """Labels the loss can take: binary in [0, 1] (NaN = missing); multiclass class indices.

    A binary label of 8 would give an unbounded negative loss; a class index beyond the
    head's outputs would be silently clipped. Every training source with labels is checked
    (the labeled split, extra and homology sets); each is read once per run.
    """
    for source in data.train_sources:
        if not (Path(source.path) / "manifest.json").is_file():
            continue  # a planned stage's output (teacher probabilities), written later
        labels = _split_labels(Path(source.path), source.split)
        observed = labels[~np.isnan(labels)]
        if stage.loss == "binary":
            bad = observed[(observed < 0) | (observed > 1)]
            expected = "binary labels in [0, 1] (NaN = missing)"
        elif int(stage.num_classes):
            k = int(stage.num_classes)
            bad = observed[(observed < 0) | (observed >= k) | (observed % 1 != 0)]
            expected = f"class indices 0..{k - 1} (config.num_classes={k})"
        else:
            bad = observed[(observed < 0) | (observed % 1 != 0)]
            expected = "class indices >= 0"
        if len(bad):
            raise ConfigError(
                f"stage {stage.stage_name!r}: {source.path} split {source.split!r} has "
                f"labels like {np.unique(bad)[:3].tolist()}; config.loss={stage.loss!r} needs "
                f"{expected}. Fix the labels, or choose config.loss (multiclass for class "
                "indices)"
            )


_LABEL_CACHE: dict[tuple[str, str, str], np.ndarray] = {}


def _split_labels(path: Path, split: str) -> np.ndarray:
    key = (str(path), split, manifest_fingerprint(path))
    if key not in _LABEL_CACHE:
        if len(_LABEL_CACHE) >= 4:  # a few sets: a run checks the same ones for every stage
            _LABEL_CACHE.pop(next(iter(_LABEL_CACHE)))
        _LABEL_CACHE[key] = load_split(path, split)["labels"]
    return _LABEL_CACHE[key]


def check_stored_configs(plan: RunPlan, rerun: set[str]) -> None:
    """Refuses stages whose stored outputs came from another configuration.

    Stages named in `rerun` (and the stages that build on them) lose their old outputs
    instead; a stage whose stored record equals this run's is kept, so `rerun` is safe to
    repeat after a kill.
    """
    problems = []
    replaced: set[str] = set()
    main = is_main_process()
    kept: dict[str, str] = {}  # stage -> hash of the record its dependents must name
    for sp in plan.stages:
        upstream = {dep: kept.get(dep, h) for dep, h in sp.record["upstream"].items()}
        sp.record = {**sp.record, "upstream": upstream}
        stored = read_record(sp.stage_dir)
        if stored is not None:
            stored = canonical_record(stored)
            defaults = default_settings(sp.record["config"].get("model.name"))
            current = without_added_defaults(sp.record, stored, defaults)
            if stored == current:
                # Keep the stored record (settings added since keep their old behaviour), so
                # the stages built on this one still name the hash they were made with.
                sp.record = stored
        kept[sp.stage.stage_name] = record_hash(sp.record)
        if stored is not None and stored == sp.record and sp.stage.stage_name in rerun:
            _retrain_if_unreadable(sp, main)
        if stored is None or stored == sp.record:
            continue
        deps = _dependencies(sp.stage, [p.stage.stage_name for p in plan.stages])
        if sp.stage.stage_name in rerun or deps & replaced:
            replaced.add(sp.stage.stage_name)
            if main:
                print(
                    f"jaxssl: stage {sp.stage.stage_name!r}: configuration changed and "
                    f"rerun asked: removing {sp.stage_dir}"
                )
                shutil.rmtree(sp.stage_dir)
            continue
        problems.append(
            stale_error(sp.stage.stage_name, sp.stage_dir, differences(stored, current))
        )
    if problems:
        raise StaleStageError("\n".join(str(p) for p in problems))
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("stored configs checked")


def _retrain_if_unreadable(sp: StagePlan, main: bool) -> None:
    """`rerun` of an unchanged stage: kept (a repeated command resumes), unless its finished
    best checkpoint does not restore; then the stage is removed and trains again. The main
    process decides and removes (the other processes wait at the end of the check)."""
    if not main or not (sp.stage_dir / "done.json").is_file():  # train.DONE_FILE
        return  # unfinished: it resumes
    problem = best_checkpoint_problem(sp.stage_dir)
    if problem:
        print(
            f"jaxssl: stage {sp.stage.stage_name!r}: rerun asked and its best checkpoint does "
            f"not restore: removing {sp.stage_dir} to train it again ({problem})"
        )
        shutil.rmtree(sp.stage_dir)


def validation_score(result: dict) -> float | None:
    """The selection score a stage was chosen by (its best validation evaluation)."""
    if result.get("skipped") or "best_score" not in result:
        return None
    return float(result["best_score"])


def not_better_reason(stage: ConfigDict, results: list[dict]) -> str:
    """Why `run_if_better` = "A:B" stops this stage ("" to run it)."""
    spec = str(stage.get("run_if_better", "") or "")
    if not spec:
        return ""
    a, _, b = spec.partition(":")
    by_name = {r["name"]: r for r in results}
    score_a, score_b = validation_score(by_name[a]), validation_score(by_name[b])
    if score_a is None:
        return f"{a} did not run"
    if score_b is not None and score_a <= score_b:
        return (
            f"{a} did not improve on {b} on the validation split ({score_a:.4f} <= {score_b:.4f})"
        )
    return ""


def kept_stage(results: list[dict], chain: list[str]) -> str:
    """The last stage of `chain` that improved on the one before it (validation scores)."""
    by_name = {r["name"]: r for r in results}
    kept = chain[0]
    for candidate in chain[1:]:
        score, best = validation_score(by_name[candidate]), validation_score(by_name[kept])
        if score is None or (best is not None and score <= best):
            break
        kept = candidate
    return kept


def unbound_reason(
    stage: ConfigDict, results: list[dict], chosen: tuple[str, list[str]] | None
) -> str:
    """Why a control variant bound to one generation does not run ("" to run it)."""
    bound = str(stage.get("bound_to", "") or "")
    if not bound or chosen is None or bound not in chosen[1]:
        return ""
    kept = kept_stage(results, chosen[1])
    if kept == bound:
        return ""
    return f"bound to {bound!r}, but {chosen[0]} kept {kept!r} (validation split)"


def select_tuned_control(
    results: list[dict], name: str, variants: list[str], kept: str | None = None
) -> dict:
    """The budget variant of control `name` with the best validation score, reported as `name`.

    Only variants bound to `kept` (the generation the method kept) or to nothing take part.
    Ties go to the smaller budget (variants are planned in ascending fractions). The test
    split plays no part: each variant's test metrics are carried, never compared.
    """
    by_name = {r["name"]: r for r in results}
    ran = [
        v
        for v in variants
        if validation_score(by_name[v]) is not None and by_name[v].get("bound_to", "") in ("", kept)
    ]
    if not ran:
        raise RuntimeError(f"control {name!r}: none of its budget variants {variants} ran")
    best = max(ran, key=lambda v: (validation_score(by_name[v]), -ran.index(v)))
    choices = {
        v: {"steps": by_name[v].get("steps"), "best_score": validation_score(by_name[v])}
        for v in ran
    }
    print(f"jaxssl: {name}: budget {best!r} chosen on the validation split from {ran}")
    return {
        **{k: v for k, v in by_name[best].items() if k not in ("name", "variant_of")},
        "name": name,
        "objective": "selection",
        "selected": best,
        "candidates": ran,
        "budget_choices": choices,
        "control_of": by_name[best].get("tuned_control_of", ""),
    }


def select_stage(results: list[dict], name: str, chain: list[str]) -> dict:
    """The last stage of `chain` that improved on the one before it, reported as `name`."""
    by_name = {r["name"]: r for r in results}
    kept = kept_stage(results, chain)
    print(f"jaxssl: {name}: kept {kept!r} (chosen on the validation split from {chain})")
    return {
        **{k: v for k, v in by_name[kept].items() if k not in ("name", "control_of")},
        "name": name,
        "objective": "selection",
        "selected": kept,
        "candidates": chain,
        "control_of": "",
    }


def _check_stage_references(stages: list[ConfigDict]) -> None:
    """`stage:NAME` references must name a stage that runs earlier in this run."""
    earlier: list[str] = []
    for stage in stages:
        refs = {
            f"config.{stage.stage_name}.run_if_better": ",".join(
                f"stage:{n}" for n in str(stage.get("run_if_better", "") or "").split(":") if n
            ),
            f"config.{stage.stage_name}.init_from": str(stage.init_from),
            f"config.{stage.stage_name}.pseudo.teacher": str(stage.pseudo.teacher),
            f"config.{stage.stage_name}.data.extra_train": str(stage.data.extra_train),
        }
        for key, value in refs.items():
            for item in value.split(","):
                if item.strip().startswith("stage:"):
                    name = item.strip().removeprefix("stage:").split("@")[0]
                    if name not in earlier:
                        raise ConfigError(
                            f"{key}={value!r} names stage {name!r}, which does not run before "
                            f"{stage.stage_name!r} (stages: {[s.stage_name for s in stages]})"
                        )
        earlier.append(stage.stage_name)


def stage_uses_labels(stage: ConfigDict) -> bool:
    return get_objective(stage.objective).uses_labels
