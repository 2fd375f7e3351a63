"""One tiny trained model shared by the `python -m jaxssl` tests (trained once per process)."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from jaxssl import train as train_lib
from tests.synthetic import make_motif_shards
from tests.test_train import small_config


@functools.cache
def trained_run() -> tuple[Path, Path]:
    """(shard set, run directory) of a 20-step supervised deepbind on the planted motifs."""
    root = Path(tempfile.mkdtemp(prefix="jaxssl_use_"))
    atexit.register(shutil.rmtree, root, True)
    data = make_motif_shards(root / "motifs", n_train=256, n_eval=64)
    config = small_config(data, steps=20, num_filters=8)
    config.train.eval_every = 10
    train_lib.train_and_evaluate(config, root / "run")
    return data, root / "run"
