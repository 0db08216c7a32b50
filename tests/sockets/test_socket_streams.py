"""The Trio adapters: SocketStream is a HalfCloseableStream, SocketListener serves trio.serve_listeners."""

from __future__ import annotations

import errno
import os
import socket as _s
import struct

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from minitcp.sockets import Socket
from minitcp.sockets.streams import SocketListener, SocketStream, open_tcp_listener, open_tcp_stream
from minitcp.tcp.states import State

from .net import B_ADDR, FIN, Net, settle


async def stream_pair(net: Net, listener: SocketListener) -> tuple[SocketStream, SocketStream]:
    port = listener.socket.getsockname()[1]
    result: dict[str, SocketStream] = {}

    async def accept() -> None:
        result["server"] = await listener.accept()

    async with trio.open_nursery() as n:
        n.start_soon(accept)
        result["client"] = await open_tcp_stream(net.a, B_ADDR, port)
    return result["client"], result["server"]


async def test_check_half_closeable_stream(net: Net, autojump_clock: MockClock) -> None:
    listener = open_tcp_listener(net.b, 5000)

    async def maker() -> tuple[SocketStream, SocketStream]:
        return await stream_pair(net, listener)

    with trio.fail_after(60):
        await trio.testing.check_half_closeable_stream(maker, None)
    await listener.aclose()


async def test_serve_listeners_echo_for_several_clients(net: Net, autojump_clock: MockClock) -> None:
    async def echo(stream: SocketStream) -> None:
        async with stream:
            while data := await stream.receive_some():
                await stream.send_all(data)

    async def client(i: int, results: dict[int, bytes]) -> None:
        msg = f"client {i}: ".encode() + os.urandom(3000 + 1000 * i)
        stream = await open_tcp_stream(net.a, B_ADDR, 7)
        async with stream:
            await stream.send_all(msg)
            await stream.send_eof()
            got = bytearray()
            while chunk := await stream.receive_some():
                got += chunk
        results[i] = bytes(got) if bytes(got) == msg else b"MISMATCH"

    async with trio.open_nursery() as n:
        listeners = await n.start(trio.serve_listeners, echo, [open_tcp_listener(net.b, 7)])
        assert isinstance(listeners[0], SocketListener)
        results: dict[int, bytes] = {}
        async with trio.open_nursery() as clients:
            for i in range(10):
                clients.start_soon(client, i, results)
        assert sorted(results) == list(range(10))
        assert all(v != b"MISMATCH" for v in results.values())
        n.cancel_scope.cancel()


async def test_send_eof_is_shutdown_wr(net: Net, autojump_clock: MockClock) -> None:
    listener = open_tcp_listener(net.b, 5000)
    cli, srv = await stream_pair(net, listener)
    mark = len(net.wire)
    await cli.send_eof()
    [fin] = net.sent(since=mark)
    assert fin.sender == "a" and fin.flags & FIN
    assert cli.socket.state == State.FIN_WAIT_1
    with pytest.raises(trio.ClosedResourceError):
        await cli.send_all(b"after eof")
    await cli.send_eof()  # again: a no-op, as for trio's SocketStream
    assert await srv.receive_some() == b""
    await srv.send_all(b"the other direction still works")
    assert await cli.receive_some() == b"the other direction still works"


async def test_reset_connection_is_broken_resource(net: Net, autojump_clock: MockClock) -> None:
    listener = open_tcp_listener(net.b, 5000)
    cli, srv = await stream_pair(net, listener)
    srv.socket.setsockopt(_s.SOL_SOCKET, _s.SO_LINGER, struct.pack("ii", 1, 0))
    await srv.aclose()
    await settle()
    with pytest.raises(trio.BrokenResourceError) as e:
        await cli.receive_some()
    assert isinstance(e.value.__cause__, OSError) and e.value.__cause__.errno == errno.ECONNRESET
    with pytest.raises(trio.BrokenResourceError):
        await cli.send_all(b"x")


async def test_closed_stream_and_listener_raise_closed_resource(net: Net, autojump_clock: MockClock) -> None:
    listener = open_tcp_listener(net.b, 5000)
    cli, _srv = await stream_pair(net, listener)
    await cli.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await cli.receive_some()
    with pytest.raises(trio.ClosedResourceError):
        await cli.send_all(b"x")
    await cli.aclose()  # closing twice is fine

    errors: list[type[BaseException]] = []

    async def acceptor() -> None:
        try:
            await listener.accept()
        except trio.ClosedResourceError as exc:
            errors.append(type(exc))

    async with trio.open_nursery() as n:
        n.start_soon(acceptor)
        await settle()
        await listener.aclose()  # wakes the blocked accept()
    assert errors == [trio.ClosedResourceError]
    with pytest.raises(trio.ClosedResourceError):
        await listener.accept()


async def test_open_tcp_stream_refused(net: Net, autojump_clock: MockClock) -> None:
    with pytest.raises(OSError) as e:
        await open_tcp_stream(net.a, B_ADDR, 9)
    assert e.value.errno == errno.ECONNREFUSED


async def test_open_tcp_listener_sets_reuseaddr(net: Net, autojump_clock: MockClock) -> None:
    listener = open_tcp_listener(net.b, 5000)
    assert listener.socket.getsockopt(_s.SOL_SOCKET, _s.SO_REUSEADDR) == 1
    assert listener.socket.state == State.LISTEN
    assert listener.socket.getsockname() == ("0.0.0.0", 5000)


async def test_accept_nowait_takes_the_queued_connections_without_a_checkpoint(
        net: Net, autojump_clock: MockClock) -> None:
    listener = open_tcp_listener(net.b, 5000)
    with pytest.raises(trio.WouldBlock):
        listener.accept_nowait()  # nothing queued yet
    clients = [await open_tcp_stream(net.a, B_ADDR, 5000) for _ in range(3)]
    await settle()  # every handshake done: three connections wait in the accept queue
    with trio.testing.assert_no_checkpoints():
        servers = [listener.accept_nowait() for _ in range(3)]
        with pytest.raises(trio.WouldBlock):
            listener.accept_nowait()
    for i, (cli, srv) in enumerate(zip(clients, servers, strict=True)):
        await cli.send_all(b"%d" % i)
        assert await srv.receive_some() == b"%d" % i  # each one is its own connection, in order
        assert srv.socket.state == State.ESTABLISHED
    await listener.aclose()
    with pytest.raises(trio.ClosedResourceError):
        listener.accept_nowait()


async def test_accept_nowait_on_a_socket_that_is_not_listening(net: Net, autojump_clock: MockClock) -> None:
    sock = Socket(net.b)
    with pytest.raises(OSError) as e:
        SocketListener(sock).accept_nowait()
    assert e.value.errno == errno.EINVAL
    sock.close()
    with pytest.raises(trio.ClosedResourceError):
        SocketListener(sock).accept_nowait()  # EBADF: the handle is closed
