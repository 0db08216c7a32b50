"""Flow control and aborts with the kernel: readers that stop reading, peers that reset.

- The kernel stops reading a download: its window closes, minitcp waits
  (probing the zero window) and resumes when the reader does.
- minitcp's application stops reading an upload: minitcp's window closes,
  the kernel probes, and the upload resumes.
- The kernel aborts mid-transfer (close with unread data, or SO_LINGER 0):
  minitcp's server sees the reset as a broken stream and forgets the
  connection; nothing is logged as an error. A connection reset before the
  application accepted it is still accepted, as in Linux, and fails its first
  read with ECONNRESET.
"""

from __future__ import annotations

import errno
import hashlib
import socket
import struct
import time
from collections.abc import AsyncIterator

import pytest
import trio

from minitcp.apps import HttpServer, pattern_sha256
from minitcp.sockets import Socket
from minitcp.stack import Stack
from minitcp.tcp.states import State

ADDR = "198.18.0.2"


@pytest.fixture
async def server(nursery: trio.Nursery, tun_stack: Stack) -> AsyncIterator[HttpServer]:
    server = HttpServer()
    await nursery.start(server.serve, tun_stack, 80)
    yield server
    assert server.errors == 0


def _paused_download(n: int, pause: float) -> tuple[int, str]:
    """GET /bytes/n with a small receive buffer, stop reading for `pause` s after the first chunk."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.settimeout(15)
        sock.connect((ADDR, 80))
        sock.sendall(f"GET /bytes/{n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = sock.recv(4096)
        time.sleep(pause)  # the window fills and closes
        while chunk := sock.recv(1 << 20):
            data += chunk
    _, _, body = data.partition(b"\r\n\r\n")
    return len(body), hashlib.sha256(body).hexdigest()


async def test_download_survives_a_reader_that_pauses(tun_stack: Stack, server: HttpServer) -> None:
    n = 2_000_000
    with trio.fail_after(20):
        size, sha = await trio.to_thread.run_sync(_paused_download, n, 1.5)
    assert size == n
    assert sha == pattern_sha256(n)


async def test_upload_survives_an_application_that_pauses(nursery: trio.Nursery, tun_stack: Stack) -> None:
    listener = Socket(tun_stack)
    listener.bind(("", 5001))
    listener.listen(4)
    n = 3_000_000
    data = bytes(range(256)) * (n // 256)

    def upload() -> None:
        with socket.create_connection((ADDR, 5001), timeout=15) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(1) == b""

    async def receive(conn: Socket) -> bytes:
        received = bytearray()
        await trio.sleep(1.5)  # our receive window fills and closes; the kernel must wait
        while chunk := await conn.recv(65536):
            received += chunk
        conn.close()
        return bytes(received)

    with trio.fail_after(20):
        async with trio.open_nursery() as inner:
            inner.start_soon(trio.to_thread.run_sync, upload)
            conn, _ = await listener.accept()
            received = await receive(conn)
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()


def _abandon_download(linger_zero: bool) -> None:
    """Start a big download, read a little, and leave: close with unread data, or SO_LINGER 0."""
    with socket.socket() as sock:
        sock.settimeout(10)
        sock.connect((ADDR, 80))
        if linger_zero:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(b"GET /bytes/1000000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(1000).startswith(b"HTTP/1.1 200 OK")
        time.sleep(0.1)  # more data waits unread in the kernel


@pytest.mark.parametrize("linger_zero", [False, True], ids=["unread-data", "linger-zero"])
async def test_kernel_abort_mid_download_is_a_quiet_broken_stream(
    tun_stack: Stack, server: HttpServer, linger_zero: bool
) -> None:
    with trio.fail_after(10):
        await trio.to_thread.run_sync(_abandon_download, linger_zero)
        while server.active or tun_stack.engine.conns:  # the handler ended, the connection is gone
            await trio.sleep(0.01)
    assert server.connections == 1
    assert tun_stack.engine.counters["EstabResets"] == 1
    assert server.body_bytes < 1_000_000_000


def _connect_and_abort() -> socket.socket:
    sock = socket.create_connection((ADDR, 5002), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return sock  # close() now sends an RST


@pytest.fixture
def listener(tun_stack: Stack) -> Socket:
    sock = Socket(tun_stack)
    sock.bind(("", 5002))
    sock.listen(4)
    return sock


async def test_kernel_reset_fails_our_next_read_with_econnreset(tun_stack: Stack, listener: Socket) -> None:
    with trio.fail_after(10):
        kernel = await trio.to_thread.run_sync(_connect_and_abort)
        conn, _ = await listener.accept()
        kernel.close()
        with pytest.raises(ConnectionResetError) as reset:
            while await conn.recv(100):
                pass
    assert reset.value.errno == errno.ECONNRESET
    assert conn.state == State.CLOSED
    conn.close()


async def test_connection_reset_before_accept_is_still_accepted_like_linux(
    tun_stack: Stack, listener: Socket
) -> None:
    """Linux keeps a reset connection in the accept queue: accept() returns it, recv() says ECONNRESET."""
    with trio.fail_after(5):
        kernel = await trio.to_thread.run_sync(_connect_and_abort)
        await trio.sleep(0.05)  # the handshake is complete: the connection waits in the accept queue
        kernel.close()  # RST
        while not tun_stack.engine.counters["EstabResets"]:
            await trio.sleep(0.005)
    with trio.move_on_after(1) as waited:
        conn, _ = await listener.accept()
    assert not waited.cancelled_caught, "accept() blocks: the reset connection left the accept queue"
    with pytest.raises(ConnectionResetError):
        await conn.recv(100)
    conn.close()
