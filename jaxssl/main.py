"""`python -m jaxssl.main --config=configs/<method>.py --workdir=DIR [--config.key=value ...]`."""

from __future__ import annotations

import logging
import os
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


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parsing, with a bad flag or config key as one line instead of a traceback."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as err:
        _fail(f"{err} (see --helpfull)")
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        # config_flags: an unknown key ('stepz' ... Did you mean "steps"?) or a bad value
        _fail(f"configuration error in the command line: {_one_line(err)}")
    raise AssertionError("unreachable")


def _one_line(err: BaseException) -> str:
    text = str(err)
    if text[:1] in "'\"" and text[-1:] == text[:1]:
        text = text[1:-1].encode().decode("unicode_escape")
    return " ".join(part.strip(" '") for part in text.splitlines() if part.strip())


def _fail(message: str) -> None:
    print(f"jaxssl: {message}", file=sys.stderr)
    sys.stderr.flush()
    sys.exit(2)


def main(argv: list[str]) -> None:
    del argv
    if _DISTRIBUTED.value:
        import jax

        jax.distributed.initialize()
    from jaxssl.checkpointing import CorruptCheckpointError
    from jaxssl.data.reader import CorruptShardError
    from jaxssl.errors import CheckpointSaveError, ConfigError
    from jaxssl.train import train_and_evaluate

    # Orbax and grain log every save at INFO; keep the console for progress and results.
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("jaxssl").setLevel(logging.INFO)
    try:
        train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    except CorruptCheckpointError as err:  # not a configuration error: its own one line
        _fail(str(err))
    except ConfigError as err:
        _fail(f"configuration error: {err}")
    except CorruptShardError as err:
        _fail(f"corrupt input: {err}")
    except CheckpointSaveError as err:
        print(f"jaxssl: {err}", file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        # Background checkpoint threads would print hundreds of lines while the interpreter
        # shuts down around them; the message above is the whole story.
        os._exit(1)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main, flags_parser=parse_flags)
