"""Which windows share at least K bases with a held-out sequence: ``OverlapIndex``.

Containment is not enough: a test sequence split 41 + 60 over two corpus windows, or a window
that holds 100 of its 101 bases, shows a model most of that test sequence. The rule, one
definition for every door (corpus, in-domain pools, cross-genome unlabeled windows):

    a window *shares K bases* with a held-out sequence h when the two have a common
    substring of at least K called bases (A, C, G, T; N never matches), h read on either
    strand: one contiguous run, not K matches scattered over an alignment.

K for a pair (the window's content of length m and h of length n, leading and trailing N
stripped from both) is ``min_shared`` when given, else ``floor(fraction * min(m, n))``, at
least 1 (default fraction 0.5: half the shorter of the two, rounded down), and never more than
``min(m, n)``. So a window that holds h, or lies inside it, always shares K bases with it; so
does a window holding half of h (a 101 bp test sequence split 41 + 60 over two windows drops
the window with 60), and, at the default, one holding all of h but one mismatched base (its
longest run is still >= floor(n / 2)). A near copy whose mismatches leave no run of K is kept:
this is the contiguous definition; a smaller ``min_shared`` catches more distant copies.

How, fast enough for GUE-sized sets: every k-mer of every held-out sequence (exact 2-bit codes,
k <= 32, strand-canonical) goes into one sorted table. For windows of content m, let K0 be the
smallest K over the held-out lengths; a window is looked up only at its k-mers starting every
s = K0 - k + 1 bases: a shared run of >= K0 bases covers s consecutive k-mer starts, so one of
them is on that grid and no shared run is missed. Each (window, sequence, strand, diagonal) a
seed finds is then checked exactly: the longest run of equal called bases along that diagonal,
against that pair's K. Both directions are exact: a window is dropped only when it shares K
bases, and never kept when it does.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from jaxssl.tokens import N

MAX_SEED = 32  # 2 bits per base in a uint64
MIN_SEED = 16  # shorter seeds hit at random too often (4**16 ~ 4e9 codes)
_CHUNK = 1 << 22  # positions (or candidate x window bases) handled at a time: bounds memory
_COMP = np.array([3, 2, 1, 0, N], np.uint8)

RULE = (
    "a common substring of >= K called bases (N never matches) with a held-out sequence on "
    "either strand; K = {k}, never more than the shorter of the two lengths"
)


def strip_n(tokens: np.ndarray) -> np.ndarray:
    """A 1-D token array without its leading and trailing N."""
    called = np.flatnonzero(np.asarray(tokens) != N)
    return tokens[called[0] : called[-1] + 1] if len(called) else tokens[:0]


def _codes(tokens_NL: np.ndarray, starts: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """(canonical code, forward is canonical, palindrome, valid), each [N, P]: the k-mers of
    every row starting at ``starts``; valid is False where a k-mer holds an N."""
    n = tokens_NL.shape[0]
    fwd = np.zeros((n, len(starts)), np.uint64)
    rev = np.zeros((n, len(starts)), np.uint64)
    valid = np.ones((n, len(starts)), bool)
    for j in range(k):
        col = tokens_NL[:, starts + j]
        valid &= col < 4
        base = (col & 3).astype(np.uint64)
        fwd = (fwd << np.uint64(2)) | base
        rev |= (np.uint64(3) - base) << np.uint64(2 * j)
    return np.minimum(fwd, rev), fwd <= rev, fwd == rev, valid


class OverlapIndex:
    """Held-out sequences, indexed to answer "does this window share K bases with one?".

    ``sequences``: 1-D uint8 token arrays (leading/trailing N are stripped; empty ones are
    ignored). ``min_shared``: K in bases for every pair, or None for ``fraction`` of the
    shorter length (see the module doc).
    """

    def __init__(
        self,
        sequences: Iterable[np.ndarray],
        *,
        min_shared: int | None = None,
        fraction: float = 0.5,
    ):
        if min_shared is not None and int(min_shared) < 1:
            raise ValueError(f"min_shared must be a positive number of bases, got {min_shared}")
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"the shared fraction must be in (0, 1], got {fraction}")
        self.min_shared = None if min_shared is None else int(min_shared)
        self.fraction = float(fraction)
        seqs = [s for s in (strip_n(np.asarray(x, np.uint8)) for x in sequences) if len(s)]
        self.lengths = np.array([len(s) for s in seqs], np.int64)
        # One buffer, an N between sequences so that no k-mer spans two of them.
        self.offsets = np.cumsum(self.lengths + 1) - (self.lengths + 1)
        buf = np.full(int((self.lengths + 1).sum()), N, np.uint8)
        rc = buf.copy()
        for off, s in zip(self.offsets, seqs, strict=True):
            buf[off : off + len(s)] = s
            rc[off : off + len(s)] = _COMP[s[::-1]]  # each sequence's reverse complement
        self._buf = (buf, rc)
        self._owner = np.repeat(np.arange(len(seqs), dtype=np.int64), self.lengths + 1)
        self._tables: dict[int, tuple[np.ndarray, ...]] = {}

    @classmethod
    def from_rows(cls, tokens_NL: np.ndarray, **kwargs) -> OverlapIndex:
        """Held-out sequences from a split's padded rows (uint8 [N, L])."""
        return cls(list(np.asarray(tokens_NL, np.uint8)), **kwargs)

    def __len__(self) -> int:
        return len(self.lengths)

    def rule(self) -> str:
        """The rule in words, for manifests and summaries."""
        k = f"{self.min_shared} bases" if self.min_shared else f"floor({self.fraction:g} x shorter)"
        return RULE.format(k=k)

    def threshold(self, m: int, n: np.ndarray | int) -> np.ndarray:
        """K for a window content of length m against held-out lengths n."""
        short = np.minimum(int(m), np.asarray(n, np.int64))
        if self.min_shared is not None:
            return np.minimum(self.min_shared, short)
        return np.maximum(1, np.floor(self.fraction * short + 1e-9).astype(np.int64))

    def _table(self, k: int) -> tuple[np.ndarray, ...]:
        """(code, forward-is-canonical, palindrome, sequence, position), sorted by code: every
        k-mer without N of every held-out sequence."""
        if k not in self._tables:
            buf = self._buf[0]
            parts = []
            for lo in range(0, max(len(buf) - k + 1, 0), _CHUNK):
                starts = np.arange(lo, min(lo + _CHUNK, len(buf) - k + 1))
                code, canon, pal, valid = (a[0] for a in _codes(buf[None, :], starts, k))
                at = starts[valid]
                owner = self._owner[at]
                parts.append(
                    (code[valid], canon[valid], pal[valid], owner, at - self.offsets[owner])
                )
            cols = [np.concatenate(c) for c in zip(*parts, strict=True)] if parts else []
            if not cols:
                cols = [np.zeros(0, t) for t in (np.uint64, bool, bool, np.int64, np.int64)]
            order = np.argsort(cols[0], kind="stable")
            self._tables[k] = tuple(c[order] for c in cols)
        return self._tables[k]

    def hits(self, body_NM: np.ndarray) -> np.ndarray:
        """bool[N]: which windows (equal-length contents, no padding) share K bases with a
        held-out sequence."""
        body_NM = np.asarray(body_NM, np.uint8)
        n_rows, m = body_NM.shape
        out = np.zeros(n_rows, bool)
        if n_rows == 0 or m == 0 or len(self) == 0:
            return out
        k0 = int(self.threshold(m, self.lengths.min()))
        k = min(MAX_SEED, k0)  # the longest seed: low-complexity runs seed fewer candidates
        grid = np.arange(0, m - k + 1, k0 - k + 1)
        rows, seqs, strands, diags = self._candidates(body_NM, grid, k)
        # Candidates come sorted by window. Checking a few per window per round (8, then 16,
        # 32, ...) lets a window found to share K bases skip the rest of its candidates.
        rank = np.arange(len(rows)) - np.searchsorted(rows, rows, "left")
        step, size, r0 = max(1, _CHUNK // m), 8, 0
        while len(rows):
            now = rank < r0 + size
            c = np.flatnonzero(now)
            for lo in range(0, len(c), step):
                part = c[lo : lo + step]
                part = part[~out[rows[part]]]
                run = self._longest_runs(
                    body_NM, rows[part], seqs[part], strands[part], diags[part]
                )
                out[rows[part][run >= self.threshold(m, self.lengths[seqs[part]])]] = True
            left = ~now & ~out[rows]
            rows, seqs, strands, diags, rank = (a[left] for a in (rows, seqs, strands, diags, rank))
            r0, size = r0 + size, size * 2
        return out

    def _candidates(self, body_NM: np.ndarray, grid: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
        """(window, sequence, strand 0/1, diagonal), unique and sorted by window: every pair a
        grid k-mer of a window seeds in the table."""
        code, canon, pal, valid = _codes(body_NM, grid, k)
        table = self._table(k)
        rows, col = np.nonzero(valid)
        code, canon, pal = code[rows, col], canon[rows, col], pal[rows, col]
        # Sorted queries search the table in cache order; most miss, and only hits count.
        order = np.argsort(code)
        lo = np.searchsorted(table[0], code[order], "left")
        hit = (
            table[0][np.minimum(lo, max(len(table[0]) - 1, 0))] == code[order]
            if len(table[0])
            else lo < 0
        )
        order, lo = order[hit], lo[hit]
        count = np.zeros(len(code), np.int64)
        count[order] = np.searchsorted(table[0], code[order], "right") - lo
        first = np.zeros(len(code), np.int64)
        first[order] = lo
        lo = first
        q = np.repeat(np.arange(len(code)), count)  # the query of each candidate
        entry = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        entry += np.repeat(lo, count)
        e_canon, e_pal, seq, pos = (t[entry] for t in table[1:])
        p = grid[col[q]]
        same = canon[q] == e_canon
        both = pal[q] | e_pal  # a palindromic seed matches both strands
        fwd, rev = same | both, ~same | both
        rows_c = np.concatenate([rows[q][fwd], rows[q][rev]])
        seq_c = np.concatenate([seq[fwd], seq[rev]])
        strand_c = np.concatenate(
            [np.zeros(int(fwd.sum()), np.int64), np.ones(int(rev.sum()), np.int64)]
        )
        diag_c = np.concatenate([(p - pos)[fwd], (p - (self.lengths[seq] - pos - k))[rev]])
        # One check per (window, sequence, strand, diagonal).
        order = np.lexsort((diag_c, strand_c, seq_c, rows_c))
        cols = [c[order] for c in (rows_c, seq_c, strand_c, diag_c)]
        new = np.ones(len(order), bool)
        if len(order) > 1:
            new[1:] = np.any([np.diff(c) != 0 for c in cols], axis=0)
        return tuple(c[new] for c in cols)

    def _longest_runs(self, body_NM, rows, seqs, strands, diags) -> np.ndarray:
        """int[C]: the longest run of equal called bases along each candidate's diagonal
        (window position i against position i - diag of the sequence or its reverse
        complement)."""
        m = body_NM.shape[1]
        i = np.arange(m)
        j = i[None, :] - diags[:, None]
        inside = (j >= 0) & (j < self.lengths[seqs][:, None])
        at = self.offsets[seqs][:, None] + np.clip(j, 0, None)
        at = np.minimum(at, len(self._buf[0]) - 1)
        other = np.where(strands[:, None] == 0, self._buf[0][at], self._buf[1][at])
        a = body_NM[rows]
        eq = inside & (a == other) & (a < 4)
        last_miss = np.maximum.accumulate(np.where(eq, -1, i[None, :]), axis=1)
        return (i[None, :] - last_miss).max(axis=1)

    def screen(self, tokens_NL: np.ndarray) -> np.ndarray:
        """bool[N]: as ``hits`` for rows padded with N (each row's leading and trailing N are
        stripped first, so rows of any content length mix)."""
        tokens_NL = np.asarray(tokens_NL, np.uint8)
        n, width = tokens_NL.shape
        out = np.zeros(n, bool)
        if n == 0 or len(self) == 0:
            return out
        called = tokens_NL != N
        first = np.argmax(called, axis=1)
        length = np.where(called.any(axis=1), width - np.argmax(called[:, ::-1], axis=1) - first, 0)
        for m in np.unique(length[length > 0]).tolist():
            rows = np.flatnonzero(length == m)
            idx = first[rows][:, None] + np.arange(m)[None, :]
            out[rows] = self.hits(np.take_along_axis(tokens_NL[rows], idx, axis=1))
        return out


def shares_held_out(
    tokens_NL: np.ndarray, held_out: Iterable[np.ndarray], *, min_shared: int | None = None
) -> np.ndarray:
    """bool[N]: rows (N-padded) sharing K bases with any held-out row or sequence; the one
    call a door needs (e.g. an in-domain pool against its set's valid and test rows)."""
    return OverlapIndex(held_out, min_shared=min_shared).screen(tokens_NL)
