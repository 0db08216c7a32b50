"""Many connections at once, a large transfer, and a bug in one connection that must not stop the host."""

from __future__ import annotations

import errno
import hashlib
import os
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from minitcp.sockets import SHUT_WR
from minitcp.sockets.socket import Socket
from minitcp.tcp.connection import Connection
from minitcp.tcp.reqsk import RequestSock
from minitcp.tcp.states import State

from .net import B_ADDR, RST, Net, connected_pair, settle


async def echo_server(lst: Socket, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    async def echo(conn: Socket) -> None:
        with conn:
            while data := await conn.recv(65536):
                await conn.sendall(data)

    async with trio.open_nursery() as n:
        task_status.started()
        while True:
            conn, _ = await lst.accept()
            n.start_soon(echo, conn)


async def echo_once(net: Net, port: int, msg: bytes) -> bytes:
    with Socket(net.a) as s:
        await s.connect((B_ADDR, port))
        await s.sendall(msg)
        s.shutdown(SHUT_WR)
        got = bytearray()
        while chunk := await s.recv(65536):
            got += chunk
        return bytes(got)



def fail_for(monkeypatch: pytest.MonkeyPatch, method: str, victim: Connection, what: str) -> None:
    """Make `Connection.<method>` raise for `victim` only: a simulated engine bug in one connection.

    Connection has __slots__, so the method is replaced on the class, and passes every other
    connection through to the real one.
    """
    real = getattr(Connection, method)

    def faulty(self: Connection, *args: Any) -> None:
        if self is victim:
            raise RuntimeError(f"simulated {what}")
        real(self, *args)

    monkeypatch.setattr(Connection, method, faulty)

async def test_200_concurrent_connections_through_one_listener(net: Net, autojump_clock: MockClock) -> None:
    lst = Socket(net.b)
    lst.bind(("", 7))
    lst.listen(256)
    results: dict[int, bool] = {}

    async def client(i: int) -> None:
        msg = f"message {i} ".encode() * (1 + i % 7)
        results[i] = await echo_once(net, 7, msg) == msg

    async with trio.open_nursery() as n:
        await n.start(echo_server, lst)
        with trio.fail_after(120):
            async with trio.open_nursery() as clients:
                for i in range(200):
                    clients.start_soon(client, i)
        n.cancel_scope.cancel()
    assert len(results) == 200 and all(results.values())
    assert net.b.engine.counters["PassiveOpens"] == 200
    assert net.a.engine.counters["ActiveOpens"] == 200
    # Every connection was closed in order: A, which closed first, holds 200 TIME_WAIT entries.
    assert len(net.a.engine.timewait_entries()) == 200
    assert net.a.engine.counters["OutRsts"] == net.b.engine.counters["OutRsts"] == 0


async def test_one_megabyte_echo_round_trip(net: Net, autojump_clock: MockClock) -> None:
    lst = Socket(net.b)
    lst.bind(("", 7))
    lst.listen(1)
    data = os.urandom(1 << 20)
    async with trio.open_nursery() as n:
        await n.start(echo_server, lst)
        cli = Socket(net.a)
        await cli.connect((B_ADDR, 7))
        digest = hashlib.sha256()
        received = 0

        async def reader() -> None:
            nonlocal received
            while chunk := await cli.recv(65536):
                digest.update(chunk)
                received += len(chunk)

        with trio.fail_after(60):
            async with trio.open_nursery() as io:
                io.start_soon(reader)
                await cli.sendall(data)
                cli.shutdown(SHUT_WR)
        n.cancel_scope.cancel()
    assert received == len(data)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


async def test_an_engine_bug_in_one_connection_resets_only_that_one(net: Net, autojump_clock: MockClock,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    lst = Socket(net.b)
    lst.bind(("", 80))
    lst.listen(8)
    victim_cli, victim_srv = await connected_pair(net, listener=lst)
    other_cli, other_srv = await connected_pair(net, listener=lst)
    victim = victim_srv.connection
    fail_for(monkeypatch, "input", victim, "a bug in the engine")
    mark = len(net.wire)
    await victim_cli.send(b"this segment trips the bug")
    await settle()
    assert net.b.engine.counters["TCPConnectionErrors"] == 1
    assert victim.state == State.CLOSED
    [rst] = net.sent("b", since=mark)  # the broken connection is reset ...
    assert rst.flags & RST and rst.seg.dport == victim_cli.getsockname()[1]
    with pytest.raises(ConnectionResetError):
        await victim_cli.recv(10)
    # ... the server program holding it hears of the abort, as after Linux's tcp_abort (ss -K) ...
    with pytest.raises(ConnectionAbortedError) as e:
        await victim_srv.recv(10)
    assert e.value.errno == errno.ECONNABORTED
    victim_srv.close()
    # ... and every other connection, old or new, goes on working.
    await other_cli.sendall(b"still fine")
    assert await other_srv.recv(100) == b"still fine"
    await other_srv.sendall(b"yes")
    assert await other_cli.recv(100) == b"yes"
    new_cli, new_srv = await connected_pair(net, listener=lst)
    await new_cli.sendall(b"new")
    assert await new_srv.recv(10) == b"new"
    assert net.b.engine.counters["TCPConnectionErrors"] == 1


async def test_a_bug_on_a_new_connections_syn_does_not_stop_the_listener(
        net: Net, autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch) -> None:
    lst = Socket(net.b)
    lst.bind(("", 80))
    lst.listen(8)
    real = RequestSock.open
    calls = 0

    def faulty_open(self: RequestSock) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("simulated bug on the first SYN")
        real(self)

    monkeypatch.setattr(RequestSock, "open", faulty_open)
    # The first attempt's SYN trips the bug; the half-made request is dropped and the SYN
    # retransmitted 1 s later creates the connection properly.
    cli, srv = await connected_pair(net, listener=lst)
    assert net.b.engine.counters["TCPConnectionErrors"] == 1
    assert cli.state == srv.state == State.ESTABLISHED
    await cli.sendall(b"ok")
    assert await srv.recv(10) == b"ok"


async def test_an_engine_bug_in_one_connections_timer_resets_only_that_one(
        net: Net, autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch) -> None:
    victim_cli, victim_srv = await connected_pair(net, 80)
    other_cli, other_srv = await connected_pair(net, 81)
    victim = victim_srv.connection
    fail_for(monkeypatch, "on_timers", victim, "a bug in a timer")
    victim_cli.shutdown(SHUT_WR)  # the FIN arms B's delayed-ACK timer on the victim
    other_cli.shutdown(SHUT_WR)
    with trio.fail_after(5):
        assert await other_srv.recv(10) == b""
        await trio.sleep(1)
    assert net.b.engine.counters["TCPConnectionErrors"] == 1
    assert victim.state == State.CLOSED
    await other_srv.sendall(b"still served")
    assert await other_cli.recv(100) == b"still served"


async def test_an_engine_bug_in_an_orphaned_connection_still_resets_it(
        net: Net, autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """close() orphans the connection, so abort() (which is close()) would do nothing there."""
    cli, srv = await connected_pair(net)
    victim = cli.connection
    cli.close()
    await trio.sleep(0.5)
    assert victim.state == State.FIN_WAIT_2
    fail_for(monkeypatch, "input", victim, "a bug in the engine")
    mark = len(net.wire)
    await srv.send(b"trips the bug on A")
    await settle()
    assert net.a.engine.counters["TCPConnectionErrors"] == 1
    assert victim.state == State.CLOSED
    assert net.sent("a", since=mark, has=RST)
    assert net.a.engine.conns == {}
    with pytest.raises(BrokenPipeError):
        await srv.send(b"x")
