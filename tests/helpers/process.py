"""A `minitcp` process under test (`minitcp up`, an example script): its output read up to a
marker, and Ctrl-C with only minitcp's own stop timed."""

from __future__ import annotations

import signal

import trio

# A guard against a hang, not a measure: a Python process's start-up takes 1 to 1.5 s of CPU, 4 to 6 s
# of wall clock at load 7 (up to 20 s at load 8), and its teardown at exit a second more there.
HANG_GUARD = 60


async def read_until(stream: trio.abc.ReceiveStream, marker: bytes, seen: bytearray) -> None:
    """Read `stream` into `seen` until `marker` is in it; fail if the output ends first."""
    while marker not in seen:
        chunk = await stream.receive_some()
        if not chunk:
            raise AssertionError(f"output ended before {marker!r}: {bytes(seen)!r}")
        seen += chunk


async def interrupt(proc: trio.Process, seen: bytearray, stopped: bytes, within: float) -> None:
    """Ctrl-C: minitcp must say it stopped (`stopped`, its last line) within `within` seconds, and
    the process then exits. Only the stop is minitcp's to do and is timed: the interpreter's teardown
    after it (freeing its memory, ~0.2 s of CPU) takes seconds of wall clock on a loaded machine
    (1.2-1.8 s at load 9), so the exit has a hang guard only."""
    assert proc.stdout is not None
    proc.send_signal(signal.SIGINT)
    with trio.fail_after(within):
        await read_until(proc.stdout, stopped, seen)
    with trio.fail_after(HANG_GUARD):
        await proc.wait()
