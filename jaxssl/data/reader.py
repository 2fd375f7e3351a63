"""Random and sequential access to the blocks of one shard set's split, and whole-split loads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jaxssl.data import records
from jaxssl.data.manifest import Manifest, load_manifest

_RANDOM_ACCESS = "readahead_buffer_size:0,max_parallelism:0"


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

    def _reader(self, shard: int):
        if shard not in self._readers:
            from array_record.python.array_record_module import ArrayRecordReader

            self._readers[shard] = ArrayRecordReader(str(self.paths[shard]), self._options)
        return self._readers[shard]

    def read_blocks(self, block_ids: np.ndarray | list[int]) -> list[bytes]:
        """Raw records for the given global block ids, in the given order."""
        block_ids = np.asarray(block_ids, np.int64)
        out: list[bytes | None] = [None] * len(block_ids)
        shards = self._shard_of[block_ids]
        for shard in np.unique(shards):
            where = np.nonzero(shards == shard)[0]
            local = (block_ids[where] - self._first[shard]).tolist()
            for i, rec in zip(where, self._reader(int(shard)).read(local), strict=True):
                out[i] = rec
        return out  # type: ignore[return-value]

    def iter_blocks(self, *, provenance: bool = False) -> Iterator[dict[str, np.ndarray]]:
        """Decoded blocks in file order, read a few at a time."""
        for shard, n in enumerate(self._per_shard.tolist()):
            for lo in range(0, n, 64):
                for rec in self._reader(shard).read(lo, min(n, lo + 64)):
                    yield records.decode_block(rec, provenance=provenance)

    def close(self) -> None:
        for r in self._readers.values():
            r.close()
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
