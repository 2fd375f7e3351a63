"""One run per workdir, and a workdir that holds a run or nothing.

A lock file names the host and pid of the run that holds the workdir: two runs in one workdir
interleave `metrics.jsonl` and resume from each other's checkpoints, so the second one must
stop. A lock left by a run that died (same host, pid gone) is taken over with a message, one
taker at a time (`_take_over_guard`: two runs that both saw the dead owner cannot both
proceed, nor can one delete the lock the other just took); a lock from another host cannot
be checked and is refused with the path to delete if the user knows that run is gone.

A run writes `config.json` and `report.json` at the workdir's top, so a workdir must be empty
or a jaxssl run (`check_workdir`): a run marks its workdir (`RUN_MARKER`, with its seeds) and
runs made before the marker are recognised by their layout (`<stage>/stage_config.json`,
`seed_<n>/`). Anything else (a user's files, a shard set, a repository) is refused by name.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import re
import socket
import time
from pathlib import Path

from jaxssl.errors import ConfigError
from jaxssl.stored_config import STORED_CONFIG_FILE

log = logging.getLogger("jaxssl")
LOCK_NAME = "run.lock"
RUN_MARKER = ".jaxssl_run"  # {"seeds": [every seed run here] or null, "created": ...}
_SEED_DIR = re.compile(r"^seed_(\d+)$")
_OWN_NAMES = frozenset({LOCK_NAME, RUN_MARKER})


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


@contextlib.contextmanager
def _take_over_guard(directory: Path):
    """Serialises take-overs of a dead owner's lock: an exclusive `flock` on the workdir itself
    (no extra file to go stale), released by the kernel if its holder dies."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


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
            raw = self.path.read_text()
        except FileNotFoundError:
            return  # released meanwhile: try again
        try:
            owner = json.loads(raw or "{}")
        except json.JSONDecodeError:
            owner = {}
        host, pid = owner.get("host"), owner.get("pid")
        if host == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
            with _take_over_guard(self.path.parent):
                try:
                    if self.path.read_text() != raw:
                        return  # another run took it over meanwhile: try again, read its owner
                except FileNotFoundError:
                    return
                log.warning(
                    "%s: taking over the lock of a run that is gone (pid %s)", self.path, pid
                )
                print(f"jaxssl: {self.path}: the run that held it (pid {pid}) is gone; taking over")
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


def _legacy_seeds(workdir: Path) -> tuple[bool, list[int] | None]:
    """(is a run, its seeds) of a workdir made before `RUN_MARKER` existed, by its layout."""
    seeds = sorted(
        int(m.group(1))
        for child in workdir.iterdir()
        if (m := _SEED_DIR.match(child.name)) and child.is_dir()
    )
    if seeds:
        return True, seeds
    stages = [c for c in workdir.iterdir() if (c / STORED_CONFIG_FILE).is_file()]
    return bool(stages), None


def _describe_foreign(workdir: Path, names: list[str]) -> str:
    """What a workdir that is no run holds, in the words a user recognises."""
    if "manifest.json" in names:
        return "a shard set (manifest.json)"
    if repo := [n for n in (".git", "pyproject.toml") if n in names]:
        return f"a repository ({', '.join(repo)})"
    own = [n for n in ("config.json", "report.json") if n in names]
    if own:
        return f"{', '.join(own)} that no jaxssl run wrote here (no {RUN_MARKER})"
    shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
    return f"{len(names)} entries that are not a jaxssl run ({shown})"


def _seeds_text(seeds: list[int] | None) -> str:
    return "a single run (config.seeds='')" if seeds is None else f"config.seeds={seeds}"


def check_workdir(workdir: str | Path, seeds: list[int] | None) -> None:
    """Refuses a workdir that is neither empty nor a jaxssl run of the same kind.

    A run replaces `config.json`, `report.json` and `report.png` at the workdir's top, so a
    user's own files there, a shard set or a repository would be overwritten or mixed with
    run files. A single run (stages at the top) turned into a multi-seed one (`seed_<n>/`),
    or back, would replace its report and config and orphan its stages: refused. Seeds added
    to (or left out of) a multi-seed run are accepted: each seed's run is its own folder,
    checked stage by stage, and the summary covers the seeds asked for (the benchmarks reuse
    finished seeds this way). Nothing is written here (see `mark_run`).
    """
    workdir = Path(workdir)
    if not workdir.exists():
        if workdir.is_symlink():
            raise ConfigError(f"--workdir {workdir}: a symlink to nothing ({os.readlink(workdir)})")
        return
    if not workdir.is_dir():
        raise ConfigError(
            f"--workdir {workdir} is an existing file, not a directory; give a new or empty "
            "directory (or a jaxssl run's workdir)"
        )
    names = [c.name for c in workdir.iterdir()]
    marker = workdir / RUN_MARKER
    if marker.is_file():
        try:
            stored = json.loads(marker.read_text() or "{}").get("seeds")
        except (OSError, json.JSONDecodeError, AttributeError):
            raise ConfigError(
                f"{marker}: unreadable run marker; if {workdir} holds nothing you need, delete "
                "it, else use another --workdir"
            ) from None
    else:
        is_run, stored = _legacy_seeds(workdir)
        if not is_run:
            if set(names) <= _OWN_NAMES:
                return  # empty, or only the lock of a run that stopped before its first stage
            raise ConfigError(
                f"--workdir {workdir} holds {_describe_foreign(workdir, names)}: a run would "
                "overwrite or mix with them (config.json, report.json, report.png, stage "
                "folders). Give a new or empty directory, e.g. a subfolder"
            )
    if (stored is None) != (seeds is None):
        raise ConfigError(
            f"config.seeds: {workdir} holds a run made with {_seeds_text(stored)}, this run has "
            f"{_seeds_text(seeds)}; a run with other seeds would replace its report and config "
            "and orphan its stages. Use another --workdir for the new seeds (or delete "
            f"{workdir} if you no longer need it)"
        )


def mark_run(workdir: str | Path, seeds: list[int] | None) -> None:
    """Writes `RUN_MARKER` (once): this workdir is a jaxssl run with these seeds."""
    marker = Path(workdir) / RUN_MARKER
    record = {"seeds": seeds}
    if marker.is_file():
        record = json.loads(marker.read_text() or "{}")
        if seeds is None or set(seeds) <= set(record.get("seeds") or []):
            return
        record["seeds"] = sorted(set(record.get("seeds") or []) | set(seeds))  # every seed run
    else:
        now = datetime.datetime.now(datetime.timezone.utc)
        record["created"] = now.isoformat(timespec="seconds")
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f"{RUN_MARKER}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record) + "\n")
    os.replace(tmp, marker)
