"""Which shard sets a stage reads: the labeled set (or the toy world) plus mixed-in sources."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml_collections import ConfigDict

from jaxssl.config import ConfigError
from jaxssl.data.manifest import Manifest, load_manifest
from jaxssl.data.pipeline import Source


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
    from jaxssl.toy_data import toy_labeled_shards

    return toy_labeled_shards(data.toy_world)


def parse_sources(spec: str, key: str = "config.data.extra_train") -> list[Source]:
    """'DIR[:SPLIT][@PROPORTION],...' -> Sources (split defaults to train, proportion to 1)."""
    sources = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        path, _, proportion = item.partition("@")
        path, _, split = path.partition(":")
        try:
            weight = float(proportion) if proportion else 1.0
        except ValueError:
            raise ConfigError(f"{key}: {item!r} has a proportion that is not a number") from None
        if weight <= 0:
            raise ConfigError(f"{key}: {item!r}: the proportion must be positive")
        if not (Path(path) / "manifest.json").is_file():
            raise ConfigError(f"{key}: {path!r} is not a shard set (no manifest.json)")
        sources.append(Source(path=Path(path), split=split or "train", proportion=weight))
    return sources


def resolve_stage_data(stage: ConfigDict) -> StageData:
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
        sources.append(Source(path=path, split=stage.data.train_split, proportion=1.0))
    sources += parse_sources(stage.data.extra_train)
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
