"""glibc malloc settings that keep XLA's per-step host buffers in the heap on CPU.

By default glibc serves every allocation above a (dynamic) threshold with a fresh mmap and
unmaps it on free. An XLA CPU training step allocates and frees buffers of tens of MB each
step, so every step page-faults them in again and the kernel zeroes the pages: on the 2-core
development machine that was as much system time as user time. Raising the mmap and trim
thresholds lets freed buffers be reused. Measured by `benchmarks/host_memory.py`.

Linux/glibc only; a no-op elsewhere or when JAXSSL_KEEP_MALLOC=1 is set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger("jaxssl")

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30  # serve allocations below 1 GiB from the heap
TRIM_THRESHOLD = 1 << 30  # and keep up to 1 GiB of freed heap for reuse

_applied = False


def keep_large_buffers_in_heap() -> bool:
    """Sets the thresholds once per process; True if glibc accepted them."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("JAXSSL_KEEP_MALLOC") == "1":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    if not ok:
        log.debug("glibc refused the malloc thresholds; keeping its defaults")
    _applied = ok
    return ok
