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

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
FORMAT = "jaxssl-block-v1"  # see jaxssl.data.records


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

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=False) + "\n"


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
