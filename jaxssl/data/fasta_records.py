"""Every record of a small (gzip) FASTA file, read whole: ``read_fasta``.

The data-level reader that the corpus builder (`jaxssl.prep.corpus`) and the scoring inputs
(`jaxssl.use.inputs`) share, so neither reaches into the other. Genomes too large to hold in
memory go through `jaxssl.genome.fasta.Genome` (pyfaidx, indexed) instead. Records keep their
raw bytes; callers tokenise them (`jaxssl.tokens`) and decide what an empty record means.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

from jaxssl.data.tables import read_error


@dataclass
class FastaRecords:
    """The records of one FASTA file: names (the header's first word), raw sequences, and the
    line of each header (for errors that point at a record)."""

    path: Path
    names: list[str] = field(default_factory=list)
    sequences: list[bytes] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)


def open_maybe_gzip(path: Path):
    """A binary handle on a plain or gzip file (told apart by its magic bytes, not its name)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115


def read_fasta(path: str | Path) -> FastaRecords:
    """All records of a (gzip) FASTA, in file order. Duplicate names are kept (callers that
    pair records by name decide); a headerless or truncated file is one error naming the line."""
    path = Path(path)
    out = FastaRecords(path)
    chunks: list[list[bytes]] = []
    lineno = 0
    try:
        with open_maybe_gzip(path) as f:
            for lineno, raw in enumerate(f, start=1):  # noqa: B007 - used after the loop
                line = raw.rstrip(b"\r\n")
                if line.startswith(b">"):
                    words = line[1:].decode("utf-8", "replace").split()
                    out.names.append(words[0] if words else f"record_{len(out.names) + 1}")
                    out.lines.append(lineno)
                    chunks.append([])
                elif line.strip():
                    if not chunks:
                        raise ValueError(
                            f"{path}: line {lineno}: sequence before the first '>' header; "
                            "expected FASTA ('>name' then sequence lines)"
                        )
                    chunks[-1].append(line.strip())
    except (EOFError, OSError) as err:
        if isinstance(err, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise read_error(path, lineno, err) from None
    if not out.names:
        raise ValueError(f"{path}: no FASTA records (expected '>name' header lines)")
    out.sequences = [b"".join(c) for c in chunks]
    return out
