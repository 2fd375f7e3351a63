"""The default data of every config: a toy world built once per parameter set and reused."""

from __future__ import annotations

import os
from pathlib import Path

from .params import ToyWorldParams
from .world import generate_toy_world, load_world_info


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """cache_dir, else $JAXSSL_CACHE, else ~/.cache/jaxssl."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("JAXSSL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "jaxssl"


def ensure_toy_world(
    params: ToyWorldParams | None = None, cache_dir: str | Path | None = None
) -> Path:
    """Path of the cached world for params (default params when None), building it if absent.

    Worlds live at <root>/toy_world/<params.key()>; concurrent callers may both build, the
    first rename wins and the others reuse it.
    """
    params = ToyWorldParams() if params is None else params
    path = cache_root(cache_dir) / "toy_world" / params.key()
    if not (path / "world.json").is_file():
        try:
            generate_toy_world(path, params)
        except FileExistsError:
            if not (path / "world.json").is_file():
                raise  # something else is there: let the user see it
        except OSError as err:  # a concurrent builder renamed first
            if not (path / "world.json").is_file():
                raise OSError(f"could not build the toy world at {path}: {err}") from err
    info = load_world_info(path)
    if info.get("key") != params.key():
        raise ValueError(
            f"{path}/world.json has key {info.get('key')}, expected {params.key()}: "
            f"the cache is corrupt, delete {path} to rebuild it"
        )
    return path
