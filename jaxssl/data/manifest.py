"""`manifest.json`: what a shard set holds and how it was made, read before any shard is opened.

A shard directory without a manifest is by construction unfinished (the writer renames its
temporary directory only after the manifest is written), so a missing manifest is an error, never
a guess.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from jaxssl.errors import ConfigError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
FORMAT = "jaxssl-block-v1"  # see jaxssl.data.records

# What a split is for. The doors (training sources, teachers, pools, corpora, model selection)
# check the role, never the name: a `test_clean` split is as held out as `test`.
ROLES = ("train", "valid", "test", "unlabeled")
HELD_OUT_ROLES = frozenset({"valid", "test"})


@dataclass
class Manifest:
    """Mirrors manifest.json. ``splits[name]`` holds ``count``, ``shards`` (file names),
    ``records`` (records per shard), ``positives``/``missing`` (per task) and ``gc``
    (mean GC fraction over called bases)."""

    schema_version: int
    seq_len: int
    task_names: list[str]
    splits: dict[str, dict]
    extra_fields: list[str] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    command: str = ""
    format: str = FORMAT
    examples_per_record: int = 0
    created: str = ""
    jaxssl_version: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def num_tasks(self) -> int:
        return len(self.task_names)

    def split(self, name: str, *, where: str | Path = "") -> dict:
        """The split's entry, or a ValueError listing the splits that exist."""
        if name not in self.splits:
            raise ValueError(
                f"{where or 'shard set'}: no split {name!r}; it has {sorted(self.splits)}"
            )
        return self.splits[name]

    def role(self, name: str) -> str:
        """The split's role: recorded in the manifest, else inferred (`role_from_name`)."""
        recorded = (self.splits.get(name) or {}).get("role")
        if recorded in ROLES:
            return str(recorded)
        role = role_from_name(name)
        unlabeled = not self.task_names or (self.metadata or {}).get("unlabeled")
        return "unlabeled" if role == "train" and unlabeled else role

    def to_json(self) -> str:
        """The manifest with every split's role written out (new manifests always carry it)."""
        raw = dataclasses.asdict(self)
        raw["splits"] = {
            name: {**entry, "role": self.role(name)} for name, entry in raw["splits"].items()
        }
        return json.dumps(raw, indent=2, sort_keys=False) + "\n"


def role_from_name(name: str) -> str:
    """The role of a split of a manifest that records none (made before roles existed).

    test* (and any name holding "test" or "held") -> test; valid*, val, dev (and any name
    holding "valid") -> valid; everything else -> train. Held-out names win over train, so an
    unusual held-out name is refused as a source rather than trained on.
    """
    lower = name.lower()
    if "test" in lower or "held" in lower:
        return "test"
    if "valid" in lower or lower in ("val", "dev") or lower.startswith(("val_", "dev_", "dev-")):
        return "valid"
    return "train"


def file_checksum(path: str | Path) -> dict:
    """{"path", "sha256", "bytes"} of a source file, so a shard set records exactly what it read."""
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return {"path": str(path.resolve()), "sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def load_manifest(shard_dir: str | Path) -> Manifest:
    """Reads ``shard_dir/manifest.json`` with errors that say what is wrong and what to do."""
    shard_dir = Path(shard_dir)
    path = shard_dir / MANIFEST_NAME
    if not shard_dir.is_dir():
        raise FileNotFoundError(
            f"{shard_dir}: no such shard-set directory (make one with `python -m data_prep ...`)"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: missing; {shard_dir} is not a finished shard set (a failed or interrupted "
            "data_prep run never renames its output into place, so re-run the command)"
        )
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: line {err.lineno}: not valid JSON ({err.msg})") from None
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"{path}: schema_version {version!r}, this jaxssl reads schema_version "
            f"{SCHEMA_VERSION}; re-create the shard set with this version's data_prep"
        )
    names = {f.name for f in dataclasses.fields(Manifest)}
    missing = [f.name for f in dataclasses.fields(Manifest) if f.name not in raw]
    required = {"seq_len", "task_names", "splits"}
    if required & set(missing):
        raise ValueError(f"{path}: missing keys {sorted(required & set(missing))}")
    manifest = Manifest(**{k: v for k, v in raw.items() if k in names})
    if manifest.format != FORMAT:
        raise ValueError(f"{path}: record format {manifest.format!r}, expected {FORMAT!r}")
    return manifest


def check_source_split(
    shard_dir: str | Path, split: str, flag: str, use: str = "train a model"
) -> Manifest:
    """The manifest of a set whose `split` is read as a source (training, teacher, pool,
    corpus); refuses, naming `flag`, the set and the split, a split that is missing or held out.
    """
    manifest = load_manifest(shard_dir)
    if split not in manifest.splits:
        raise ConfigError(
            f"{flag}: {shard_dir} has no split {split!r} (it has {sorted(manifest.splits)}); "
            f"name one of its train splits as {shard_dir}:SPLIT"
        )
    role = manifest.role(split)
    if role in HELD_OUT_ROLES:
        raise ConfigError(
            f"{flag}: split {split!r} of {shard_dir} is held out (role {role!r}); held-out "
            f"splits measure models and may not {use}. Use a train split of the set"
        )
    return manifest


def check_eval_split(
    shard_dir: str | Path, manifest: Manifest, split: str, role: str, flag: str
) -> None:
    """`flag` names the split that selects (role valid) or tests (role test) a model."""
    if split not in manifest.splits:
        raise ConfigError(f"{flag}={split!r}: {shard_dir} has splits {sorted(manifest.splits)}")
    found = manifest.role(split)
    if found != role:
        raise ConfigError(
            f"{flag}={split!r}: split {split!r} of {shard_dir} has role {found!r}, not {role!r}"
            f" (its {role} splits: {[s for s in manifest.splits if manifest.role(s) == role]}); "
            + (
                "model selection and early stopping read the validation split only"
                if role == "valid"
                else "the test split is read once, for the final metrics, and never selects"
            )
        )
