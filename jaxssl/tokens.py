"""DNA alphabet shared by every part of jaxssl: one uint8 per base, A=0 C=1 G=2 T=3 N=4.

With this order the complement of a base token t < 4 is ``3 - t``, so reverse complement is a
flip plus one subtraction. The one definition (``reverse_complement``, and
``reverse_complement_one_hot`` for one-hot rows) serves host and device alike: it works in
the array's own namespace, numpy for host arrays and ``jax.numpy`` for device arrays and
traced values inside a jit. This module never imports JAX, so data preparation does not.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

ArrayT = TypeVar("ArrayT")  # a numpy or a JAX array: what goes in comes out

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


def _namespace(x: Any) -> Any:
    """The array module of ``x`` (the array API's ``__array_namespace__``), else numpy."""
    return x.__array_namespace__() if hasattr(x, "__array_namespace__") else np


def complement(tokens: ArrayT) -> ArrayT:
    """Base-wise complement (3 - t for t < 4); N and other tokens (a mask id) are unchanged."""
    xp = _namespace(tokens)
    return xp.where(tokens < NUM_BASES, NUM_BASES - 1 - tokens, tokens).astype(tokens.dtype)


def reverse_complement(tokens: ArrayT) -> ArrayT:
    """Reverse complement of tokens [..., L] along the last axis; N stays N (mirrored).

    numpy in, numpy out (a list or tuple is read as numpy); a JAX array or a traced value
    inside a jit gives a JAX array. An involution: applying it twice returns the tokens.
    """
    if not hasattr(tokens, "__array_namespace__"):
        tokens = np.asarray(tokens)
    return _namespace(tokens).flip(complement(tokens), axis=-1)


def reverse_complement_one_hot(x_L4: ArrayT) -> ArrayT:
    """Reverse complement of one-hot rows [..., L, 4] (or a PWM [W, 4]) in A, C, G, T order.

    Reversing the positions and the channels (A, C, G, T -> T, G, C, A) is the token
    ``reverse_complement`` seen through ``one_hot``; an all-zero (N) row stays all zero.
    """
    return _namespace(x_L4).flip(x_L4, axis=(-2, -1))


def gc_fraction(tokens: np.ndarray) -> float:
    """GC fraction over the non-N positions (NaN when every position is N)."""
    tokens = np.asarray(tokens)
    called = tokens < NUM_BASES
    n_called = int(called.sum())
    if n_called == 0:
        return float("nan")
    return float(((tokens == C) | (tokens == G)).sum() / n_called)
