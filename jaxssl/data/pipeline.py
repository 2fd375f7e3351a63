"""The grain input pipeline: shard sets -> batches of numpy uint8 tokens, labels and weights.

Weights are per label, float32[B, T]: the example weight of the ``weights`` column times the
per-label weight of the source's ``label_weight:<task>`` extra fields where it has them (teacher
pseudo-labels, see ``jaxssl.pseudo_labels``), the example weight broadcast over tasks otherwise.
They are computed once per loaded window, so a batch stays a numpy gather.

Shuffling works on blocks (see ``jaxssl.data.records``), never on single examples in Python:
each epoch permutes the split's blocks (seeded by ``seed`` and the epoch), gives every JAX
process its own stride of them, and reads them in windows of ~``shuffle_buffer_bytes`` whose
examples are permuted together. Batches are then numpy gathers. The iterator's whole state is a
few integers per source (epoch, window, offset) plus the batch count, so a checkpointed run
resumes with exactly the next batch.
"""

from __future__ import annotations

import atexit
import math
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grain
import numpy as np

from jaxssl.data import records
from jaxssl.data.reader import SplitReader, load_split
from jaxssl.pseudo_labels import is_label_weight_field, label_weight_columns
from jaxssl.tokens import N

__all__ = ["Source", "train_iterator", "eval_batches", "load_split", "TrainIterator"]

_MIX_SALT = 0x6D6978  # separates the mixing RNG stream from the shuffling streams


@dataclass(frozen=True)
class Source:
    path: str | Path  # shard-set directory
    split: str = "train"
    proportion: float = 1.0  # mixing weight among sources


def per_label_weights(
    weights_N: np.ndarray, extras_NE: np.ndarray, columns_T: np.ndarray
) -> np.ndarray:
    """float32[N, T] weights: example weight x label weight (column -1 or NaN value = 1)."""
    weights_N = np.asarray(weights_N, np.float32)
    if not (columns_T >= 0).any():
        return np.repeat(weights_N[:, None], len(columns_T), axis=1)
    label_NT = extras_NE[:, np.maximum(columns_T, 0)]
    label_NT = np.where((columns_T >= 0) & ~np.isnan(label_NT), label_NT, np.float32(1.0))
    return (weights_N[:, None] * label_NT).astype(np.float32)


def _yielded_extra_fields(fields: Sequence[str]) -> list[str]:
    """Extra fields passed through as batch entries (label weights are folded into weights)."""
    return [f for f in fields if not is_label_weight_field(f)]


class _SourceStream:
    """An endless, deterministic stream of one source's examples for one process."""

    def __init__(
        self,
        reader: SplitReader,
        seed: int,
        source_index: int,
        shard_index: int,
        shard_count: int,
        window_blocks: int,
        extra_fields: Sequence[str],
    ):
        if reader.count == 0:
            raise ValueError(f"{reader.shard_dir}: split {reader.split!r} has no examples")
        if reader.count < shard_count:
            raise ValueError(
                f"{reader.shard_dir}: split {reader.split!r} has {reader.count} examples, fewer "
                f"than the {shard_count} processes reading it"
            )
        self.reader = reader
        self.seed, self.source_index = seed, source_index
        self.shard_index, self.shard_count = shard_index, shard_count
        self.window_blocks = window_blocks
        self.extra_fields = list(extra_fields)
        own = reader.manifest.extra_fields
        self._extra_cols = [own.index(f) if f in own else -1 for f in self.extra_fields]
        self._label_weight_cols = label_weight_columns(own, reader.manifest.task_names)
        # With fewer blocks than processes every process reads all blocks and keeps a stride of
        # the examples instead (small sets only, so the extra reading is cheap).
        self.stride_examples = reader.num_blocks < shard_count
        self.epoch = self.window = self.offset = 0
        self._loaded: tuple[int, int] | None = None
        self._cols: dict[str, np.ndarray] = {}
        self._windows: list[np.ndarray] = []
        self._windows_epoch = -1

    def _epoch_windows(self, epoch: int) -> list[np.ndarray]:
        if self._windows_epoch != epoch:
            rng = np.random.default_rng([self.seed, self.source_index, epoch])
            perm = rng.permutation(self.reader.num_blocks)
            mine = perm if self.stride_examples else perm[self.shard_index :: self.shard_count]
            self._windows = [
                mine[i : i + self.window_blocks] for i in range(0, len(mine), self.window_blocks)
            ]
            self._windows_epoch = epoch
        return self._windows

    def _load(self) -> None:
        key = (self.epoch, self.window)
        if self._loaded == key:
            return
        block_ids = self._epoch_windows(self.epoch)[self.window]
        blocks = [
            records.decode_block(r, provenance=False) for r in self.reader.read_blocks(block_ids)
        ]
        tokens = np.concatenate([b["tokens"] for b in blocks])
        labels = np.concatenate([b["labels"] for b in blocks])
        extras = np.concatenate([b["extras"] for b in blocks])
        weights = per_label_weights(
            np.concatenate([b["weights"] for b in blocks]), extras, self._label_weight_cols
        )
        rng = np.random.default_rng([self.seed, self.source_index, self.epoch, self.window, 1])
        order = rng.permutation(len(tokens))
        if self.stride_examples:
            order = order[self.shard_index :: self.shard_count]
        self._cols = {"tokens": tokens, "labels": labels, "weights": weights, "extras": extras}
        self._order = order
        self._loaded = key

    def take(self, n: int) -> dict[str, np.ndarray]:
        out: list[dict[str, np.ndarray]] = []
        got = 0
        while got < n:
            self._load()
            idx = self._order[self.offset : self.offset + (n - got)]
            out.append(self._gather(idx))
            got += len(idx)
            self.offset += len(idx)
            if self.offset >= len(self._order):
                self.offset = 0
                self.window += 1
                if self.window >= len(self._epoch_windows(self.epoch)):
                    self.window = 0
                    self.epoch += 1
        if len(out) == 1:
            return out[0]
        return {k: np.concatenate([o[k] for o in out]) for k in out[0]}

    def _gather(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        c = self._cols
        out = {"tokens": c["tokens"][idx], "labels": c["labels"][idx], "weights": c["weights"][idx]}
        for name, col in zip(self.extra_fields, self._extra_cols, strict=True):
            out[name] = c["extras"][idx, col] if col >= 0 else np.full(len(idx), np.nan, np.float32)
        return out

    def get_state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "window": self.window, "offset": self.offset}

    def set_state(self, state: dict[str, Any]) -> None:
        self.epoch, self.window = int(state["epoch"]), int(state["window"])
        self.offset = int(state["offset"])


class TrainIterator(grain.DatasetIterator):
    """Endless mixed batches; ``get_state``/``set_state`` make it checkpointable with grain's
    orbax handler (``grain.checkpoint.CheckpointSave`` / ``CheckpointRestore``)."""

    def __init__(
        self, streams: list[_SourceStream], proportions: np.ndarray, batch_size: int, seed: int
    ):
        super().__init__()
        self._streams = streams
        self._p = proportions
        self._batch_size = batch_size
        self._seed = seed
        self._batch = 0

    def __next__(self) -> dict[str, np.ndarray]:
        if len(self._streams) == 1:
            out = self._streams[0].take(self._batch_size)
        else:
            rng = np.random.default_rng([self._seed, _MIX_SALT, self._batch])
            counts = rng.multinomial(self._batch_size, self._p)
            parts = [s.take(int(c)) for s, c in zip(self._streams, counts, strict=True) if c]
            order = rng.permutation(self._batch_size)
            out = {k: np.concatenate([p[k] for p in parts])[order] for k in parts[0]}
        self._batch += 1
        return out

    def get_state(self) -> dict[str, Any]:
        return {"batch": self._batch, "sources": [s.get_state() for s in self._streams]}

    def set_state(self, state: dict[str, Any]) -> None:
        if len(state["sources"]) != len(self._streams):
            raise ValueError(
                f"iterator state has {len(state['sources'])} sources, this pipeline has "
                f"{len(self._streams)}; restore with the same data sources"
            )
        self._batch = int(state["batch"])
        for s, st in zip(self._streams, state["sources"], strict=True):
            s.set_state(st)


def _check_compatible(readers: list[SplitReader]) -> None:
    first = readers[0]
    for r in readers[1:]:
        for attr in ("seq_len", "task_names"):
            a, b = getattr(first.manifest, attr), getattr(r.manifest, attr)
            if a != b:
                raise ValueError(
                    f"sources disagree on {attr}: {first.shard_dir} has {a!r}, {r.shard_dir} "
                    f"has {b!r}; mixed sources must share sequence length and tasks"
                )


def train_iterator(
    sources: Sequence[Source],
    *,
    batch_size: int,
    seed: int,
    shard_index: int | None = None,
    shard_count: int | None = None,
    shuffle_buffer_bytes: int = 32 << 20,
    prefetch: int = 2,
) -> grain.DatasetIterator:
    """Endless, deterministically shuffled, per-process batches mixed from ``sources``.

    Yields {"tokens": uint8[B, L], "labels": float32[B, T], "weights": float32[B, T]} plus one
    float32[B] entry per extra field of any source (NaN where a source lacks it) except the
    ``label_weight:<task>`` fields, which are folded into ``weights``. ``batch_size``
    is the per-process batch. ``shard_index/shard_count`` default to the JAX process index/count.
    """
    if not sources:
        raise ValueError("train_iterator needs at least one Source")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if shard_index is None or shard_count is None:
        import jax

        shard_index = jax.process_index() if shard_index is None else shard_index
        shard_count = jax.process_count() if shard_count is None else shard_count
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard_index {shard_index} not in [0, shard_count={shard_count})")
    proportions = np.asarray([s.proportion for s in sources], np.float64)
    if (proportions < 0).any() or proportions.sum() <= 0 or not np.isfinite(proportions).all():
        raise ValueError(f"source proportions must be >= 0 with a positive sum, got {proportions}")
    readers = [SplitReader(s.path, s.split) for s in sources]
    _check_compatible(readers)
    extra_fields: list[str] = []
    for r in readers:
        own = _yielded_extra_fields(r.manifest.extra_fields)
        extra_fields += [f for f in own if f not in extra_fields]
    streams = []
    for i, r in enumerate(readers):
        block_bytes = r.manifest.examples_per_record * r.manifest.seq_len
        window = max(1, math.ceil(shuffle_buffer_bytes / block_bytes))
        streams.append(_SourceStream(r, seed, i, shard_index, shard_count, window, extra_fields))
    it: grain.DatasetIterator = TrainIterator(
        streams, proportions / proportions.sum(), batch_size, seed
    )
    if prefetch > 0:
        it = _Prefetch(it, prefetch)
        _OPEN_PREFETCHERS.add(it)
    return it


# grain's prefetch iterator closes itself again in __del__, which at interpreter exit prints
# tracebacks; closing them at exit, and never twice, keeps a finished run's output clean.
_OPEN_PREFETCHERS: weakref.WeakSet = weakref.WeakSet()


class _Prefetch(grain.experimental.ThreadPrefetchDatasetIterator):
    def __del__(self):
        if not self._closed:
            super().__del__()


@atexit.register
def _close_prefetchers() -> None:
    for it in list(_OPEN_PREFETCHERS):
        it.close()


def eval_batches(path: str | Path, split: str, *, batch_size: int) -> Iterator[dict]:
    """Every example of a split exactly once, in file order, in batches of ``batch_size``.

    Same entries as ``train_iterator`` (``weights`` float32[B, T]). The last batch is padded:
    "mask" bool[B] marks real rows; padded rows have weight 0, label NaN and all-N tokens.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    reader = SplitReader(path, split, random_access=False)
    extra_fields = _yielded_extra_fields(reader.manifest.extra_fields)
    label_weight_cols = label_weight_columns(
        reader.manifest.extra_fields, reader.manifest.task_names
    )
    buf: list[dict[str, np.ndarray]] = []
    buffered = 0

    def emit(cols: dict[str, np.ndarray], n_real: int) -> dict[str, np.ndarray]:
        out = {k: cols[k] for k in ("tokens", "labels", "weights", *extra_fields)}
        out["mask"] = np.arange(batch_size) < n_real
        if n_real < batch_size:
            pad = batch_size - n_real
            out["tokens"] = np.concatenate(
                [out["tokens"], np.full((pad, out["tokens"].shape[1]), N, np.uint8)]
            )
            out["labels"] = np.concatenate(
                [out["labels"], np.full((pad, out["labels"].shape[1]), np.nan, np.float32)]
            )
            out["weights"] = np.concatenate(
                [out["weights"], np.zeros((pad, out["weights"].shape[1]), np.float32)]
            )
            for f in extra_fields:
                out[f] = np.concatenate([out[f], np.full(pad, np.nan, np.float32)])
        return out

    try:
        for block in reader.iter_blocks(provenance=False):
            block = {
                **block,
                "weights": per_label_weights(block["weights"], block["extras"], label_weight_cols),
            }
            buf.append(block)
            buffered += len(block["tokens"])
            if buffered < batch_size:
                continue
            keys = ("tokens", "labels", "weights", *extra_fields)
            cols = {k: np.concatenate([b[k] for b in buf]) for k in keys}
            n_full = (buffered // batch_size) * batch_size
            for lo in range(0, n_full, batch_size):
                yield emit({k: v[lo : lo + batch_size] for k, v in cols.items()}, batch_size)
            buf = [{k: v[n_full:] for k, v in cols.items()}]
            buffered -= n_full
        if buffered:
            keys = ("tokens", "labels", "weights", *extra_fields)
            cols = {k: np.concatenate([b[k] for b in buf]) for k in keys}
            yield emit(cols, buffered)
    finally:
        reader.close()
