"""The true alignment of an evolved genome to the reference, written as UCSC chains.

Aligned blocks are runs of bases whose reference origins are consecutive on one strand; blocks
on the same (reference chromosome, query chromosome, strand) that stay colinear join one chain,
the way UCSC's chainNet would report them (an inversion becomes a gap in the surrounding chain
plus its own minus-strand chain).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .evolve import Genome


@dataclass
class TrueChain:
    t_name: str
    q_name: str
    q_minus: bool
    t_starts: np.ndarray  # [n] block starts on the reference
    q_starts: np.ndarray  # [n] block starts on the query strand (reverse-complement if q_minus)
    sizes: np.ndarray  # [n]

    @property
    def score(self) -> int:
        """Aligned bases: the simulation knows the truth, so no substitution scoring is needed."""
        return int(self.sizes.sum())


def _blocks(src_chrom: np.ndarray, src_pos: np.ndarray, src_minus: np.ndarray):
    """Runs of consecutive origin: (query start, query end, t chrom, t start, minus) arrays."""
    aligned = src_pos >= 0
    step = np.where(src_minus, -1, 1)
    cont = (
        aligned[:-1]
        & aligned[1:]
        & (src_chrom[:-1] == src_chrom[1:])
        & (src_minus[:-1] == src_minus[1:])
        & (src_pos[1:] == src_pos[:-1] + step[:-1])
    )
    starts_prev = np.concatenate([[False], cont])  # base i continues the block of i - 1
    ends_next = np.concatenate([cont, [False]])
    q_start = np.flatnonzero(aligned & ~starts_prev)
    q_end = np.flatnonzero(aligned & ~ends_next) + 1
    minus = src_minus[q_start]
    t_start = np.where(minus, src_pos[q_end - 1], src_pos[q_start])
    return q_start, q_end, src_chrom[q_start], t_start, minus


def build_chains(genome: Genome, ref_names: list[str]) -> list[TrueChain]:
    """Chains of the true alignment, reference = target, genome = query; sorted by score."""
    chains: list[TrueChain] = []
    for chrom in genome:
        q_size = len(chrom.seq)
        q_start, q_end, t_chrom, t_start, minus = _blocks(
            chrom.src_chrom, chrom.src_pos, chrom.src_minus
        )
        size = q_end - q_start
        q_strand_start = np.where(minus, q_size - q_end, q_start)
        for t_index in np.unique(t_chrom):
            for strand in (False, True):
                sel = np.flatnonzero((t_chrom == t_index) & (minus == strand))
                if len(sel) == 0:
                    continue
                sel = sel[np.argsort(t_start[sel], kind="stable")]
                for blocks in _colinear_groups(t_start[sel], q_strand_start[sel], size[sel]):
                    b = sel[blocks]
                    chains.append(
                        TrueChain(
                            ref_names[t_index],
                            chrom.name,
                            bool(strand),
                            t_start[b],
                            q_strand_start[b],
                            size[b],
                        )  # fmt: skip
                    )
    chains.sort(key=lambda c: -c.score)
    return chains


def _colinear_groups(t: np.ndarray, q: np.ndarray, size: np.ndarray) -> list[np.ndarray]:
    """Splits blocks (sorted by t) into chains increasing in both t and q.

    Each block joins the open chain that ends closest before it on the query, so a small
    transposed piece becomes its own chain and does not cut the long one in two.
    """
    ends_t: list[int] = []
    ends_q: list[int] = []
    members: list[list[int]] = []
    for i in range(len(t)):
        best, best_q = -1, -1
        for k in range(len(members)):
            if ends_t[k] <= t[i] and best_q < ends_q[k] <= q[i]:
                best, best_q = k, ends_q[k]
        if best < 0:
            members.append([])
            ends_t.append(0)
            ends_q.append(0)
        members[best].append(i)
        ends_t[best] = int(t[i] + size[i])
        ends_q[best] = int(q[i] + size[i])
    return [np.asarray(m) for m in members]


def write_chains(
    path: Path, chains: list[TrueChain], t_sizes: dict[str, int], q_sizes: dict[str, int]
) -> None:
    """Writes UCSC chain format (https://genome.ucsc.edu/goldenPath/help/chain.html)."""
    out = []
    for chain_id, c in enumerate(chains, start=1):
        t_end = int(c.t_starts[-1] + c.sizes[-1])
        q_end = int(c.q_starts[-1] + c.sizes[-1])
        out.append(
            f"chain {c.score} {c.t_name} {t_sizes[c.t_name]} + {int(c.t_starts[0])} {t_end} "
            f"{c.q_name} {q_sizes[c.q_name]} {'-' if c.q_minus else '+'} {int(c.q_starts[0])} "
            f"{q_end} {chain_id}\n"
        )
        dt = c.t_starts[1:] - (c.t_starts[:-1] + c.sizes[:-1])
        dq = c.q_starts[1:] - (c.q_starts[:-1] + c.sizes[:-1])
        rows = np.stack([c.sizes[:-1], dt, dq], axis=1)
        out.extend(f"{a} {b} {d}\n" for a, b, d in rows.tolist())
        out.append(f"{int(c.sizes[-1])}\n\n")
    path.write_text("".join(out))
