"""Real kernel clients against minitcp's echo server on a TUN device.

The kernel's TCP is the peer here: the clients are ordinary Python sockets
in threads (the kernel does the TCP), the server is minitcp.apps.EchoServer
on a Stack in the test's nursery.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import AsyncIterator

import pytest
import trio

from minitcp.apps import EchoServer
from minitcp.stack import Stack
from minitcp.tcp.states import State

from ..helpers.recorded import entered

ADDR = "198.18.0.2"


@pytest.fixture
async def echo(nursery: trio.Nursery, tun_stack: Stack) -> AsyncIterator[EchoServer]:
    server = EchoServer()
    await nursery.start(server.serve, tun_stack, 7)
    yield server
    assert server.errors == 0


def _round_trip(data: bytes, *, half_close: bool = True) -> tuple[bytes, int]:
    """Send `data` from a kernel socket while reading the echo in another thread; returns (echo, our port)."""
    with socket.create_connection((ADDR, 7), timeout=10) as sock:
        received = bytearray()

        def read() -> None:
            while chunk := sock.recv(1 << 20):
                received.extend(chunk)

        reader = threading.Thread(target=read)
        reader.start()
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)  # the kernel sends its FIN; the echo keeps coming
        reader.join(15)
        assert not reader.is_alive(), "the echo did not end with our FIN"
        return bytes(received), sock.getsockname()[1]


async def test_one_megabyte_round_trip(tun_stack: Stack, echo: EchoServer) -> None:
    data = os.urandom(1 << 20)
    with trio.fail_after(20):
        got, _ = await trio.to_thread.run_sync(_round_trip, data)
    assert len(got) == len(data)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
    assert echo.bytes_echoed == len(data)


async def test_half_closed_client_still_gets_everything_then_our_fin(
    tun_stack: Stack, echo: EchoServer
) -> None:
    """The kernel shuts down its sending side at once; the echo (and then our FIN) still arrive."""
    data = os.urandom(300_000)
    with trio.fail_after(20):
        got, port = await trio.to_thread.run_sync(_round_trip, data)
        while State.CLOSED not in entered(tun_stack.engine.observer, 7, port):  # type: ignore[arg-type]
            await trio.sleep(0.01)
    assert got == data
    # The kernel's FIN came first, so ours is the passive close.
    ours = entered(tun_stack.engine.observer, 7, port)  # type: ignore[arg-type]
    assert ours[-3:] == [State.CLOSE_WAIT, State.LAST_ACK, State.CLOSED], ours


def _many_clients(count: int, barrier_timeout: float) -> list[str]:
    """`count` kernel sockets, all connected at once, each echoing its own message; returns failures."""
    barrier = threading.Barrier(count, timeout=barrier_timeout)
    failures: list[str] = []

    def client(i: int) -> None:
        message = f"client {i:03d} ".encode() * 50
        try:
            with socket.create_connection((ADDR, 7), timeout=15) as sock:
                sock.sendall(message)
                got = b""
                while len(got) < len(message):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                if got != message:
                    failures.append(f"client {i}: echo differs ({len(got)} bytes)")
                barrier.wait()  # every connection is open and has echoed before any closes
                sock.shutdown(socket.SHUT_WR)
                if sock.recv(1) != b"":
                    failures.append(f"client {i}: data after the echo")
        except (OSError, threading.BrokenBarrierError) as e:
            failures.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return failures


async def test_two_hundred_concurrent_connections(tun_stack: Stack, echo: EchoServer) -> None:
    with trio.fail_after(40):
        failures = await trio.to_thread.run_sync(_many_clients, 200, 25)
    assert failures == []
    assert echo.connections == 200
    assert echo.peak == 200  # all served at once, not one after the other
    counters = tun_stack.engine.counters
    assert counters["PassiveOpens"] == 200
    assert counters["ListenDrops"] == 0
