"""A shard set as a TensorFlow Datasets directory, written beside its own shards.

jaxssl's shards hold blocks of many examples per record (``jaxssl.data.records``), which TFDS
cannot address; so every split is also written one ``tf.train.Example`` per record, in TFDS's
ArrayRecord layout, with the ``dataset_info.json`` and ``features.json`` that
``tfds.builder_from_directory(DIR)`` reads. Its features are the keys of
``jaxssl.data.pipeline.load_split`` (tokens, labels, weights, genome, chrom, start, strand and
each extra field), and record ``i`` of a TFDS split is example ``i`` of ``load_split``. One
TFDS shard mirrors each jaxssl shard; a split without examples is left out (TFDS cannot open a
split without files).

Neither TensorFlow nor ``tensorflow_datasets`` is needed to write it: the example protos are
encoded here (their wire format is small and fixed, and doing it with numpy is ~20x faster than
TFDS's own serializer) and the two JSON files follow TFDS's stored format, which TFDS keeps
reading across versions. ``tests/test_tfds.py`` reads the result back through TFDS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from jaxssl.data.manifest import Manifest, load_manifest
from jaxssl.data.reader import SplitReader

DATASET_NAME = "jaxssl"
VERSION = "1.0.0"
FILE_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"
INFO_FILES = ("dataset_info.json", "features.json")
# One example per group, as TFDS itself writes: a random read is one record, and Grain logs an
# error for any larger group. The price is size: per-record zstd compresses little of a ~300-byte
# example, so the view takes 5-7x the disk of the block shards (toy world, GUE tf0).
RECORD_OPTIONS = "group_size:1,zstd:1"

_TFDS = "tensorflow_datasets.core.features."
_TEXT_FEATURES = ("genome", "chrom", "strand")


def shard_file_name(split: str, shard: int, num_shards: int) -> str:
    """TFDS's default file name for one shard of a split."""
    return f"{DATASET_NAME}-{split}.array_record-{shard:05d}-of-{num_shards:05d}"


def tfds_file_names(splits: Mapping[str, Mapping]) -> set[str]:
    """Every file of the TFDS view of a shard set with these manifest ``splits``, so that
    ``--overwrite`` can tell them from foreign files."""
    names = set(INFO_FILES)
    for split, entry in splits.items():
        n = len(entry["shards"])
        names.update(shard_file_name(split, i, n) for i in range(n))
    return names


def features_json(seq_len: int, num_tasks: int, extra_fields: Sequence[str] = ()) -> dict:
    """``features.json``: a FeaturesDict of the ``load_split`` keys for one example (also the
    features of the ``jaxssl_gue`` builder, via ``tfds.features.FeatureConnector.from_json``)."""

    def tensor(dtype: str, shape: Sequence[int] = (), encoding: str = "none") -> dict:
        shape_json = {"dimensions": [str(d) for d in shape]} if shape else {}
        kind = "tensor_feature.Tensor" if shape else "scalar.Scalar"
        return {
            "pythonClassName": _TFDS + kind,
            "tensor": {"shape": shape_json, "dtype": dtype, "encoding": encoding},
        }

    text = {"pythonClassName": _TFDS + "text_feature.Text", "text": {}}
    features = {
        "tokens": tensor("uint8", (seq_len,), "bytes"),
        "labels": tensor("float32", (num_tasks,)),
        "weights": tensor("float32"),
        "start": tensor("int64"),
        **{name: text for name in _TEXT_FEATURES},
        **{name: tensor("float32") for name in extra_fields},
    }
    return {
        "pythonClassName": _TFDS + "features_dict.FeaturesDict",
        "featuresDict": {"features": features},
    }


def dataset_info_json(manifest: Manifest, split_bytes: Mapping[str, int]) -> dict:
    """``dataset_info.json``: splits with their shard lengths, the file format and a description
    that points back at the manifest (the record of how the set was made)."""
    k = manifest.examples_per_record
    splits = []
    for split, entry in manifest.splits.items():
        if not entry["shards"]:
            continue  # TFDS cannot open a split without files: an empty split is left out
        lengths = [int(r) * k for r in entry["records"]]
        lengths[-1] -= k * sum(int(r) for r in entry["records"]) - int(entry["count"])
        splits.append(
            {
                "name": split,
                "numBytes": str(split_bytes.get(split, 0)),
                "shardLengths": [str(n) for n in lengths],
                "filepathTemplate": FILE_TEMPLATE,
            }
        )
    tasks = ", ".join(manifest.task_names) or "none (unlabeled)"
    return {
        "name": DATASET_NAME,
        "version": VERSION,
        "fileFormat": "array_record",
        "description": (
            f"jaxssl shard set, {manifest.seq_len} bp windows, tasks: {tasks}. Tokens A=0 C=1 "
            "G=2 T=3 N=4; labels NaN = missing. How it was made: manifest.json "
            f"({manifest.command})"
        ),
        "splits": splits,
    }


# ---------------------------------------------------------------------------------------------
# tf.train.Example wire format: Example{1: Features{1: map<string, Feature>}}, Feature{1:
# BytesList, 2: FloatList, 3: Int64List}, each list's values in field 1 (numbers packed).


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 two's complement, as protobuf encodes negative numbers
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2) with field number ``tag``."""
    return _varint(tag << 3 | 2) + _varint(len(payload)) + payload


def _entry(key: str, feature: bytes) -> bytes:
    """One map entry of Features.feature."""
    return _field(1, _field(1, key.encode()) + _field(2, feature))


def _bytes_feature(value: bytes) -> bytes:
    return _field(1, _field(1, value))


def _float_feature(values: np.ndarray) -> bytes:
    return _field(2, _field(1, np.asarray(values, "<f4").tobytes()))


def _int64_feature(value: int) -> bytes:
    return _field(3, _field(1, _varint(value)))


def _prefix(entry: bytes, payload_len: int) -> bytes:
    """The bytes of an entry before its last ``payload_len`` bytes (a fixed-size raw value)."""
    return entry[: len(entry) - payload_len]


class ExampleEncoder:
    """Serialises a decoded block into one ``tf.train.Example`` per example.

    The fixed-size features (tokens, labels, weights, extras) of a whole block are laid out as
    one uint8 matrix with numpy; per example only the start and a cached entry per distinct
    genome/chrom/strand string are added in Python (~2 us per example).
    """

    def __init__(self, seq_len: int, num_tasks: int, extra_fields: Sequence[str]):
        self.extra_fields = list(extra_fields)
        # Each prefix ends exactly where its raw value bytes start.
        self._tokens_prefix = _prefix(_entry("tokens", _bytes_feature(b"\0" * seq_len)), seq_len)
        sizes = {"labels": num_tasks, "weights": 1, **dict.fromkeys(self.extra_fields, 1)}
        self._float_prefixes = {
            name: _prefix(_entry(name, _float_feature(np.zeros(n))), 4 * n)
            for name, n in sizes.items()
        }
        # Provenance strings come from small tables: one cached entry per distinct triple.
        self._text_cache: dict[tuple[str, str, str], bytes] = {}
        # The start entry depends on the start only through its varint, whose length is 1..10.
        self._start_prefix = [
            _prefix(_entry("start", _int64_feature(1 << 7 * (k - 1))), k) for k in range(1, 11)
        ]

    def _text(self, genome: str, chrom: str, strand: str) -> bytes:
        key = (genome, chrom, strand)
        cached = self._text_cache.get(key)
        if cached is None:
            cached = self._text_cache[key] = b"".join(
                _entry(name, _bytes_feature(value.encode()))
                for name, value in zip(_TEXT_FEATURES, key, strict=True)
            )
        return cached

    def _fixed_rows(self, block: Mapping[str, np.ndarray]) -> np.ndarray:
        """uint8[N, K]: the fixed-size entries of every example, concatenated."""
        n = len(block["tokens"])
        columns = [self._tokens_prefix, block["tokens"]]
        values = {"labels": block["labels"], "weights": block["weights"][:, None]}
        for j, name in enumerate(self.extra_fields):
            values[name] = block["extras"][:, j : j + 1]
        for name, prefix in self._float_prefixes.items():
            columns += [prefix, np.ascontiguousarray(values[name], "<f4").view(np.uint8)]
        parts = [
            np.broadcast_to(np.frombuffer(c, np.uint8), (n, len(c))) if isinstance(c, bytes) else c
            for c in columns
        ]
        return np.concatenate(parts, axis=1)

    def encode(self, block: Mapping[str, np.ndarray]) -> list[bytes]:
        """One serialized Example per example of a block decoded with provenance."""
        rows = self._fixed_rows(block)
        starts = block["start"].tolist()
        genomes, chroms, strands = (block[k] for k in _TEXT_FEATURES)
        out = []
        for i in range(len(rows)):
            start = _varint(starts[i])
            features = b"".join(
                (
                    rows[i].tobytes(),
                    self._start_prefix[len(start) - 1],
                    start,
                    self._text(genomes[i], chroms[i], strands[i]),
                )
            )
            out.append(_field(1, features))
        return out


def _write_split(
    shard_dir: Path, manifest: Manifest, split: str, encoder: ExampleEncoder
) -> tuple[list[Path], int]:
    """Writes one TFDS shard per jaxssl shard; returns the files and their serialized bytes."""
    from array_record.python.array_record_module import ArrayRecordWriter

    entry = manifest.splits[split]
    num_shards = len(entry["shards"])
    reader = SplitReader(shard_dir, split, random_access=False)
    blocks = reader.iter_blocks(provenance=True)
    paths, nbytes = [], 0
    try:
        for shard, num_records in enumerate(entry["records"]):
            path = shard_dir / shard_file_name(split, shard, num_shards)
            writer = ArrayRecordWriter(str(path), RECORD_OPTIONS)
            try:
                for _ in range(int(num_records)):
                    for example in encoder.encode(next(blocks)):
                        writer.write(example)
                        nbytes += len(example)
            finally:
                writer.close()
            paths.append(path)
    finally:
        reader.close()
    return paths, nbytes


def export_tfds(shard_dir: str | Path) -> list[Path]:
    """Makes a finished shard set also a TFDS dataset directory; returns the files written.

    Safe to repeat (the files are rewritten). Call it on the writer's temporary directory before
    the rename, so that a set is never visible without its TFDS view.
    """
    shard_dir = Path(shard_dir)
    manifest = load_manifest(shard_dir)
    encoder = ExampleEncoder(manifest.seq_len, manifest.num_tasks, manifest.extra_fields)
    written: list[Path] = []
    split_bytes: dict[str, int] = {}
    for split in manifest.splits:
        paths, split_bytes[split] = _write_split(shard_dir, manifest, split, encoder)
        written += paths
    for name, content in zip(
        INFO_FILES,
        (
            dataset_info_json(manifest, split_bytes),
            features_json(manifest.seq_len, manifest.num_tasks, manifest.extra_fields),
        ),
        strict=True,
    ):
        path = shard_dir / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(content, indent=2) + "\n")
        os.replace(tmp, path)
        written.append(path)
    return written


def has_tfds(shard_dir: str | Path) -> bool:
    """Whether ``shard_dir`` holds a complete TFDS view (older sets were written without)."""
    shard_dir = Path(shard_dir)
    manifest = load_manifest(shard_dir)
    return all((shard_dir / n).is_file() for n in tfds_file_names(manifest.splits))
