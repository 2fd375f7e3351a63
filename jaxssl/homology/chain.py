"""UCSC chain files and liftOver, vectorised over intervals.

Format (https://genome.ucsc.edu/goldenPath/help/chain.html): a header line
``chain score tName tSize tStrand tStart tEnd qName qSize qStrand qStart qEnd id``, then lines
``size dt dq`` (an aligned block, then the gaps to the next block on target and query) and a last
line ``size``; a blank line ends the chain. Coordinates are 0-based half-open, and when qStrand
is ``-`` the query coordinates count on the reverse complement of the query chromosome.

liftOver semantics follow UCSC's tool: an interval maps through a chain when the bases of the
chain's blocks inside it make up at least ``min_match`` of its length; it is reported from the
first to the last mapped base. If no chain qualifies it is deleted (or partially deleted); if
more than one does and ``multiple`` is off, it is duplicated and not mapped.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAPPED = "mapped"
DELETED = "deleted"  # no aligned base of any chain inside the interval
PARTIAL = "partially deleted"  # some chain aligns part of it, none at least min_match
DUPLICATED = "duplicated"  # more than one chain qualifies (and multiple=False)


@dataclass(frozen=True)
class Chain:
    """One chain; block arrays [n]: t_starts on the target + strand, q_starts on q_strand."""

    score: float
    t_name: str
    t_size: int
    t_start: int
    t_end: int
    q_name: str
    q_size: int
    q_strand: str
    q_start: int
    q_end: int
    id: int
    t_starts: np.ndarray
    q_starts: np.ndarray
    sizes: np.ndarray
    line: int = 0  # 1-based header line in its file (0 when built in memory), for error messages

    @property
    def aligned_bases(self) -> int:
        return int(self.sizes.sum())


def _read_lines(path: Path) -> list[str]:
    """The file's text lines; gzip or binary garbage is refused naming the file."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    what = "gzip-compressed data" if gzipped else "data"
    try:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:
        if isinstance(err, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise ValueError(
            f"{path}: corrupt or truncated gzip data ({err}); not a chain file"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ValueError(
            f"{path}:{line}: {what} that is not text (byte {err.start}), not a chain file; "
            "expected UCSC chain text ('chain' header lines, then block lines)"
        ) from None
    if "\x00" in text:
        raise ValueError(f"{path}: binary {what} (NUL bytes), not a chain file")
    return text.split("\n")


def _parse_header(path: Path, lineno: int, line: str) -> tuple:
    fields = line.split()
    if len(fields) not in (12, 13):
        raise ValueError(
            f"{path}:{lineno}: a chain header has 12 or 13 fields (chain score tName tSize "
            f"tStrand tStart tEnd qName qSize qStrand qStart qEnd [id]), got {len(fields)}"
        )
    try:
        score = float(fields[1])
        t_size, t_start, t_end = int(fields[3]), int(fields[5]), int(fields[6])
        q_size, q_start, q_end = int(fields[8]), int(fields[10]), int(fields[11])
        chain_id = int(fields[12]) if len(fields) == 13 else lineno
    except ValueError as err:
        raise ValueError(f"{path}:{lineno}: non-numeric field in chain header: {err}") from None
    if fields[4] != "+":
        raise ValueError(f"{path}:{lineno}: tStrand must be '+', got {fields[4]!r}")
    if fields[9] not in "+-" or len(fields[9]) != 1:
        raise ValueError(f"{path}:{lineno}: qStrand must be '+' or '-', got {fields[9]!r}")
    if not (0 <= t_start < t_end <= t_size and 0 <= q_start < q_end <= q_size):
        raise ValueError(
            f"{path}:{lineno}: need 0 <= start < end <= size on target and query, got "
            f"t {t_start}-{t_end} of {t_size}, q {q_start}-{q_end} of {q_size}"
        )
    return (score, fields[2], t_size, t_start, t_end, fields[7], q_size, fields[9],
            q_start, q_end, chain_id)  # fmt: skip


def _parse_blocks(path: Path, first: int, rows: list[str]) -> np.ndarray:
    """The size/dt/dq numbers of one chain as [n, 3] (last row's gaps 0); first = 1-based line."""
    try:
        nums = np.array(" ".join(rows).split(), dtype=np.int64)
    except ValueError:
        nums = None
    if nums is None or len(nums) != 3 * len(rows) - 2 or (nums < 0).any():
        for k, row in enumerate(rows):  # slow path only to name the bad line
            want = 1 if k == len(rows) - 1 else 3
            parts = row.split()
            if len(parts) != want or not all(p.isdigit() for p in parts):
                what = "'size'" if want == 1 else "'size dt dq'"
                raise ValueError(
                    f"{path}:{first + k}: expected {what} (non-negative integers), got {row!r}"
                )
        raise ValueError(f"{path}:{first}: malformed alignment block lines")
    return np.concatenate([nums, [0, 0]]).reshape(-1, 3)


def read_chains(path: str | Path) -> list[Chain]:
    """All chains of a (optionally gzipped) chain file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"chain file {path} not found")
    lines = _read_lines(path)
    chains: list[Chain] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            i += 1
            continue
        if not line.startswith("chain"):
            raise ValueError(f"{path}:{i + 1}: expected a 'chain' header line, got {line[:80]!r}")
        header = _parse_header(path, i + 1, line)
        k = i + 1
        while k < n and lines[k].strip() and not lines[k].startswith("chain"):
            k += 1
        if k == i + 1:
            raise ValueError(f"{path}:{i + 1}: chain {header[-1]} has no alignment block lines")
        blocks = _parse_blocks(path, i + 2, lines[i + 1 : k])
        sizes, dt, dq = blocks[:, 0], blocks[:, 1], blocks[:, 2]
        steps_t = np.concatenate([[0], np.cumsum(sizes[:-1] + dt[:-1])])
        steps_q = np.concatenate([[0], np.cumsum(sizes[:-1] + dq[:-1])])
        t_starts, q_starts = header[3] + steps_t, header[8] + steps_q
        if t_starts[-1] + sizes[-1] != header[4] or q_starts[-1] + sizes[-1] != header[9]:
            raise ValueError(
                f"{path}:{i + 1}: blocks of chain {header[-1]} end at t {t_starts[-1] + sizes[-1]}"
                f", q {q_starts[-1] + sizes[-1]} but the header says t {header[4]}, q {header[9]}"
            )
        chains.append(Chain(*header, t_starts=t_starts, q_starts=q_starts, sizes=sizes, line=i + 1))
        i = k
    return chains


@dataclass(frozen=True)
class LiftResult:
    """liftOver of n intervals; arrays [n] (n rows per hit when multiple=True, see `source`)."""

    source: np.ndarray  # index of the input interval
    status: np.ndarray  # MAPPED / DELETED / PARTIAL / DUPLICATED
    chrom: np.ndarray  # query chromosome ('' when not mapped)
    start: np.ndarray  # int64, -1 when not mapped
    end: np.ndarray
    strand: np.ndarray  # '+' / '-' ('' when not mapped)
    matched: np.ndarray  # best fraction of the interval aligned by one chain
    chain_id: np.ndarray  # -1 when not mapped

    @property
    def mapped(self) -> np.ndarray:
        return self.status == MAPPED


@dataclass(frozen=True)
class _ChromChains:
    chains: list[Chain]  # sorted by t_start
    cum: list[np.ndarray]  # per chain, aligned bases before each block


class ChainIndex:
    """Chains grouped per target chromosome for fast interval lifting."""

    def __init__(self, chains: list[Chain]):
        by_chrom: dict[str, list[Chain]] = {}
        for chain in chains:
            by_chrom.setdefault(chain.t_name, []).append(chain)
        self._by_chrom = {}
        for name, group in by_chrom.items():
            group.sort(key=lambda c: c.t_start)
            cum = [np.concatenate([[0], np.cumsum(c.sizes)]) for c in group]
            self._by_chrom[name] = _ChromChains(group, cum)
        self.chains = chains

    @classmethod
    def from_file(cls, path: str | Path) -> ChainIndex:
        return cls(read_chains(path))

    @property
    def target_chroms(self) -> list[str]:
        return list(self._by_chrom)

    def chains_on(self, t_name: str) -> list[Chain]:
        return list(self._by_chrom[t_name].chains) if t_name in self._by_chrom else []

    def lift(
        self, chroms, starts, ends, strands=None, *, min_match: float = 0.95,
        multiple: bool = False,
    ) -> LiftResult:  # fmt: skip
        """Lifts intervals [start, end) on the target to the query (liftOver -minMatch)."""
        chroms = np.asarray(chroms, dtype=object)
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        n = len(starts)
        strands = np.full(n, "+", object) if strands is None else np.asarray(strands, object)
        if not (len(chroms) == len(ends) == len(strands) == n):
            raise ValueError("chroms, starts, ends and strands must have the same length")
        if n and (starts < 0).any() | (ends <= starts).any():
            bad = int(np.flatnonzero((starts < 0) | (ends <= starts))[0])
            raise ValueError(f"interval {bad} ({starts[bad]}, {ends[bad]}) needs 0 <= start < end")
        if not 0.0 < min_match <= 1.0:
            raise ValueError(f"min_match must be in (0, 1], got {min_match}")

        hits = []  # (source, chain_id, matched, q_start, q_end, q_minus, q_name)
        best = np.zeros(n)
        for name in np.unique(chroms) if n else []:
            if name not in self._by_chrom:
                continue
            sel = np.flatnonzero(chroms == name)
            order = np.argsort(starts[sel], kind="stable")
            sel = sel[order]
            s, e = starts[sel], ends[sel]
            longest = int((e - s).max())
            group = self._by_chrom[name]
            for chain, cum in zip(group.chains, group.cum, strict=True):
                lo = np.searchsorted(s, chain.t_start - longest, "left")
                hi = np.searchsorted(s, chain.t_end, "left")
                cand = np.arange(lo, hi)[e[lo:hi] > chain.t_start]
                if len(cand) == 0:
                    continue
                hits.append(self._lift_through(chain, cum, sel[cand], s[cand], e[cand]))
        if hits:
            src, chain_id, matched, q_lo, q_hi, q_name, q_minus = (
                np.concatenate([h[k] for h in hits]) for k in range(7)
            )
        else:
            src = chain_id = q_lo = q_hi = np.zeros(0, np.int64)
            matched = np.zeros(0)
            q_name = np.zeros(0, object)
            q_minus = np.zeros(0, bool)
        np.maximum.at(best, src, matched)
        frac = matched / (ends[src] - starts[src])
        ok = frac >= min_match - 1e-12
        n_ok = np.bincount(src[ok], minlength=n)
        status = np.where(n_ok == 1, MAPPED, np.where(best > 0, PARTIAL, DELETED)).astype(object)
        status[n_ok > 1] = MAPPED if multiple else DUPLICATED
        keep = ok & ((n_ok[src] == 1) | multiple)
        out_src = np.concatenate([np.flatnonzero(~(n_ok >= 1) | ((n_ok > 1) & ~multiple)),
                                  src[keep]])  # fmt: skip
        rows = len(out_src) - int(keep.sum())
        flip = q_minus[keep]
        in_strand = strands[src[keep]]
        out_strand = np.where(flip, np.where(in_strand == "-", "+", "-"), in_strand)
        result = LiftResult(
            source=out_src,
            status=status[out_src],
            chrom=np.concatenate([np.full(rows, "", object), q_name[keep]]),
            start=np.concatenate([np.full(rows, -1, np.int64), q_lo[keep]]),
            end=np.concatenate([np.full(rows, -1, np.int64), q_hi[keep]]),
            strand=np.concatenate([np.full(rows, "", object), out_strand.astype(object)]),
            matched=np.concatenate(
                [best[out_src[:rows]] / (ends - starts)[out_src[:rows]], frac[keep]]
            ),  # fmt: skip
            chain_id=np.concatenate([np.full(rows, -1, np.int64), chain_id[keep]]),
        )
        order = np.argsort(result.source, kind="stable")
        return LiftResult(**{k: getattr(result, k)[order] for k in result.__dataclass_fields__})

    @staticmethod
    def _lift_through(chain: Chain, cum: np.ndarray, src, s, e):
        """Aligned bases and the mapped query span of intervals [s, e) through one chain."""
        ts, size, qs = chain.t_starts, chain.sizes, chain.q_starts
        te = ts + size

        def aligned_before(x: np.ndarray) -> np.ndarray:
            k = np.searchsorted(ts, x, "right") - 1
            kk = np.maximum(k, 0)
            inside = np.clip(x - ts[kk], 0, size[kk])
            return np.where(k >= 0, cum[kk] + inside, 0)

        matched = aligned_before(e) - aligned_before(s)
        has = matched > 0
        src, s, e, matched = src[has], s[has], e[has], matched[has]
        k1 = np.searchsorted(te, s, "right")  # first block ending after s
        first = np.maximum(s, ts[k1])
        k2 = np.searchsorted(ts, e, "left") - 1  # last block starting before e
        last = np.minimum(e, te[k2]) - 1
        q_lo = qs[k1] + (first - ts[k1])
        q_hi = qs[k2] + (last - ts[k2]) + 1
        minus = chain.q_strand == "-"
        if minus:
            q_lo, q_hi = chain.q_size - q_hi, chain.q_size - q_lo
        m = len(src)
        return (src, np.full(m, chain.id, np.int64), matched.astype(np.float64), q_lo, q_hi,
                np.full(m, chain.q_name, object), np.full(m, minus, bool))  # fmt: skip


def swap_chain(chain: Chain) -> Chain:
    """The same alignment seen from the query (UCSC chainSwap): query becomes target.

    The new target must read on its + strand, so a minus-strand chain is mirrored on both
    sequences (block order reversed) and stays minus-strand.
    """
    if chain.q_strand == "+":
        return Chain(
            chain.score, chain.q_name, chain.q_size, chain.q_start, chain.q_end, chain.t_name,
            chain.t_size, "+", chain.t_start, chain.t_end, chain.id, chain.q_starts.copy(),
            chain.t_starts.copy(), chain.sizes.copy(), chain.line,
        )  # fmt: skip
    sizes = chain.sizes[::-1].copy()
    return Chain(
        chain.score, chain.q_name, chain.q_size, chain.q_size - chain.q_end,
        chain.q_size - chain.q_start, chain.t_name, chain.t_size, "-",
        chain.t_size - chain.t_end, chain.t_size - chain.t_start, chain.id,
        (chain.q_size - chain.q_starts - chain.sizes)[::-1].copy(),
        (chain.t_size - chain.t_starts - chain.sizes)[::-1].copy(), sizes, chain.line,
    )  # fmt: skip


def _alias_hint(names: set[str], known: dict[str, int]) -> str:
    aliased = {n[3:] if n.startswith("chr") else "chr" + n for n in names}
    return (
        " (the names differ only by a 'chr' prefix: rename one side)"
        if aliased & set(known)
        else ""
    )


def check_chain_genomes(
    chains: list[Chain],
    path: str | Path,
    *,
    target_sizes: dict[str, int],
    query_sizes: dict[str, int],
    target_what: str = "the reference genome",
    query_what: str = "the query genome",
) -> None:
    """Refuses chains made for other assemblies: every name must exist with the chain's size.

    Names and sizes are the only fingerprint a chain file carries of the assemblies it was built
    on, so a disagreement means coordinates would silently land on the wrong bases.
    """
    if not chains:
        raise ValueError(f"{path}: no chains in the file")
    t_names = {c.t_name for c in chains}
    q_names = {c.q_name for c in chains}
    swapped = t_names <= set(query_sizes) and q_names <= set(target_sizes)
    if swapped and not t_names & set(target_sizes) and not q_names & set(query_sizes):
        raise ValueError(
            f"{path}: the chains run the other way (their target sequences "
            f"{sorted(t_names)[:5]} are in {query_what}, their query sequences in {target_what});"
            " the chain target must be the reference: swap the file with UCSC chainSwap or pass"
            " the right one"
        )
    for side, names_of, sizes, what in (
        ("target", lambda c: (c.t_name, c.t_size), target_sizes, target_what),
        ("query", lambda c: (c.q_name, c.q_size), query_sizes, query_what),
    ):
        unknown = sorted({names_of(c)[0] for c in chains} - set(sizes))
        if unknown:
            first = next(c for c in chains if names_of(c)[0] == unknown[0])
            raise ValueError(
                f"{path}:{first.line}: chain {first.id} names {side} sequence {unknown[0]!r}, which"
                f" is not in {what} ({len(unknown)} unknown {side} names: {unknown[:5]}; it has "
                f"{list(sizes)[:5]}){_alias_hint(set(unknown), sizes)}; the chain file does not "
                "match this genome: pass the chains built for these assemblies"
            )
        for c in chains:
            name, size = names_of(c)
            if sizes[name] != size:
                raise ValueError(
                    f"{path}:{c.line}: chain {c.id} says {side} sequence {name!r} is {size:,} bp,"
                    f" {what} has {sizes[name]:,} bp; the chain was built on another assembly "
                    "version: pass the chains built for these assemblies"
                )
