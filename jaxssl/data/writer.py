"""ShardSetWriter: examples in, a finished shard set (ArrayRecord shards + manifest.json) out.

Atomic by construction: everything is written into a hidden temporary directory beside
``out_dir`` (``.NAME.tmp-<pid>-<host>-<random>``) and renamed into place only when the ``with``
block exits cleanly, so a crash or a bad input line never leaves a directory that looks like a
valid shard set. Temporary folders of writers that were killed are removed by the next write to
the same target.

Never loses data: ``overwrite`` replaces only an empty directory or a jaxssl shard set holding
nothing but its own files, and never a directory that holds one of the writer's inputs.

The writer also counts exact duplicate sequences across splits (either strand) into the
manifest's ``metadata.duplicates``, so a leak of test sequences into train is visible.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from jaxssl import __version__
from jaxssl.data import records
from jaxssl.data.manifest import FORMAT, MANIFEST_NAME, SCHEMA_VERSION, Manifest, file_checksum
from jaxssl.data.tfds_export import export_tfds, tfds_file_names
from jaxssl.tokens import NUM_BASES, C, G

log = logging.getLogger(__name__)

# Measured in benchmarks/data_pipeline.py: ~64 KiB of tokens per record keeps per-record overhead
# negligible while a shuffle window of many records stays small in memory.
RECORD_TOKEN_BYTES = 1 << 16
RECORDS_PER_SHARD = 1024  # ~64 MiB of tokens per shard file
RECORD_OPTIONS = "group_size:1,zstd:1"


def examples_per_record(seq_len: int) -> int:
    return max(1, RECORD_TOKEN_BYTES // max(1, seq_len))


# ---------------------------------------------------------------------------------------------
# Exact-duplicate keys (both strands)

_KEY_SEED = 0x6A61_7873_736C  # fixed: keys must agree between runs, processes and splits
_KEY_CHUNK_TOKENS = 1 << 18  # tokens hashed at a time: temporaries stay in cache
# Token -> value hashed for the strand and for its reverse complement (A=1 C=2 G=3 T=4 N=5).
_FORWARD = np.array([1, 2, 3, 4, 5], np.uint8)
_COMPLEMENT = np.array([4, 3, 2, 1, 5], np.uint8)


@functools.lru_cache(maxsize=8)
def _key_weights(seq_len: int) -> np.ndarray:
    rng = np.random.default_rng([_KEY_SEED, seq_len])
    w = rng.integers(0, np.iinfo(np.uint64).max, seq_len, dtype=np.uint64, endpoint=True)
    w.setflags(write=False)  # shared by the cache
    return w


def sequence_keys(tokens_NL: np.ndarray) -> np.ndarray:
    """uint64[N] keys equal for a sequence and its reverse complement, different otherwise.

    A random-weight linear hash mod 2**64 of each strand (A=1 C=2 G=3 T=4 N=5, complement of
    t < 4 is 3 - t, N stays N), the smaller of the two kept: a sequence and its reverse
    complement get the same key, and two other sequences collide with probability ~2**-62.
    Vectorised (~7 ns per base on one core), because it runs on every example a writer sees.
    """
    tokens_NL = np.asarray(tokens_NL, np.uint8)
    n, seq_len = tokens_NL.shape
    out = np.empty(n, np.uint64)
    if n == 0:
        return out
    w = _key_weights(seq_len)
    w_rev = np.ascontiguousarray(w[::-1])
    step = max(1, _KEY_CHUNK_TOKENS // max(1, seq_len))
    for lo in range(0, n, step):
        chunk = tokens_NL[lo : lo + step]
        fwd = _FORWARD[chunk].astype(np.uint64)
        fwd *= w  # wraps mod 2**64, as meant
        rev = _COMPLEMENT[chunk].astype(np.uint64)
        rev *= w_rev
        out[lo : lo + step] = np.minimum(
            fwd.sum(axis=1, dtype=np.uint64), rev.sum(axis=1, dtype=np.uint64)
        )
    return out


def content_fingerprint(keys: np.ndarray, seq_len: int) -> str:
    """16 hex digits naming a split's content: SHA-256 over its sorted `sequence_keys` (and the
    window length). Row order and strand do not change it; another sequence does. Recorded per
    split (manifest ``content``) so that screening and `init_from` checks name the data they
    were run against by what it holds, not by its path."""
    digest = hashlib.sha256(f"jaxssl-content-v1:{int(seq_len)}:".encode())
    digest.update(np.sort(np.asarray(keys, np.uint64)).astype("<u8").tobytes())
    return digest.hexdigest()[:16]


def duplicate_counts(keys_by_split: Mapping[str, np.ndarray]) -> dict[str, int]:
    """``{"<split>_in_train": n, "test_in_valid": m}``: examples of a held-out split whose
    sequence (either strand) also occurs in train (or, for test, in valid)."""
    out: dict[str, int] = {}
    if "train" in keys_by_split:
        for split, keys in keys_by_split.items():
            if split != "train":
                out[f"{split}_in_train"] = int(np.isin(keys, keys_by_split["train"]).sum())
    if "valid" in keys_by_split and "test" in keys_by_split:
        out["test_in_valid"] = int(np.isin(keys_by_split["test"], keys_by_split["valid"]).sum())
    return out


def held_out_in_train(tokens_by_split: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict]:
    """For ``--dedup``: bool[N_train] (True = keep) dropping every train example whose sequence
    (either strand) occurs in another split, and the counts before removal for the manifest."""
    keys = {split: sequence_keys(t) for split, t in tokens_by_split.items()}
    counts = duplicate_counts(keys)
    if "train" not in keys:
        return np.zeros(0, bool), {"removed_from_train": 0, "before_dedup": counts}
    held = [k for split, k in keys.items() if split != "train"]
    drop = np.isin(keys["train"], np.concatenate(held)) if held else np.zeros(0, bool)
    keep = ~drop if held else np.ones(len(keys["train"]), bool)
    return keep, {"removed_from_train": int((~keep).sum()), "before_dedup": counts}


# ---------------------------------------------------------------------------------------------
# Output-directory safety

_HOST_TAG = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
_SCRATCH = re.compile(r"\.(tmp|old)-(\d+)-([0-9a-f]{8})-[^/]*$")


def _scratch_prefix(target: Path, kind: str) -> str:
    """``.NAME.tmp-<pid>-<host>-`` : the pid and host say whether the folder's writer is alive."""
    return f".{target.name}.{kind}-{os.getpid()}-{_HOST_TAG}-"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except OSError:
        return True  # cannot tell: keep the folder
    return True


def remove_stale_scratch(target: str | Path) -> list[Path]:
    """Removes ``.NAME.tmp-*`` / ``.NAME.old-*`` folders beside ``target`` left by writers that
    were killed (their pid is not alive on this host); folders of live writers and of other hosts
    are kept. Returns what was removed (and logs it in one line)."""
    target = Path(os.path.abspath(target))
    prefix = f".{target.name}."
    removed = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = _SCRATCH.fullmatch(entry.name[len(prefix) - 1 :])
        if not match or match.group(3) != _HOST_TAG or _pid_alive(int(match.group(2))):
            continue
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    if removed:
        log.warning(
            "removed %d folder(s) left beside %s by killed writers: %s",
            len(removed),
            target,
            ", ".join(p.name for p in removed),
        )
    return removed


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _shard_set_files(out_dir: Path) -> tuple[set[str] | None, str]:
    """Names a shard set in ``out_dir`` may hold (manifest, shards, TFRecord exports), or None and
    why ``out_dir`` is not a shard set. Reads the JSON loosely so that a set from an older schema
    can still be replaced."""
    path = out_dir / MANIFEST_NAME
    if not path.is_file():
        return None, f"no {MANIFEST_NAME}"
    try:
        raw = json.loads(path.read_text())
        splits = raw["splits"]
        names = {MANIFEST_NAME}
        for split, entry in splits.items():
            names.update(str(s) for s in entry["shards"])
            names.add(f"{split}.tfrecord")
        names |= tfds_file_names(splits)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return None, f"a {MANIFEST_NAME} that is not a jaxssl manifest ({type(err).__name__})"
    fmt = raw.get("format")
    if not (isinstance(fmt, str) and fmt.startswith("jaxssl")):
        return None, f"a {MANIFEST_NAME} that is not a jaxssl manifest (format {fmt!r})"
    return names, ""


def _listing(names: Iterable[str], limit: int = 5) -> str:
    names = sorted(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_output_dir(
    out_dir: str | Path, *, overwrite: bool, sources: Sequence[str | Path] = ()
) -> None:
    """Raises (FileExistsError) unless writing ``out_dir`` can lose nothing.

    A missing ``out_dir`` is fine. An existing one is replaced only with ``overwrite`` and only
    when it is empty or holds a jaxssl shard set and nothing else, and never when one of
    ``sources`` (the inputs) lies inside it. Called before a write starts and again just before
    the finished set is renamed into place.
    """
    out = Path(out_dir)
    target = Path(os.path.abspath(out))
    targets = {target}
    if out.exists():
        targets.add(out.resolve())
    inside = []
    for src in sources:
        src_paths = {Path(os.path.abspath(src))}
        if Path(src).exists():
            src_paths.add(Path(src).resolve())
        if any(_inside(s, t) for s in src_paths for t in targets):
            inside.append(str(src))
    if inside:
        raise FileExistsError(
            f"{out}: the input(s) {_listing(inside, 3)} lie inside this output directory, which "
            "a finished write replaces as a whole; nothing was written. Write to a directory "
            "that does not hold the inputs (e.g. a new sibling folder)"
        )
    if not out.exists() and not out.is_symlink():
        return
    refusal = _overwrite_refusal(out)
    if not overwrite:
        if refusal is not None:  # --overwrite would be refused too: do not propose it
            raise FileExistsError(
                f"{out}: already exists and {refusal}, so --overwrite would not replace it "
                "either. Nothing was written: choose a new output directory"
            )
        raise FileExistsError(
            f"{out}: already exists; choose another output or pass overwrite (--overwrite) to "
            "replace it once the new shard set is complete"
        )
    if refusal is not None:
        raise FileExistsError(
            f"{out}: --overwrite replaces only an empty directory or a jaxssl shard set, and "
            f"this {refusal}. Nothing was written or deleted: choose a new output directory, "
            "or move those files away first"
        )


def _overwrite_refusal(out: Path) -> str | None:
    """Why `overwrite` may not replace the existing `out` (None: it may)."""
    if not out.is_dir():
        return "is not a directory"
    entries = {p.name for p in out.iterdir()}
    if not entries:
        return None
    allowed, why = _shard_set_files(out)
    unexpected = entries - allowed if allowed is not None else entries
    if not unexpected:
        return None
    if allowed is not None:
        return f"holds {_listing(unexpected)}, which are not part of its shard set"
    return f"is not a jaxssl shard set ({why}); it holds {_listing(unexpected)}"


class _SplitWriter:
    """Buffers one split's examples and writes full blocks, rolling over shard files."""

    def __init__(
        self, tmp_dir: Path, split: str, seq_len: int, num_tasks: int, extra_fields: list[str]
    ):
        self.tmp_dir, self.split = tmp_dir, split
        self.seq_len, self.num_tasks, self.extra_fields = seq_len, num_tasks, extra_fields
        self.block = examples_per_record(seq_len)
        self.shards: list[str] = []
        self.records: list[int] = []
        self.count = 0
        self.positives = np.zeros(num_tasks, np.int64)
        self.missing = np.zeros(num_tasks, np.int64)
        self.gc_bases = 0
        self.called_bases = 0
        self._writer = None
        self._pending: list[dict] = []  # column chunks not yet written
        self._pending_n = 0
        self._keys: list[np.ndarray] = []  # duplicate keys of every example, in order
        self.binary = True  # every label 0, 1 or missing (not class indices, not soft labels)

    def add(self, cols: dict) -> None:
        n = len(cols["tokens"])
        if n == 0:
            return
        labels = cols["labels"]
        finite = labels[~np.isnan(labels)]
        self.binary = self.binary and bool(np.isin(finite, (0.0, 1.0)).all())
        self.count += n
        self.positives += (labels > 0.5).sum(axis=0)
        self.missing += np.isnan(labels).sum(axis=0)
        tok = cols["tokens"]
        self.gc_bases += int(np.count_nonzero((tok == C) | (tok == G)))
        self.called_bases += int(np.count_nonzero(tok < NUM_BASES))
        self._keys.append(sequence_keys(tok))
        self._pending.append(cols)
        self._pending_n += n
        if self._pending_n >= self.block:
            self._flush(final=False)

    def _flush(self, *, final: bool) -> None:
        if not self._pending:
            return
        cols = {k: _concat([c[k] for c in self._pending]) for k in self._pending[0]}
        n_total = len(cols["tokens"])
        n_full = n_total if final else (n_total // self.block) * self.block
        for lo in range(0, n_full, self.block):
            hi = min(lo + self.block, n_full)
            self._write_record({k: v[lo:hi] for k, v in cols.items()})
        rest = {k: v[n_full:] for k, v in cols.items()}
        self._pending = [rest] if n_full < n_total else []
        self._pending_n = n_total - n_full

    def _write_record(self, cols: dict) -> None:
        from array_record.python.array_record_module import ArrayRecordWriter

        if self._writer is None or self.records[-1] >= RECORDS_PER_SHARD:
            if self._writer is not None:
                self._writer.close()
            name = f"{self.split}-{len(self.shards):05d}.array_record"
            self._writer = ArrayRecordWriter(str(self.tmp_dir / name), RECORD_OPTIONS)
            self.shards.append(name)
            self.records.append(0)
        self._writer.write(
            records.encode_block(
                cols["tokens"],
                cols["labels"],
                cols["weights"],
                cols["extras"],
                cols["start"],
                cols["strand"],
                cols["genome"],
                cols["chrom"],
                self.extra_fields,
            )
        )
        self.records[-1] += 1

    def sequence_keys(self) -> np.ndarray:
        return np.concatenate(self._keys) if self._keys else np.zeros(0, np.uint64)

    def close(self) -> dict:
        self._flush(final=True)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return {
            "count": self.count,
            "shards": self.shards,
            "records": self.records,
            "positives": self.positives.tolist(),
            "missing": self.missing.tolist(),
            "gc": self.gc_bases / self.called_bases if self.called_bases else None,
            "content": content_fingerprint(self.sequence_keys(), self.seq_len),
        }


def _concat(chunks: list) -> np.ndarray:
    if len(chunks) == 1:
        return np.asarray(chunks[0])
    return np.concatenate([np.asarray(c) for c in chunks])


class ShardSetWriter:
    """Context manager that writes one shard set atomically.

    ``with ShardSetWriter(out, seq_len=101, task_names=["ctcf"], command=cmd) as w:
    w.add("train", tokens_L, labels_T)``. Labels are float32 per task with NaN = missing (masked
    out of losses); ``extra_fields`` are optional float32 per-example scalars (e.g. confidence).
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        seq_len: int,
        task_names: Sequence[str],
        command: str,
        sources: Sequence[str | Path] = (),
        extra_fields: Sequence[str] = (),
        overwrite: bool = False,
        metadata: dict | None = None,
        tfds: bool = True,
    ):
        if seq_len <= 0:
            raise ValueError(f"seq_len must be positive, got {seq_len}")
        reserved = {"tokens", "labels", "weights", "mask", "genome", "chrom", "start", "strand"}
        if bad := reserved & set(extra_fields):
            raise ValueError(f"extra_fields may not use reserved names {sorted(bad)}")
        self.out_dir = Path(out_dir)
        self.seq_len = int(seq_len)
        self.task_names = [str(t) for t in task_names]
        self.extra_fields = [str(e) for e in extra_fields]
        self.command = command
        self.sources = list(sources)
        self.overwrite = overwrite
        self.metadata = dict(metadata or {})
        self.tfds = tfds
        self._splits: dict[str, _SplitWriter] = {}
        self._tmp: Path | None = None
        self.manifest: Manifest | None = None

    def __enter__(self) -> ShardSetWriter:
        check_output_dir(self.out_dir, overwrite=self.overwrite, sources=self.sources)
        target = Path(os.path.abspath(self.out_dir))
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_scratch(target)
        self._tmp = Path(tempfile.mkdtemp(prefix=_scratch_prefix(target, "tmp"), dir=target.parent))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._tmp is not None
        if exc_type is not None:
            for w in self._splits.values():
                if w._writer is not None:
                    w._writer.close()
            shutil.rmtree(self._tmp, ignore_errors=True)
            return
        try:
            self._finish()
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise

    def _finish(self) -> None:
        assert self._tmp is not None
        splits = {name: w.close() for name, w in self._splits.items()}
        if len(self._splits) > 1:
            keys = {name: w.sequence_keys() for name, w in self._splits.items()}
            # Counts of what was written; a caller's entries (e.g. --dedup's) are kept.
            self.metadata["duplicates"] = {
                **duplicate_counts(keys),
                **dict(self.metadata.get("duplicates") or {}),
            }
        self.manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            seq_len=self.seq_len,
            task_names=self.task_names,
            splits=splits,
            extra_fields=self.extra_fields,
            sources=[file_checksum(s) for s in self.sources],
            command=self.command,
            format=FORMAT,
            examples_per_record=examples_per_record(self.seq_len),
            created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            jaxssl_version=__version__,
            metadata=self.metadata,
        )
        if warnings := self._one_class_test_warnings():
            self.metadata["warnings"] = [*(self.metadata.get("warnings") or []), *warnings]
            for warning in warnings:
                log.warning("%s", warning)
        (self._tmp / MANIFEST_NAME).write_text(self.manifest.to_json())
        if self.tfds:  # the set is also a TFDS dataset directory (jaxssl.data.tfds_export)
            export_tfds(self._tmp)
        os.chmod(self._tmp, 0o755)  # mkdtemp makes it 0700
        # Again: the directory may have changed during a long write.
        check_output_dir(self.out_dir, overwrite=self.overwrite, sources=self.sources)
        target = Path(os.path.abspath(self.out_dir))
        old = None
        if target.exists() or target.is_symlink():
            old = target.parent / (_scratch_prefix(target, "old") + secrets.token_hex(4))
            os.replace(target, old)
        os.replace(self._tmp, target)
        if old is not None:
            if old.is_symlink() or not old.is_dir():
                old.unlink()  # a symlinked set: the link goes, its target is left alone
            else:
                shutil.rmtree(old, ignore_errors=True)

    def _one_class_test_warnings(self) -> list[str]:
        """A test-role split whose binary task holds one class only: its AUROC/AUPRC/MCC are
        undefined or meaningless (an all-positive split scores AUPRC 1.0), so say so now."""
        assert self.manifest is not None
        out = []
        for name, w in self._splits.items():
            if self.manifest.role(name) != "test" or not w.binary or not self.task_names:
                continue
            measured = w.count - w.missing
            single = [
                f"{task} ({'all positive' if pos else 'all negative'})"
                for task, pos, n in zip(self.task_names, w.positives, measured, strict=True)
                if n > 0 and pos in (0, n)
            ]
            if single:
                out.append(
                    f"{self.out_dir}: the test split {name!r} holds one class only for "
                    f"{', '.join(single)}; its AUROC/AUPRC/MCC will be undefined or meaningless "
                    "(an all-positive split scores AUPRC 1.0): hold out other regions or more "
                    "records for test"
                )
        return out

    def _split(self, split: str) -> _SplitWriter:
        if self._tmp is None:
            raise RuntimeError(
                "use ShardSetWriter as a context manager: `with ShardSetWriter(...)`"
            )
        if split not in self._splits:
            self._splits[split] = _SplitWriter(
                self._tmp, split, self.seq_len, len(self.task_names), self.extra_fields
            )
        return self._splits[split]

    def add(
        self,
        split: str,
        tokens_L: np.ndarray,
        labels_T: np.ndarray,
        weight: float = 1.0,
        *,
        genome: str = "",
        chrom: str = "",
        start: int = -1,
        strand: str = "+",
        **extra: float,
    ) -> None:
        """Adds one example (buffered; written a block at a time)."""
        self.add_batch(
            split,
            np.asarray(tokens_L)[None],
            np.asarray(labels_T, np.float32).reshape(1, -1),
            np.asarray([weight], np.float32),
            genome=genome,
            chrom=chrom,
            start=start,
            strand=strand,
            **{k: [v] for k, v in extra.items()},
        )

    def add_batch(
        self,
        split: str,
        tokens_NL: np.ndarray,
        labels_NT: np.ndarray,
        weights_N: np.ndarray | float = 1.0,
        *,
        genome: str | Sequence[str] = "",
        chrom: str | Sequence[str] = "",
        start: int | Sequence[int] | np.ndarray = -1,
        strand: str | Sequence[str] = "+",
        **extra: float | Sequence[float] | np.ndarray,
    ) -> None:
        """Adds N examples; provenance and extra fields may be scalars or length-N sequences.

        Extra fields that are not given are stored as NaN.
        """
        tokens_NL = np.asarray(tokens_NL)
        if tokens_NL.ndim != 2 or tokens_NL.shape[1] != self.seq_len:
            raise ValueError(
                f"tokens must have shape [N, {self.seq_len}], got {tokens_NL.shape} "
                f"(split {split!r}); pad or crop to seq_len first"
            )
        if tokens_NL.dtype != np.uint8:
            tokens_NL = tokens_NL.astype(np.uint8)
        if tokens_NL.size and tokens_NL.max() > 4:
            raise ValueError(f"tokens must be in 0..4 (A C G T N), got max {tokens_NL.max()}")
        n = len(tokens_NL)
        labels_NT = np.asarray(labels_NT, np.float32).reshape(n, -1 if n else len(self.task_names))
        if labels_NT.shape[1] != len(self.task_names):
            raise ValueError(
                f"labels have {labels_NT.shape[1]} tasks per example, the shard set declares "
                f"{len(self.task_names)} ({self.task_names})"
            )
        if unknown := set(extra) - set(self.extra_fields):
            raise ValueError(
                f"unknown extra fields {sorted(unknown)}; declared extra_fields: "
                f"{self.extra_fields}"
            )
        extras_NE = np.full((n, len(self.extra_fields)), np.nan, np.float32)
        for j, name in enumerate(self.extra_fields):
            if name in extra:
                extras_NE[:, j] = np.broadcast_to(np.asarray(extra[name], np.float32), (n,))

        def per_example(value, dtype=None) -> np.ndarray:
            if isinstance(value, str | int | float | np.integer):
                return np.full(n, value, dtype=dtype if dtype else object)
            arr = np.asarray(value, dtype=dtype)
            if arr.shape != (n,):
                raise ValueError(f"provenance column has shape {arr.shape}, expected ({n},)")
            return arr

        strand_N = per_example(strand)
        cols = {
            "tokens": tokens_NL,
            "labels": labels_NT,
            "weights": np.broadcast_to(np.asarray(weights_N, np.float32), (n,)),
            "extras": extras_NE,
            "start": per_example(start, np.int64),
            "strand": (
                np.full(n, records.strand_codes([strand])[0], np.uint8)
                if isinstance(strand, str)
                else records.strand_codes(strand_N)
            ),
            "genome": per_example(genome),
            "chrom": per_example(chrom),
        }
        self._split(split).add(cols)
