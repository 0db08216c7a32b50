"""`minitcp demo` (what `make demo` runs) passes, says so readably, and shows both sides' states."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time


def test_demo_passes() -> None:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "minitcp.cli", "demo"], capture_output=True, text=True, timeout=30
    )
    elapsed = time.monotonic() - start
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert elapsed < 15, f"the demo took {elapsed:.1f} s"
    assert "FAILED" not in out and "✗" not in out
    assert done.stderr == ""
    # ping and the closed port
    assert "3 received" in out
    assert "ECONNREFUSED" in out
    assert "Flags [R.], seq 0, ack " in out
    # the echo exchange: the handshake as tcpdump prints it, our states between the lines
    assert "IP 198.18.0.1." in out and " > 198.18.0.2.7: Flags [S], seq " in out
    assert "IP 198.18.0.2.7 > 198.18.0.1." in out and ": Flags [S.], seq " in out
    assert "minitcp 198.18.0.2.7: LISTEN -> SYN-RECV" in out
    assert "minitcp 198.18.0.2.7: CLOSE-WAIT -> LAST-ACK" in out
    assert "minitcp 198.18.0.2.7: LAST-ACK -> CLOSED" in out
    # ...and what ss says of the kernel's end: TIME-WAIT when it closed first, CLOSE-WAIT when we did
    assert "`ss -tano` shows TIME-WAIT 198.18.0.1:" in out
    assert "`ss -tano` shows CLOSE-WAIT 198.18.0.1:" in out
    assert "minitcp 198.18.0.2.80: FIN-WAIT-2 -> TIME-WAIT" in out
    if shutil.which("curl"):
        assert "new connections: 0" in out  # keep-alive
    if shutil.which("nc"):
        assert "nc got its line back" in out
    assert "demo passed" in out
