"""`minitcp up` as a learner runs it: answers ping, prints a trace, stops cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import trio

pytestmark = pytest.mark.tun


async def _read_until(stream: trio.abc.ReceiveStream, marker: bytes, seen: bytearray) -> None:
    while marker not in seen:
        chunk = await stream.receive_some()
        if not chunk:
            raise AssertionError(f"output ended before {marker!r}: {bytes(seen)!r}")
        seen += chunk


async def test_up_answers_ping_and_exits_cleanly_on_sigint(tun_name: str) -> None:
    command = [sys.executable, "-m", "minitcp.cli", "up", "--dev", tun_name, "--addr", "198.18.0.9", "-v"]
    proc = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    stdout = bytearray()
    try:
        with trio.fail_after(10):
            await _read_until(proc.stdout, b"Ctrl-C stops\n", stdout)
            ping_command = ["ping", "-c", "1", "-W", "1", "198.18.0.9"]
            ping = await trio.run_process(ping_command, capture_stdout=True, check=False)
            assert ping.returncode == 0, ping.stdout
            await _read_until(proc.stdout, b"ICMP echo reply", stdout)

        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        with trio.fail_after(1):
            await proc.wait()
        assert time.monotonic() - start < 1
        with trio.fail_after(1):
            await _read_until(proc.stdout, b"removed", stdout)
            stderr = await proc.stderr.receive_some()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert proc.returncode == 0
    assert stderr == b"", stderr  # no traceback
    text = stdout.decode()
    assert "IP 198.18.0.1 > 198.18.0.9: ICMP echo request, id " in text
    assert "IP 198.18.0.9 > 198.18.0.1: ICMP echo reply, id " in text
    assert subprocess.run(["ip", "link", "show", tun_name], capture_output=True).returncode != 0
