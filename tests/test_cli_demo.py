"""`minitcp demo` (what `make demo` runs) passes, and says so readably."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.tun


def test_demo_passes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "minitcp.cli", "demo"], capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 received" in done.stdout
    assert "ECONNREFUSED" in done.stdout
    assert "Flags [R.], seq 0, ack " in done.stdout
    assert "demo passed" in done.stdout
