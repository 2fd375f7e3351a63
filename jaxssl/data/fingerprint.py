"""Content fingerprints of shard-set splits, and the held-out data a source was screened against.

A split is named by what it holds (``jaxssl.data.writer.content_fingerprint``: its sorted
either-strand sequence keys), not by its path: a copy, a re-ordering or a rebuilt set with the
same sequences has the same fingerprint, another sequence gives another. New manifests record
it per split (``content``); older ones are read once and hashed here.

Screening: a source's manifest says which held-out splits its leakage guard ran against
(``metadata.leakage.held_out_fingerprints``, written by `data_prep windows`, `corpus`,
`homology` and the labeled pool), and the trainer compares those with its own run's validation
and test splits (``jaxssl.screening``). A guard that ran against nothing (``{'guard': 'none'}``)
names no fingerprint and so screens nothing. Sets made before fingerprints were recorded (and
`data_prep corpus` sets made before d107b0d) stand for the held-out splits their guard read
when the manifest it checksummed is unchanged.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from jaxssl.data.manifest import MANIFEST_NAME, load_manifest
from jaxssl.data.reader import load_split
from jaxssl.data.writer import content_fingerprint, sequence_keys

FINGERPRINTS_KEY = "held_out_fingerprints"  # in manifest metadata.leakage: {"SET:split": fp}


def _manifest_sha(shard_dir: Path) -> str:
    return hashlib.sha256((shard_dir / MANIFEST_NAME).read_bytes()).hexdigest()


@functools.lru_cache(maxsize=64)
def _hashed(shard_dir: str, manifest_sha: str, split: str) -> str:
    del manifest_sha  # part of the cache key only: a rebuilt set is read again
    tokens = load_split(shard_dir, split)["tokens"]
    return content_fingerprint(sequence_keys(tokens), tokens.shape[1])


def split_fingerprint(shard_dir: str | Path, split: str) -> str:
    """The content fingerprint of ``shard_dir``'s ``split``: recorded, else read and hashed."""
    shard_dir = Path(shard_dir).resolve()
    manifest = load_manifest(shard_dir)
    recorded = manifest.split(split, where=shard_dir).get("content")
    if recorded:
        return str(recorded)
    return _hashed(str(shard_dir), _manifest_sha(shard_dir), split)


def held_out_fingerprints(shard_dir: str | Path, source_split: str = "train") -> dict[str, str]:
    """``{"SET:split": fingerprint}`` for every split of a labeled set but ``source_split``:
    what a guard that screens against the set's held-out data records it ran against."""
    shard_dir = Path(shard_dir).resolve()
    manifest = load_manifest(shard_dir)
    return {
        f"{shard_dir}:{s}": split_fingerprint(shard_dir, s)
        for s in manifest.splits
        if s != source_split
    }


def _checksummed_sets(sources: list[dict]) -> list[Path]:
    """Shard sets whose manifest.json the source's writer read and that are unchanged since."""
    out = []
    for entry in sources:
        path = Path(str(entry.get("path", "")))
        if path.name != MANIFEST_NAME or not path.is_file():
            continue
        if _manifest_sha(path.parent) == entry.get("sha256"):
            out.append(path.parent)
    return out


def _corpus_fingerprints(metadata: dict, sources: list[dict]) -> set[str]:
    """A `data_prep corpus` set names its --exclude entries ("SET:s1+s2") and checksums their
    manifests; an entry whose set is unchanged since stands for its splits' fingerprints."""
    out: set[str] = set()
    sets = _checksummed_sets(sources)
    for entry in metadata.get("held_out") or []:
        name, _, splits = str(entry.get("source", "")).rpartition(":")
        if not name or not splits:
            continue
        given = Path(name)
        for found in sets:
            same = found == given.resolve() or (
                not given.is_absolute() and found.as_posix().endswith("/" + given.as_posix())
            )
            if same:
                have = load_manifest(found).splits
                out |= {split_fingerprint(found, s) for s in splits.split("+") if s in have}
    return out


def _recorded_guard_fingerprints(metadata: dict, sources: list[dict]) -> set[str]:
    """Sets written before fingerprints were recorded: a `data_prep windows` guard
    (--exclude-homologs-of SET) or a `data_prep homology` set screened against every split of
    its labeled set but the carried one; they count when that set is unchanged since."""
    kind, leakage = metadata.get("kind"), metadata.get("leakage") or {}
    if kind == "windows" and leakage.get("guard", "none") != "none":
        skip, only = "train", None
    elif kind == "homology" and leakage and metadata.get("labeled"):
        skip, only = str(metadata.get("source_split", "train")), Path(metadata["labeled"])
    else:
        return set()
    out: set[str] = set()
    for found in _checksummed_sets(sources):
        if only is None or found == only.resolve():
            out |= {split_fingerprint(found, s) for s in load_manifest(found).splits if s != skip}
    return out


def screened_fingerprints(shard_dir: str | Path) -> set[str]:
    """Fingerprints of the held-out splits the set's leakage screen ran against (empty when it
    records none, e.g. an unguarded `data_prep windows` run)."""
    manifest = load_manifest(shard_dir)
    metadata = manifest.metadata or {}
    leakage = metadata.get("leakage") or {}
    out = {str(fp) for fp in (leakage.get(FINGERPRINTS_KEY) or {}).values()}
    if out:
        return out
    if leakage.get("method") == "sequence_overlap" and metadata.get("kind") == "corpus":
        return _corpus_fingerprints(metadata, manifest.sources)
    return _recorded_guard_fingerprints(metadata, manifest.sources)
