"""Each stage remembers the configuration it ran with; a run with another one is refused.

A resumed or skipped stage is only valid if it was made by the same settings and the same
data: otherwise a run killed at step 40 and restarted with another `data.path` would resume
silently on other data, and a finished stage would be reused after a flag changed. The stored
record is the stage's resolved config (minus settings that do not change results), the
fingerprints of the shard sets it reads, and a hash of the records of the stages it builds on,
so a changed upstream stage invalidates its dependents too. It also stores the objective's
VERSION: a stage trained by an older loss or best-checkpoint selection is stale although every
setting matches (those changes add no setting, or add one at a default that is ignored below).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ml_collections import ConfigDict

from jaxssl.config import base_config
from jaxssl.errors import StaleStageError
from jaxssl.models import default_hparams, model_names
from jaxssl.objectives import objective_version
from jaxssl.report import write_json_atomic

STORED_CONFIG_FILE = "stage_config.json"
VERSION_KEY = "objective_version"  # a record's objective VERSION (absent for a stage job)
UNVERSIONED = 1  # the version a record without one was made by (before versions were stored)

# Settings that change how a run is shown, saved or checked, never its results.
IGNORED_KEYS = frozenset(
    {
        "data.require_screened",
        "train.progress_bar",
        "train.log_every",
        "train.checkpoint_every",
        "train.keep_checkpoints",
    }
)


def manifest_fingerprint(shard_dir: str | Path) -> str:
    """SHA-256 of a shard set's manifest (it lists every shard's record counts and sources)."""
    return hashlib.sha256((Path(shard_dir) / "manifest.json").read_bytes()).hexdigest()[:16]


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key in sorted(tree):
            out.update(flatten(tree[key], f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): tree}


# Settings that name directories ("DIR[:SPLIT][@P],..."): stored with each existing directory
# spelled as its absolute path, so `runs/x` and `/home/me/runs/x` are one setting.
PATH_KEYS = frozenset(
    {"data.path", "data.extra_train", "init_from", "pseudo.teacher", "pseudo.sources"}
)


def canonical_paths(text: str) -> str:
    """Each comma-separated entry's directory (before ':' or '@') as an absolute path.

    Entries that are not existing directories (``toy:unlabeled``, ``prev``, ``stage:NAME``)
    are kept as written.
    """
    entries = []
    for entry in str(text).split(","):
        cut = min((i for i in (entry.find(":"), entry.find("@")) if i >= 0), default=len(entry))
        head, tail = entry[:cut].strip(), entry[cut:]
        if head and Path(head).is_dir():
            head = str(Path(head).resolve())
        entries.append(head + tail)
    return ",".join(entries)


def stage_record(
    stage: ConfigDict, data_fingerprints: dict[str, str], upstream: dict[str, str]
) -> dict:
    """What a stage's outputs depend on (JSON-ready, canonical)."""
    settings = {
        k: canonical_paths(v) if k in PATH_KEYS and isinstance(v, str) else v
        for k, v in flatten(json.loads(stage.to_json_best_effort())).items()
        if k not in IGNORED_KEYS and k != "stage_name"
    }
    data = dict(sorted((canonical_paths(k), v) for k, v in data_fingerprints.items()))
    record = {"config": settings, "data": data, "upstream": upstream}
    version = objective_version(str(stage.objective))
    if version is not None:
        record[VERSION_KEY] = version
    return record


def default_settings(model_name: str | None = None) -> dict[str, Any]:
    """Every shared setting at its default, flattened as in a record; with ``model_name``, that
    model's hyperparameters at their defaults too (a hyperparameter added to a model later,
    at a default that keeps the old behaviour, then leaves the model's finished stages valid)."""
    settings = flatten(json.loads(base_config().to_json_best_effort()))
    if model_name in model_names():
        hparams = json.loads(json.dumps(default_hparams(model_name)))  # tuples as a record's lists
        settings.update(flatten({"model": {"hparams": hparams}}))
    return settings


def without_added_defaults(current: dict, stored: dict, defaults: dict[str, Any]) -> dict:
    """``current`` minus the settings the stored record predates that are at their defaults.

    A setting added to jaxssl after a stage ran (e.g. a new augmentation, off by default)
    does not change what that stage did, so it must not make the stage stale. Likewise the
    objective version, when the record predates versions and the objective is still at version
    1 (the stored record is then kept as written, so its hash and its dependents' stay valid).
    """
    config = {
        k: v
        for k, v in current["config"].items()
        if k in stored.get("config", {}) or k not in defaults or v != defaults[k]
    }
    out = {**current, "config": config}
    if VERSION_KEY not in stored and current.get(VERSION_KEY) == UNVERSIONED:
        del out[VERSION_KEY]
    return out


def canonical_record(record: dict) -> dict:
    """A stored record with its paths canonical (records written before paths were)."""
    config = {
        k: canonical_paths(v) if k in PATH_KEYS and isinstance(v, str) else v
        for k, v in record.get("config", {}).items()
    }
    data = {canonical_paths(k): v for k, v in record.get("data", {}).items()}
    return {**record, "config": config, "data": data}


def record_hash(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def read_record(stage_dir: Path) -> dict | None:
    path = Path(stage_dir) / STORED_CONFIG_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())


def write_record(stage_dir: Path, record: dict) -> None:
    write_json_atomic(Path(stage_dir) / STORED_CONFIG_FILE, record, sort_keys=True)


def differences(stored: dict, current: dict, limit: int = 8) -> list[str]:
    """'key: stored A, now B' for every setting, data set or upstream stage that differs."""
    lines = []
    old_version, new_version = stored.get(VERSION_KEY), current.get(VERSION_KEY)
    if old_version != new_version:
        objective = current.get("config", {}).get("objective", "?")
        lines.append(
            f"objective {objective!r} version: stored "
            f"{old_version if old_version is not None else 'none (made before versions)'}, "
            f"now {new_version} (its loss or its choice of best checkpoint changed)"
        )
    for section, label in (("config", "config."), ("data", "data "), ("upstream", "stage ")):
        old, new = stored.get(section, {}), current.get(section, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key, "<unset>") != new.get(key, "<unset>"):
                if section == "upstream":
                    lines.append(f"{label}{key} it builds on changed")
                else:
                    lines.append(
                        f"{label}{key}: stored {old.get(key, '<unset>')!r}, "
                        f"now {new.get(key, '<unset>')!r}"
                    )
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return lines


def stale_error(stage_name: str, stage_dir: Path, diffs: list[str]) -> StaleStageError:
    return StaleStageError(
        f"stage {stage_name!r} in {stage_dir} was run with another configuration: "
        + "; ".join(diffs)
        + f". To replace its outputs (and those of the stages that build on it) add "
        f"--config.rerun={stage_name}, or use a new --workdir"
    )
