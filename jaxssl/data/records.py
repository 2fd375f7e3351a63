"""One ArrayRecord record = one columnar block of examples.

Why blocks: decoding is a handful of ``np.frombuffer`` calls per block instead of Python work per
example, which is what lets the input pipeline reach tens of Mbp/s per core (see
``benchmarks/data_pipeline.py``). The block layout is::

    b"JXB1" | uint32 header_len | header JSON | pad to 8 | columns, each padded to 8 bytes

The header holds ``n``, ``seq_len``, ``num_tasks``, ``extra_fields`` and the per-block string
tables for genome and chromosome names; the columns are, in order: start int64[n],
labels float32[n, T], weights float32[n], extras float32[n, E], genome_idx uint16[n],
chrom_idx uint16[n], strand uint8[n] (0 '+', 1 '-', 2 '.'), tokens uint8[n, L].
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence

import numpy as np

MAGIC = b"JXB1"
STRANDS = "+-."
_STRAND_CODE = {s: i for i, s in enumerate(STRANDS)}
_STRAND_ARRAY = np.array(list(STRANDS))


def _pad8(n: int) -> int:
    return (-n) % 8


def _string_table(values: Sequence[str] | np.ndarray) -> tuple[list[str], np.ndarray]:
    names, idx = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    if len(names) > 65535:
        raise ValueError("more than 65535 distinct genome/chrom names in one block")
    return [str(x) for x in names], idx.astype(np.uint16).reshape(-1)


def strand_codes(strands: Sequence[str] | np.ndarray) -> np.ndarray:
    """Strand strings -> uint8 codes; anything but '+', '-', '.' is an error."""
    try:
        return np.array([_STRAND_CODE[s] for s in strands], dtype=np.uint8)
    except KeyError as err:
        raise ValueError(f"strand must be one of '+', '-', '.', got {err.args[0]!r}") from None


def encode_block(
    tokens_NL: np.ndarray,
    labels_NT: np.ndarray,
    weights_N: np.ndarray,
    extras_NE: np.ndarray,
    start_N: np.ndarray,
    strand_N: np.ndarray,
    genome_N: Sequence[str] | np.ndarray,
    chrom_N: Sequence[str] | np.ndarray,
    extra_fields: Sequence[str] = (),
) -> bytes:
    """Serialises n examples (strand_N as uint8 codes) into one record."""
    n, seq_len = tokens_NL.shape
    genomes, genome_idx = _string_table(genome_N)
    chroms, chrom_idx = _string_table(chrom_N)
    header = json.dumps(
        {
            "n": n,
            "seq_len": seq_len,
            "num_tasks": int(labels_NT.shape[1]),
            "extra_fields": list(extra_fields),
            "genomes": genomes,
            "chroms": chroms,
        }
    ).encode()
    parts = [MAGIC, struct.pack("<I", len(header)), header, b"\0" * _pad8(8 + len(header))]
    columns = (
        np.asarray(start_N, np.int64),
        np.asarray(labels_NT, np.float32),
        np.asarray(weights_N, np.float32),
        np.asarray(extras_NE, np.float32),
        genome_idx,
        chrom_idx,
        np.asarray(strand_N, np.uint8),
        np.asarray(tokens_NL, np.uint8),
    )
    for col in columns:
        raw = np.ascontiguousarray(col).tobytes()
        parts += [raw, b"\0" * _pad8(len(raw))]
    return b"".join(parts)


def _header(record: bytes) -> tuple[dict, int]:
    if record[:4] != MAGIC:
        raise ValueError(f"record does not start with {MAGIC!r}: not a jaxssl shard block")
    (hlen,) = struct.unpack_from("<I", record, 4)
    header = json.loads(record[8 : 8 + hlen])
    return header, 8 + hlen + _pad8(8 + hlen)


def decode_block(record: bytes, *, provenance: bool = True) -> dict[str, np.ndarray]:
    """Record -> dict of column arrays (views into ``record`` where possible, no copies).

    With ``provenance=False`` only tokens/labels/weights/extras are decoded: the training hot path.
    """
    header, off = _header(record)
    n, seq_len, num_tasks = header["n"], header["seq_len"], header["num_tasks"]
    extra_fields = header["extra_fields"]
    specs = (
        ("start", np.int64, (n,)),
        ("labels", np.float32, (n, num_tasks)),
        ("weights", np.float32, (n,)),
        ("extras", np.float32, (n, len(extra_fields))),
        ("genome_idx", np.uint16, (n,)),
        ("chrom_idx", np.uint16, (n,)),
        ("strand_code", np.uint8, (n,)),
        ("tokens", np.uint8, (n, seq_len)),
    )
    out: dict[str, np.ndarray] = {}
    for name, dtype, shape in specs:
        count = int(np.prod(shape))
        out[name] = np.frombuffer(record, dtype, count, off).reshape(shape)
        nbytes = count * np.dtype(dtype).itemsize
        off += nbytes + _pad8(nbytes)
    for j, field in enumerate(extra_fields):
        out[field] = out["extras"][:, j]
    if provenance:
        out["genome"] = np.asarray(header["genomes"], dtype=object)[out["genome_idx"]]
        out["chrom"] = np.asarray(header["chroms"], dtype=object)[out["chrom_idx"]]
        out["strand"] = _STRAND_ARRAY[out["strand_code"]].astype(object)
    return out
