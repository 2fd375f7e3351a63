"""Genome FASTA access through pyfaidx, as tokens, with the checks a user needs.

Plain or bgzip FASTA with a .fai index (built when missing, rebuilt when older than the FASTA by
pyfaidx; an index that is newer but does not match the file is detected here and explained).
Soft-masked lowercase bases read as ordinary bases; IUPAC codes and stray characters read as N
and are counted. Windows that run past a chromosome end are N-padded, never shifted.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaxssl.tokens import BYTE_TO_TOKEN, NUM_BASES, N

# What reading a truncated or corrupt (bgzip) FASTA raises inside pyfaidx / Bio.bgzf.
_READ_ERRORS = (EOFError, OSError, zlib.error, struct.error)
GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 1 << 16


def _is_binary(data: bytes) -> bool:
    """NUL bytes, or many bytes that are neither printable ASCII nor whitespace."""
    if b"\x00" in data:
        return True
    odd = sum(1 for b in data if b < 9 or 13 < b < 32 or b > 126)
    return odd > max(8, len(data) // 20)


def sniff_fasta(path: str | Path) -> bool:
    """True when ``path`` is gzip-compressed. Refuses, naming the file, what cannot be FASTA:
    a name ending in .gz whose bytes are not gzip, corrupt gzip data, or binary data where
    FASTA text ('>name' lines, then sequence) belongs; other format errors are left to the
    reader, which names the line."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    gz = head[:2] == GZIP_MAGIC
    if not gz and path.suffix.lower() in (".gz", ".bgz", ".gzip"):
        raise ValueError(
            f"{path}: not gzip data although named {path.suffix} (it starts with bytes "
            f"{head[:4].hex(' ') or 'none'}), so not a gzip FASTA; expected FASTA text, plain "
            "or gzip-compressed"
        )
    if gz:
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _SNIFF_BYTES)
        except zlib.error as err:
            raise ValueError(f"{path}: corrupt gzip data ({err}); not a readable FASTA") from None
    if _is_binary(head):
        what = "gzip-compressed binary data" if gz else "binary data"
        raise ValueError(
            f"{path}: {what}, not FASTA text; expected '>name' header lines then sequence "
            "(plain or gzip-compressed)"
        )
    return gz


@dataclass
class BaseCounts:
    """Positions read as N because the FASTA said N/IUPAC, or held no nucleotide code at all."""

    iupac_or_n: int = 0
    invalid: int = 0
    invalid_chars: set[str] = field(default_factory=set)


def _check_index(fasta: Path, fai: Path) -> None:
    """Raises when an existing .fai does not describe ``fasta`` (pyfaidx only checks mtimes)."""
    if not fai.is_file() or fasta.suffix in (".gz", ".bgz"):
        return
    size = fasta.stat().st_size
    with open(fai) as idx, open(fasta, "rb") as fa:
        for lineno, line in enumerate(idx, start=1):
            parts = line.rstrip("\r\n").split("\t")
            problem = ""
            if len(parts) < 5:
                problem = f"{len(parts)} columns, expected 5"
            else:
                name, length, offset, bases, width = parts[0], *map(int, parts[1:5])
                end = offset + (length // max(bases, 1)) * width + length % max(bases, 1)
                if offset > size or end > size + width:
                    problem = f"{name} ends at byte {end}, the FASTA has {size} bytes"
                elif offset > 0:
                    fa.seek(offset - 1)
                    if fa.read(1) not in (b"\n", b"\r"):
                        problem = f"{name} does not start at byte {offset} after a header line"
            if problem:
                raise ValueError(
                    f"{fai}: line {lineno}: stale or foreign index for {fasta} ({problem}); "
                    f"delete {fai} so that it is rebuilt"
                )
            if lineno >= 5000:
                break


class Genome:
    """A FASTA opened for random access; ``lengths`` maps chromosome -> length."""

    def __init__(self, path: str | Path, *, name: str | None = None):
        import pyfaidx

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such FASTA file")
        self.name = name or _genome_name(self.path)
        sniff_fasta(self.path)
        fai = Path(str(self.path) + ".fai")
        _check_index(self.path, fai)
        try:
            self._fa = pyfaidx.Fasta(
                str(self.path), as_raw=True, sequence_always_upper=False, rebuild=True
            )
        except PermissionError:
            raise ValueError(
                f"{self.path}: no .fai index and its folder is read-only; run `samtools faidx "
                f"{self.path}` where you can write, or copy the FASTA somewhere writable"
            ) from None
        except pyfaidx.UnsupportedCompressionFormat:
            raise ValueError(
                f"{self.path}: gzip FASTA must be bgzip-compressed (bgzip -d then bgzip, or "
                "gunzip it) for random access"
            ) from None
        except (pyfaidx.FastaIndexingError, ValueError) as err:
            raise ValueError(f"{self.path}: cannot index FASTA: {err}") from None
        except _READ_ERRORS as err:
            raise self._read_error(err) from None
        self.lengths: dict[str, int] = {k: len(v) for k, v in self._fa.records.items()}
        if not self.lengths:
            raise ValueError(f"{self.path}: no sequences (expected '>name' header lines)")
        self.counts = BaseCounts()

    @property
    def names(self) -> list[str]:
        return list(self.lengths)

    def fetch(self, chrom: str, start: int, end: int, *, count: bool = True) -> np.ndarray:
        """Tokens uint8[end - start] for [start, end); outside the chromosome reads as N.

        ``count`` adds the window's N/IUPAC and invalid characters to ``self.counts``."""
        length = self.lengths[chrom]
        out = np.full(end - start, N, np.uint8)
        lo, hi = max(start, 0), min(end, length)
        if hi > lo:
            try:
                seq = self._fa[chrom][lo:hi]
            except _READ_ERRORS as err:
                raise self._read_error(err, f"{chrom}:{lo}-{hi}") from None
            out[lo - start : hi - start] = self._encode(seq, count)
        return out

    def _read_error(self, err: BaseException, where: str = "") -> ValueError:
        at = f" (reading {where})" if where else ""
        return ValueError(
            f"{self.path}: truncated or corrupt FASTA{at}: {type(err).__name__}: {err}; "
            "re-download or re-compress it (bgzip), and delete its .fai/.gzi index files"
        )

    def longest(self) -> tuple[str, int]:
        """(name, length) of the longest sequence."""
        name = max(self.lengths, key=self.lengths.__getitem__)
        return name, self.lengths[name]

    def has_called_bases(self, chunk: int = 1 << 20) -> bool:
        """Whether any position is A/C/G/T (False for an all-N or fully hard-masked genome).
        Stops at the first called base, so it is quick on any real genome."""
        for chrom, length in self.lengths.items():
            for lo in range(0, length, chunk):
                if (self.fetch(chrom, lo, min(length, lo + chunk), count=False) < NUM_BASES).any():
                    return True
        return False

    def chromosome(self, chrom: str) -> np.ndarray:
        return self.fetch(chrom, 0, self.lengths[chrom], count=False)

    def _encode(self, seq: str, count: bool) -> np.ndarray:
        raw = np.frombuffer(seq.encode("ascii", "replace"), np.uint8)
        tokens = BYTE_TO_TOKEN[raw]
        bad = tokens == 255
        if not count:
            return np.where(bad, np.uint8(N), tokens) if bad.any() else tokens
        if bad.any():
            self.counts.invalid += int(bad.sum())
            self.counts.invalid_chars.update(chr(c) for c in np.unique(raw[bad])[:10])
            tokens = np.where(bad, np.uint8(N), tokens)
        self.counts.iupac_or_n += int((tokens == N).sum()) - int(bad.sum())
        return tokens

    def close(self) -> None:
        self._fa.close()


def _genome_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".bgz", ".fa", ".fasta", ".fna"):
        name = name.removesuffix(suffix)
    return name


def _alias(name: str) -> str:
    if name.startswith("chr"):
        rest = name[3:]
        return "MT" if rest == "M" else rest
    return "chrM" if name == "MT" else "chr" + name


def resolve_chroms(
    wanted: Iterable[str], genome: Genome, *, source: str, fix_names: bool = False
) -> dict[str, str | None]:
    """Maps each chromosome name used in ``source`` to the genome's name (None when unknown).

    A `chr1` vs `1` naming mismatch is recognised and explained; with ``fix_names`` the names
    are translated instead.
    """
    names = set(genome.names)
    mapping: dict[str, str | None] = {}
    aliased = []
    for chrom in wanted:
        if chrom in names:
            mapping[chrom] = chrom
        elif _alias(chrom) in names:
            aliased.append(chrom)
            mapping[chrom] = _alias(chrom) if fix_names else None
        else:
            mapping[chrom] = None
    if aliased and not fix_names:
        example = aliased[0]
        raise ValueError(
            f"{source}: chromosome names do not match {genome.path}: the peaks say "
            f"{example!r}, the FASTA says {_alias(example)!r} ({len(aliased)} such names; "
            f"UCSC style 'chr1' vs Ensembl style '1'). Pass --fix-chrom-names to translate, "
            "or use a FASTA and peaks from the same source"
        )
    return mapping
