"""A pre-training corpus that shares no stretch of a held-out sequence: ``build_corpus``.

Sources (shard sets, labels dropped, and FASTA files) are tiled into windows of ``seq_len``;
windows over the N-fraction limit are dropped and counted, and so is every window that shares
at least K bases with a held-out sequence on either strand (``jaxssl.data.overlap``: a common
substring of >= K called bases; K = ``min_shared``, default half the shorter of the window's
content and the held-out sequence, so a window holding one, or inside one, always counts).
A test sequence split over two windows is caught in the window holding most of it, and a
window that holds 100 of its 101 bases is caught too; the test is exact (no hashing).
Exact duplicates across all sources (either strand) are dropped too, the first one kept.
The manifest names the held-out shard-set splits by content (``metadata.leakage.
held_out_fingerprints``, as `data_prep windows` does), so the trainer's screening check
(``jaxssl.screening``) accepts the corpus wherever those sets are later moved or copied.
Errors name the `data_prep corpus` flag and path; warnings go to the "jaxssl" logger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaxssl.data.fasta_records import read_fasta
from jaxssl.data.fingerprint import FINGERPRINTS_KEY, split_fingerprint
from jaxssl.data.manifest import MANIFEST_NAME, Manifest, load_manifest
from jaxssl.data.overlap import OverlapIndex
from jaxssl.data.writer import ShardSetWriter, check_output_dir, sequence_keys
from jaxssl.tokens import BYTE_TO_TOKEN, N

log = logging.getLogger("jaxssl")

# Tokens gathered or hashed at a time (windows of a chunk, substrings of a hash pass): bounds
# memory to a few hundred MB whatever the genome or the held-out set.
CHUNK_TOKENS = 1 << 24


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass
class Sequences:
    """Variable-length token sequences stored back to back: ``buffer[offsets[i]:+lengths[i]]``."""

    name: str
    buffer: np.ndarray  # uint8 tokens
    offsets: np.ndarray  # int64
    lengths: np.ndarray  # int64
    chroms: list[str] = field(default_factory=list)  # one per sequence ("" for a shard set)

    def __len__(self) -> int:
        return len(self.lengths)

    def get(self, i: int) -> np.ndarray:
        return self.buffer[self.offsets[i] : self.offsets[i] + self.lengths[i]]


def _spec_parts(specs: Iterable[str]) -> list[str]:
    return [s.strip() for spec in specs for s in str(spec).split(",") if s.strip()]


def parse_spec(spec: str, flag: str) -> tuple[str, Path, list[str] | None]:
    """``("set", path, splits or None)`` for ``SET`` / ``SET:split[+split]``, ``("fasta", path,
    None)`` for a FASTA file; raises naming ``flag`` and the path otherwise."""
    path = Path(spec)
    if (path / MANIFEST_NAME).is_file():
        return "set", path, None
    if path.is_file():
        return "fasta", path, None
    if ":" in spec:
        base, splits = spec.rsplit(":", 1)
        if (Path(base) / MANIFEST_NAME).is_file():
            names = [s for s in splits.split("+") if s]
            if not names:
                raise ValueError(f"{flag} {spec}: no split named after ':'")
            return "set", Path(base), names
        if Path(base).exists():
            raise ValueError(
                f"{flag} {spec}: {base} is not a shard set (no {MANIFEST_NAME}); ':SPLIT' "
                "follows a shard-set directory"
            )
    if path.is_dir():
        raise ValueError(f"{flag} {spec}: a folder without {MANIFEST_NAME}, not a shard set")
    raise FileNotFoundError(f"{flag} {spec}: no such FASTA file or shard set")


def _check_splits(path: Path, splits: list[str], flag: str, spec: str) -> None:
    have = load_manifest(path).splits
    if unknown := [s for s in splits if s not in have]:
        raise ValueError(
            f"{flag} {spec}: {path} has no split {unknown[0]!r}; it has {sorted(have)}"
        )


def _strip_rows(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, length) of each row without its leading and trailing N (length 0: all N)."""
    called = tokens != N
    any_called = called.any(axis=1)
    first = np.argmax(called, axis=1)
    last = tokens.shape[1] - np.argmax(called[:, ::-1], axis=1)
    length = np.where(any_called, last - first, 0)
    return first.astype(np.int64), length.astype(np.int64)


def set_sequences(path: Path, splits: list[str], name: str) -> Sequences:
    """The sequences of shard-set splits, leading/trailing N padding stripped."""
    from jaxssl.data.reader import load_split

    tokens = [load_split(path, s)["tokens"] for s in splits]
    seq_len = load_manifest(path).seq_len
    t = np.concatenate(tokens) if tokens else np.zeros((0, seq_len), np.uint8)
    first, length = _strip_rows(t)
    offsets = np.arange(len(t), dtype=np.int64) * t.shape[1] + first
    return Sequences(name, np.ascontiguousarray(t).ravel(), offsets, length, [""] * len(t))


def fasta_sequences(path: Path, name: str, *, strip: bool = False) -> Sequences:
    """Every record of a (gzip) FASTA as tokens (IUPAC codes and stray bytes read as N);
    ``strip`` removes each record's leading and trailing N."""
    records = read_fasta(path)
    lengths = np.fromiter((len(s) for s in records.sequences), np.int64, len(records))
    raw = BYTE_TO_TOKEN[np.frombuffer(b"".join(records.sequences), np.uint8)]
    buffer = np.where(raw == 255, np.uint8(N), raw)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    if strip and len(buffer):
        called = np.flatnonzero(buffer != N)
        lo = np.searchsorted(called, offsets)  # first called base at or after each start
        hi = np.searchsorted(called, offsets + lengths) - 1  # last called base before each end
        has = (lo <= hi) & (lo < len(called))
        first = np.where(has, called[np.minimum(lo, len(called) - 1)], offsets)
        last = np.where(has, called[np.clip(hi, 0, len(called) - 1)] + 1, offsets)
        offsets, lengths = first.astype(np.int64), (last - first).astype(np.int64)
    return Sequences(name, buffer, offsets, lengths, list(records.names))


# ---------------------------------------------------------------------------------------------
# Duplicates


def _in_sorted(keys: np.ndarray, table: np.ndarray) -> np.ndarray:
    """bool, shape of ``keys``: which keys occur in the sorted unique uint64 ``table``."""
    if len(table) == 0:
        return np.zeros(keys.shape, bool)
    idx = np.minimum(np.searchsorted(table, keys), len(table) - 1)
    return table[idx] == keys


# ---------------------------------------------------------------------------------------------
# Windows


def window_starts(lengths: np.ndarray, seq_len: int, stride: int) -> tuple[np.ndarray, ...]:
    """(sequence index, start, content length) of every window: starts 0, S, 2S, ... up to
    len - W plus a last window ending at the sequence end; a shorter sequence is one window."""
    lengths = np.asarray(lengths, np.int64)
    span = np.maximum(lengths - seq_len, 0)
    count = np.where(lengths > seq_len, span // stride + 1 + (span % stride != 0), 1)
    seq = np.repeat(np.arange(len(lengths), dtype=np.int64), count)
    first = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    pos = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(first, count)
    start = np.minimum(pos * stride, span[seq])
    return seq, start, np.minimum(lengths[seq], seq_len)


def gather_windows(
    seqs: Sequences, seq: np.ndarray, start: np.ndarray, content: np.ndarray, seq_len: int
) -> np.ndarray:
    """uint8[n, W]: each window's content, centred and N-padded when shorter than W."""
    if len(seqs.buffer) == 0:
        return np.full((len(seq), seq_len), N, np.uint8)
    pad = (seq_len - content) // 2
    j = np.arange(seq_len)[None, :] - pad[:, None]
    valid = (j >= 0) & (j < content[:, None])
    idx = seqs.offsets[seq][:, None] + start[:, None] + j
    idx = np.clip(idx, 0, len(seqs.buffer) - 1)
    return np.where(valid, seqs.buffer[idx], np.uint8(N))


class Seen:
    """Keys of the windows kept so far, per content length (so keys of one length compare)."""

    def __init__(self) -> None:
        self.keys: dict[int, np.ndarray] = {}

    def first_new(self, keys: np.ndarray, m: int) -> np.ndarray:
        """bool: True for the first occurrence of a key not seen before; records them."""
        seen = self.keys.get(m, np.zeros(0, np.uint64))
        keep = ~_in_sorted(keys, seen)
        _, first = np.unique(keys, return_index=True)
        once = np.zeros(len(keys), bool)
        once[first] = True
        keep &= once
        self.keys[m] = np.union1d(seen, keys[keep])
        return keep


# ---------------------------------------------------------------------------------------------
# The corpus


def _resolve(spec: str, flag: str, default_splits: list[str] | None) -> tuple[str, Path, list[str]]:
    """``parse_spec`` with a shard set's splits filled in and checked: ``default_splits`` when
    the entry names none (None: every split but train); a FASTA file has no splits."""
    kind, path, splits = parse_spec(spec, flag)
    if kind == "fasta":
        return kind, path, []
    if splits is None:
        have = load_manifest(path).splits
        splits = default_splits if default_splits is not None else [s for s in have if s != "train"]
        if default_splits is None and not splits:
            log.warning("--exclude %s: holds nothing out (no split but train)", spec)
    _check_splits(path, splits, flag, spec)
    return kind, path, splits


def _load(kind: str, path: Path, splits: list[str], *, strip_fasta: bool) -> Sequences:
    """A source's (``--from``) or a held-out entry's (``--exclude``: FASTA N padding stripped)
    sequences, as resolved by ``_resolve``."""
    if kind == "fasta":
        return fasta_sequences(path, str(path), strip=strip_fasta)
    return set_sequences(path, splits, f"{path}:{'+'.join(splits)}")


def build_corpus(
    out_dir: str | Path,
    *,
    seq_len: int,
    sources: Sequence[str],
    exclude: Sequence[str] = (),
    stride: int | None = None,
    max_n_frac: float = 0.1,
    min_shared: int | None = None,
    overwrite: bool = False,
    command: str = "",
    progress: bool = False,
) -> Manifest:
    """Writes the unlabeled shard set ``out_dir`` (split ``train``); returns its manifest.

    ``sources`` (``--from``): shard sets (``SET`` = its train split, or ``SET:split``) and FASTA
    files; ``exclude`` (``--exclude``): held-out sequences, ``SET`` (every split but train),
    ``SET:test``, ``SET:valid+test`` or a FASTA file. Both may hold comma-separated entries.
    Windows of ``seq_len`` every ``stride`` (default ``seq_len``) bases, plus one ending at
    each sequence's end; shorter sequences are one centred, N-padded window. A window is dropped
    (and counted) when more than ``max_n_frac`` of its content is N, when it shares at least
    K bases with a held-out sequence on either strand (``min_shared`` = K, ``--min-shared``;
    default half the shorter of the two lengths; see ``jaxssl.data.overlap``), or when it
    repeats an earlier window (either strand).
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    W = int(seq_len)
    S = W if stride is None else int(stride)
    if W <= 0:
        raise ValueError(f"--seq-len must be positive, got {W}")
    if S <= 0:
        raise ValueError(f"--stride must be positive, got {S}")
    if not 0.0 <= max_n_frac <= 1.0:
        raise ValueError(f"--max-n-frac must be in [0, 1], got {max_n_frac}")
    if min_shared is not None and min_shared < 1:
        raise ValueError(f"--min-shared must be a positive number of bases, got {min_shared}")
    from_specs, held_specs = _spec_parts(sources), _spec_parts(exclude)
    if not from_specs:
        raise ValueError("give at least one --from source")
    parsed = [(s, parse_spec(s, "--from")) for s in from_specs]
    held_parsed = [(s, parse_spec(s, "--exclude")) for s in held_specs]
    files = []
    for _, (kind, path, _) in parsed + held_parsed:
        f = path if kind == "fasta" else path / MANIFEST_NAME
        if f not in files:
            files.append(f)
    check_output_dir(out_dir, overwrite=overwrite, sources=files)

    held_seqs, held_meta, held_fingerprints = [], [], {}
    for spec in held_specs:
        kind, path, splits = _resolve(spec, "--exclude", None)
        seqs = _load(kind, path, splits, strip_fasta=True)
        held_seqs.append(seqs)
        # What the screen ran against, by content (jaxssl.screening reads it): the corpus
        # stays screened against these splits wherever their set is later moved or copied.
        held_fingerprints |= {f"{path.resolve()}:{s}": split_fingerprint(path, s) for s in splits}
        used = seqs.lengths[seqs.lengths > 0]
        held_meta.append(
            {
                "source": seqs.name,
                "sequences": int(len(used)),
                "lengths": sorted(int(x) for x in np.unique(used)),
            }
        )
    held = OverlapIndex((s.get(i) for s in held_seqs for i in range(len(s))), min_shared=min_shared)
    loaded = []
    for spec in from_specs:
        loaded.append((spec, _load(*_resolve(spec, "--from", ["train"]), strip_fasta=False)))

    per_source = []
    metadata = {
        "kind": "corpus",
        "seq_len": W,
        "stride": S,
        "max_n_frac": max_n_frac,
        "sources": per_source,
        "held_out": held_meta,
        "check": held.rule(),
        "min_shared": min_shared if min_shared is not None else "half the shorter length",
    }
    seen = Seen()
    chunk = max(1, CHUNK_TOKENS // W)
    with ShardSetWriter(
        out_dir,
        seq_len=W,
        task_names=[],
        command=command,
        sources=files,
        overwrite=overwrite,
        metadata=metadata,
    ) as writer:
        for spec, seqs in loaded:
            stats = {
                "source": spec,
                "considered": 0,
                "dropped_n_frac": 0,
                "dropped_held_out": 0,
                "dropped_duplicate": 0,
                "written": 0,
            }
            per_source.append(stats)
            seq_i, start, content = window_starts(seqs.lengths, W, S)
            bar = tqdm(total=len(seq_i), desc=spec, unit="win", disable=not progress, leave=False)
            for lo in range(0, len(seq_i), chunk):
                sl = slice(lo, lo + chunk)
                s_i, st, m_i = seq_i[sl], start[sl], content[sl]
                tokens = gather_windows(seqs, s_i, st, m_i, W)
                n_count = (tokens == N).sum(axis=1) - (W - m_i)
                n_frac = np.where(m_i > 0, n_count / np.maximum(m_i, 1), 1.0)
                keep = (n_frac <= max_n_frac) & (m_i > 0)
                stats["considered"] += len(s_i)
                stats["dropped_n_frac"] += int((~keep).sum())
                for m in np.unique(m_i[keep]).tolist():
                    rows = np.flatnonzero(keep & (m_i == m))
                    pad = (W - m) // 2
                    body = tokens[rows, pad : pad + m]
                    leak = held.hits(body)
                    stats["dropped_held_out"] += int(leak.sum())
                    keep[rows[leak]] = False
                    rows = rows[~leak]
                    new = seen.first_new(sequence_keys(body[~leak]), m)
                    stats["dropped_duplicate"] += int((~new).sum())
                    keep[rows[~new]] = False
                n_keep = int(keep.sum())
                stats["written"] += n_keep
                if n_keep:
                    writer.add_batch(
                        "train",
                        tokens[keep],
                        np.zeros((n_keep, 0), np.float32),
                        1.0,
                        genome=seqs.name,
                        chrom=[seqs.chroms[i] for i in s_i[keep].tolist()],
                        start=st[keep],
                    )
                bar.update(len(s_i))
            bar.close()
        total = {k: sum(s[k] for s in per_source) for k in per_source[0] if k != "source"}
        metadata["counts"] = total
        if held_meta:  # read by the trainer's check that every extra source was screened
            metadata["leakage"] = {
                "method": "sequence_overlap",
                "check": held.rule(),
                "held_out": [h["source"] for h in held_meta],
                "dropped": total["dropped_held_out"],
            }
            if held_fingerprints:  # shard-set entries only: a FASTA file has no splits
                metadata["leakage"][FINGERPRINTS_KEY] = held_fingerprints
        if total["written"] == 0:
            raise ValueError(
                f"every window was dropped (over --max-n-frac {max_n_frac}: "
                f"{total['dropped_n_frac']}, held out: {total['dropped_held_out']}, duplicate: "
                f"{total['dropped_duplicate']} of {total['considered']}); nothing written to "
                f"{out_dir}"
            )
        writer.metadata = metadata
    assert writer.manifest is not None
    return writer.manifest
