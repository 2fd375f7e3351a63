"""Optional dependencies, imported only by the code that needs them, with a message that says
what needs the package and how to install it (a bare ``No module named 'mappy'`` does not)."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependencyError(ImportError, ValueError):
    """An optional package is not installed. An ImportError to Python, and a ValueError so that
    the CLIs print it as one line (exit code 2) like every other error a user can act on."""


def require(module: str, needed_for: str, *, extra: str, package: str | None = None) -> ModuleType:
    """``importlib.import_module(module)``, or a MissingDependencyError naming ``needed_for``,
    the pip package and the jaxssl extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if err.name is not None and module != err.name and not module.startswith(err.name + "."):
            raise  # the package is there but one of its own imports failed: show that
        raise MissingDependencyError(
            f"{needed_for} needs {package or module.split('.')[0]}, which is not installed: "
            f'pip install {package or module.split(".")[0]} (or pip install -e ".[{extra}]")',
            name=module,
        ) from None
