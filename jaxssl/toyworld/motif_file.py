"""Regenerates the small MEME file the toy world plants from, out of pyjaspar's bundled JASPAR.

The file is shipped in the repository (``jaxssl/data/motifs/``) so that a world builds with no
network and no dependence on which JASPAR releases the installed pyjaspar happens to carry;
this script is how it was made: ``python -m jaxssl.toyworld.motif_file``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from jaxssl.optional import require

RELEASE = "JASPAR2024"
# Matrix IDs, pinned so that the shipped file never drifts with a JASPAR update. Four TFs the
# toy world labels and, for each, a partner whose nearby presence raises occupancy (known
# co-binding pairs: CTCF-ZNF143, HNF4A-FOXA2, CEBPB-ATF4, SPI1-IRF4 composite elements).
MATRIX_IDS = (
    "MA0139.2",  # CTCF
    "MA0088.2",  # ZNF143
    "MA1494.2",  # HNF4A
    "MA0047.4",  # FOXA2
    "MA0466.4",  # CEBPB
    "MA0833.3",  # ATF4
    "MA0080.7",  # SPI1
    "MA1419.2",  # IRF4
)
SHIPPED_MEME = Path(__file__).resolve().parents[1] / "data" / "motifs" / "toyworld_jaspar2024.meme"


def meme_text(matrix_ids: tuple[str, ...] = MATRIX_IDS, release: str = RELEASE) -> str:
    """MEME v4 text for the given JASPAR matrices (count matrices normalised per column)."""
    pyjaspar = require("pyjaspar", "Regenerating the shipped toy-world motif file", extra="motifs")
    db = pyjaspar.jaspardb(release=release)
    parts = [
        "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
        "Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n"
    ]
    for matrix_id in matrix_ids:
        motif = db.fetch_motif_by_id(matrix_id)
        if motif is None:
            raise ValueError(f"{matrix_id} is not in {release} of the installed pyjaspar")
        counts = np.array([motif.counts[b] for b in "ACGT"], dtype=np.float64).T  # [W, 4]
        nsites = int(round(counts[0].sum()))
        probs = counts / counts.sum(axis=1, keepdims=True)
        rows = "\n".join(" ".join(f"{p:.6f}" for p in row) for row in probs)
        parts.append(
            f"\nMOTIF {motif.matrix_id} {motif.name}\n"
            f"letter-probability matrix: alength= 4 w= {len(probs)} nsites= {nsites} E= 0\n"
            f"{rows}\n"
        )
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SHIPPED_MEME)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(meme_text())
    print(f"wrote {len(MATRIX_IDS)} motifs from {RELEASE} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
