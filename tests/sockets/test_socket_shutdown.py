"""shutdown(): SHUT_WR sends FIN at once, SHUT_RD sends nothing, SHUT_RDWR both; its errors."""

from __future__ import annotations

import errno
from socket import SO_ERROR, SOL_SOCKET

import pytest
import trio
from trio.testing import MockClock

from minitcp.sockets import SHUT_RD, SHUT_RDWR, SHUT_WR, Socket
from minitcp.tcp.states import State

from .net import ACK, B_ADDR, FIN, RST, SYN, Net, NetFactory, connected_pair, settle


async def test_shut_wr_sends_fin_at_once(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    mark = len(net.wire)
    now = trio.current_time()
    cli.shutdown(SHUT_WR)
    # On the wire before the call returned: no waiting for a timer or another task.
    [fin] = net.sent(since=mark)
    assert fin.sender == "a" and fin.flags & FIN and fin.time == now
    assert cli.state == State.FIN_WAIT_1
    await settle()
    assert srv.state == State.CLOSE_WAIT
    # B acknowledges the FIN by its delayed-ACK timer (it may yet close and piggy-back it).
    await trio.sleep(0.25)
    assert cli.state == State.FIN_WAIT_2
    [ack] = net.sent("b", since=mark)
    assert ack.flags == ACK and ack.seg.ack == (fin.seg.seq + 1) & 0xFFFFFFFF
    assert 0 < ack.time - fin.time <= 0.2


async def test_after_shut_wr_send_is_epipe_and_recv_still_works(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    cli.shutdown(SHUT_WR)
    with pytest.raises(BrokenPipeError) as e:
        await cli.send(b"more")
    assert e.value.errno == errno.EPIPE
    with pytest.raises(BrokenPipeError):
        await cli.sendall(b"more")
    assert await srv.recv(10) == b""  # the peer sees EOF ...
    await srv.sendall(b"reply after your FIN")  # ... and may still talk
    assert await cli.recv(100) == b"reply after your FIN"
    srv.close()
    assert await cli.recv(100) == b""
    await settle()
    # As on Linux: the pair is in TIME_WAIT, an entry that belongs to no socket, and the
    # socket itself is CLOSED (tcp_time_wait hands the pair over and closes the socket).
    assert cli.state == State.CLOSED
    assert [tw.four_tuple for tw in net.a.engine.timewait_entries()] == [cli.connection.four_tuple]


async def test_shut_wr_sends_fin_after_the_queued_data(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    data = b"d" * 50_000
    n = await cli.send(data)  # takes what fits in the send buffer; some of it is still queued
    data = data[:n]
    assert cli.connection.send_queued > 0
    cli.shutdown(SHUT_WR)
    got = bytearray()
    while chunk := await srv.recv(65536):
        got += chunk
    assert bytes(got) == data
    [fin] = net.sent("a", has=FIN)
    data_segs = net.sent("a", port=5000)
    last_data = max(s.seg.seq + len(s.seg.payload) for s in data_segs if s.seg.payload)
    assert fin.seg.seq + len(fin.seg.payload) == last_data  # FIN is the byte after the data


async def test_second_shut_wr_sends_no_second_fin(net: Net, autojump_clock: MockClock) -> None:
    cli, _srv = await connected_pair(net)
    cli.shutdown(SHUT_WR)
    cli.shutdown(SHUT_WR)
    cli.shutdown(SHUT_RDWR)
    await settle()
    assert len(net.sent("a", has=FIN)) == 1


async def test_shut_rd_sends_nothing_and_reads_eof_once_empty(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    await cli.sendall(b"queued before")
    await settle()
    mark = len(net.wire)
    srv.shutdown(SHUT_RD)
    await settle()
    await trio.sleep(1)  # and not later either (no delayed segment)
    assert net.sent(since=mark) == []
    assert srv.state == State.ESTABLISHED
    assert await srv.recv(100) == b"queued before"  # what was queued is still readable
    assert await srv.recv(100) == b""
    assert await srv.recv(100) == b""
    # The write side is untouched.
    await srv.sendall(b"still sending")
    assert await cli.recv(100) == b"still sending"


async def test_shut_rd_wakes_a_blocked_reader(net: Net, autojump_clock: MockClock) -> None:
    _cli, srv = await connected_pair(net)
    got: list[bytes] = []

    async def reader() -> None:
        got.append(await srv.recv(100))

    async with trio.open_nursery() as n:
        n.start_soon(reader)
        await settle()
        srv.shutdown(SHUT_RD)
    assert got == [b""]


async def test_close_after_shut_rd_with_new_data_sends_rst(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    srv.shutdown(SHUT_RD)
    await cli.sendall(b"arrives after SHUT_RD")
    await settle()
    mark = len(net.wire)
    srv.close()  # the data was never read: RST, not FIN
    [rst] = net.sent(since=mark)
    assert rst.sender == "b" and rst.flags & RST and not rst.flags & FIN
    with pytest.raises(ConnectionResetError):
        await cli.recv(10)


async def test_shut_rdwr_does_both(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    mark = len(net.wire)
    cli.shutdown(SHUT_RDWR)
    [fin] = net.sent(since=mark)
    assert fin.sender == "a" and fin.flags == FIN | ACK
    assert await cli.recv(10) == b""
    with pytest.raises(BrokenPipeError):
        await cli.send(b"x")
    assert await srv.recv(10) == b""
    await trio.sleep(0.25)
    assert cli.state == State.FIN_WAIT_2


async def test_shutdown_on_an_unconnected_socket_is_enotconn(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.a)
    for how in (SHUT_RD, SHUT_WR, SHUT_RDWR):
        with pytest.raises(OSError) as e:
            s.shutdown(how)
        assert e.value.errno == errno.ENOTCONN
    s.bind(("", 7000))
    with pytest.raises(OSError) as e:
        s.shutdown(SHUT_WR)
    assert e.value.errno == errno.ENOTCONN


async def test_shutdown_after_a_refused_connect_is_enotconn(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.a)
    with pytest.raises(ConnectionRefusedError):
        await s.connect((B_ADDR, 9))
    with pytest.raises(OSError) as e:
        s.shutdown(SHUT_WR)
    assert e.value.errno == errno.ENOTCONN


async def test_shutdown_with_a_bad_how_is_einval(net: Net, autojump_clock: MockClock) -> None:
    # Linux inet_shutdown checks `how` first, so EINVAL even on an unconnected socket.
    with pytest.raises(OSError) as e:
        Socket(net.a).shutdown(3)
    assert e.value.errno == errno.EINVAL
    cli, _ = await connected_pair(net)
    with pytest.raises(OSError) as e:
        cli.shutdown(-1)
    assert e.value.errno == errno.EINVAL
    assert cli.state == State.ESTABLISHED


async def test_shutdown_on_a_listener(net: Net, autojump_clock: MockClock) -> None:
    lst = Socket(net.b)
    lst.bind(("", 80))
    lst.listen(4)
    lst.shutdown(SHUT_WR)  # Linux: nothing happens, no error
    assert lst.state == State.LISTEN
    errors: list[int] = []

    async def acceptor() -> None:
        try:
            await lst.accept()
        except OSError as exc:
            errors.append(exc.errno or 0)

    async with trio.open_nursery() as n:
        n.start_soon(acceptor)
        await settle()
        # The old trick to wake a thread blocked in accept(): SHUT_RD stops the listener.
        lst.shutdown(SHUT_RD)
    assert errors == [errno.EINVAL]
    assert lst.state == State.CLOSED
    with pytest.raises(ConnectionRefusedError):
        await Socket(net.a).connect((B_ADDR, 80))


async def test_shutdown_while_connecting_abandons_the_attempt(make_net: NetFactory,
                                                              autojump_clock: MockClock) -> None:
    """Linux inet_shutdown in SYN_SENT is tcp_disconnect: no RST, ECONNRESET for the connect()
    that waits, and the socket is unconnected again (it may connect anew)."""
    net = make_net(run_b=False)  # nobody answers the SYN
    s = Socket(net.a)
    failure: list[OSError] = []

    async def connecting() -> None:
        try:
            await s.connect((B_ADDR, 9))
        except OSError as e:
            failure.append(e)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(connecting)
        await trio.sleep(2.0)  # the SYN went out, and once more after the first RTO (1 s)
        assert [x.seg.flags for x in net.sent("a")] == [SYN, SYN]
        s.shutdown(SHUT_RDWR)
    assert [e.errno for e in failure] == [errno.ECONNRESET]
    await trio.sleep(5.0)
    assert all(not x.seg.flags & RST for x in net.sent("a"))
    assert [x.seg.flags for x in net.sent("a")] == [SYN, SYN]  # and no more retransmissions
    s.setblocking(False)
    with pytest.raises(BlockingIOError) as e:
        await s.connect((B_ADDR, 9))  # a fresh attempt, not EISCONN
    assert e.value.errno == errno.EINPROGRESS


async def test_shutdown_of_a_non_blocking_attempt_leaves_the_error_for_so_error(
        make_net: NetFactory, autojump_clock: MockClock) -> None:
    """As the kernel does (checked in a namespace): EINPROGRESS, shutdown(), SO_ERROR says
    ECONNRESET, and the next connect() is a new attempt."""
    net = make_net(run_b=False)
    s = Socket(net.a)
    s.setblocking(False)
    with pytest.raises(BlockingIOError) as e:
        await s.connect((B_ADDR, 9))
    assert e.value.errno == errno.EINPROGRESS
    await trio.sleep(0.2)
    s.shutdown(SHUT_RDWR)
    assert s.getsockopt(SOL_SOCKET, SO_ERROR) == errno.ECONNRESET
    with pytest.raises(BlockingIOError) as e:
        await s.connect((B_ADDR, 9))
    assert e.value.errno == errno.EINPROGRESS
    await trio.sleep(0.1)
    assert [x.seg.flags for x in net.sent("a")] == [SYN, SYN]  # one SYN per attempt, no RST
