"""Which shard sets a stage reads: the labeled set (or the toy world) plus mixed-in sources."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml_collections import ConfigDict

from jaxssl.data.manifest import Manifest, load_manifest
from jaxssl.data.pipeline import Source
from jaxssl.errors import ConfigError
from jaxssl.pseudo_labels import TEACHER_OBJECTIVE
from jaxssl.toy_data import toy_homology_shards, toy_labeled_shards, toy_unlabeled_all

# Stage objectives whose job is to write shard sets that later stages read as `stage:NAME`.
SHARD_WRITING_OBJECTIVES = frozenset({TEACHER_OBJECTIVE})


@dataclass(frozen=True)
class StageData:
    labeled: Path  # shard set with the valid/test splits (and the labeled train split)
    manifest: Manifest
    train_sources: tuple[Source, ...]
    valid_split: str
    test_split: str


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

    toy:homology   the toy world's reference labels carried to every other genome
    toy:unlabeled  unlabeled windows sampled from every genome of the toy world
    stage:NAME     the shard sets an earlier stage of this run wrote (e.g. teacher labels)

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
    if kind == "toy" and arg == "unlabeled":
        return list(toy_unlabeled_all(data.toy_world))
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
        "toy:unlabeled or stage:NAME"
    )


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
        if target.startswith(("toy:", "stage:")):
            if data is None:
                raise ConfigError(f"{key}: {item!r} needs the data config to resolve")
            paths = _symbolic_paths(target, data, workdir, key, planned)
            sources += [
                Source(path=p, split="train", proportion=weight / len(paths)) for p in paths
            ]
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
        sources.append(Source(path=Path(path), split=split or "train", proportion=weight))
    return sources


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
    for key in ("valid_split", "test_split"):
        split = stage.data[key]
        if split not in manifest.splits:
            raise ConfigError(
                f"config.data.{key}={split!r}: {path} has splits {sorted(manifest.splits)}"
            )
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
    )
