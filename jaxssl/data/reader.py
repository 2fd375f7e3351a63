"""Random and sequential access to the blocks of one shard set's split, and whole-split loads.

A shard that is truncated or corrupt (a copy cut short, a full disk, a flipped bit) raises
:class:`CorruptShardError` naming the shard file and the block, never a bare Riegeli error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jaxssl.data import records
from jaxssl.data.manifest import MANIFEST_NAME, Manifest, load_manifest

_RANDOM_ACCESS = "readahead_buffer_size:0,max_parallelism:0"
# What the ArrayRecord / Riegeli bindings and a block decode raise on damaged bytes.
_READ_ERRORS = (RuntimeError, ValueError, IndexError, OSError, KeyError, TypeError)


class CorruptShardError(ValueError):
    """A shard file of a shard set cannot be read; ``str()`` is one line naming the file and
    the block, and saying what to do."""

    def __init__(self, path: str | Path, detail: str, *, block: int | None = None, hint: str = ""):
        self.path, self.block, self.detail = Path(path), block, detail
        where = f"{path}" + (f": block {block}" if block is not None else "")
        cause = " ".join(str(detail).split())[:200]
        super().__init__(
            f"{where}: shard is truncated or corrupt ({cause}); "
            + (hint or "re-create the shard set (e.g. re-run its data_prep command)")
        )


class SplitReader:
    """The blocks of one split, addressed by a global block index across its shard files."""

    def __init__(self, shard_dir: str | Path, split: str, *, random_access: bool = True):
        self.shard_dir = Path(shard_dir)
        self.manifest: Manifest = load_manifest(self.shard_dir)
        self.split = split
        entry = self.manifest.split(split, where=self.shard_dir)
        self.count = int(entry["count"])
        self.paths = [self.shard_dir / name for name in entry["shards"]]
        for p in self.paths:
            if not p.is_file():
                raise FileNotFoundError(
                    f"{p}: shard listed in {self.shard_dir / 'manifest.json'} is missing; "
                    "the shard set is incomplete, re-create it"
                )
        per_shard = np.asarray(entry["records"], np.int64)
        self._per_shard = per_shard
        self.num_blocks = int(per_shard.sum())
        self._shard_of = np.repeat(np.arange(len(per_shard)), per_shard)
        self._first = np.concatenate([[0], np.cumsum(per_shard)[:-1]]).astype(np.int64)
        k = self.manifest.examples_per_record
        self.block_sizes = np.full(self.num_blocks, k, np.int64)
        if self.num_blocks:
            self.block_sizes[-1] = self.count - k * (self.num_blocks - 1)
        self._options = _RANDOM_ACCESS if random_access else ""
        self._readers: dict[int, object] = {}
        if len(per_shard) != len(self.paths):
            raise ValueError(
                f"{self.shard_dir / MANIFEST_NAME}: split {split!r} lists {len(self.paths)} "
                f"shards but {len(per_shard)} record counts; re-create the shard set"
            )
        for shard in range(len(self.paths)):  # a truncated shard is named now, not mid-training
            self._open(shard, _RANDOM_ACCESS).close()

    def _hint(self) -> str:
        """What recovers: this set re-made in its own place. The recorded command may name
        another output (a copied or moved set), so it is shown without --overwrite and with
        the instruction to write to this directory; it never offers to replace another set."""
        here = self.shard_dir
        command = " ".join(w for w in self.manifest.command.split() if w != "--overwrite")
        if not command:
            return f"re-create the shard set {here} with the data_prep command that made it"
        return (
            f"re-create the shard set: delete {here}, then run the command recorded in its "
            f"manifest with {here} as the output directory ({command})"
        )

    def _open(self, shard: int, options: str):
        """Opens one shard and checks that it holds the records the manifest lists."""
        from array_record.python.array_record_module import ArrayRecordReader

        path = self.paths[shard]
        try:
            reader = ArrayRecordReader(str(path), options)
            ok, found = reader.ok(), int(reader.num_records())
        except _READ_ERRORS as err:
            raise CorruptShardError(path, str(err), hint=self._hint()) from None
        expected = int(self._per_shard[shard])
        if ok and found == expected:
            return reader
        detail = f"{found} records where the manifest lists {expected}"
        if not ok:
            try:
                reader.read([0])
            except _READ_ERRORS as err:
                detail = str(err)
        with contextlib.suppress(*_READ_ERRORS):  # a reader that failed to open fails to close
            reader.close()
        size = path.stat().st_size
        raise CorruptShardError(path, f"{size} bytes; {detail}", hint=self._hint())

    def _reader(self, shard: int):
        if shard not in self._readers:
            self._readers[shard] = self._open(shard, self._options)
        return self._readers[shard]

    def _corrupt(self, shard: int, local: list[int], err: Exception) -> CorruptShardError:
        """The error for a failed read of ``local`` records of ``shard``, pinned to the first
        block that does not read on its own."""
        reader = self._reader(shard)
        bad, detail = local[0], str(err)
        for i in local:
            try:
                rec = reader.read([i])[0]
                records.decode_block(rec, provenance=False)
            except _READ_ERRORS as one:
                bad, detail = i, str(one)
                break
        return CorruptShardError(
            self.paths[shard],
            f"record {bad} of this file: {detail}",
            block=int(self._first[shard]) + bad,
            hint=self._hint(),
        )

    def read_blocks(self, block_ids: np.ndarray | list[int]) -> list[bytes]:
        """Raw records for the given global block ids, in the given order."""
        block_ids = np.asarray(block_ids, np.int64)
        if len(block_ids) and (block_ids.min() < 0 or block_ids.max() >= self.num_blocks):
            raise IndexError(
                f"{self.shard_dir} [{self.split}]: block ids must be in [0, {self.num_blocks}), "
                f"got {int(block_ids.min())}..{int(block_ids.max())}"
            )
        out: list[bytes | None] = [None] * len(block_ids)
        shards = self._shard_of[block_ids]
        for shard in np.unique(shards):
            shard = int(shard)
            where = np.nonzero(shards == shard)[0]
            local = (block_ids[where] - self._first[shard]).tolist()
            try:
                recs = self._reader(shard).read(local)
            except _READ_ERRORS as err:
                raise self._corrupt(shard, local, err) from None
            for i, j, rec in zip(where, local, recs, strict=True):
                if rec[:4] != records.MAGIC:
                    raise self._corrupt(shard, [j], ValueError("not a jaxssl block"))
                out[i] = rec
        return out  # type: ignore[return-value]

    def iter_blocks(self, *, provenance: bool = False) -> Iterator[dict[str, np.ndarray]]:
        """Decoded blocks in file order, read a few at a time."""
        for shard, n in enumerate(self._per_shard.tolist()):
            for lo in range(0, n, 64):
                hi = min(n, lo + 64)
                try:
                    recs = self._reader(shard).read(lo, hi)
                    blocks = [records.decode_block(r, provenance=provenance) for r in recs]
                except _READ_ERRORS as err:
                    raise self._corrupt(shard, list(range(lo, hi)), err) from None
                yield from blocks

    def close(self) -> None:
        for shard, r in self._readers.items():
            try:
                r.close()
            except _READ_ERRORS as err:
                raise CorruptShardError(self.paths[shard], str(err), hint=self._hint()) from None
        self._readers.clear()


def load_split(path: str | Path, split: str) -> dict[str, np.ndarray]:
    """Every example of a split in memory: tokens uint8[N, L], labels float32[N, T],
    weights float32[N], genome/chrom/strand object[N], start int64[N], and each extra field
    float32[N]."""
    reader = SplitReader(path, split, random_access=False)
    m = reader.manifest
    keys = ["tokens", "labels", "weights", "genome", "chrom", "start", "strand", *m.extra_fields]
    blocks = list(reader.iter_blocks(provenance=True))
    reader.close()
    if not blocks:
        empty = {
            "tokens": np.zeros((0, m.seq_len), np.uint8),
            "labels": np.zeros((0, m.num_tasks), np.float32),
            "start": np.zeros(0, np.int64),
            "genome": np.zeros(0, object),
            "chrom": np.zeros(0, object),
            "strand": np.zeros(0, object),
        }
        return {k: empty.get(k, np.zeros(0, np.float32)) for k in keys}
    return {k: np.concatenate([b[k] for b in blocks]) for k in keys}
