"""The flags of send() and recv() and the TCP options scripts from Linux use: MSG_WAITALL,
MSG_MORE, TCP_CORK, TCP_NOTSENT_LOWAT, TCP_USER_TIMEOUT, TCP_CONGESTION, TCP_INQ, SO_REUSEPORT,
SO_LINGER's blocking close, and the ones minitcp refuses rather than get wrong."""

from __future__ import annotations

import errno
import socket as _s
import struct

import pytest
import trio
from trio.testing import MockClock

from minitcp.sockets.options import (
    SO_REUSEPORT,
    TCP_CM_INQ,
    TCP_CONGESTION,
    TCP_CORK,
    TCP_DEFER_ACCEPT,
    TCP_INQ,
    TCP_NOTSENT_LOWAT,
    TCP_USER_TIMEOUT,
)
from minitcp.sockets.readiness import POLLOUT
from minitcp.sockets.socket import MSG_DONTWAIT, MSG_EOR, MSG_MORE, MSG_OOB, MSG_WAITALL, Socket
from minitcp.tcp.pushmarks import size_goal
from minitcp.tcp.states import State
from minitcp.trace.ss import ss

from .net import B_ADDR, SYN, Net, connected_pair, settle

SOL, TCP = _s.SOL_SOCKET, _s.IPPROTO_TCP


def payloads(net: Net, sender: str, since: int) -> list[int]:
    return [len(x.seg.payload) for x in net.sent(sender, since=since) if x.seg.payload]


async def test_msg_waitall(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)

    async def writer() -> None:
        for part in (b"ab", b"cd", b"ef"):
            await trio.sleep(0.1)
            await cli.send(part)
        await trio.sleep(0.1)
        cli.shutdown(_s.SHUT_WR)

    async with trio.open_nursery() as n:
        n.start_soon(writer)
        assert await srv.recv(4, MSG_WAITALL) == b"abcd"  # waits for all four bytes
        assert await srv.recv(10, MSG_WAITALL) == b"ef"  # less only at the end of the stream
    assert await srv.recv(10, MSG_WAITALL) == b""


async def test_refused_flags(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    for flags in (MSG_OOB, 0x40000000):
        with pytest.raises(OSError) as e:
            await cli.send(b"x", flags)
        assert e.value.errno == errno.EOPNOTSUPP
    for flags in (MSG_OOB, _s.MSG_TRUNC):
        with pytest.raises(OSError) as e:
            await srv.recv(10, flags)
        assert e.value.errno == errno.EOPNOTSUPP


async def test_tcp_cork_holds_partial_segments(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    cli.setsockopt(TCP, TCP_CORK, 1)
    assert cli.getsockopt(TCP, TCP_CORK) == 1
    mark = len(net.wire)
    start = trio.current_time()
    await cli.send(b"a" * 100)
    await cli.send(b"b" * 2000)
    assert payloads(net, "a", mark) == [1448]  # the full segment goes, the rest waits
    await srv.recv(1448)
    # With nothing in flight the probe timer sends what waits (Linux tcp_check_probe_timer ->
    # tcp_write_wakeup): the "200 ms ceiling" of TCP_CORK that tcp(7) describes.
    assert await srv.recv(1000) == b"b" * 652
    [late] = [x for x in net.sent("a", since=mark) if len(x.seg.payload) == 652]
    assert late.time - start == pytest.approx(0.2)
    mark = len(net.wire)
    await cli.send(b"c" * 100)
    assert payloads(net, "a", mark) == []
    cli.setsockopt(TCP, TCP_CORK, 0)  # uncorking pushes what waited
    assert payloads(net, "a", mark) == [100]


async def test_tcp_nodelay_pushes_past_a_cork_once(net: Net, autojump_clock: MockClock) -> None:
    """Linux __tcp_sock_set_nodelay sets TCP_NAGLE_PUSH: what the cork holds goes at once, and
    the next write, which starts a new segment (skb_entail clears the push), is corked again
    (packetdrill's nagle/sockopt_cork_nodelay.pkt)."""
    cli, _srv = await connected_pair(net)
    cli.setsockopt(TCP, TCP_CORK, 1)
    mark = len(net.wire)
    await cli.send(b"a" * 40)
    await cli.send(b"b" * 40)
    await settle()
    assert payloads(net, "a", mark) == []
    cli.setsockopt(TCP, _s.TCP_NODELAY, 1)
    await settle()
    assert payloads(net, "a", mark) == [80]
    mark = len(net.wire)
    await cli.send(b"c" * 40)
    await settle()
    assert payloads(net, "a", mark) == []  # corked again (until the 200 ms probe)


async def test_msg_more_holds_only_until_a_write_without_it(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    mark = len(net.wire)
    await cli.send(b"head", MSG_MORE)
    await settle()
    assert payloads(net, "a", mark) == []
    await cli.send(b"body")
    await settle()
    assert payloads(net, "a", mark) == [8]  # one segment
    assert await srv.recv(100) == b"headbody"


async def test_msg_eor_is_taken(net: Net, autojump_clock: MockClock) -> None:
    """(The segments it makes are checked in tests/tcp/test_tcp_eor.py, in exact time.)"""
    cli, srv = await connected_pair(net)
    await cli.sendall(b"r" * 3000, MSG_EOR)
    await cli.send(b"s" * 10)
    got = b""
    while len(got) < 3010:
        got += await srv.recv(8000)
    assert got == b"r" * 3000 + b"s" * 10


async def test_msg_eor_records_are_resent_alone(net: Net, autojump_clock: MockClock) -> None:
    cli, _srv = await connected_pair(net)
    cli.setsockopt(TCP, _s.TCP_NODELAY, 1)
    net.unplug("b")
    mark = len(net.wire)
    await cli.send(b"a" * 100, MSG_EOR)
    await cli.send(b"b" * 100)
    # The loss probe resends the tail record; the RTO then the head, only as far as its record's
    # end (the two records are never coalesced).
    await trio.sleep(0.5)
    assert payloads(net, "a", mark) == [100, 100, 100, 100]
    resent = [bytes(x.seg.payload[:1]) for x in net.sent("a", since=mark) if x.seg.payload][2:]
    assert resent == [b"b", b"a"]


async def test_tcp_defer_accept_waits_for_data(net: Net, autojump_clock: MockClock) -> None:
    lst = Socket(net.b)
    lst.setsockopt(TCP, TCP_DEFER_ACCEPT, 5)
    assert lst.getsockopt(TCP, TCP_DEFER_ACCEPT) == 7  # 3 retransmissions: 1 + 2 + 4 s (secs_to_retrans)
    lst.bind(("", 5000))
    lst.listen(4)
    cli = Socket(net.a)
    await cli.connect((B_ADDR, 5000))  # the client is connected, the server keeps a request
    await trio.sleep(2)
    assert lst.poll() == 0 and net.b.engine.counters["TCPDeferAcceptDrop"] == 1
    assert len(net.sent("b", has=SYN)) == 1  # no SYN-ACK resent while it waits
    start = trio.current_time()
    await cli.send(b"GET /")

    async def accept() -> None:
        srv, _ = await lst.accept()
        assert await srv.recv(10) == b"GET /"

    await accept()
    assert trio.current_time() == start  # data completes the handshake at once


async def test_tcp_defer_accept_period_ends_with_a_last_syn_ack(net: Net, autojump_clock: MockClock) -> None:
    lst = Socket(net.b)
    lst.setsockopt(TCP, TCP_DEFER_ACCEPT, 3)  # 2 retransmissions: 1 + 2 s
    lst.bind(("", 5000))
    lst.listen(4)
    cli = Socket(net.a)
    await cli.connect((B_ADDR, 5000))
    await trio.sleep(2.9)
    assert lst.poll() == 0
    await trio.sleep(0.2)
    # At the period's end the SYN-ACK goes again, the data's last chance (Linux syn_ack_recalc),
    # and the client's ACK to it now completes the handshake, data or not (tcp_check_req).
    assert [round(x.time, 3) for x in net.sent("b", has=SYN)] == [0.0, 3.0]
    srv, _ = await lst.accept()
    assert srv.state == State.ESTABLISHED


async def test_tcp_congestion(net: Net, autojump_clock: MockClock) -> None:
    """TCP_CONGESTION (Linux tcp_set_congestion_control): the sysctl's CUBIC by default, Reno
    by name, an algorithm minitcp lacks is ENOENT; on a live connection the window carries over
    and `ss -i` names the algorithm."""
    s = Socket(net.a)
    assert s.getsockopt(TCP, TCP_CONGESTION) == b"cubic".ljust(16, b"\0")
    assert s.getsockopt(TCP, TCP_CONGESTION, 4) == b"cubi"
    with pytest.raises(OSError) as e:
        s.setsockopt(TCP, TCP_CONGESTION, b"vegas")  # not in minitcp: as an unloaded module
    assert e.value.errno == errno.ENOENT
    s.setsockopt(TCP, TCP_CONGESTION, b"reno\0")
    assert s.getsockopt(TCP, TCP_CONGESTION)[:5] == b"reno\0"
    cli, _srv = await connected_pair(net)
    assert cli.getsockopt(TCP, TCP_CONGESTION)[:6] == b"cubic\0"
    conn = cli.connection
    conn.recovery.cc.cwnd, conn.recovery.cc.ssthresh = 33, 20
    cli.setsockopt(TCP, TCP_CONGESTION, "reno")  # on a connection too
    assert cli.getsockopt(TCP, TCP_CONGESTION)[:5] == b"reno\0"
    assert (conn.recovery.cc.name, conn.recovery.cc.cwnd, conn.recovery.cc.ssthresh) == ("reno", 33, 20)
    info = cli.tcp_info()
    assert (info["snd_cwnd"], info["snd_ssthresh"]) == (33, 20)
    assert " reno " in f" {ss(net.a.engine, info=True)} "


async def test_tcp_user_timeout_gives_up_on_time(net: Net, autojump_clock: MockClock) -> None:
    cli, _srv = await connected_pair(net)
    cli.setsockopt(TCP, TCP_USER_TIMEOUT, 1000)
    assert cli.getsockopt(TCP, TCP_USER_TIMEOUT) == 1000
    with pytest.raises(OSError) as e:
        cli.setsockopt(TCP, TCP_USER_TIMEOUT, -1)
    assert e.value.errno == errno.EINVAL
    net.unplug("b")
    start = trio.current_time()
    await cli.send(b"x" * 10)
    with pytest.raises(TimeoutError):
        await cli.recv(10)
    # Probed at 0.2 s (a lone packet's loss probe comes when its RTO would), resent by the RTO
    # at 0.4 and 0.8 s; the time counts from the last transmission of the head before the first
    # RTO, the probe (Linux retransmits_timed_out: the head's timestamp), and the timer is
    # clamped to that deadline (tcp_clamp_rto_to_user_timeout): the connection ends at 1.2 s
    # instead of after tcp_retries2.
    assert trio.current_time() - start == pytest.approx(1.2)
    assert [round(x.time - start, 3) for x in net.sent("a") if x.seg.payload] == [0.0, 0.2, 0.4, 0.8]


async def test_tcp_notsent_lowat(net: Net, autojump_clock: MockClock) -> None:
    cli, _srv = await connected_pair(net)
    assert cli.getsockopt(TCP, TCP_NOTSENT_LOWAT) == 0
    cli.setsockopt(TCP, TCP_NOTSENT_LOWAT, 4000)
    assert cli.getsockopt(TCP, TCP_NOTSENT_LOWAT) == 4000
    cli.setsockopt(SOL, _s.SO_SNDBUF, 1 << 20)  # the mark, not the buffer, stops the writes
    net.unplug("b")  # nothing is acknowledged: the congestion window fills
    total = 0
    with pytest.raises(BlockingIOError):
        while True:
            total += await cli.send(b"z" * 59000, MSG_DONTWAIT)
    # Linux tcp_sendmsg checks the mark only when it starts a new skb, and fills each skb to
    # size_goal: the write stops with one skb's worth unsent, at least the mark.
    info = cli.tcp_info()
    goal = size_goal(cli.connection)
    assert goal >= 4000
    assert info["notsent_bytes"] == goal and total == info["bytes_sent"] + goal
    assert not cli.poll() & POLLOUT


async def test_tcp_notsent_lowat_write_tops_up_the_unsent_skb(net: Net, autojump_clock: MockClock) -> None:
    """packetdrill's notsent_lowat/notsent-lowat-setsockopt.pkt: mss 1000, a peer window of
    32896 (size_goal 16000), ten segments of cwnd. The first skb's 16000 bytes go as far as
    cwnd lets them (10000); its unsent 6000 are topped up to 16000 without looking at the
    mark; the next skb would need fewer than 4000 unsent, so the write returns 26000."""
    cli, _srv = await connected_pair(net)
    conn = cli.connection
    conn.mss, conn.max_snd_wnd = 1000, 32896
    conn.recovery.board.set_mss(1000)  # (the retransmission queue counts segments of it)
    conn.recovery.cc.cwnd = 10
    cli.setsockopt(SOL, _s.SO_SNDBUF, 1 << 20)
    cli.setsockopt(TCP, TCP_NOTSENT_LOWAT, 4000)
    net.unplug("b")
    assert size_goal(conn) == 16000
    assert await cli.send(b"z" * 59000, MSG_DONTWAIT) == 26000
    assert cli.tcp_info()["notsent_bytes"] == 16000


async def test_tcp_inq(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    srv.setsockopt(TCP, TCP_INQ, 1)
    assert srv.getsockopt(TCP, TCP_INQ) == 1
    await cli.send(b"x" * 100)
    cli.shutdown(_s.SHUT_WR)
    await settle()
    data, anc, _, _ = await srv.recvmsg(30, 64)
    assert data == b"x" * 30
    assert anc == [(TCP, TCP_CM_INQ, struct.pack("i", 70))]
    _, anc, _, _ = await srv.recvmsg(100, 64)
    assert anc == [(TCP, TCP_CM_INQ, struct.pack("i", 1))]  # nothing left but the FIN (tcp_inq_hint)


async def test_so_reuseport(net: Net, autojump_clock: MockClock) -> None:
    a, b = Socket(net.b), Socket(net.b)
    for s in (a, b):
        s.setsockopt(SOL, SO_REUSEPORT, 1)
        assert s.getsockopt(SOL, SO_REUSEPORT) == 1
        s.bind(("", 5000))
    a.listen(4)
    with pytest.raises(OSError) as e:
        b.listen(4)  # a group of listeners is not something minitcp has: refused, not half-done
    assert e.value.errno == errno.EOPNOTSUPP
    c = Socket(net.b)
    with pytest.raises(OSError) as e:
        c.bind(("", 5000))
    assert e.value.errno == errno.EADDRINUSE


async def test_so_linger_close_waits_for_the_ack_of_our_fin(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    cli.setsockopt(SOL, _s.SO_LINGER, struct.pack("ii", 1, 5))
    await cli.send(b"x" * 3000)
    conn = cli.connection
    await cli.aclose()
    assert conn.state == State.FIN_WAIT_2  # our FIN is acknowledged
    assert await srv.recv(5000) == b"x" * 3000
    cli2, _ = await connected_pair(net, port=5001)
    cli2.setsockopt(SOL, _s.SO_LINGER, struct.pack("ii", 1, 5))
    net.unplug("b")
    start = trio.current_time()
    conn = cli2.connection
    await cli2.aclose()
    assert trio.current_time() - start == pytest.approx(5.0)  # the linger time, then close returns
    assert conn.state == State.FIN_WAIT_1  # still trying


async def test_aclose_without_linger_does_not_wait(net: Net, autojump_clock: MockClock) -> None:
    cli, _srv = await connected_pair(net)
    net.unplug("b")
    start = trio.current_time()
    await cli.aclose()
    assert trio.current_time() == start
