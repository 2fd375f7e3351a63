"""`motifs`: first-layer convolution filters as PWMs, written as MEME and matched to JASPAR.

A first-layer filter is read through the sequences that activate it most, not through its
weights (weights are log-odds-like only up to scale and bias), as in Basset (Kelley et al.
2016): every window of the given sequences, both strands, is scored with the filter's
kernel and bias (N bases contribute nothing); windows scoring above ``threshold`` x the
filter's maximum (at most ``max_sites`` of the best) are stacked and their base counts
(+ a 0.1 pseudocount per base and column) are the filter's letter-probability matrix.

Similarity to a database motif (documented here because it is ours, not Tomtom's p-values):
both PPMs are centred per column (p - 0.25; a column sums to 1, so this is the mean of every
entry), and for every relative offset of the query and of each strand of the target with an
overlap of at least ``min(min_overlap, widths)`` columns, the Pearson correlation r of the
aligned entries is computed; the score is ``r * overlap / min(query width, target width)``,
so a partial overlap earns partial credit. A match's score is its best over offsets and
strands. Query edge columns under ``trim_bits`` of information are trimmed first.
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


def _best_alignment(
    q: np.ndarray, t: np.ndarray, min_overlap: int
) -> tuple[float, float, int, int]:
    """(score, r, offset, overlap) of the best offset of ``t`` against ``q``, both [W, 4]."""
    qc, tc = q - 0.25, t - 0.25
    wq, wt = len(q), len(t)
    dots = qc @ tc.T  # [wq, wt]: column i of q against column j of t
    qn, tn = (qc**2).sum(1), (tc**2).sum(1)
    need = min(min_overlap, wq, wt)
    best = (-np.inf, 0.0, 0, 0)
    for offset in range(-(wq - need), wt - need + 1):  # t column = q column + offset
        lo, hi = max(0, -offset), min(wq, wt - offset)
        overlap = hi - lo
        if overlap < need:
            continue
        num = np.trace(dots, offset=offset)
        den = np.sqrt(qn[lo:hi].sum() * tn[lo + offset : hi + offset].sum())
        r = float(num / den) if den > 0 else 0.0
        score = r * overlap / min(wq, wt)
        if score > best[0]:
            best = (score, r, offset, overlap)
    return best


def match(
    query: np.ndarray, database: Sequence[Motif], *, min_overlap: int = 5, trim_bits: float = 0.3
) -> list[Match]:
    """Every database motif's best alignment to ``query`` [W, 4], best first (both strands)."""
    core, start = trim(query, trim_bits)
    if len(core) == 0:
        return []
    found = []
    for motif in database:
        t = motif.probs / motif.probs.sum(1, keepdims=True)
        fwd = _best_alignment(core, t, min_overlap)
        rev = _best_alignment(core, t[::-1, ::-1], min_overlap)
        (score, r, offset, overlap), strand = max((fwd, "+"), (rev, "-"), key=lambda x: x[0][0])
        found.append(Match(motif, score, r, strand, offset - start, overlap))
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


def match_table(
    pwms: Sequence[FilterPWM], database: Sequence[Motif], *, top: int = 3, **kwargs
) -> dict[str, list]:
    """One row per filter: its sites, information, and best ``top`` database matches."""
    cols: dict[str, list] = {"filter": [], "nsites": [], "max_activation": [], "bits": []}
    for k in range(1, top + 1):
        for key in ("id", "name", "score", "r", "strand", "offset", "overlap"):
            cols[f"match{k}_{key}"] = []
    for p in pwms:
        cols["filter"].append(p.name)
        cols["nsites"].append(p.nsites)
        cols["max_activation"].append(p.max_activation)
        cols["bits"].append(float(information(p.probs).sum()))
        found = match(p.probs, database, **kwargs) if p.nsites else []
        for k in range(1, top + 1):
            m = found[k - 1] if k <= len(found) else None
            values = (
                (m.target.id, m.target.name, m.score, m.r, m.strand, m.offset, m.overlap)
                if m
                else ("", "", np.nan, np.nan, "", "", "")
            )
            for key, value in zip(
                ("id", "name", "score", "r", "strand", "offset", "overlap"), values, strict=True
            ):
                cols[f"match{k}_{key}"].append(value)
    return cols


def fit_for_motifs(sequences: Sequence[bytes], seq_len: int) -> np.ndarray:
    """Tokens of the sequences at the model's length (as `predict`), N rows dropped."""
    tokens, _ = fit(sequences, seq_len)
    return tokens[~(tokens == N).all(1)]
