"""Shared test fixtures: the real benchmark data beside the repo, skipped cleanly when absent."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import pytest

# Silent broadcasting bugs fail loudly in tests (nanodo's habit).
jax.config.update("jax_numpy_rank_promotion", "raise")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """`../shared/data` beside the checkout (override with JAXSSL_SHARED_DATA)."""
    return Path(os.environ.get("JAXSSL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """The real GUE / JASPAR / chain data; skips the test when this clone has none."""
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"real benchmark data not found at {root} (a user's clone has no ../shared)")
    return root
