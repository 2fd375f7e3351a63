"""Taking over a dead run's workdir lock is atomic (issue 23 item 6): of two runs that both saw
the dead owner, exactly one proceeds, and neither deletes the lock the other just took."""

from __future__ import annotations

import json
import socket
import subprocess
import threading

import pytest

from jaxssl import workdir_lock
from jaxssl.workdir_lock import LOCK_NAME, WorkdirLock, WorkdirLocked


def test_two_racing_take_overs_leave_one_owner(tmp_path, monkeypatch):
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = tmp_path / LOCK_NAME
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "since": 0}))

    # B reads the dead owner first, then stalls until A has taken the lock over: the
    # interleaving in which a check-then-delete take-over deletes A's fresh lock.
    b_saw_dead, a_holds = threading.Event(), threading.Event()
    alive = workdir_lock._pid_alive

    def pid_alive(pid: int) -> bool:
        if pid != dead.pid:
            return alive(pid)
        if threading.current_thread().name == "B":
            b_saw_dead.set()
            assert a_holds.wait(10)
        return False

    monkeypatch.setattr(workdir_lock, "_pid_alive", pid_alive)
    locks = {"A": WorkdirLock(tmp_path), "B": WorkdirLock(tmp_path)}
    outcome: dict[str, str] = {}

    def take(name: str) -> None:
        try:
            locks[name].acquire()
            outcome[name] = "held"
        except WorkdirLocked as err:
            outcome[name] = str(err)
        finally:
            if name == "A":
                a_holds.set()

    b = threading.Thread(target=take, args=("B",), name="B")
    b.start()
    assert b_saw_dead.wait(10)
    a = threading.Thread(target=take, args=("A",), name="A")
    a.start()
    a.join(10)
    b.join(10)
    assert outcome["A"] == "held"
    assert outcome["B"].startswith(f"workdir {tmp_path} is in use by another run")
    assert [n for n, lk in locks.items() if lk._held] == ["A"]
    assert lock.is_file() and json.loads(lock.read_text())["pid"] != dead.pid
    locks["A"].release()
    assert not lock.exists()


def test_racing_processes_take_over_once(tmp_path):
    """Four processes start on one dead lock at once: exactly one holds it."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(
        json.dumps({"host": socket.gethostname(), "pid": dead.pid, "since": 0})
    )
    code = (
        "import sys, time\n"
        "from jaxssl.workdir_lock import WorkdirLock, WorkdirLocked\n"
        "lock = WorkdirLock(sys.argv[1])\n"
        "try:\n"
        "    lock.acquire()\n"
        "except WorkdirLocked:\n"
        "    print('refused'); sys.exit(0)\n"
        "print('held'); sys.stdout.flush(); time.sleep(2)\n"
    )
    procs = [
        subprocess.Popen(["python", "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert sorted(o[-1] for o in outs) == ["held"] + ["refused"] * 3


@pytest.mark.parametrize("content", ["", "{not json"])
def test_unreadable_lock_is_refused_not_taken_over(tmp_path, content):
    (tmp_path / LOCK_NAME).write_text(content)
    with pytest.raises(WorkdirLocked, match="an unknown process"):
        WorkdirLock(tmp_path).acquire()
