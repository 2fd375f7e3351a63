"""BGZF writing (the blocked gzip of bgzip, tabix, bcftools and htslib), in plain zlib.

A BGZF file is a series of gzip members, each holding at most 64 KiB of input, whose header
carries the extra subfield ``BC`` (SLEN 2) with BSIZE = the member's total size - 1, so that a
reader can seek to any block; it ends with a fixed 28-byte empty member (the EOF marker
htslib checks for). Any gzip reader decompresses it (concatenated members are one stream).
Specification: SAMv1.pdf section 4.1 (hts-specs).
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

# Input bytes per block: bgzip's own limit (0xff00), so that even incompressible data with
# deflate's stored-block overhead fits the 64 KiB a block may span.
BLOCK_INPUT = 0xFF00
MAX_BLOCK = 1 << 16
# ID1 ID2 CM FLG(FEXTRA) MTIME(4) XFL OS XLEN=6 | 'B' 'C' SLEN=2 BSIZE
_HEADER = struct.Struct("<BBBBIBBHBBHH")
EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def compress_block(data: bytes, level: int = 6) -> bytes:
    """One BGZF block (gzip member with the BC extra field) holding ``data`` (<= 64 KiB)."""
    if len(data) > MAX_BLOCK:
        raise ValueError(f"a BGZF block holds at most {MAX_BLOCK} input bytes, got {len(data)}")
    deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = deflate.compress(data) + deflate.flush()
    size = _HEADER.size + len(body) + 8
    if size > MAX_BLOCK:
        raise ValueError(f"compressed block of {size} bytes exceeds 64 KiB; write less per block")
    header = _HEADER.pack(31, 139, 8, 4, 0, 0, 255, 6, ord("B"), ord("C"), 2, size - 1)
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + body + trailer


class BgzfWriter:
    """A binary file-like writer of BGZF; ``close`` writes the last block and the EOF marker.

    Wrap it in ``io.TextIOWrapper`` for text (it has ``writable``/``closed`` for that)."""

    def __init__(self, raw: BinaryIO, level: int = 6):
        self._raw, self._level = raw, level
        self._buffer = bytearray()
        self.closed = False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) >= BLOCK_INPUT:
            self._raw.write(compress_block(bytes(self._buffer[:BLOCK_INPUT]), self._level))
            del self._buffer[:BLOCK_INPUT]
        return len(data)

    def flush(self) -> None:
        """Blocks are written whole; the partial block stays buffered until ``close``."""
        self._raw.flush()

    def close(self) -> None:
        if self.closed:
            return
        if self._buffer:
            self._raw.write(compress_block(bytes(self._buffer), self._level))
            self._buffer.clear()
        self._raw.write(EOF_BLOCK)
        self._raw.flush()
        self.closed = True

    def __enter__(self) -> BgzfWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def blocks(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every BGZF block of ``data``; ValueError where a member is not BGZF.
    For tests and checks: what tabix needs is exactly this layout."""
    out, offset = [], 0
    while offset < len(data):
        if len(data) - offset < _HEADER.size:
            raise ValueError(f"offset {offset}: truncated BGZF header")
        fields = _HEADER.unpack_from(data, offset)
        id1, id2, cm, flg, _, _, _, xlen, si1, si2, slen, bsize = fields
        if (id1, id2, cm) != (31, 139, 8) or not flg & 4:
            raise ValueError(f"offset {offset}: not a gzip member with an extra field")
        if (xlen, si1, si2, slen) != (6, ord("B"), ord("C"), 2):
            raise ValueError(f"offset {offset}: extra field is not BGZF's BC subfield")
        out.append((offset, bsize + 1))
        offset += bsize + 1
    if offset != len(data):
        raise ValueError("the last BGZF block runs past the end of the data")
    return out
