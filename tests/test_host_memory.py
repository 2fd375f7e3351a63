"""The glibc malloc thresholds are applied once, on Linux, unless the user opts out."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

_PROBE = "from jaxssl.host_memory import keep_large_buffers_in_heap as k; print(k(), k())"


def _probe(**env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "JAXSSL_KEEP_MALLOC"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_thresholds_apply_on_glibc_and_can_be_turned_off():
    assert _probe() == "True True"  # applied, and a second call is a no-op that says so
    assert _probe(JAXSSL_KEEP_MALLOC="1") == "False False"
