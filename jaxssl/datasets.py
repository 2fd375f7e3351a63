"""Which shard sets a stage reads: the labeled set (or the toy world) plus mixed-in sources.

A label budget (``data.max_positives``, ``data.max_valid_positives``, ``data.label_seed``)
replaces the labeled set by a subset of it and every homology set carried from it by the
windows carried from that subset (see `budget_selection` for the rule); both are written once
to the cache (``$JAXSSL_CACHE/label_budget``) and read like any shard set, so every consumer
(training, teachers, evaluation) sees the same budget. The train rows a budget leaves out are
the source ``labeled:pool`` (labels hidden, held-out copies removed; `labeled_pool_set`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from jaxssl.data.fingerprint import FINGERPRINTS_KEY, split_fingerprint
from jaxssl.data.manifest import (
    HELD_OUT_ROLES,
    MANIFEST_NAME,
    Manifest,
    check_eval_split,
    check_source_split,
    load_manifest,
)
from jaxssl.data.overlap import OverlapIndex
from jaxssl.data.pipeline import Source, load_split
from jaxssl.data.writer import ShardSetWriter
from jaxssl.errors import ConfigError
from jaxssl.pseudo_labels import TEACHER_OBJECTIVE
from jaxssl.toy_data import (
    shuffled_labels,
    toy_homology_oracle_shards,
    toy_homology_random_shards,
    toy_homology_shards,
    toy_labeled_shards,
    toy_unlabeled_all,
)
from jaxssl.toyworld import cache_root

log = logging.getLogger("jaxssl")

# Stage objectives whose job is to write shard sets that later stages read as `stage:NAME`.
SHARD_WRITING_OBJECTIVES = frozenset({TEACHER_OBJECTIVE})
# Source names that are resolved by `_symbolic_paths`, not read as directories.
SYMBOLIC_PREFIXES = ("toy:", "stage:", "labeled:")


@dataclass(frozen=True)
class StageData:
    labeled: Path  # shard set with the valid/test splits (and the labeled train split)
    manifest: Manifest
    train_sources: tuple[Source, ...]
    valid_split: str
    test_split: str
    # The label budget's counts per split (manifest metadata "label_budget"), None without one.
    label_budget: dict | None = None


def labeled_path(data: ConfigDict) -> Path:
    """config.data.path, or the toy world's labeled reference set (built on first use)."""
    if data.path:
        return Path(data.path)
    return toy_labeled_shards(data.toy_world)


def _symbolic_paths(
    name: str,
    data: ConfigDict,
    workdir: Path | None,
    key: str,
    planned: dict[str, str] | None = None,
) -> list[Path]:
    """Shard sets named by meaning rather than path.

    toy:homology         the toy world's reference labels carried to every other genome
    toy:homology_oracle  the same windows labeled by their true binding (positive control A)
    toy:homology_random  the same windows with random labels at the carried base rate, drawn
                         with data.label_seed (the floor of positive control A)
    toy:unlabeled        unlabeled windows sampled from every genome of the toy world
    labeled:pool         the labeled set's train rows a label budget did not keep, every label
                         hidden (NaN), minus exact copies of its valid/test windows: the
                         in-domain unlabeled pool (see `labeled_pool_set`)
    stage:NAME           the shard sets an earlier stage of this run wrote (e.g. teacher labels)

    With `planned` (earlier stage name -> objective; a check before anything runs), a
    `stage:NAME` source is checked by name: NAME must run earlier and write shard sets.
    """
    kind, _, arg = name.partition(":")
    if kind == "toy" and data.path:
        raise ConfigError(
            f"{key}: {name!r} is the built-in toy world's data, but config.data.path="
            f"{data.path!r} is your own set; list your own shard sets in {key}"
        )
    if kind == "toy" and arg == "homology":
        return list(toy_homology_shards(data.toy_world))
    if kind == "toy" and arg == "homology_oracle":
        return list(toy_homology_oracle_shards(data.toy_world))
    if kind == "toy" and arg == "homology_random":
        return list(toy_homology_random_shards(data.toy_world, _label_seed(data)))
    if kind == "toy" and arg == "unlabeled":
        return list(toy_unlabeled_all(data.toy_world))
    if kind == "labeled" and arg == "pool":
        budget = label_budget(data)
        if budget is None or not budget.max_positives:
            raise ConfigError(
                f"{key}: {name!r} is the labeled train rows a label budget leaves out, but "
                "config.data.max_positives is 0 (every row keeps its labels, so the pool is "
                "empty); set config.data.max_positives (and config.data.label_seed) to use it"
            )
        splits = (str(data.train_split), str(data.valid_split), str(data.test_split))
        return [labeled_pool_set(labeled_path(data), budget, splits)]
    if kind == "stage":
        if workdir is None:
            raise ConfigError(f"{key}: {name!r} only works inside a run (it names a stage)")
        if planned is not None:
            if arg not in planned:
                raise ConfigError(
                    f"{key}: {name!r} names stage {arg!r}, which does not run before this "
                    f"stage (earlier stages: {sorted(planned)})"
                )
            if planned[arg] not in SHARD_WRITING_OBJECTIVES:
                raise ConfigError(
                    f"{key}: {name!r}: stage {arg!r} (objective {planned[arg]!r}) writes no "
                    f"shard sets; only {sorted(SHARD_WRITING_OBJECTIVES)} stages do"
                )
            return [workdir / arg / "shards"]
        produced = sorted(p.parent for p in (workdir / arg / "shards").glob("*/manifest.json"))
        if not produced:
            raise ConfigError(
                f"{key}: {name!r}: stage {arg!r} has written no shard sets in "
                f"{workdir / arg / 'shards'}; does the stage exist and run before this one?"
            )
        return produced
    raise ConfigError(
        f"{key}: {name!r} is not a known source; use a shard-set directory, toy:homology, "
        "toy:homology_oracle, toy:homology_random, toy:unlabeled, labeled:pool or stage:NAME"
    )


def _label_seed(data: ConfigDict) -> int:
    seed = int(data.get("label_seed", 0) or 0)
    if seed < 0:
        raise ConfigError(
            f"config.data.label_seed={seed}: unresolved (a stage resolves -1 to its seed); "
            "set it to a seed >= 0"
        )
    return seed


HELD_OUT_USE = "train a model or feed a teacher"


def held_out_splits(data: ConfigDict) -> set[str]:
    """Splits that must never train a model or a teacher's student."""
    return {"valid", "test", str(data.valid_split), str(data.test_split)}


def parse_sources(
    spec: str,
    data: ConfigDict | None = None,
    workdir: Path | None = None,
    key: str = "config.data.extra_train",
    planned: dict[str, str] | None = None,
) -> list[Source]:
    """'SOURCE[:SPLIT][@PROPORTION],...' -> Sources (split defaults to train, proportion to 1).

    SOURCE is a shard-set directory or a symbolic name (see `_symbolic_paths`); a symbolic name
    that stands for several shard sets shares its proportion equally among them. Held-out
    splits (valid, test) are refused: they exist to measure, never to train.
    """
    sources = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        target, _, proportion = item.partition("@")
        try:
            weight = float(proportion) if proportion else 1.0
        except ValueError:
            raise ConfigError(f"{key}: {item!r} has a proportion that is not a number") from None
        if weight <= 0:
            raise ConfigError(f"{key}: {item!r}: the proportion must be positive")
        if target.startswith(SYMBOLIC_PREFIXES):
            if data is None:
                raise ConfigError(f"{key}: {item!r} needs the data config to resolve")
            paths = _symbolic_paths(target, data, workdir, key, planned)
            found = [Source(path=p, split="train", proportion=weight / len(paths)) for p in paths]
            # A stage's shard sets were made from budgeted sources already; the pool is what
            # the budget left out.
            budgeted = target.startswith(("stage:", "labeled:"))
            sources += found if budgeted else _under_budget(found, data, key)
            continue
        path, _, split = target.partition(":")
        held_out = held_out_splits(data) if data is not None else {"valid", "test"}
        if split in held_out:
            raise ConfigError(
                f"{key}: {item!r} reads the held-out split {split!r}; held-out splits are for "
                "model selection and testing only and may not train a model or feed a "
                "teacher. Use a train split (SET or SET:train)"
            )
        if not (Path(path) / "manifest.json").is_file():
            raise ConfigError(f"{key}: {path!r} is not a shard set (no manifest.json)")
        # The split's role decides, whatever its name (`test_clean` is as held out as `test`).
        check_source_split(path, split or "train", f"{key}={item!r}", HELD_OUT_USE)
        found = [Source(path=Path(path), split=split or "train", proportion=weight)]
        sources += _under_budget(found, data, key) if data is not None else found
    return sources


def _under_budget(sources: list[Source], data: ConfigDict, key: str) -> list[Source]:
    if label_budget(data) is None:
        return sources
    return [_budgeted_source(s, data, key) for s in sources]


def stage_key(stage: ConfigDict, key: str, overridden: bool) -> str:
    """The key a user would set: the stage's own section's if it set it, else the shared one."""
    return f"config.{stage.stage_name}.{key}" if overridden else f"config.{key}"


def resolve_stage_data(
    stage: ConfigDict,
    workdir: Path | None = None,
    planned: dict[str, str] | None = None,
    overridden: frozenset[str] = frozenset(),
) -> StageData:
    """The stage's labeled set and training sources; `planned`: check `stage:` names only.

    `overridden` holds the keys ("data.extra_train", ...) that the stage's own section sets,
    so errors name the key the user wrote.
    """
    path = labeled_path(stage.data)
    manifest = load_manifest(path)
    check_split_roles(stage, path, manifest, overridden)
    budget = label_budget(stage.data)
    if budget is not None:
        if stage.get("loss", "binary") != "binary":
            raise ConfigError(
                f"config.data.max_positives: a label budget counts positives of binary tasks; "
                f"config.loss={stage.loss!r}"
            )
        path = budgeted_labeled_set(
            path,
            budget,
            splits=(stage.data.train_split, stage.data.valid_split, stage.data.test_split),
        )
        manifest = load_manifest(path)
    sources = []
    if stage.data.use_labeled_train:
        if stage.data.train_split not in manifest.splits:
            raise ConfigError(
                f"config.data.train_split={stage.data.train_split!r}: {path} has splits "
                f"{sorted(manifest.splits)}"
            )
        if stage.data.train_split in {stage.data.valid_split, stage.data.test_split}:
            raise ConfigError(
                f"config.data.train_split={stage.data.train_split!r} is also the validation or "
                "test split: a model may not train on the split that selects or tests it"
            )
        sources.append(Source(path=path, split=stage.data.train_split, proportion=1.0))
    sources += parse_sources(
        stage.data.extra_train,
        stage.data,
        workdir,
        key=stage_key(stage, "data.extra_train", "data.extra_train" in overridden),
        planned=planned,
    )
    if not sources:
        raise ConfigError(
            "no training data: config.data.use_labeled_train is False and config.data.extra_train "
            "is empty"
        )
    return StageData(
        labeled=path,
        manifest=manifest,
        train_sources=tuple(sources),
        valid_split=stage.data.valid_split,
        test_split=stage.data.test_split,
        label_budget=(manifest.metadata or {}).get("label_budget") if budget else None,
    )


def check_split_roles(
    stage: ConfigDict, path: Path, manifest: Manifest, overridden: frozenset[str] = frozenset()
) -> None:
    """data.valid_split selects (role valid), data.test_split tests (role test), never the same
    split, and data.train_split (when read) is no held-out split; errors name the stage's key."""

    def key(name: str) -> str:
        return stage_key(stage, f"data.{name}", f"data.{name}" in overridden)

    data = stage.data  # one split has one role, so the two can never be the same split
    check_eval_split(path, manifest, str(data.valid_split), "valid", key("valid_split"))
    check_eval_split(path, manifest, str(data.test_split), "test", key("test_split"))
    if data.use_labeled_train and str(data.train_split) in manifest.splits:
        role = manifest.role(str(data.train_split))
        if role in HELD_OUT_ROLES:
            raise ConfigError(
                f"{key('train_split')}={data.train_split!r}: split {data.train_split!r} of "
                f"{path} has role {role!r}; a model trains on a train split only"
            )


# ---- label budget --------------------------------------------------------------------------

# Part of every budget set's cache name: bump whenever what a budget keeps changes.
BUDGET_VERSION = 1
_BUDGET_SALT = 0x627564  # separates the budget's draws from every other seeded stream
BUDGET_RULE = (
    "per task, min(N, available) positives of the split drawn uniformly with label_seed (each "
    "task's draw is a prefix of one permutation, so a smaller budget keeps a subset of a larger "
    "one); a row is kept if some task drew it, and its positive labels for tasks that did not "
    "draw it become missing (NaN), so no task sees more than N positives; its 0 labels stay. "
    "Background rows (no positive label) are kept in the original proportion: round(background "
    "rows x kept positive rows / positive rows), drawn the same way. Windows carried by "
    "homology keep their source row's budgeted labels and are dropped with it."
)


@dataclass(frozen=True)
class LabelBudget:
    max_positives: int  # per task, train split; 0 = all
    max_valid_positives: int  # per task, validation split; 0 = all
    seed: int


def label_budget(data: ConfigDict) -> LabelBudget | None:
    """The data section's label budget, or None when it keeps every label."""
    values = {}
    for key in ("max_positives", "max_valid_positives", "label_seed"):
        value = data.get(key, 0)
        try:
            values[key] = int(value or 0)
        except (TypeError, ValueError):
            raise ConfigError(f"config.data.{key}={value!r}: expected an integer") from None
        if key != "label_seed" and values[key] < 0:
            raise ConfigError(f"config.data.{key}={value!r}: expected 0 (all) or a count > 0")
    if not values["max_positives"] and not values["max_valid_positives"]:
        return None
    return LabelBudget(values["max_positives"], values["max_valid_positives"], values["label_seed"])


def budget_selection(
    labels_NT: np.ndarray, max_positives: int, seed: int, salt: int = 0
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(rows kept int64[K] in file order, their labels float32[K, T], counts): `BUDGET_RULE`.

    Positives are labels > 0.5; labels must be binary-task values in [0, 1] or NaN.
    """
    labels_NT = np.asarray(labels_NT, np.float32)
    finite = labels_NT[~np.isnan(labels_NT)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ConfigError(
            "config.data.max_positives: a label budget counts positives of binary tasks (labels "
            f"in [0, 1]); this split has labels from {finite.min():g} to {finite.max():g}"
        )
    n, num_tasks = labels_NT.shape
    positive_NT = labels_NT > 0.5
    drawn_NT = np.zeros_like(positive_NT)
    for t in range(num_tasks):
        rng = np.random.default_rng([seed, _BUDGET_SALT, salt, t])
        candidates = rng.permutation(np.flatnonzero(positive_NT[:, t]))
        drawn_NT[candidates[:max_positives], t] = True
    positive_rows = positive_NT.any(axis=1)
    drawn_rows = drawn_NT.any(axis=1)
    background = np.flatnonzero(~positive_rows)
    n_background = int(round(len(background) * drawn_rows.sum() / max(int(positive_rows.sum()), 1)))
    rng = np.random.default_rng([seed, _BUDGET_SALT, salt, num_tasks])
    kept_background = rng.permutation(background)[:n_background]
    keep = drawn_rows.copy()
    keep[kept_background] = True
    rows = np.flatnonzero(keep)
    labels = labels_NT[rows].copy()
    masked = positive_NT[rows] & ~drawn_NT[rows]
    labels[masked] = np.nan
    counts = {
        "max_positives": int(max_positives),
        "available_positives": positive_NT.sum(axis=0).tolist(),
        "kept_positives": (labels > 0.5).sum(axis=0).tolist(),
        "masked_positives": masked.sum(axis=0).tolist(),
        "rows": int(len(rows)),
        "available_rows": int(n),
        "kept_positive_rows": int(drawn_rows.sum()),
        "positive_rows": int(positive_rows.sum()),
        "kept_background_rows": int(len(kept_background)),
        "background_rows": int(len(background)),
    }
    return rows, labels, counts


def _budget_dir(name: str, parts: dict[str, Any]) -> Path:
    blob = json.dumps({"version": BUDGET_VERSION, **parts}, sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return cache_root() / "label_budget" / f"{name}-{digest}"


def _fingerprint(shard_dir: Path) -> str:
    return hashlib.sha256((Path(shard_dir) / MANIFEST_NAME).read_bytes()).hexdigest()[:16]


@functools.lru_cache(maxsize=32)
def _train_selection(
    labeled: Path, fingerprint: str, split: str, max_positives: int, seed: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    del fingerprint  # part of the cache key only: a rebuilt set is read again
    labels = load_split(labeled, split)["labels"]
    return budget_selection(labels, max_positives, seed)


def _write_subset(
    writer: ShardSetWriter, split: str, cols: dict[str, np.ndarray], rows: np.ndarray,
    labels: np.ndarray, extra_fields: list[str],
) -> None:  # fmt: skip
    writer.add_batch(
        split,
        cols["tokens"][rows],
        labels,
        cols["weights"][rows],
        genome=cols["genome"][rows],
        chrom=cols["chrom"][rows],
        start=cols["start"][rows],
        strand=cols["strand"][rows],
        **{f: cols[f][rows] for f in extra_fields},
    )


_REPORTED: set[Path] = set()


def _report_once(path: Path, message: str) -> None:
    """Budget counts are logged once per set and process (plans resolve every stage twice)."""
    if path not in _REPORTED:
        _REPORTED.add(path)
        log.info("%s", message)


def _describe(counts: dict, tasks: list[str]) -> str:
    kept = ", ".join(
        f"{t} {k}/{a}"
        for t, k, a in zip(
            tasks, counts["kept_positives"], counts["available_positives"], strict=True
        )  # fmt: skip
    )
    return (
        f"positives {kept}; rows {counts['rows']} of {counts['available_rows']} "
        f"({counts['kept_background_rows']} background of {counts['background_rows']})"
    )


def budgeted_labeled_set(labeled: Path, budget: LabelBudget, splits: tuple[str, str, str]) -> Path:
    """The labeled set with the budget applied (train; validation if capped; test verbatim).

    Written once to the cache and reused; its manifest's metadata.label_budget holds the rule
    and the counts per split.
    """
    labeled = Path(labeled).resolve()
    train_split, valid_split, test_split = splits
    manifest = load_manifest(labeled)
    out = _budget_dir(
        f"{labeled.name}-p{budget.max_positives}-v{budget.max_valid_positives}-s{budget.seed}",
        {"labeled": _fingerprint(labeled), "budget": budget.__dict__, "splits": list(splits)},
    )
    tasks = list(manifest.task_names)
    if not (out / MANIFEST_NAME).is_file():
        summary: dict[str, Any] = {
            "rule": BUDGET_RULE,
            "labeled": str(labeled),
            "label_seed": budget.seed,
            "splits": {},
        }
        metadata = {**(manifest.metadata or {}), "label_budget": summary}
        with ShardSetWriter(
            out,
            seq_len=manifest.seq_len,
            task_names=tasks,
            extra_fields=manifest.extra_fields,
            command=f"label budget of {labeled}: data.max_positives={budget.max_positives} "
            f"data.max_valid_positives={budget.max_valid_positives} data.label_seed={budget.seed}",
            metadata=metadata,
            tfds=False,
        ) as writer:
            for split, cap, salt in ((train_split, budget.max_positives, 0),
                                     (valid_split, budget.max_valid_positives, 1),
                                     (test_split, 0, 0)):  # fmt: skip
                cols = load_split(labeled, split)
                if cap:
                    rows, labels, counts = budget_selection(cols["labels"], cap, budget.seed, salt)
                    summary["splits"][split] = counts
                else:
                    rows, labels = np.arange(len(cols["labels"])), cols["labels"]
                _write_subset(writer, split, cols, rows, labels, manifest.extra_fields)
    counts = load_manifest(out).metadata["label_budget"]["splits"]
    for split, c in counts.items():
        _report_once(
            out / split, f"label budget ({split}, seed {budget.seed}): {_describe(c, tasks)}"
        )
    return out


def _budgeted_source(source: Source, data: ConfigDict, key: str) -> Source:
    """A source under the label budget: the labeled train split -> its budgeted subset, a
    homology set carried from it -> the windows carried from the kept rows; others as is."""
    budget = label_budget(data)
    assert budget is not None
    labeled = Path(labeled_path(data)).resolve()
    path = Path(source.path).resolve()
    splits = (str(data.train_split), str(data.valid_split), str(data.test_split))
    if path == labeled:
        if source.split != data.train_split:
            return source
        return Source(
            budgeted_labeled_set(labeled, budget, splits), source.split, source.proportion
        )
    metadata = load_manifest(path).metadata or {}
    if metadata.get("kind") != "homology" or not budget.max_positives:
        return source
    carried_from = Path(str(metadata.get("labeled", ""))).resolve()
    if carried_from != labeled or metadata.get("source_split", "train") != data.train_split:
        raise ConfigError(
            f"{key}: {source.path} carries the labels of {metadata.get('labeled')!r} "
            f"(split {metadata.get('source_split')!r}), not of this run's labeled train split "
            f"{labeled}:{data.train_split}, so a label budget (config.data.max_positives) cannot "
            "tell which of its windows come from kept positives; carry from the labeled set "
            "itself or drop the budget"
        )
    return Source(budgeted_carried_set(path, labeled, budget, str(data.train_split)),
                  source.split, source.proportion)  # fmt: skip


def budgeted_carried_set(carried: Path, labeled: Path, budget: LabelBudget, split: str) -> Path:
    """A homology set reduced to the windows carried from rows the budget keeps.

    Each window's labels follow its manifest's metadata.labels:

    * carried (the default): its source row's budgeted labels (a positive the budget masked
      is masked here too);
    * "oracle" (toy:homology_oracle): its own true labels, unmasked. The oracle is a ceiling:
      "these windows, labeled perfectly". The budget mask says which *reference* labels an
      experimenter saw; a relative's true binding is not derived from them, and masking it
      would hide exactly the true positives of masked rows, so the ceiling would sit below
      perfect labels for no reason. The rows stay those of toy:homology under the same budget.
    * "random" (toy:homology_random): the source rows' budgeted labels permuted per task among
      the kept rows (seed data.label_seed), so the base rate and the missing labels are those
      of the budgeted carried set, not of the full one (a budget raises a rare task's rate).
    """
    manifest = load_manifest(carried)
    if "source_index" not in manifest.extra_fields:
        raise ConfigError(
            f"{carried}: a homology set without the source_index field cannot follow a label "
            "budget; re-create it with `python -m data_prep homology`"
        )
    out = _budget_dir(
        f"{carried.parent.name}-{carried.name}-p{budget.max_positives}-s{budget.seed}",
        {"carried": _fingerprint(carried), "labeled": _fingerprint(labeled),
         "max_positives": budget.max_positives, "seed": budget.seed, "split": split},
    )  # fmt: skip
    if not (out / MANIFEST_NAME).is_file():
        rows, labels, _ = _train_selection(
            labeled, _fingerprint(labeled), split, budget.max_positives, budget.seed
        )
        cols = load_split(carried, "train")
        source_row = cols["source_index"].astype(np.int64)
        position = np.searchsorted(rows, source_row)
        position = np.minimum(position, len(rows) - 1)
        keep = np.flatnonzero(rows[position] == source_row)
        mode = (manifest.metadata or {}).get("labels", "carried")
        if mode == "oracle":
            kept_labels = cols["labels"][keep].copy()
        elif mode == "random":
            kept_labels = shuffled_labels(labels, budget.seed, salt=1)[position[keep]]
        else:
            kept_labels = cols["labels"][keep].copy()
            kept_labels[np.isnan(labels[position[keep]])] = np.nan
        counts = {
            "rows": int(len(keep)),
            "available_rows": int(len(source_row)),
            "kept_positives": (kept_labels > 0.5).sum(axis=0).tolist(),
            "available_positives": (cols["labels"] > 0.5).sum(axis=0).tolist(),
        }
        metadata = {
            **(manifest.metadata or {}),
            "label_budget": {"rule": BUDGET_RULE, "labeled": str(labeled),
                             "label_seed": budget.seed, "max_positives": budget.max_positives,
                             "carried": str(carried), "counts": counts},
        }  # fmt: skip
        with ShardSetWriter(
            out,
            seq_len=manifest.seq_len,
            task_names=manifest.task_names,
            extra_fields=manifest.extra_fields,
            command=f"label budget of {carried}: rows carried from {labeled}'s kept rows "
            f"(data.max_positives={budget.max_positives} data.label_seed={budget.seed})",
            metadata=metadata,
            tfds=False,
        ) as writer:
            _write_subset(writer, "train", cols, keep, kept_labels, manifest.extra_fields)
    c = load_manifest(out).metadata["label_budget"]["counts"]
    _report_once(
        out,
        f"label budget: {carried.name} keeps {c['rows']} of {c['available_rows']} carried "
        f"windows (positives {c['kept_positives']} of {c['available_positives']})",
    )
    return out


# ---- the in-domain unlabeled pool (labeled:pool) --------------------------------------------

POOL_RULE = (
    "the rows of the labeled set's train split that the label budget did not keep (every "
    "label hidden: NaN), minus every row sharing K bases with a window of a held-out split "
    "(valid, test; by role): one unbroken run of at least half the shorter length, either "
    "strand (jaxssl.data.overlap)"
)


def labeled_pool_set(labeled: Path, budget: LabelBudget, splits: tuple[str, str, str]) -> Path:
    """`POOL_RULE`: the in-domain unlabeled pool of a label budget, written once to the cache.

    What a scarce-label experiment has besides its few labels: the rest of the same
    distribution, unlabeled (positive control B: a teacher labels all of it). Rows are in file
    order; the extra field source_index is each row's index in the labeled train split. The
    manifest's metadata says it is unlabeled and screened (metadata.unlabeled, .leakage,
    .pool), so the doors that ask for a leakage screen accept it.
    """
    labeled = Path(labeled).resolve()
    train_split, valid_split, test_split = splits
    manifest = load_manifest(labeled)
    held_out = [s for s in manifest.splits  # by role: a `test_clean` split is held out too
                if s != train_split and (manifest.role(s) in HELD_OUT_ROLES
                                         or s in (valid_split, test_split))]  # fmt: skip
    fingerprint = _fingerprint(labeled)
    out = _budget_dir(
        f"{labeled.name}-pool-p{budget.max_positives}-s{budget.seed}",
        {"pool_of": fingerprint, "max_positives": budget.max_positives, "seed": budget.seed,
         "splits": list(splits), "held_out": held_out, "overlap": 1, "fingerprints": 1},
    )  # fmt: skip
    if not (out / MANIFEST_NAME).is_file():
        kept, _, _ = _train_selection(
            labeled, fingerprint, train_split, budget.max_positives, budget.seed
        )
        cols = load_split(labeled, train_split)
        n = len(cols["tokens"])
        left_out = np.setdiff1d(np.arange(n), kept)
        indexes = {s: OverlapIndex.from_rows(load_split(labeled, s)["tokens"]) for s in held_out}
        candidates = cols["tokens"][left_out]
        copies = {s: index.screen(candidates) for s, index in indexes.items()}
        copy = (
            np.logical_or.reduce(list(copies.values())) if copies else np.zeros(len(left_out), bool)
        )
        rows = left_out[~copy]
        rule = next(iter(indexes.values())).rule() if indexes else OverlapIndex([]).rule()
        leakage = {
            "method": "sequence_overlap",
            "check": rule,
            "screened_against": [f"{labeled}:{s}" for s in held_out],
            FINGERPRINTS_KEY: {f"{labeled}:{s}": split_fingerprint(labeled, s) for s in held_out},
            "held_out_duplicate": int(copy.sum()),
            **{f"{s}_duplicate": int(c.sum()) for s, c in copies.items()},
        }
        pool = {
            "rule": POOL_RULE,
            "train_rows": int(n),
            "kept_by_budget": int(len(kept)),
            "left_out": int(len(left_out)),
            "dropped_held_out_copies": int(copy.sum()),
            "rows": int(len(rows)),
            "hidden_positives": (cols["labels"][rows] > 0.5).sum(axis=0).tolist(),
        }
        metadata = {
            "kind": "labeled_pool",
            "unlabeled": True,
            "labels": "hidden (NaN): a teacher labels every row",
            "labeled": str(labeled),
            "source_split": train_split,
            "source_index": f"row of the window in split {train_split!r} of the labeled set",
            "genome": (manifest.metadata or {}).get("genome", ""),
            "label_budget": {"rule": BUDGET_RULE, "max_positives": budget.max_positives,
                             "label_seed": budget.seed},
            "pool": pool,
            "leakage": leakage,
        }  # fmt: skip
        hidden = np.full((len(rows), len(manifest.task_names)), np.nan, np.float32)
        fields = [*(f for f in manifest.extra_fields if f != "source_index"), "source_index"]
        with ShardSetWriter(
            out,
            seq_len=manifest.seq_len,
            task_names=manifest.task_names,
            extra_fields=fields,
            command=f"label budget pool of {labeled}: the train rows data.max_positives="
            f"{budget.max_positives} data.label_seed={budget.seed} leaves out, labels hidden",
            sources=[labeled / MANIFEST_NAME],
            metadata=metadata,
            tfds=False,
        ) as writer:
            cols["source_index"] = np.arange(n, dtype=np.float32)
            _write_subset(writer, "train", cols, rows, hidden, fields)
    c = load_manifest(out).metadata["pool"]
    _report_once(
        out,
        f"labeled:pool: {c['rows']} unlabeled rows of {c['train_rows']} in {labeled.name}:"
        f"{train_split} ({c['kept_by_budget']} kept by the budget, "
        f"{c['dropped_held_out_copies']} dropped for sharing K bases with held-out windows)",
    )
    return out
