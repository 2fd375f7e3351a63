"""Where a reference window lands in another genome: through chains, or by aligning it.

Both mappers answer the same two questions per source window: the target position of the base
under the window's centre token, and whether the target sequence reads forward or reverse
complemented in the window's own orientation. `window_starts` then cuts a target window of the
same length around that base, so the centre (where from-peaks puts the summit and the labels'
core) stays the centre and token i of the target window is homologous to token i of the source.

Orientation convention (as in the shard sets): a window with strand '-' holds the reverse
complement of genome[start:start + L]; its token i is genome base start + L - 1 - i.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from jaxssl.homology.chain import DELETED, DUPLICATED, MAPPED, PARTIAL, ChainIndex
from jaxssl.optional import require
from jaxssl.tokens import TOKEN_TO_BYTE

# A chain hit has no mapping quality; we report round(60 x matched fraction), which puts a
# fully aligned window at minimap2's "unique" 60 and a window at min_match 0.5 at 30.
CHAIN_MAPQ_SCALE = 60.0


@dataclass
class Mapped:
    """Source windows that landed; arrays [M], in source order."""

    source: np.ndarray  # int64: index of the source window
    chrom: np.ndarray  # object: target chromosome
    centre: np.ndarray  # int64: target (forward) position of the source's centre-token base
    minus: np.ndarray  # bool: target tokens are the reverse complement of the target forward
    mapq: np.ndarray  # float32
    counts: dict[str, int] = field(default_factory=dict)  # why the others did not land

    def select(self, keep: np.ndarray) -> Mapped:
        return Mapped(
            self.source[keep],
            self.chrom[keep],
            self.centre[keep],
            self.minus[keep],
            self.mapq[keep],
            dict(self.counts),
        )


def centre_token(seq_len: int) -> int:
    """Index of the centre token (from-peaks puts the summit at start + seq_len // 2)."""
    return seq_len // 2


def source_centres(starts: np.ndarray, strands: np.ndarray, seq_len: int) -> np.ndarray:
    """Reference position of each window's centre-token base (see the orientation rule)."""
    c = centre_token(seq_len)
    return np.where(np.asarray(strands) == "-", starts + seq_len - 1 - c, starts + c)


def window_starts(centre: np.ndarray, minus: np.ndarray, seq_len: int) -> np.ndarray:
    """Forward start of the target window whose centre token is the base at `centre`."""
    c = centre_token(seq_len)
    return np.where(minus, centre - (seq_len - 1 - c), centre - c).astype(np.int64)


def map_by_chains(
    index: ChainIndex,
    chroms: np.ndarray,
    starts: np.ndarray,
    strands: np.ndarray,
    seq_len: int,
    *,
    min_match: float = 0.5,
    max_length_change: float = 0.1,
) -> Mapped:
    """liftOver of every window (one chain must align >= min_match of it), then its centre.

    A window whose lifted span differs from seq_len by more than max_length_change x seq_len
    (a large indel inside it) is dropped; smaller changes are kept (the target window is re-cut
    at seq_len around the centre) and counted. Windows not read from the genome (strand '.',
    e.g. shuffled negatives) are skipped and counted.
    """
    chroms = np.asarray(chroms, object)
    starts = np.asarray(starts, np.int64)
    strands = np.asarray(strands, object)
    genomic = np.isin(strands, ["+", "-"])
    src = np.flatnonzero(genomic)
    lift = index.lift(
        chroms[src], starts[src], starts[src] + seq_len, strands[src], min_match=min_match
    )
    status = lift.status
    counts = {
        "source_windows": len(starts),
        "not_genomic": int((~genomic).sum()),
        "deleted": int((status == DELETED).sum()),
        "partially_deleted": int((status == PARTIAL).sum()),
        "duplicated": int((status == DUPLICATED).sum()),
    }
    ok = status == MAPPED
    length = lift.end - lift.start
    changed = ok & (length != seq_len)
    too_far = ok & (np.abs(length - seq_len) > max_length_change * seq_len)
    counts["length_changed_kept"] = int((changed & ~too_far).sum())
    counts["length_changed_dropped"] = int(too_far.sum())
    ok &= ~too_far
    rows = np.flatnonzero(ok)
    source = src[lift.source[rows]]
    chain_id = lift.chain_id[rows]

    # The centre base through the same chain; in a gap of it, the middle of the lifted span.
    points = source_centres(starts[source], strands[source], seq_len)
    hit = index.lift(chroms[source], points, points + 1, min_match=1.0, multiple=True)
    on = hit.mapped
    key_hit = hit.source[on].astype(np.int64) * (1 << 32) + hit.chain_id[on]
    key_want = np.arange(len(source), dtype=np.int64) * (1 << 32) + chain_id
    order = np.argsort(key_hit)
    pos = np.searchsorted(key_hit[order], key_want)
    pos = np.minimum(pos, max(len(order) - 1, 0))
    found = np.zeros(len(source), bool)
    if len(order):
        found = key_hit[order][pos] == key_want
    centre = (lift.start[rows] + lift.end[rows] - 1) // 2
    if len(order):
        centre = np.where(found, hit.start[on][order][pos], centre)
    counts["centre_in_gap"] = int((~found).sum())
    return Mapped(
        source=source.astype(np.int64),
        chrom=lift.chrom[rows],
        centre=centre.astype(np.int64),
        minus=lift.strand[rows] == "-",
        mapq=np.round(CHAIN_MAPQ_SCALE * lift.matched[rows]).astype(np.float32),
        counts=counts,
    )


def tokens_to_strings(tokens_NL: np.ndarray) -> list[str]:
    """ACGTN strings of token rows (one vectorised table lookup, then one decode per row)."""
    raw = TOKEN_TO_BYTE[np.asarray(tokens_NL)]
    return [row.tobytes().decode("ascii") for row in raw]


def _query_to_target(hit, q_pos: int, seq_len: int) -> tuple[int, bool]:
    """Target position aligned to query index q_pos (forward query); False when extrapolated.

    minimap2 aligns the reverse complement of the query on strand -1 and reports q_st/q_en on
    the forward query, so the walk over the CIGAR happens in reverse-complement coordinates.
    A query base inside an insertion maps to the next target base.
    """
    if hit.strand == 1:
        q, want = hit.q_st, q_pos
    else:
        q, want = seq_len - hit.q_en, seq_len - 1 - q_pos
    r = hit.r_st
    if want < q:
        return r - (q - want), False
    for length, op in hit.cigar:
        if op in (0, 7, 8):  # M, =, X
            if want < q + length:
                return r + (want - q), True
            q += length
            r += length
        elif op == 1:  # I: query bases absent from the target
            if want < q + length:
                return r, True
            q += length
        elif op in (2, 3):  # D, N: target bases absent from the query
            r += length
    return r + (want - q), False


def _mappy():
    """mappy (minimap2's Python binding) is optional: only mapping without chain files uses it."""
    return require(
        "mappy",
        "Mapping windows with minimap2 (data_prep homology or windows without --chains)",
        extra="homology",
    )


def minimap_aligner(fasta: str, *, preset: str = "map-ont", **options):
    """A mappy (minimap2) index of a genome with settings tuned for ~100-1000 bp windows.

    minimap2's presets assume reads or assemblies; windows of a few hundred bp from a
    species ~10 % diverged need smaller seeds (k=13, w=5) and a lower chaining threshold to
    map at all (measured on the toy world: 58 % mapped with map-ont defaults, 96 % with these).
    """
    mappy = _mappy()
    settings = {"k": 13, "w": 5, "min_cnt": 2, "min_chain_score": 20, **options}
    aligner = mappy.Aligner(str(fasta), preset=preset, **settings)
    if not aligner:
        raise ValueError(f"{fasta}: minimap2 could not load or index this FASTA")
    return aligner


def minimap_hits(aligner, seqs: list[str], threads: int = 1) -> list[list]:
    """All hits of every sequence, mapped on `threads` threads (mappy releases the GIL)."""
    mappy = _mappy()

    def work(chunk: list[str]) -> list[list]:
        buf = mappy.ThreadBuffer()
        return [list(aligner.map(s, buf=buf)) for s in chunk]

    if threads <= 1 or len(seqs) < 2 * threads:
        return work(seqs)
    size = -(-len(seqs) // (4 * threads))
    chunks = [seqs[i : i + size] for i in range(0, len(seqs), size)]
    with ThreadPoolExecutor(threads) as pool:
        return [h for part in pool.map(work, chunks) for h in part]


def map_by_minimap(
    aligner,
    tokens_NL: np.ndarray,
    *,
    min_match: float = 0.5,
    min_mapq: int = 0,
    threads: int = 1,
) -> Mapped:
    """Aligns each window's own sequence to the target; keeps the primary hit and its MAPQ.

    A hit must cover >= min_match of the window (aligned query span) and have MAPQ >=
    min_mapq; the centre token is carried through the CIGAR (extrapolated, and counted, when
    the alignment stops short of it).
    """
    tokens_NL = np.asarray(tokens_NL)
    n, seq_len = tokens_NL.shape
    c = centre_token(seq_len)
    hits = minimap_hits(aligner, tokens_to_strings(tokens_NL), threads)
    counts = {
        "source_windows": n,
        "unmapped": 0,
        "partially_aligned": 0,
        "low_mapq": 0,
        "centre_extrapolated": 0,
    }
    source, chrom, centre, minus, mapq = [], [], [], [], []
    for i, window_hits in enumerate(hits):
        primary = next((h for h in window_hits if h.is_primary), None)
        if primary is None:
            counts["unmapped"] += 1
            continue
        if primary.q_en - primary.q_st < min_match * seq_len:
            counts["partially_aligned"] += 1
            continue
        if primary.mapq < min_mapq:
            counts["low_mapq"] += 1
            continue
        pos, inside = _query_to_target(primary, c, seq_len)
        counts["centre_extrapolated"] += int(not inside)
        source.append(i)
        chrom.append(primary.ctg)
        centre.append(pos)
        minus.append(primary.strand == -1)
        mapq.append(primary.mapq)
    return Mapped(
        source=np.asarray(source, np.int64),
        chrom=np.asarray(chrom, object),
        centre=np.asarray(centre, np.int64),
        minus=np.asarray(minus, bool),
        mapq=np.asarray(mapq, np.float32),
        counts=counts,
    )
