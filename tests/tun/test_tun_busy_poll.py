"""net.core.busy_poll: the stack polls its TUN device instead of sleeping, and only while busy.

With `busy_poll` set, a kernel client's ping-pong is answered with every byte intact; an idle
stack does not spin (its CPU time over a quiet second stays near zero). That the poll takes what
arrives while every task waits is shown without timing races in tests/stack/test_busy_poll.py.
"""

from __future__ import annotations

import resource
import socket
from collections.abc import AsyncIterator

import pytest
import trio

from minitcp.apps import EchoServer
from minitcp.link.tun import TunLink
from minitcp.stack import Stack
from minitcp.tcp.knobs import Knobs

ADDR = "198.18.0.2"


@pytest.fixture
async def polling_stack(nursery: trio.Nursery, tun_name: str) -> AsyncIterator[Stack]:
    link = TunLink(tun_name)
    stack = Stack(link, ADDR, knobs=Knobs(busy_poll=200))
    nursery.start_soon(stack.run)
    await nursery.start(EchoServer().serve, stack, 7)
    yield stack
    link.close()


def _ping_pong(rounds: int) -> bytes:
    got = bytearray()
    with socket.create_connection((ADDR, 7), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(rounds):
            sock.sendall(bytes([i % 256]))
            got += sock.recv(1)
    return bytes(got)


async def test_a_polling_stack_serves_a_kernel_client_byte_for_byte(polling_stack: Stack) -> None:
    # How many requests the poll takes rather than a wake-up depends on whether the client answers
    # within the poll's window, which is the machine's scheduling, not the stack: that the poll
    # takes what arrives while every task waits is shown with a scripted link in
    # tests/stack/test_busy_poll.py. Here: a real client, served correctly by a polling stack.
    with trio.fail_after(30):
        got = await trio.to_thread.run_sync(_ping_pong, 300)
    assert got == bytes(i % 256 for i in range(300))


async def test_an_idle_stack_does_not_spin(polling_stack: Stack) -> None:
    await trio.to_thread.run_sync(_ping_pong, 10)
    await trio.sleep(0.2)
    before = resource.getrusage(resource.RUSAGE_SELF)
    await trio.sleep(1.0)
    after = resource.getrusage(resource.RUSAGE_SELF)
    busy = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    assert busy < 0.1  # a spinning poller would take the whole second
