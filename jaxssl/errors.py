"""Errors a user can act on; the CLI prints them as one line (exit code 2), no traceback."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key."""


class StaleStageError(ConfigError):
    """A stage's stored outputs were made with another configuration than this run's."""


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (e.g. the disk is full); the message names the path."""
