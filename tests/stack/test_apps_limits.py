"""The demo servers' memory is bounded by their configuration, not by their peers (issue #17):
an idle limit on every connection, SO_KEEPALIVE when asked (`minitcp up --keepalive`), and a
bounded record of what the discard server received. Two stacks on a memory link, virtual time."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from minitcp.apps import DiscardServer, EchoServer, HttpServer
from minitcp.apps import discard as discard_module
from minitcp.cli import _build_parser, _servers
from minitcp.sockets.streams import open_tcp_stream
from minitcp.tcp.states import State

from ..sockets.net import B_ADDR, RST, Net, NetFactory


@pytest.mark.parametrize("server_class", [EchoServer, DiscardServer])
async def test_a_silent_connection_is_closed_after_the_idle_timeout(
    server_class: type[EchoServer | DiscardServer], net: Net, autojump_clock: MockClock
) -> None:
    server = server_class(idle_timeout=10.0)
    async with trio.open_nursery() as n:
        await n.start(server.serve, net.b, 7)
        stream = await open_tcp_stream(net.a, B_ADDR, 7)
        await stream.send_all(b"hello")
        if server_class is EchoServer:
            assert await stream.receive_some(100) == b"hello"
        last = trio.current_time()
        await trio.sleep(9.0)
        assert server.active == 1  # still within its limit
        with trio.fail_after(30):
            assert await stream.receive_some(100) == b""  # the server's FIN
        assert trio.current_time() - last == pytest.approx(10.0, abs=0.01)
        await stream.aclose()
        await trio.testing.wait_all_tasks_blocked()
        n.cancel_scope.cancel()
    assert (server.idle_closed, server.active, server.errors) == (1, 0, 0)


async def test_idle_timeout_0_keeps_a_silent_connection(net: Net, autojump_clock: MockClock) -> None:
    server = EchoServer(idle_timeout=0)
    async with trio.open_nursery() as n:
        await n.start(server.serve, net.b, 7)
        stream = await open_tcp_stream(net.a, B_ADDR, 7)
        await trio.sleep(3600.0)
        assert server.active == 1 and server.idle_closed == 0
        await stream.send_all(b"still here")
        assert await stream.receive_some(100) == b"still here"
        n.cancel_scope.cancel()


async def test_with_keepalive_a_vanished_peer_is_reset_after_the_probes(
    make_net: NetFactory, autojump_clock: MockClock
) -> None:
    """tcp_keepalive_time 60 s, then 3 probes 5 s apart (Linux tcp_keepalive_timer): with no
    answer the connection is reset at 60 + 3 * 5 = 75 s of silence, long before the idle limit."""
    net = make_net(tcp_keepalive_time=60, tcp_keepalive_intvl=5, tcp_keepalive_probes=3)
    server = EchoServer(keepalive=True)  # the default idle limit, 300 s
    async with trio.open_nursery() as n:
        await n.start(server.serve, net.b, 7)
        stream = await open_tcp_stream(net.a, B_ADDR, 7)
        await stream.send_all(b"hi")
        assert await stream.receive_some(100) == b"hi"
        last = trio.current_time()
        net.unplug("a")  # the client's host is gone: no FIN, no RST, no answer to anything
        with trio.fail_after(200):
            while server.active:
                await trio.sleep(0.5)
        assert trio.current_time() - last == pytest.approx(75.0, abs=1.0)
        n.cancel_scope.cancel()
    assert server.errors == 0 and server.idle_closed == 0
    assert net.b.engine.counters["TCPKeepAlive"] == 3
    assert [s for s in net.sent("b") if s.flags & RST]  # the reset, into the void
    assert all(c.state == State.CLOSED for c in net.b.engine.conns.values())


async def test_without_keepalive_the_idle_limit_still_ends_a_vanished_peer(
    net: Net, autojump_clock: MockClock
) -> None:
    server = DiscardServer(idle_timeout=30.0)
    async with trio.open_nursery() as n:
        await n.start(server.serve, net.b, 9)
        stream = await open_tcp_stream(net.a, B_ADDR, 9)
        await stream.send_all(b"x" * 1000)
        await trio.sleep(1.0)
        net.unplug("a")
        with trio.fail_after(100):
            while server.active:
                await trio.sleep(0.5)
        n.cancel_scope.cancel()
    assert server.idle_closed == 1 and server.errors == 0


async def test_the_discard_server_keeps_totals_and_only_recent_records(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discard_module, "RECENT", 3)
    server = DiscardServer()
    for i in range(8):
        client, server_end = trio.testing.memory_stream_pair()
        nursery.start_soon(server._run, server_end)
        await client.send_all(b"y" * (i + 1))
        await client.send_eof()
    with trio.fail_after(5):
        records = await server.wait_received(8)
    assert server.finished == 8 and server.bytes_discarded == sum(range(1, 9))
    assert [r.nbytes for r in records] == [6, 7, 8]


def test_the_command_line_passes_idle_timeout_and_keepalive() -> None:
    parser = _build_parser()
    args = parser.parse_args(["up", "--echo", "--discard", "--http", "--idle-timeout", "42", "--keepalive"])
    servers = [server for server, _ in _servers(args)]
    assert [(s.name, s.idle_timeout, s.keepalive) for s in servers] == \
        [("echo", 42.0, True), ("discard", 42.0, True), ("http", 42.0, True)]
    defaults = [server for server, _ in _servers(parser.parse_args(["up", "--echo", "--http"]))]
    assert [(s.idle_timeout, s.keepalive) for s in defaults] == [(300.0, False), (60.0, False)]
    assert isinstance(defaults[1], HttpServer)
    with pytest.raises(SystemExit):
        parser.parse_args(["up", "--echo", "--idle-timeout", "-1"])
