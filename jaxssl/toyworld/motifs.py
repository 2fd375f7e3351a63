"""Position weight matrices: read MEME files, score whole chromosomes, sample binding sites.

Scoring is vectorised over positions (one table lookup per motif column), so a 1 Mb chromosome
scans in milliseconds and the truth of every simulated genome can be recomputed from its
sequence rather than carried along by bookkeeping that could drift from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxssl.tokens import NUM_BASES, reverse_complement_one_hot

SHIPPED_MEME = Path(__file__).resolve().parents[1] / "data" / "motifs" / "toyworld_jaspar2024.meme"
_N_PENALTY = -1e4  # log-odds of an N: no window containing one can ever look like a site


@dataclass(frozen=True)
class Motif:
    """One letter-probability matrix, ``probs`` [W, 4] over A, C, G, T."""

    id: str
    name: str
    probs: np.ndarray

    @property
    def width(self) -> int:
        return int(self.probs.shape[0])

    def log_odds(self, pseudocount: float = 0.01) -> np.ndarray:
        """log2 odds against a uniform background, [W, 4]."""
        p = (self.probs + pseudocount) / (1 + NUM_BASES * pseudocount)
        return np.log2(p / 0.25)


def read_meme(path: str | Path) -> list[Motif]:
    """Parses the motifs of a MEME (v4) text file; errors name the file and line."""
    path = Path(path)
    lines = path.read_text().splitlines()
    motifs: list[Motif] = []
    i = 0
    while i < len(lines):
        fields = lines[i].split()
        if not fields or fields[0] != "MOTIF":
            i += 1
            continue
        if len(fields) < 2:
            raise ValueError(f"{path}:{i + 1}: MOTIF line without an identifier")
        motif_id, name = fields[1], (fields[2] if len(fields) > 2 else fields[1])
        while i < len(lines) and not lines[i].startswith("letter-probability matrix"):
            i += 1
        if i == len(lines):
            raise ValueError(f"{path}: motif {motif_id} has no 'letter-probability matrix' line")
        header = lines[i].replace("=", " ").split()
        try:
            width = int(header[header.index("w") + 1])
        except (ValueError, IndexError):
            raise ValueError(f"{path}:{i + 1}: expected 'w= <width>' in {lines[i]!r}") from None
        rows = []
        for j in range(i + 1, i + 1 + width):
            try:
                row = [float(x) for x in lines[j].split()]
            except (ValueError, IndexError):
                raise ValueError(f"{path}:{j + 1}: expected 4 probabilities") from None
            if len(row) != NUM_BASES:
                raise ValueError(f"{path}:{j + 1}: expected 4 probabilities, got {len(row)}")
            rows.append(row)
        motifs.append(Motif(motif_id, name, np.asarray(rows, dtype=np.float64)))
        i += 1 + width
    return motifs


def load_motifs(names: tuple[str, ...], path: str | Path | None = None) -> dict[str, Motif]:
    """Motifs by TF name (case-insensitive) or matrix ID, from the shipped file by default."""
    path = SHIPPED_MEME if path is None else Path(path)
    available = read_meme(path)
    by_key = {m.name.upper(): m for m in available} | {m.id.upper(): m for m in available}
    missing = [n for n in names if n.upper() not in by_key]
    if missing:
        known = ", ".join(f"{m.name} ({m.id})" for m in available)
        raise ValueError(f"motifs {missing} are not in {path}; it holds: {known}")
    return {n: by_key[n.upper()] for n in names}


@dataclass(frozen=True)
class Scorer:
    """Relative PWM score (0 = worst possible window, 1 = best) on both strands."""

    motif: Motif

    def __post_init__(self) -> None:
        llr = self.motif.log_odds()
        lo, hi = llr.min(axis=1).sum(), llr.max(axis=1).sum()
        # Rescaled so the summed score is already relative; column 4 scores N.
        scaled = (llr - llr.min(axis=1, keepdims=True)) / (hi - lo)
        with_n = np.concatenate([scaled, np.full((len(llr), 1), _N_PENALTY)], axis=1)
        # A window's reverse complement scores against the PWM's (positions and ACGT reversed).
        rc_scaled = reverse_complement_one_hot(scaled)
        rc = np.concatenate([rc_scaled, np.full((len(llr), 1), _N_PENALTY)], axis=1)
        object.__setattr__(self, "_fwd", with_n.astype(np.float32))
        object.__setattr__(self, "_rev", rc.astype(np.float32))

    @property
    def width(self) -> int:
        return self.motif.width

    def scan(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best-strand relative score of the window starting at each position, and its strand.

        Returns (scores [L - W + 1] float32, minus_strand [L - W + 1] bool); empty when L < W.
        """
        tokens = np.asarray(tokens, dtype=np.uint8)
        n = len(tokens) - self.width + 1
        if n <= 0:
            return np.zeros(0, np.float32), np.zeros(0, bool)
        fwd = np.zeros(n, np.float32)
        rev = np.zeros(n, np.float32)
        for j in range(self.width):
            window = tokens[j : j + n]
            fwd += self._fwd[j][window]
            rev += self._rev[j][window]
        return np.maximum(fwd, rev), rev > fwd

    def score_windows(self, windows: np.ndarray) -> np.ndarray:
        """Best-strand relative score of each row of windows [K, W]."""
        cols = np.arange(self.width)
        fwd = self._fwd[cols, windows].sum(axis=-1)
        rev = self._rev[cols, windows].sum(axis=-1)
        return np.maximum(fwd, rev)


def sample_sites(
    motif: Motif, n: int, rng: np.random.Generator, temperature: np.ndarray | float = 1.0
) -> np.ndarray:
    """Draws n site sequences [n, W] from the PWM; temperature > 1 flattens it (weaker sites)."""
    temps = np.broadcast_to(np.asarray(temperature, dtype=np.float64), (n,))
    logp = np.log(motif.probs + 1e-4)[None] / temps[:, None, None]  # [n, W, 4]
    probs = np.exp(logp - logp.max(axis=-1, keepdims=True))
    cdf = np.cumsum(probs / probs.sum(axis=-1, keepdims=True), axis=-1)
    u = rng.random((n, motif.width, 1))
    return np.minimum((u > cdf).sum(axis=-1), NUM_BASES - 1).astype(np.uint8)
