"""DNA alphabet shared by every part of jaxssl: one uint8 per base, A=0 C=1 G=2 T=3 N=4.

With this order the complement of a base token t < 4 is ``3 - t``, so reverse complement is a
flip plus one subtraction, on host (numpy, here) and on device (``jaxssl.augment``). This
module is numpy-only so that data preparation never imports JAX.
"""

from __future__ import annotations

import numpy as np

ALPHABET = "ACGTN"
A, C, G, T, N = range(5)
NUM_BASES = 4  # A, C, G, T: the one-hot channels; N one-hots to all zeros.

# IUPAC ambiguity codes that are valid DNA but not a single base: read as N and counted.
IUPAC_AMBIGUOUS = "RYSWKMBDHVN"


def _build_lookup() -> np.ndarray:
    """Byte -> token table; 255 marks bytes that are not nucleotides at all."""
    table = np.full(256, 255, dtype=np.uint8)
    for i, base in enumerate("ACGT"):
        table[ord(base)] = i
        table[ord(base.lower())] = i  # soft-masked (repeat) bases are ordinary bases
    for code in IUPAC_AMBIGUOUS:
        table[ord(code)] = N
        table[ord(code.lower())] = N
    return table


BYTE_TO_TOKEN = _build_lookup()
TOKEN_TO_BYTE = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)


def encode(seq: str | bytes, *, strict: bool = False) -> np.ndarray:
    """Encodes a sequence to uint8 tokens [L]; IUPAC codes and any other byte become N.

    With ``strict=True`` a byte that is not a nucleotide or IUPAC code raises ValueError
    (naming the first offending position) instead of silently becoming N.
    """
    raw = np.frombuffer(seq.encode("ascii", "replace") if isinstance(seq, str) else seq, np.uint8)
    tokens = BYTE_TO_TOKEN[raw]
    bad = tokens == 255
    if bad.any():
        if strict:
            pos = int(np.argmax(bad))
            raise ValueError(
                f"non-nucleotide character {chr(raw[pos])!r} at position {pos}; "
                f"expected one of ACGT, lowercase, or IUPAC codes {IUPAC_AMBIGUOUS}"
            )
        tokens = np.where(bad, np.uint8(N), tokens)
    return tokens


def count_non_acgt(seq: str | bytes) -> tuple[int, int]:
    """Returns (# IUPAC/N positions, # bytes that are not nucleotides at all)."""
    raw = np.frombuffer(seq.encode("ascii", "replace") if isinstance(seq, str) else seq, np.uint8)
    tokens = BYTE_TO_TOKEN[raw]
    return int((tokens == N).sum()), int((tokens == 255).sum())


def decode(tokens: np.ndarray) -> str:
    """Tokens [L] -> 'ACGTN' string (tokens above 4, e.g. a mask id, print as N)."""
    tokens = np.minimum(np.asarray(tokens, dtype=np.uint8), N)
    return TOKEN_TO_BYTE[tokens].tobytes().decode("ascii")


def reverse_complement(tokens: np.ndarray) -> np.ndarray:
    """Reverse complement of tokens [..., L] along the last axis; N stays N."""
    tokens = np.asarray(tokens)
    comp = np.where(tokens < NUM_BASES, 3 - tokens, tokens).astype(tokens.dtype)
    return comp[..., ::-1]


def gc_fraction(tokens: np.ndarray) -> float:
    """GC fraction over the non-N positions (NaN when every position is N)."""
    tokens = np.asarray(tokens)
    called = tokens < NUM_BASES
    n_called = int(called.sum())
    if n_called == 0:
        return float("nan")
    return float(((tokens == C) | (tokens == G)).sum() / n_called)
