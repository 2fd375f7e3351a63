"""ShardSetWriter: examples in, a finished shard set (ArrayRecord shards + manifest.json) out.

Atomic by construction: everything is written into a hidden temporary directory beside
``out_dir`` and renamed into place only when the ``with`` block exits cleanly, so a crash or a
bad input line never leaves a directory that looks like a valid shard set.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxssl import __version__
from jaxssl.data import records
from jaxssl.data.manifest import FORMAT, MANIFEST_NAME, SCHEMA_VERSION, Manifest, file_checksum
from jaxssl.tokens import NUM_BASES, C, G

# Measured in benchmarks/data_pipeline.py: ~64 KiB of tokens per record keeps per-record overhead
# negligible while a shuffle window of many records stays small in memory.
RECORD_TOKEN_BYTES = 1 << 16
RECORDS_PER_SHARD = 1024  # ~64 MiB of tokens per shard file
RECORD_OPTIONS = "group_size:1,zstd:1"


def examples_per_record(seq_len: int) -> int:
    return max(1, RECORD_TOKEN_BYTES // max(1, seq_len))


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

    def add(self, cols: dict) -> None:
        n = len(cols["tokens"])
        if n == 0:
            return
        labels = cols["labels"]
        self.count += n
        self.positives += (labels > 0.5).sum(axis=0)
        self.missing += np.isnan(labels).sum(axis=0)
        tok = cols["tokens"]
        self.gc_bases += int(np.count_nonzero((tok == C) | (tok == G)))
        self.called_bases += int(np.count_nonzero(tok < NUM_BASES))
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
        self._splits: dict[str, _SplitWriter] = {}
        self._tmp: Path | None = None
        self.manifest: Manifest | None = None

    def __enter__(self) -> ShardSetWriter:
        if self.out_dir.exists() and not self.overwrite:
            raise FileExistsError(
                f"{self.out_dir}: already exists; choose another output or pass overwrite "
                "(--overwrite) to replace it once the new shard set is complete"
            )
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.out_dir.name}.tmp-", dir=self.out_dir.parent)
        )
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
        (self._tmp / MANIFEST_NAME).write_text(self.manifest.to_json())
        os.chmod(self._tmp, 0o755)  # mkdtemp makes it 0700
        old = None
        if self.out_dir.exists():
            old = self.out_dir.parent / f".{self.out_dir.name}.old-{os.getpid()}"
            os.replace(self.out_dir, old)
        os.replace(self._tmp, self.out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

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
        labels_NT = np.asarray(labels_NT, np.float32).reshape(n, -1)
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
