"""One run per workdir: a lock file naming the host and pid of the run that holds it.

Two runs in one workdir interleave `metrics.jsonl` and resume from each other's checkpoints,
so the second one must stop. A lock left by a run that died (same host, pid gone) is taken
over with a message; a lock from another host cannot be checked and is refused with the path
to delete if the user knows that run is gone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import time
from pathlib import Path

from jaxssl.errors import ConfigError

log = logging.getLogger("jaxssl")
LOCK_NAME = "run.lock"


class WorkdirLocked(ConfigError):
    """Another live run holds the workdir."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


class WorkdirLock:
    """`with WorkdirLock(workdir):` holds `<workdir>/run.lock` for the duration of a run."""

    def __init__(self, workdir: str | Path, enabled: bool = True):
        self.path = Path(workdir) / LOCK_NAME
        self.enabled = enabled
        self._held = False

    def _owner(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}

    def acquire(self) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a dead owner's lock is removed, then created again atomically
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_or_refuse()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(self._owner(), f)
            self._held = True
            return
        raise WorkdirLocked(f"{self.path}: could not take the workdir lock (it keeps reappearing)")

    def _take_over_or_refuse(self) -> None:
        try:
            owner = json.loads(self.path.read_text() or "{}")
        except FileNotFoundError:
            return  # released meanwhile: try again
        except (OSError, json.JSONDecodeError):
            owner = {}
        host, pid = owner.get("host"), owner.get("pid")
        if host == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
            log.warning("%s: taking over the lock of a run that is gone (pid %s)", self.path, pid)
            print(f"jaxssl: {self.path}: the run that held it (pid {pid}) is gone; taking over")
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        where = f"pid {pid} on {host}" if host else "an unknown process"
        raise WorkdirLocked(
            f"workdir {self.path.parent} is in use by another run ({where}; lock file "
            f"{self.path}). Wait for it to finish or use another --workdir; if that run is "
            f"gone (e.g. another host that crashed), delete {self.path}"
        )

    def release(self) -> None:
        if not self._held:
            return
        try:
            owner = json.loads(self.path.read_text())
            if owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
                self.path.unlink()
        except (OSError, json.JSONDecodeError) as err:
            if getattr(err, "errno", None) != errno.ENOENT:
                log.warning("%s: could not release the lock: %s", self.path, err)
        self._held = False

    def __enter__(self) -> WorkdirLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
