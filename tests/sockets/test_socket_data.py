"""send(), sendall() and recv(): bytes delivered, MSG_PEEK, EOF, non-blocking mode, MSG_DONTWAIT."""

from __future__ import annotations

import errno
import os
from functools import partial

import pytest
import trio
from trio.testing import MockClock

from minitcp.sockets import MSG_DONTWAIT, MSG_PEEK, SHUT_WR
from minitcp.sockets.socket import Socket
from minitcp.tcp.states import State

from .net import B_ADDR, Net, NetFactory, connected_pair, settle


async def recv_exactly(sock: Socket, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = await sock.recv(n - len(got))
        assert chunk, "unexpected EOF"
        got += chunk
    return bytes(got)


async def recv_to_eof(sock: Socket) -> bytes:
    got = bytearray()
    while chunk := await sock.recv(65536):
        got += chunk
    return bytes(got)


async def test_send_and_recv_both_ways(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    assert await cli.send(b"hello") == 5
    assert await srv.recv(100) == b"hello"
    assert await srv.send(bytearray(b"world")) == 5
    assert await cli.recv(100) == b"world"
    assert await cli.send(memoryview(b"xyz")[1:]) == 2
    assert await srv.recv(100) == b"yz"
    assert await cli.send(b"") == 0


async def test_recv_returns_at_most_bufsize(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    await cli.sendall(b"abcdefgh")
    await settle()
    assert await srv.recv(3) == b"abc"
    assert await srv.recv(3) == b"def"
    assert await srv.recv(100) == b"gh"


async def test_blocked_recv_wakes_when_data_arrives(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    got: list[bytes] = []

    async def reader() -> None:
        got.append(await srv.recv(100))

    async with trio.open_nursery() as n:
        n.start_soon(reader)
        await trio.sleep(5)  # the reader has been blocked for a while
        assert got == []
        await cli.send(b"ping")
    assert got == [b"ping"]


async def test_cancelled_recvs_leave_the_other_waiters_waiting(net: Net, autojump_clock: MockClock) -> None:
    """Tasks blocked on one socket wait each for itself: cancelling some (the first and the
    last to block) disturbs nobody else, and a later recv on the same handle blocks and wakes."""
    cli, srv = await connected_pair(net)
    other = srv.dup()
    got: list[bytes] = []
    doomed: list[trio.CancelScope] = []

    async def reader(handle: Socket) -> None:
        got.append(await handle.recv(100))

    async def cancelled_reader() -> None:
        with trio.CancelScope() as scope:
            doomed.append(scope)
            await srv.recv(100)
        got.append(b"cancelled")

    async with trio.open_nursery() as n:
        for task in (cancelled_reader, partial(reader, other), cancelled_reader):
            n.start_soon(task)
            await settle()
        for scope in doomed:
            scope.cancel()
        await settle()
        assert got == [b"cancelled"] * 2  # and the reader in the middle still waits
        await cli.send(b"one")
        await settle()
        assert got == [b"cancelled"] * 2 + [b"one"]
        n.start_soon(reader, srv)
        await settle()
        await cli.send(b"two")
    assert got == [b"cancelled"] * 2 + [b"one", b"two"]
    # Waiting costs memory only while someone waits (an idle server has 10,000s of sockets).
    assert srv._ep.waiters is None


async def test_sendall_a_large_buffer(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    data = os.urandom(300_000)  # far more than the send buffer: sendall must wait for room
    async with trio.open_nursery() as n:
        n.start_soon(cli.sendall, data)
        assert await recv_exactly(srv, len(data)) == data


async def test_msg_peek_leaves_the_data_queued(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    await cli.send(b"first ")
    await cli.send(b"second")
    await settle()
    assert await srv.recv(4, MSG_PEEK) == b"firs"
    assert await srv.recv(100, MSG_PEEK) == b"first second"  # across the segment boundary
    assert srv.connection.recv_queued == 12
    assert await srv.recv(100) == b"first second"
    assert srv.connection.recv_queued == 0


async def test_msg_peek_blocks_like_recv(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    async with trio.open_nursery() as n:
        n.start_soon(cli.send, b"late")
        assert await srv.recv(10, MSG_PEEK) == b"late"
    assert await srv.recv(10) == b"late"


async def test_recv_returns_empty_bytes_at_eof_every_time(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    await cli.sendall(b"last words")
    cli.close()
    assert await recv_to_eof(srv) == b"last words"
    assert await srv.recv(10) == b""
    assert await srv.recv(10, MSG_PEEK) == b""
    assert srv.state == State.CLOSE_WAIT


async def test_blocked_recv_sees_eof(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    async with trio.open_nursery() as n:
        n.start_soon(srv.recv, 10)
        await settle()
        cli.shutdown(SHUT_WR)
    assert await srv.recv(10) == b""


async def test_recv_zero_bytes_returns_at_once(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    with trio.fail_after(1):
        assert await srv.recv(0) == b""  # Linux tcp_recvmsg: nothing asked, nothing waited for
    await cli.send(b"x")
    await settle()
    assert await srv.recv(0) == b""
    assert await srv.recv(1) == b"x"
    with pytest.raises(OSError) as e:
        await srv.recv(-1)
    assert e.value.errno == errno.EINVAL


async def test_recv_and_send_on_an_unconnected_socket(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.a)
    with pytest.raises(OSError) as e:
        await s.recv(10)
    assert e.value.errno == errno.ENOTCONN
    # Linux tcp_sendmsg (sk_stream_wait_connect): EPIPE when not connected at all.
    with pytest.raises(BrokenPipeError):
        await s.send(b"x")
    lst = Socket(net.b)
    lst.listen(1)
    with pytest.raises(OSError) as e:
        await lst.recv(10)
    assert e.value.errno == errno.ENOTCONN


async def test_send_during_the_handshake_waits_for_it(make_net: NetFactory,
        autojump_clock: MockClock) -> None:
    net = make_net()
    lst = Socket(net.b)
    lst.bind(("", 80))
    lst.listen(1)
    cli = Socket(net.a)
    cli.setblocking(False)
    with pytest.raises(BlockingIOError):
        await cli.connect((B_ADDR, 80))
    cli.setblocking(True)
    assert cli.state == State.SYN_SENT
    assert await cli.send(b"early") == 5
    conn, _ = await lst.accept()
    assert await conn.recv(10) == b"early"


async def test_nonblocking_recv_and_accept_raise_eagain(net: Net, autojump_clock: MockClock) -> None:
    lst = Socket(net.b)
    lst.bind(("", 80))
    lst.listen(1)
    lst.setblocking(False)
    assert not lst.getblocking()
    with pytest.raises(BlockingIOError) as e:
        await lst.accept()
    assert e.value.errno == errno.EAGAIN
    cli = Socket(net.a)
    await cli.connect((B_ADDR, 80))
    await settle()  # our ACK reached B, which queued the connection for accept()
    srv, _ = await lst.accept()
    # Like Linux's accept(2), the new socket does not inherit O_NONBLOCK.
    assert srv.getblocking()
    cli.setblocking(False)
    with pytest.raises(BlockingIOError) as e:
        await cli.recv(10)
    assert e.value.errno == errno.EAGAIN
    await srv.send(b"now")
    await settle()
    assert await cli.recv(10) == b"now"
    with pytest.raises(BlockingIOError):
        await cli.recv(10)


async def test_msg_dontwait_on_a_blocking_socket(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    with pytest.raises(BlockingIOError) as e:
        await srv.recv(10, MSG_DONTWAIT)
    assert e.value.errno == errno.EAGAIN
    with pytest.raises(BlockingIOError):
        await srv.recv(10, MSG_DONTWAIT | MSG_PEEK)
    assert srv.getblocking()  # the flag changed nothing for later calls
    await cli.send(b"abc")
    await settle()
    assert await srv.recv(10, MSG_DONTWAIT) == b"abc"


async def test_nonblocking_send_fills_the_buffer_then_eagain(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    cli.setblocking(False)
    data = b"x" * 10_000_000
    sent = 0
    with pytest.raises(BlockingIOError) as e:
        while True:
            n = await cli.send(data)
            assert 0 < n < len(data)  # a partial send, never the whole
            sent += n
    assert e.value.errno == errno.EAGAIN
    # What was taken is in flight or queued: the peer's window plus our send buffer, no more.
    conn = cli.connection
    assert conn.send_queued > 0
    assert sent <= srv.connection.rcvbuf_size + conn.sndbuf_size
    with pytest.raises(BlockingIOError):
        await cli.send(b"y", MSG_DONTWAIT)
    # Reading on the other side makes room again.
    got = 0
    while got < sent:
        got += len(await srv.recv(1 << 20))
    await settle()
    assert await cli.send(b"y") == 1


async def test_send_after_idle_is_not_retransmitted_at_once(net: Net, autojump_clock: MockClock) -> None:
    """A socket call runs at the present time, not at the time of the last packet."""
    cli, srv = await connected_pair(net)
    await trio.sleep(30)
    await srv.sendall(b"after a long silence")
    assert await cli.recv(100) == b"after a long silence"
    await trio.sleep(5)
    data = net.sent("b", port=5000)
    assert [len(s.seg.payload) for s in data if s.seg.payload] == [20]  # sent once
    assert net.b.engine.counters["RetransSegs"] == 0
    assert srv.connection.recovery.srtt_or_zero < 0.01  # the memory link is instant
