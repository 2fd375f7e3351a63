"""`python -m jaxssl.main --config=configs/<method>.py --workdir=DIR [--config.key=value ...]`."""

from __future__ import annotations

import logging
import sys

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a configs/*.py file.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and report.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed",
    False,
    "Multi-host run (TPU pod slice, SLURM, Open MPI, Kubernetes): start the same command on "
    "every host; jax.distributed.initialize() finds the others. The workdir must be shared.",
)


def main(argv: list[str]) -> None:
    del argv
    if _DISTRIBUTED.value:
        import jax

        jax.distributed.initialize()
    from jaxssl.config import ConfigError
    from jaxssl.train import train_and_evaluate

    # Orbax and grain log every save at INFO; keep the console for progress and results.
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("jaxssl").setLevel(logging.INFO)
    try:
        train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    except ConfigError as err:
        print(f"jaxssl: configuration error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main)
