"""Sequence logos of attributions: each base drawn as its letter, as tall as its importance.

Drawn with logomaker (a maintained logo library) when installed; otherwise with plain
matplotlib bars coloured by base, so the verb never fails for want of a plotting extra.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxssl.use.output import atomic_path  # noqa: E402

COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839", "N": "#999999"}


def _letter_matrix(sequence: str, values_L: np.ndarray):
    import pandas as pd

    matrix = np.zeros((len(sequence), 4), np.float32)
    for i, base in enumerate(sequence):
        if base in "ACGT":
            matrix[i, "ACGT".index(base)] = values_L[i]
    return pd.DataFrame(matrix, columns=list("ACGT"))


def _panel(ax, sequence: str, values_L: np.ndarray, label: str) -> None:
    try:
        import logomaker
    except ImportError:
        logomaker = None
    if logomaker is not None:
        logomaker.Logo(_letter_matrix(sequence, values_L), ax=ax, color_scheme="classic")
    else:
        ax.bar(
            np.arange(len(sequence)),
            values_L,
            width=1.0,
            color=[COLORS.get(b, COLORS["N"]) for b in sequence],
        )
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel(label)
    ax.set_xlim(-0.5, len(sequence) - 0.5)


def draw_logo(
    path: str | Path, sequence: str, ism_L: np.ndarray, grad_x_input_L: np.ndarray, *, title: str
) -> Path:
    """Two panels: ISM importance and gradient x input, at the window's own bases."""
    width = min(40.0, max(6.0, len(sequence) / 8))
    fig, axes = plt.subplots(2, 1, figsize=(width, 4), sharex=True)
    _panel(axes[0], sequence, ism_L, "ISM\n-mean Δp")
    _panel(axes[1], sequence, grad_x_input_L, "grad × input")
    axes[0].set_title(title)
    axes[1].set_xlabel("position")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)
