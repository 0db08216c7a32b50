"""minitcp as the client (active open) and the kernel as the server."""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

from minitcp.apps import fetch
from minitcp.sockets import Socket
from minitcp.sockets.streams import open_tcp_stream
from minitcp.stack import Stack

ADDR = "198.18.0.2"
PEER = "198.18.0.1"
HTTP_PORT = 8000


async def listening(port: int, timeout: float = 10) -> None:
    """Wait until the kernel has a listening socket on PEER:port."""
    with trio.fail_after(timeout):
        while True:
            done = await trio.run_process(["ss", "-tlnH"], capture_stdout=True)
            if f"{PEER}:{port} " in done.stdout.decode():
                return
            await trio.sleep(0.05)


@pytest.fixture
async def kernel_http_server(tun_stack: Stack, tmp_path: Path) -> AsyncIterator[Path]:
    """`python -m http.server --bind 198.18.0.1 8000` serving a temporary directory."""
    command = [sys.executable, "-m", "http.server", "--bind", PEER, "--directory", str(tmp_path),
               str(HTTP_PORT)]
    proc = await trio.lowlevel.open_process(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await listening(HTTP_PORT)
        yield tmp_path
    finally:
        proc.kill()
        await proc.wait()


async def test_download_from_kernel_http_server(tun_stack: Stack, kernel_http_server: Path) -> None:
    data = os.urandom(20 * 10**6)
    (kernel_http_server / "payload.bin").write_bytes(data)
    with trio.fail_after(30):
        got = await fetch(tun_stack, PEER, HTTP_PORT, "/payload.bin")
    print(f"\nactive open download: {got.nbytes / 1e6:.0f} MB kernel http.server -> minitcp in "
          f"{got.seconds:.2f} s = {got.mb_per_s:.1f} MB/s")
    assert got.status == 200
    assert got.nbytes == len(data)
    assert got.sha256 == hashlib.sha256(data).hexdigest()
    assert tun_stack.engine.counters["ActiveOpens"] == 1
    with trio.fail_after(5):  # both FINs exchanged: nothing of the connection is left open
        while tun_stack.engine.conns:
            await trio.sleep(0.01)


async def test_kernel_http_server_404(tun_stack: Stack, kernel_http_server: Path) -> None:
    with trio.fail_after(10):
        got = await fetch(tun_stack, PEER, HTTP_PORT, "/no-such-file")
    assert got.status == 404


async def test_connect_to_closed_kernel_port_is_refused(tun_stack: Stack) -> None:
    sock = Socket(tun_stack)
    with trio.fail_after(5), pytest.raises(ConnectionRefusedError) as refused:
        await sock.connect((PEER, 9))  # the kernel answers our SYN with RST|ACK
    assert refused.value.errno == errno.ECONNREFUSED
    # At once: by the answer to our first SYN, not after a retransmission (1 s). Counted, not timed
    # with a wall clock, which a loaded machine stretches.
    assert tun_stack.engine.counters["TCPSynRetrans"] == 0
    sock.close()
    with trio.fail_after(5), pytest.raises(ConnectionRefusedError):
        await fetch(tun_stack, PEER, 9, "/")


@pytest.fixture
def kernel_echo_server(tun_stack: Stack) -> Iterator[int]:
    """A kernel echo server on 198.18.0.1 (a thread with a blocking socket)."""
    server = socket.create_server((PEER, 0))
    server.settimeout(10)
    port = server.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            while data := conn.recv(65536):
                conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    server.close()
    thread.join(10)


async def test_one_megabyte_through_a_kernel_echo_server(tun_stack: Stack, kernel_echo_server: int) -> None:
    data = os.urandom(1 << 20)
    received = bytearray()
    with trio.fail_after(20):
        stream = await open_tcp_stream(tun_stack, PEER, kernel_echo_server)
        async with stream, trio.open_nursery() as nursery:

            async def send() -> None:
                await stream.send_all(data)
                await stream.send_eof()  # our FIN; the kernel echoes the rest, then closes

            nursery.start_soon(send)
            while chunk := await stream.receive_some(65536):
                received += chunk
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()
