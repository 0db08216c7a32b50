"""What a peer may legitimately do never makes a server log a traceback (issue #17): a reset right
after connecting, a reset after a half-close, silence. The servers say nothing above DEBUG, count
no error, and go on serving."""

from __future__ import annotations

import errno
import logging
import socket as _s
import struct

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from minitcp.apps import AppServer, DiscardServer, EchoServer, HttpServer
from minitcp.sockets.socket import SHUT_WR, Socket
from minitcp.sockets.streams import open_tcp_stream

from ..sockets.net import B_ADDR, Net

LINGER_0 = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


def _loud(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records a server should not have made: anything above DEBUG, or with a traceback."""
    return [r for r in caplog.records if r.levelno > logging.DEBUG or r.exc_info]


async def _connect_and_reset(net: Net, port: int, before_reset: bytes = b"", *,
                             half_close: bool = False) -> None:
    sock: Socket = Socket(net.a)
    await sock.connect((B_ADDR, port))
    if before_reset:
        await sock.sendall(before_reset)
    if half_close:
        sock.shutdown(SHUT_WR)
    sock.setsockopt(_s.SOL_SOCKET, _s.SO_LINGER, LINGER_0)
    sock.close()  # RST, right behind the handshake's last ACK: both reach the server in one batch


async def _still_serves(net: Net, server: AppServer, port: int) -> None:
    stream = await open_tcp_stream(net.a, B_ADDR, port)
    if isinstance(server, HttpServer):
        await stream.send_all(f"GET / HTTP/1.1\r\nHost: {B_ADDR}\r\nConnection: close\r\n\r\n".encode())
        await stream.send_eof()
    else:
        await stream.send_all(b"still here")
        await stream.send_eof()
    reply = b""
    while chunk := await stream.receive_some(65536):
        reply += chunk
    await stream.aclose()
    if isinstance(server, EchoServer):
        assert reply == b"still here"
    elif isinstance(server, HttpServer):
        assert reply.startswith(b"HTTP/1.1 200 OK")
    else:
        assert reply == b""


@pytest.mark.parametrize("server_class", [DiscardServer, EchoServer, HttpServer])
async def test_a_peer_that_resets_right_after_connecting_is_no_error(
    net: Net, autojump_clock: MockClock, caplog: pytest.LogCaptureFixture, server_class: type[AppServer]
) -> None:
    server = server_class()
    caplog.set_level(logging.DEBUG, logger="minitcp")
    async with trio.open_nursery() as n:
        await n.start(server.serve, net.b, 7)
        with trio.fail_after(30):
            for _ in range(20):
                await _connect_and_reset(net, 7)
            await trio.testing.wait_all_tasks_blocked()
            await _still_serves(net, server, 7)
            await trio.testing.wait_all_tasks_blocked()
        n.cancel_scope.cancel()
    assert server.connections == 21 and server.active == 0
    assert server.errors == 0
    assert _loud(caplog) == []


async def test_the_reset_is_what_discard_ran_into(net: Net, autojump_clock: MockClock) -> None:
    """The case of the issue: by the time the handler runs, the connection is gone (ENOTCONN)."""
    listener = Socket(net.b)
    listener.bind(("", 9))
    listener.listen(8)
    await _connect_and_reset(net, 9)
    await trio.testing.wait_all_tasks_blocked()
    accepted, _ = await listener.accept()
    with pytest.raises(OSError) as caught:
        accepted.getpeername()
    assert caught.value.errno == errno.ENOTCONN


@pytest.mark.parametrize("server_class", [DiscardServer, EchoServer, HttpServer])
async def test_a_reset_after_data_and_a_half_close_is_no_error(
    net: Net, autojump_clock: MockClock, caplog: pytest.LogCaptureFixture, server_class: type[AppServer]
) -> None:
    server = server_class()
    caplog.set_level(logging.DEBUG, logger="minitcp")
    request = f"GET /bytes/1000000 HTTP/1.1\r\nHost: {B_ADDR}\r\n\r\n".encode()
    async with trio.open_nursery() as n:
        await n.start(server.serve, net.b, 80)
        with trio.fail_after(30):
            for _ in range(5):
                await _connect_and_reset(net, 80, before_reset=request * 3, half_close=True)
                await trio.sleep(0.01)  # the server is in the middle of answering
            await trio.testing.wait_all_tasks_blocked()
            await _still_serves(net, server, 80)
        n.cancel_scope.cancel()
    assert server.errors == 0
    assert _loud(caplog) == []


async def test_a_silent_http_client_is_let_go_quietly(
    net: Net, autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    server = HttpServer(idle_timeout=5.0)
    caplog.set_level(logging.DEBUG, logger="minitcp")
    async with trio.open_nursery() as n:
        await n.start(server.serve, net.b, 80)
        with trio.fail_after(30):
            stream = await open_tcp_stream(net.a, B_ADDR, 80)
            assert await stream.receive_some(100) == b""  # the server's FIN after its idle timeout
            await stream.aclose()
            await _still_serves(net, server, 80)
        n.cancel_scope.cancel()
    assert server.errors == 0
    assert _loud(caplog) == []
