"""One root key per seed, split by purpose: no two random streams of a run share a key.

A stage's seed ``s`` gives the root ``PRNGKey(s)``; each purpose folds in its own constant, so
model initialisation, objective heads, the per-step noise/dropout stream, the label-free
evaluation key and the data order are independent draws. Before this, model init (nnx's
``fold_in(PRNGKey(s), t)`` for draw t) and training step t (``fold_in(PRNGKey(s), t)``) used the
same keys, and the self-distillation heads' ``PRNGKey(s + 1)`` was the next seed's stream.

Within a step, the objective folds the step into the ``step`` key and splits it into noise
and dropout keys (see jaxssl/objectives). The data order is a numpy stream (grain-style
readers take an integer seed): ``data_seed`` derives it from the same root and purpose table.
"""

from __future__ import annotations

import jax
import numpy as np

# Fixed forever: changing a number changes every run's random draws.
PURPOSES = {"init": 1, "heads": 2, "step": 3, "eval": 4, "data": 5}


def purpose_key(seed: int, purpose: str) -> jax.Array:
    """The key of one purpose under seed `seed` (a new purpose needs a new, unused number)."""
    if purpose not in PURPOSES:
        raise KeyError(f"unknown random-stream purpose {purpose!r}; known: {sorted(PURPOSES)}")
    return jax.random.fold_in(jax.random.PRNGKey(int(seed)), PURPOSES[purpose])


def data_seed(seed: int) -> int:
    """The integer seed of the data order (numpy streams), independent of the JAX keys."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, PURPOSES["data"]]).generate_state(1)
    return int(state[0])
