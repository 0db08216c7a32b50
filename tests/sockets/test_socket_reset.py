"""When close() sends RST instead of FIN, and what the peer's calls report afterwards."""

from __future__ import annotations

import errno
import socket as _s
import struct

import pytest
import trio
from trio.testing import MockClock

from minitcp.sockets import Socket
from minitcp.tcp.states import State

from .net import B_ADDR, FIN, RST, Net, NetFactory, connected_pair, settle

LINGER_0 = struct.pack("ii", 1, 0)


async def test_close_with_unread_data_sends_rst(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    await cli.sendall(b"never read")
    await settle()
    assert srv.connection.recv_queued == 10
    conn = srv.connection
    mark = len(net.wire)
    srv.close()
    # RFC 2525 section 2.17 / Linux tcp_close: RST instead of FIN, straight to CLOSED.
    [rst] = net.sent(since=mark)
    assert rst.sender == "b" and rst.flags & RST and not rst.flags & FIN
    assert rst.seg.seq == conn.snd_nxt
    assert conn.state == State.CLOSED
    assert net.b.engine.counters["TCPAbortOnClose"] == 1
    await settle()
    assert net.b.engine.timewait_entries() == []
    with pytest.raises(ConnectionResetError) as e:
        await cli.recv(10)
    assert e.value.errno == errno.ECONNRESET
    # The error is reported once; the connection is gone: EOF for reads, EPIPE for writes.
    assert await cli.recv(10) == b""
    with pytest.raises(BrokenPipeError):
        await cli.send(b"x")
    assert cli.state == State.CLOSED


async def test_close_after_reading_everything_sends_fin(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    await cli.sendall(b"read")
    assert await srv.recv(10) == b"read"
    mark = len(net.wire)
    srv.close()
    [fin] = net.sent(since=mark)
    assert fin.flags & FIN and not fin.flags & RST


async def test_so_linger_zero_close_sends_rst_and_skips_time_wait(net: Net,
        autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    cli.setsockopt(_s.SOL_SOCKET, _s.SO_LINGER, LINGER_0)
    conn = cli.connection
    mark = len(net.wire)
    cli.close()
    [rst] = net.sent(since=mark)
    assert rst.sender == "a" and rst.flags & RST and not rst.flags & FIN
    assert conn.state == State.CLOSED
    assert net.a.engine.counters["TCPAbortOnData"] == 1
    await settle()
    assert net.a.engine.timewait_entries() == [] and net.b.engine.timewait_entries() == []
    assert net.a.engine.conns == {} and net.b.engine.conns == {}
    with pytest.raises(ConnectionResetError):
        await srv.recv(10)
    assert srv.state == State.CLOSED
    # No TIME_WAIT: the very same four-tuple can be used again at once.
    again = Socket(net.a)
    again.bind(("", conn.lport))
    lst = Socket(net.b)
    lst.bind(("", 6000))
    lst.listen(1)
    await again.connect((B_ADDR, 6000))


async def test_so_linger_zero_on_the_listener_is_inherited(net: Net, autojump_clock: MockClock) -> None:
    lst = Socket(net.b)
    lst.setsockopt(_s.SOL_SOCKET, _s.SO_LINGER, LINGER_0)
    lst.bind(("", 80))
    lst.listen(1)
    cli = Socket(net.a)
    await cli.connect((B_ADDR, 80))
    srv, _ = await lst.accept()
    assert srv.getsockopt(_s.SOL_SOCKET, _s.SO_LINGER) == LINGER_0
    mark = len(net.wire)
    srv.close()
    [rst] = net.sent(since=mark)
    assert rst.sender == "b" and rst.flags & RST


async def test_blocked_recv_wakes_with_econnreset(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    results: list[object] = []

    async def reader() -> None:
        try:
            results.append(await cli.recv(10))
        except OSError as exc:
            results.append(exc.errno)

    async with trio.open_nursery() as n:
        n.start_soon(reader)
        await settle()
        srv.setsockopt(_s.SOL_SOCKET, _s.SO_LINGER, LINGER_0)
        srv.close()
    assert results == [errno.ECONNRESET]


async def test_data_queued_before_the_rst_is_still_readable(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    await srv.sendall(b"before the reset")
    await settle()
    srv.setsockopt(_s.SOL_SOCKET, _s.SO_LINGER, LINGER_0)
    srv.close()
    await settle()
    assert await cli.recv(100) == b"before the reset"
    with pytest.raises(ConnectionResetError):
        await cli.recv(100)


async def test_data_arriving_after_close_is_answered_with_rst(net: Net, autojump_clock: MockClock) -> None:
    """The seed text's "close is the brutal way": the closed side can no longer receive."""
    cli, srv = await connected_pair(net)
    cli.close()  # orphaned: FIN_WAIT_1, then FIN_WAIT_2
    await trio.sleep(0.5)
    conn = cli.connection
    assert conn.state == State.FIN_WAIT_2
    assert srv.state == State.CLOSE_WAIT
    mark = len(net.wire)
    await srv.sendall(b"are you still there?")  # the server may still send: its side is open
    await settle()
    rst = net.sent("a", since=mark, has=RST)
    assert len(rst) == 1 and not rst[0].flags & FIN
    assert net.a.engine.counters["TCPAbortOnData"] == 1
    assert conn.state == State.CLOSED
    assert net.a.engine.timewait_entries() == []  # no four-way close, no TIME_WAIT
    assert srv.state == State.CLOSED
    # An RST in CLOSE_WAIT is EPIPE for the server (Linux tcp_reset).
    with pytest.raises(BrokenPipeError):
        await srv.send(b"more")


async def test_recv_after_fin_then_rst_is_eof(net: Net, autojump_clock: MockClock) -> None:
    """Linux tcp_recvmsg looks at SOCK_DONE (FIN received) before sk_err: EOF, and EPIPE for send()."""
    cli, srv = await connected_pair(net)
    cli.close()
    await trio.sleep(0.5)
    await srv.sendall(b"are you still there?")
    await settle()
    assert srv.state == State.CLOSED
    assert await srv.recv(10) == b""
    with pytest.raises(BrokenPipeError):
        await srv.send(b"more")


async def test_closing_a_listener_resets_connections_not_yet_accepted(net: Net,
        autojump_clock: MockClock) -> None:
    lst = Socket(net.b)
    lst.bind(("", 80))
    lst.listen(4)
    cli = Socket(net.a)
    await cli.connect((B_ADDR, 80))
    await settle()  # our ACK reached B: the connection waits in the accept queue
    assert cli.state == State.ESTABLISHED
    mark = len(net.wire)
    lst.close()
    [rst] = net.sent(since=mark)
    assert rst.sender == "b" and rst.flags & RST
    with pytest.raises(ConnectionResetError):
        await cli.recv(10)


async def test_close_in_syn_sent_sends_nothing(make_net: NetFactory, autojump_clock: MockClock) -> None:
    net = make_net(run_b=False)
    cli = Socket(net.a)
    cli.setblocking(False)
    with pytest.raises(BlockingIOError):
        await cli.connect((B_ADDR, 80))
    conn = cli.connection
    mark = len(net.wire)
    cli.close()
    await trio.sleep(30)
    assert net.sent(since=mark) == []  # no RST, no more SYN retries
    assert conn.state == State.CLOSED
    assert net.a.engine.conns == {}
