"""The echo and discard servers, and what every server shares, on in-memory streams and on
two minitcp stacks joined by a memory link."""

from __future__ import annotations

import hashlib
import logging

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from minitcp.apps import AppServer, DiscardServer, EchoServer
from minitcp.sockets.streams import SocketListener, SocketStream, open_tcp_stream
from minitcp.tcp.states import State
from minitcp.trace.events import StateEvent

from ..helpers.recorded import events_of
from ..sockets.net import B_ADDR, Net


async def read_to_eof(stream: trio.abc.ReceiveStream) -> bytes:
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    return data


async def test_echo_sends_everything_back_then_closes_after_the_clients_eof(nursery: trio.Nursery) -> None:
    server = EchoServer()
    client, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(server._run, server_end)
    data = bytes(range(256)) * 1000
    with trio.fail_after(5):
        await client.send_all(data[:1000])
        assert await client.receive_some(1000) == data[:1000]  # byte for byte, before any EOF
        await client.send_all(data[1000:])
        await client.send_eof()
        assert await read_to_eof(client) == data[1000:]
        await trio.testing.wait_all_tasks_blocked()  # the handler's task has finished
    assert server.bytes_echoed == len(data)
    assert (server.connections, server.active, server.errors) == (1, 0, 0)


async def test_discard_counts_and_hashes_and_answers_nothing(nursery: trio.Nursery) -> None:
    server = DiscardServer(digest=True)
    data = bytes(range(256)) * 4000
    for _ in range(2):
        client, server_end = trio.testing.memory_stream_pair()
        nursery.start_soon(server._run, server_end)
        with trio.fail_after(5):
            await client.send_all(data)
            await client.send_eof()
            assert await read_to_eof(client) == b""
    with trio.fail_after(5):
        records = await server.wait_received(2)
    assert [r.nbytes for r in records] == [len(data), len(data)]
    assert records[0].sha256 == hashlib.sha256(data).hexdigest()
    assert server.bytes_discarded == 2 * len(data)


async def test_discard_without_digest_keeps_only_counts(nursery: trio.Nursery) -> None:
    server = DiscardServer()
    client, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(server._run, server_end)
    await client.send_all(b"x" * 10)
    await client.send_eof()
    with trio.fail_after(5):
        (record,) = await server.wait_received(1)
    assert (record.nbytes, record.sha256) == (10, None)


class Broken(AppServer):
    name = "broken"

    async def handle(self, stream: trio.abc.HalfCloseableStream) -> None:
        raise RuntimeError("a bug in the handler")


class Reset(AppServer):
    name = "reset"

    async def handle(self, stream: trio.abc.HalfCloseableStream) -> None:
        raise trio.BrokenResourceError("the peer reset the connection")


async def test_a_failing_handler_is_logged_counted_and_its_stream_closed(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    server = Broken()
    client, server_end = trio.testing.memory_stream_pair()
    with caplog.at_level(logging.ERROR, logger="minitcp.apps"), trio.fail_after(5):
        await server._run(server_end)  # does not raise: the other connections go on being served
        assert await read_to_eof(client) == b""
    assert server.errors == 1
    assert "broken server: handler failed" in caplog.text
    assert "a bug in the handler" in caplog.text


async def test_a_reset_connection_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    server = Reset()
    _client, server_end = trio.testing.memory_stream_pair()
    with caplog.at_level(logging.ERROR, logger="minitcp.apps"):
        await server._run(server_end)
    assert server.errors == 0
    assert caplog.text == ""


async def test_a_burst_of_queued_connections_is_served_from_one_wake_up(
    net: Net, autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[SocketStream] = []
    accept_nowait = SocketListener.accept_nowait

    def counting(self: SocketListener) -> SocketStream:
        taken.append(stream := accept_nowait(self))
        return stream

    monkeypatch.setattr(SocketListener, "accept_nowait", counting)
    server = EchoServer()
    replies: dict[int, bytes] = {}

    async def client(i: int) -> None:
        stream = await open_tcp_stream(net.a, B_ADDR, 7)
        await stream.send_all(b"%d" % i)
        await stream.send_eof()
        replies[i] = await read_to_eof(stream)
        await stream.aclose()

    async with trio.open_nursery() as n:
        await n.start(server.serve, net.b, 7)
        with trio.fail_after(10):
            async with trio.open_nursery() as clients:
                for i in range(8):  # the SYNs go out together, so the handshakes end together
                    clients.start_soon(client, i)
        n.cancel_scope.cancel()
    assert replies == {i: b"%d" % i for i in range(8)}
    assert server.connections == 8 and server.errors == 0
    assert taken  # some connections came off the queue without a wait of their own


async def test_a_failing_handler_on_a_minitcp_stream_closes_its_connection(
    net: Net, autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    server = Broken()
    async with trio.open_nursery() as n:
        await n.start(server.serve, net.b, 7)
        with caplog.at_level(logging.ERROR, logger="minitcp.apps"), trio.fail_after(10):
            stream = await open_tcp_stream(net.a, B_ADDR, 7)
            assert await read_to_eof(stream) == b""  # the server's FIN
            await stream.aclose()
            await trio.testing.wait_all_tasks_blocked()
        n.cancel_scope.cancel()
    assert server.errors == 1 and server.active == 0
    assert [State[e.new] for e in events_of(net.trace, StateEvent) if e.host == "b"][-3:] == [
        State.FIN_WAIT_1, State.FIN_WAIT_2, State.TIME_WAIT]
