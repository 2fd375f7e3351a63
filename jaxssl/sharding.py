"""One device mesh with a `data` axis: batches sharded over it, parameters replicated.

Multi-host (TPU pods, GPU clusters) uses JAX's multi-controller runtime: each process feeds
its own slice of the global batch and `make_array_from_process_local_data` stitches them.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def make_mesh() -> Mesh:
    return Mesh(np.asarray(jax.devices()), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def to_global_batch(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Process-local numpy batch -> global jax arrays sharded along the leading axis."""
    sharding = batch_sharding(mesh)
    return {
        key: jax.make_array_from_process_local_data(sharding, np.asarray(value))
        for key, value in local_batch.items()
    }


def is_main_process() -> bool:
    """Process 0 writes the files every process would otherwise race on (reports, logs)."""
    return jax.process_index() == 0
