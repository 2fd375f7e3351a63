"""Screening that means something: a source, or a model's weights, against this run's
held-out data, compared by content (``jaxssl.data.fingerprint``), never by name.

* A training or teacher source from outside the labeled set counts as screened only when its
  manifest records a leakage guard run against this run's validation and test splits (their
  content fingerprints). Otherwise: a warning, or a one-line refusal under
  ``config.data.require_screened``. A source split holding exactly a held-out split's
  sequences is refused always: it *is* that split.
* Every trained stage writes ``trained_on.json``: the fingerprints of the splits it trained on
  (its sources), plus those its `init_from` weights were trained on. Weights trained on this
  run's validation or test split are refused as `init_from`; weights with no record are
  warned about (they cannot be checked).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ml_collections import ConfigDict

from jaxssl.data.fingerprint import screened_fingerprints, split_fingerprint
from jaxssl.data.manifest import MANIFEST_NAME, load_manifest
from jaxssl.data.pipeline import Source
from jaxssl.errors import ConfigError
from jaxssl.report import write_json_atomic
from jaxssl.sharding import is_main_process

log = logging.getLogger("jaxssl")

TRAINED_ON = "trained_on.json"
TEACHER_LABELS = "teacher_pseudo_labels"  # a teacher stage's output: its sources were checked


@dataclass(frozen=True)
class HeldSplit:
    """One of this run's held-out splits: ``name`` = "SET:split", its role and content."""

    name: str
    role: str
    fingerprint: str
    count: int


def run_held_out(labeled: Path, valid_split: str, test_split: str) -> list[HeldSplit]:
    """This run's validation and test splits (those the labeled set has)."""
    manifest = load_manifest(labeled)
    out = []
    for role, split in (("valid", valid_split), ("test", test_split)):
        if split in manifest.splits:
            out.append(
                HeldSplit(
                    f"{Path(labeled).resolve()}:{split}",
                    role,
                    split_fingerprint(labeled, split),
                    int(manifest.splits[split]["count"]),
                )
            )
    return out


def _fix(labeled: Path) -> str:
    return (
        "rebuild it screened against this run's labeled set: `python -m data_prep corpus OUT "
        f"--from ... --exclude {labeled}`, `python -m data_prep windows OUT ... "
        f"--exclude-homologs-of {labeled}` or `python -m data_prep homology OUT --labeled "
        f"{labeled} ...`"
    )


def check_screened(
    stage: ConfigDict, source: Source, held: list[HeldSplit], key: str, labeled: Path
) -> None:
    """Warns (refuses under config.data.require_screened) when `source` records no guard run
    against every split of `held`; refuses a source split that holds a held-out split."""
    path = Path(source.path)
    manifest = load_manifest(path)
    entry = manifest.splits.get(source.split) or {}
    for h in held:
        if int(entry.get("count", -1)) == h.count and (
            split_fingerprint(path, source.split) == h.fingerprint
        ):
            raise ConfigError(
                f"{key}: {path}:{source.split} holds the same sequences as this run's {h.role} "
                f"split {h.name} (content {h.fingerprint}); held-out data may not train a model "
                "it measures. Remove it from the key"
            )
    metadata = manifest.metadata or {}
    if metadata.get("kind") == TEACHER_LABELS:
        return  # the teacher stage's sources were checked when it was planned
    found = screened_fingerprints(path)
    missing = [h for h in held if h.fingerprint not in found]
    if not missing:
        return
    leakage = metadata.get("leakage") or {}
    why = (
        "its manifest records no leakage screen"
        if not leakage
        else "its leakage screen records no run against them"
        if not found
        else "its leakage screen ran against other held-out data"
    )
    names = ", ".join(f"{h.role} {h.name}" for h in missing)
    message = f"{key}: {path} is not screened against this run's {names}: {why}; {_fix(labeled)}"
    if bool(stage.data.get("require_screened", False)):
        raise ConfigError(
            f"{message} (config.data.require_screened=True; set it False to train on it anyway)"
        )
    log.warning("stage %s: %s", stage.stage_name, message)


# ---- what weights were trained on --------------------------------------------------------------


def init_dir(stage: ConfigDict, prev_dir: Path | None, workdir: Path | None) -> Path | None:
    """The stage directory `init_from` loads weights from (None: fresh weights)."""
    init = str(stage.init_from or "")
    if not init:
        return None
    if init == "prev":
        return prev_dir
    if init.startswith("stage:"):
        return None if workdir is None else workdir / init.removeprefix("stage:")
    return Path(init)


def read_trained_on(stage_dir: Path) -> dict[str, str] | None:
    """{"SET:split": fingerprint} of every split the stage's weights learned from (their own
    sources and their init_from's, transitively); None when the stage records none."""
    path = Path(stage_dir) / TRAINED_ON
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    return {str(k): str(v) for k, v in (raw.get("splits") or {}).items()}


def check_init_weights(stage: ConfigDict, source_dir: Path, held: list[HeldSplit]) -> None:
    """Refuses init_from weights trained on one of `held`; warns when they record nothing."""
    key = f"config.{stage.stage_name}.init_from={stage.init_from}"
    trained = read_trained_on(source_dir)
    if trained is None:
        log.warning(
            "stage %s: %s records no training data (no %s in %s), so it cannot be checked "
            "against this run's validation and test splits",
            stage.stage_name,
            key,
            TRAINED_ON,
            source_dir,
        )
        return
    for name, fp in trained.items():
        for h in held:
            if fp == h.fingerprint:
                raise ConfigError(
                    f"{key}: those weights were trained on {name}, which holds the same "
                    f"sequences as this run's {h.role} split {h.name}; a model may not start "
                    "from weights that saw the data that selects or tests it. Use weights "
                    "trained without it, or init_from=''"
                )


def record_trained_on(
    stage: ConfigDict,
    stage_dir: Path,
    sources: tuple[Source, ...],
    held: list[HeldSplit],
    init_source: Path | None,
) -> None:
    """Checks the init_from weights against `held`, then writes the stage's ``TRAINED_ON``."""
    splits: dict[str, str] = {}
    if init_source is not None:
        check_init_weights(stage, init_source, held)
        splits.update(read_trained_on(init_source) or {})
    for source in sources:
        path = Path(source.path)
        if (path / MANIFEST_NAME).is_file():
            splits[f"{path.resolve()}:{source.split}"] = split_fingerprint(path, source.split)
    record = {
        "rule": "content fingerprints (jaxssl.data.fingerprint) of every split these weights "
        "learned from, their init_from's included",
        "init_from": str(init_source) if init_source is not None else "",
        "splits": splits,
    }
    if is_main_process():
        Path(stage_dir).mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(stage_dir) / TRAINED_ON, record)
