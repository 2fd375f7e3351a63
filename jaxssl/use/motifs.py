"""`motifs`: first-layer convolution filters as PWMs, written as MEME and matched to JASPAR.

A first-layer filter is read through the sequences that activate it most, not through its
weights (weights are log-odds-like only up to scale and bias), as in Basset (Kelley et al.
2016): every window of the given sequences, both strands, is scored with the filter's
kernel and bias (N bases contribute nothing); windows scoring above ``threshold`` x the
filter's maximum (at most ``max_sites`` of the best) are stacked and their base counts
(+ a 0.1 pseudocount per base and column) are the filter's letter-probability matrix.

Similarity to a database motif (documented here because it is ours, not Tomtom's): both
PPMs are centred per column (p - 0.25; a column sums to 1, so this is the mean of every
entry), and for every relative offset of the query and of each strand of the target with an
overlap of at least ``min(min_overlap, widths)`` columns, the Pearson correlation r of the
aligned entries is computed; the score is ``r * overlap / min(query width, target width)``,
so a partial overlap earns partial credit. A match's score is its best over offsets and
strands. Query edge columns under ``trim_bits`` of information are trimmed first.

Significance (as Tomtom reports it: p, E and q per match, from a null of our own score).
The null distribution of the score for one query is made of ``null_shuffles`` column
permutations of its (trimmed) columns, each aligned to every database motif exactly as the
query is: a permuted query keeps the query's letter content and information but loses its
order, so it scores what a motif of that composition scores by chance against this database.
A match's p-value is empirical with one added count, ``p = (1 + #null scores >= score) /
(1 + null_shuffles x motifs)``, so it is never 0 and never below that floor (with 20,000 null
scores, 5e-5); the E-value is ``p x motifs`` (matches this good expected by chance among the
database), the q-value Benjamini-Hochberg over the query's p-values against every motif. A
query of few columns has few distinct permutations: its null is coarse, its p-values honest
but conservative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jaxssl.tokens import N, reverse_complement
from jaxssl.toyworld.motifs import Motif
from jaxssl.use.lengths import fit

PSEUDOCOUNT = 0.1


@dataclass
class FilterPWM:
    name: str
    probs: np.ndarray  # float64 [W, 4], rows sum to 1 (uniform when no site)
    nsites: int
    max_activation: float


@dataclass
class Match:
    target: Motif
    score: float  # r * overlap / min(widths)
    r: float
    strand: str  # '+' target as given, '-' its reverse complement
    offset: int  # target column aligned with query column 0 (target start - query start)
    overlap: int
    p_value: float = float("nan")  # of the score, against column-permuted queries
    e_value: float = float("nan")  # p_value x database motifs
    q_value: float = float("nan")  # Benjamini-Hochberg over the query's matches


def first_layer(params: dict[str, Any]) -> tuple[str, np.ndarray, np.ndarray]:
    """(path, kernel [W, 4, F], bias [F]) of the convolution that reads the one-hot bases.

    The model's first layer is the only kernel with 4 input channels (A, C, G, T) in every
    registered architecture with a convolutional stem; when several exist, the first in path
    order is taken."""
    found: list[tuple[tuple, np.ndarray, np.ndarray]] = []

    def walk(node: Any, path: tuple) -> None:
        if isinstance(node, dict):
            kernel = node.get("kernel")
            if kernel is not None and np.ndim(kernel) == 3 and np.shape(kernel)[1] == 4:
                bias = node.get("bias")
                f = np.shape(kernel)[2]
                found.append(
                    (
                        path,
                        np.asarray(kernel, np.float32),
                        np.zeros(f, np.float32) if bias is None else np.asarray(bias, np.float32),
                    )
                )
            for key in sorted(node, key=lambda k: (isinstance(k, str), str(k).zfill(8))):
                if key not in ("kernel", "bias"):
                    walk(node[key], (*path, key))

    walk(dict(params), ())
    if not found:
        raise ValueError(
            "this model has no first-layer convolution over the 4 bases (a kernel [W, 4, F]); "
            "motifs needs a convolutional first layer (deepbind, basset, dilated_resnet)"
        )
    path, kernel, bias = found[0]
    return "/".join(map(str, path)), kernel, bias


def activations(tokens_NL: np.ndarray, kernel_W4F: np.ndarray, bias_F: np.ndarray) -> np.ndarray:
    """float32 [N, L - W + 1, F]: the filter scores of every full window (cross-correlation,
    like `nnx.Conv`; an N base one-hots to zeros and adds nothing)."""
    width = kernel_W4F.shape[0]
    n, length = tokens_NL.shape
    out = np.broadcast_to(bias_F, (n, max(length - width + 1, 0), len(bias_F))).copy()
    lookup = np.concatenate([kernel_W4F, np.zeros((width, 1, kernel_W4F.shape[2]))], axis=1)
    for k in range(width):  # out[:, i] += kernel[k, tokens[:, i + k]]
        out += lookup[k][tokens_NL[:, k : k + out.shape[1]]]
    return out.astype(np.float32)


def filter_pwms(
    tokens_NL: np.ndarray,
    kernel_W4F: np.ndarray,
    bias_F: np.ndarray,
    *,
    threshold: float = 0.5,
    max_sites: int = 1000,
    both_strands: bool = True,
    names: Sequence[str] | None = None,
) -> list[FilterPWM]:
    """One PWM per filter from its top-activating windows (see the module doc)."""
    tokens_NL = np.asarray(tokens_NL, np.uint8)
    if both_strands:
        tokens_NL = np.concatenate([tokens_NL, reverse_complement(tokens_NL)])
    width, _, filters = kernel_W4F.shape
    if tokens_NL.shape[1] < width:
        raise ValueError(f"sequences of {tokens_NL.shape[1]} bp are shorter than the filters")
    act = activations(tokens_NL, kernel_W4F, bias_F)
    positions = act.shape[1]
    out = []
    for f in range(filters):
        name = names[f] if names is not None else f"filter_{f}"
        flat = act[:, :, f].ravel()
        best = float(flat.max())
        counts = np.zeros((width, 5))
        nsites = 0
        if best > 0:
            k = min(max_sites, len(flat))
            top = np.argpartition(-flat, k - 1)[:k]
            top = top[flat[top] > threshold * best]
            nsites = len(top)
            rows, starts = np.divmod(top, positions)
            sites = tokens_NL[rows[:, None], starts[:, None] + np.arange(width)]
            np.add.at(counts, (np.broadcast_to(np.arange(width), sites.shape), sites), 1.0)
        probs = counts[:, :4] + PSEUDOCOUNT
        out.append(FilterPWM(name, probs / probs.sum(1, keepdims=True), nsites, best))
    return out


def information(probs_W4: np.ndarray) -> np.ndarray:
    """Bits per column against a uniform background."""
    p = np.clip(probs_W4, 1e-9, 1.0)
    return 2.0 + (p * np.log2(p)).sum(1)


def trim(probs_W4: np.ndarray, bits: float) -> tuple[np.ndarray, int]:
    """(columns between the first and last with >= ``bits`` of information, start offset)."""
    keep = np.nonzero(information(probs_W4) >= bits)[0]
    if len(keep) == 0:
        return probs_W4[:0], 0
    return probs_W4[keep[0] : keep[-1] + 1], int(keep[0])


@dataclass(frozen=True)
class Targets:
    """A motif database packed for aligning a query against every motif at once: both
    strands' centred PPMs zero-padded to the widest motif, their widths, and cumulative sums
    of the columns' squared norms (for the correlation's denominator)."""

    motifs: tuple[Motif, ...]
    centred: np.ndarray  # float64 [2, T, Wmax, 4]: strand + as given, - reverse complement
    norms_cum: np.ndarray  # float64 [2, T, Wmax + 1]
    widths: np.ndarray  # int64 [T]

    @staticmethod
    def pack(database: Sequence[Motif]) -> Targets:
        widths = np.asarray([m.width for m in database], np.int64)
        centred = np.zeros((2, len(database), int(widths.max(initial=1)), 4))
        for i, m in enumerate(database):
            t = m.probs / m.probs.sum(1, keepdims=True) - 0.25
            centred[0, i, : m.width] = t
            centred[1, i, : m.width] = t[::-1, ::-1]
        norms = (centred**2).sum(-1)
        norms_cum = np.concatenate([np.zeros((2, len(database), 1)), norms.cumsum(-1)], -1)
        return Targets(tuple(database), centred, norms_cum, widths)


def _align(
    queries_KW4: np.ndarray, targets: Targets, min_overlap: int, chunk: int = 16
) -> tuple[np.ndarray, ...]:
    """(score, r, offset, overlap, minus), each [K, T]: every query's best alignment to every
    target over offsets and strands (see the module doc; the first best offset, + strand on
    ties). Every offset and target is scored at once, one query column at a time."""
    k_total, wq, _ = queries_KW4.shape
    _, n_targets, wmax, _ = targets.centred.shape
    wt = targets.widths
    offsets = np.arange(-(wq - 1), wmax)  # target column = query column + offset
    lo = np.maximum(0, -offsets)[:, None]  # [O, 1]: first query column of the overlap
    hi = np.clip(np.minimum(wq, wt[None, :] - offsets[:, None]), lo, wq)  # [O, T]
    overlap = hi - lo
    need = np.minimum(np.minimum(min_overlap, wq), wt)  # [T]
    ok = overlap >= need[None, :]  # [O, T]
    t_lo = np.broadcast_to(lo + offsets[:, None], hi.shape)
    t_hi = hi + offsets[:, None]
    tn = np.stack(
        [
            cum[np.arange(n_targets)[None, :], t_hi] - cum[np.arange(n_targets)[None, :], t_lo]
            for cum in targets.norms_cum
        ]
    )  # [2, O, T]: squared norm of the overlapping target columns
    # Target columns padded so that query column i at every offset is one contiguous slice.
    padded = np.pad(targets.centred, [(0, 0), (0, 0), (wq - 1, wq), (0, 0)])
    n_off = len(offsets)
    scale = overlap / np.minimum(wq, wt)[None, :]
    out = [np.empty((k_total, n_targets)) for _ in range(3)]
    out += [np.zeros((k_total, n_targets), np.int64), np.zeros((k_total, n_targets), bool)]
    for k0 in range(0, k_total, chunk):
        q = queries_KW4[k0 : k0 + chunk] - 0.25  # [k, wq, 4]
        qcum = np.concatenate([np.zeros((len(q), 1)), (q**2).sum(-1).cumsum(-1)], -1)
        qn = qcum[:, hi] - qcum[:, np.broadcast_to(lo, hi.shape)]  # [k, O, T]
        num = np.zeros((len(q), 2, n_targets, n_off))
        for i in range(wq):  # sum over query columns of column i . target column i + offset
            num += np.tensordot(q[:, i], padded[:, :, i : i + n_off], axes=([1], [3]))
        num = np.moveaxis(num, -1, -2)  # [k, 2, O, T]
        den = np.sqrt(qn[:, None] * tn[None])
        r = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        score = np.where(ok, r * scale, -np.inf)
        best_o = score.argmax(2)  # [k, 2, T], the first best offset
        pick = best_o[:, :, None, :]
        best = np.take_along_axis(score, pick, 2)[:, :, 0]
        best_r = np.take_along_axis(r, pick, 2)[:, :, 0]
        minus = best[:, 1] > best[:, 0]  # [k, T]
        strand = minus.astype(np.int64)[:, None, :]
        o = np.take_along_axis(best_o, strand, 1)[:, 0]  # [k, T]
        out[0][k0 : k0 + chunk] = np.take_along_axis(best, strand, 1)[:, 0]
        out[1][k0 : k0 + chunk] = np.take_along_axis(best_r, strand, 1)[:, 0]
        out[2][k0 : k0 + chunk] = offsets[o]
        out[3][k0 : k0 + chunk] = overlap[o, np.arange(n_targets)[None, :]]
        out[4][k0 : k0 + chunk] = minus
    return tuple(out)


def _best_alignment(
    q: np.ndarray, t: np.ndarray, min_overlap: int
) -> tuple[float, float, int, int]:
    """(score, r, offset, overlap) of ``t``'s best offset against ``q`` (+ strand only)."""
    score, r, offset, overlap, _ = _align(q[None], Targets.pack([Motif("t", "t", t)]), min_overlap)
    score_p, r_p, off_p, ov_p = (a[0, 0] for a in (score, r, offset, overlap))
    return float(score_p), float(r_p), int(off_p), int(ov_p)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """q-values (Benjamini-Hochberg, monotone) of the p-values ``p``."""
    p = np.asarray(p, np.float64)
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    q = np.empty_like(p)
    q[order] = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    return q


def match(
    query: np.ndarray,
    database: Sequence[Motif] | Targets,
    *,
    min_overlap: int = 5,
    trim_bits: float = 0.3,
    null_shuffles: int = 0,
    seed: int = 0,
) -> list[Match]:
    """Every database motif's best alignment to ``query`` [W, 4], best first (both strands).

    With ``null_shuffles`` > 0 each match also gets a p-value, E-value and q-value against
    the scores of that many column permutations of the query against the whole database
    (see the module doc); otherwise those are NaN."""
    targets = database if isinstance(database, Targets) else Targets.pack(database)
    core, start = trim(query, trim_bits)
    if len(core) == 0:
        return []
    score, r, offset, overlap, minus = (a[0] for a in _align(core[None], targets, min_overlap))
    n = len(targets.motifs)
    p = e = q = np.full(n, np.nan)
    if null_shuffles > 0:
        rng = np.random.default_rng(seed)
        shuffled = np.stack([core[rng.permutation(len(core))] for _ in range(null_shuffles)])
        null = np.sort(_align(shuffled, targets, min_overlap)[0].ravel())
        at_least = len(null) - np.searchsorted(null, score - 1e-12, side="left")
        p = (1.0 + at_least) / (1.0 + len(null))
        e, q = p * n, benjamini_hochberg(p)
    found = [
        Match(
            targets.motifs[i],
            float(score[i]),
            float(r[i]),
            "-" if minus[i] else "+",
            int(offset[i]) - start,
            int(overlap[i]),
            float(p[i]),
            float(e[i]),
            float(q[i]),
        )
        for i in range(n)
    ]
    return sorted(found, key=lambda m: -m.score)


def meme_text(pwms: Sequence[FilterPWM]) -> str:
    """MEME v4 text of the filters' PWMs (readable by MEME suite tools and `read_meme`)."""
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", ""]
    lines += ["Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for p in pwms:
        lines.append(f"MOTIF {p.name}")
        lines.append(
            f"letter-probability matrix: alength= 4 w= {len(p.probs)} nsites= {p.nsites} E= 0"
        )
        lines += [" ".join(f"{x:.6f}" for x in row) for row in p.probs]
        lines.append("")
    return "\n".join(lines)


MATCH_KEYS = ("id", "name", "score", "r", "strand", "offset", "overlap", "p", "e", "q")


def null_shuffles_for(null_size: int, motifs: int) -> int:
    """Column permutations per query for at least ``null_size`` null scores (0: none)."""
    return 0 if null_size <= 0 else -(-null_size // max(motifs, 1))


def match_table(
    pwms: Sequence[FilterPWM],
    database: Sequence[Motif],
    *,
    top: int = 3,
    null_size: int = 0,
    **kwargs,
) -> dict[str, list]:
    """One row per filter: its sites, information, and best ``top`` database matches with
    their p-, E- and q-values (NaN when ``null_size`` is 0; see the module doc)."""
    targets = Targets.pack(database)
    shuffles = null_shuffles_for(null_size, len(database))
    cols: dict[str, list] = {"filter": [], "nsites": [], "max_activation": [], "bits": []}
    for k in range(1, top + 1):
        for key in MATCH_KEYS:
            cols[f"match{k}_{key}"] = []
    for f, p in enumerate(pwms):
        cols["filter"].append(p.name)
        cols["nsites"].append(p.nsites)
        cols["max_activation"].append(p.max_activation)
        cols["bits"].append(float(information(p.probs).sum()))
        found = (
            match(p.probs, targets, null_shuffles=shuffles, seed=f, **kwargs) if p.nsites else []
        )
        for k in range(1, top + 1):
            m = found[k - 1] if k <= len(found) else None
            values = (
                (m.target.id, m.target.name, m.score, m.r, m.strand, m.offset, m.overlap)
                + (m.p_value, m.e_value, m.q_value)
                if m
                else ("", "", np.nan, np.nan, "", "", "", np.nan, np.nan, np.nan)
            )
            for key, value in zip(MATCH_KEYS, values, strict=True):
                cols[f"match{k}_{key}"].append(value)
    return cols


def fit_for_motifs(sequences: Sequence[bytes], seq_len: int) -> np.ndarray:
    """Tokens of the sequences at the model's length (as `predict`), N rows dropped."""
    tokens, _ = fit(sequences, seq_len)
    return tokens[~(tokens == N).all(1)]
