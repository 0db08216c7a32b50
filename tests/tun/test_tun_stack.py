"""The stack on a real TUN device, driven by the kernel's own ping and TCP."""

from __future__ import annotations

import socket

import pytest
import trio

from minitcp.stack import Stack

STACK_ADDR = "198.18.0.2"


async def test_kernel_ping_gets_three_replies(tun_stack: Stack) -> None:
    with trio.fail_after(10):
        done = await trio.run_process(
            ["ping", "-c", "3", "-i", "0.2", "-W", "1", STACK_ADDR], capture_stdout=True, check=False
        )
    output = done.stdout.decode()
    assert done.returncode == 0, output
    assert " 3 received" in output
    assert tun_stack.counters["OutEchoReps"] == 3


def _connect(port: int) -> None:
    with socket.create_connection((STACK_ADDR, port), timeout=3):
        pass


async def test_kernel_connect_to_closed_port_is_refused_at_once(tun_stack: Stack) -> None:
    with pytest.raises(ConnectionRefusedError):  # an RST: a timeout would be TimeoutError
        await trio.to_thread.run_sync(_connect, 80)
    # At once: one SYN came and one RST answered it, before the kernel's retransmission (1 s).
    # Counted, not timed with a wall clock, which a loaded machine stretches.
    assert tun_stack.engine.counters["InSegs"] == tun_stack.engine.counters["OutRsts"] == 1
