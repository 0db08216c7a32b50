"""setsockopt() and getsockopt(): the values Linux reports, and each option's effect on the wire."""

from __future__ import annotations

import errno
import socket as _s
import struct

import pytest
import trio
from trio.testing import MockClock

from minitcp.sockets.socket import Socket
from minitcp.tcp import pushmarks, wmem
from minitcp.tcp.states import State

from .net import ACK, B_ADDR, RST, SYN, Net, connected_pair, settle

SOL, TCP = _s.SOL_SOCKET, _s.IPPROTO_TCP


def listening(net: Net, port: int = 5000, opts: dict[tuple[int, int], int] | None = None) -> Socket:
    lst = Socket(net.b)
    for (level, name), value in (opts or {}).items():
        lst.setsockopt(level, name, value)
    lst.bind(("", port))
    lst.listen(8)
    return lst


def linger(sock: Socket) -> tuple[int, int]:
    value = sock.getsockopt(SOL, _s.SO_LINGER)
    assert isinstance(value, bytes)
    return struct.unpack("ii", value)


async def test_unknown_options_are_enoprotoopt(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.a)
    for level, name in ((SOL, 9999), (TCP, 9999), (_s.IPPROTO_IP + 250, 1)):
        with pytest.raises(OSError) as e:
            s.setsockopt(level, name, 1)
        assert e.value.errno == errno.ENOPROTOOPT
        with pytest.raises(OSError) as e:
            s.getsockopt(level, name)
        assert e.value.errno == errno.ENOPROTOOPT


async def test_so_reuseaddr(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.a)
    assert s.getsockopt(SOL, _s.SO_REUSEADDR) == 0
    s.setsockopt(SOL, _s.SO_REUSEADDR, 1)
    assert s.getsockopt(SOL, _s.SO_REUSEADDR) == 1
    s.setsockopt(SOL, _s.SO_REUSEADDR, struct.pack("i", 0))  # the bytes form works too
    assert s.getsockopt(SOL, _s.SO_REUSEADDR) == 0


async def test_accepted_socket_inherits_the_listeners_options(net: Net, autojump_clock: MockClock) -> None:
    opts = {(SOL, _s.SO_REUSEADDR): 1, (TCP, _s.TCP_NODELAY): 1, (SOL, _s.SO_KEEPALIVE): 1}
    lst = listening(net, opts=opts)
    _cli, srv = await connected_pair(net, listener=lst)
    assert srv.getsockopt(SOL, _s.SO_REUSEADDR) == 1
    assert srv.getsockopt(TCP, _s.TCP_NODELAY) == 1
    assert srv.getsockopt(SOL, _s.SO_KEEPALIVE) == 1
    assert srv.connection.opts.nodelay and srv.connection.opts.keepalive


async def test_an_accepted_sockets_options_are_its_own(net: Net, autojump_clock: MockClock) -> None:
    """Children start with the listener's options (one shared copy until someone sets one):
    setting an option on a child changes neither the listener nor its siblings, and back."""
    lst = listening(net, opts={(TCP, _s.TCP_NODELAY): 1})
    _, first = await connected_pair(net, listener=lst)
    _, second = await connected_pair(net, listener=lst)
    first.setsockopt(TCP, _s.TCP_NODELAY, 0)
    first.setsockopt(SOL, _s.SO_KEEPALIVE, 1)
    for other in (lst, second):
        assert other.getsockopt(TCP, _s.TCP_NODELAY) == 1 and other.getsockopt(SOL, _s.SO_KEEPALIVE) == 0
    assert second.connection.opts.nodelay and not second.connection.opts.keepalive
    lst.setsockopt(TCP, _s.TCP_KEEPIDLE, 30)
    assert first.getsockopt(TCP, _s.TCP_KEEPIDLE) == second.getsockopt(TCP, _s.TCP_KEEPIDLE) != 30
    assert first.getsockopt(TCP, _s.TCP_NODELAY) == 0 and first.getsockopt(SOL, _s.SO_KEEPALIVE) == 1


async def test_so_linger(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.a)
    assert linger(s) == (0, 0)
    s.setsockopt(SOL, _s.SO_LINGER, struct.pack("ii", 1, 0))
    assert linger(s) == (1, 0)
    s.setsockopt(SOL, _s.SO_LINGER, struct.pack("ii", 1, 5))
    assert linger(s) == (1, 5)
    s.setsockopt(SOL, _s.SO_LINGER, struct.pack("ii", 0, 0))
    assert linger(s)[0] == 0
    # Linux sock_setsockopt: a struct linger that is too short is EINVAL.
    with pytest.raises(OSError) as e:
        s.setsockopt(SOL, _s.SO_LINGER, b"\x01\x00")
    assert e.value.errno == errno.EINVAL


async def test_so_linger_set_after_connect_applies_to_close(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    cli.setsockopt(SOL, _s.SO_LINGER, struct.pack("ii", 1, 0))
    mark = len(net.wire)
    cli.close()
    [rst] = net.sent(since=mark)
    assert rst.flags & RST
    with pytest.raises(ConnectionResetError):
        await srv.recv(1)


async def test_so_linger_turned_off_again_closes_with_fin(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    cli.setsockopt(SOL, _s.SO_LINGER, struct.pack("ii", 1, 0))
    cli.setsockopt(SOL, _s.SO_LINGER, struct.pack("ii", 0, 0))
    cli.close()
    assert await srv.recv(1) == b""  # an orderly FIN, not a reset


async def test_so_rcvbuf_and_so_sndbuf_are_doubled(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.a)
    # Defaults: tcp_rmem[1] and tcp_wmem[1].
    assert s.getsockopt(SOL, _s.SO_RCVBUF) == net.a.knobs.tcp_rmem[1]
    assert s.getsockopt(SOL, _s.SO_SNDBUF) == net.a.knobs.tcp_wmem[1]
    s.setsockopt(SOL, _s.SO_RCVBUF, 30000)
    s.setsockopt(SOL, _s.SO_SNDBUF, 20000)
    # Linux keeps twice the value (room for its bookkeeping) and reports what it keeps.
    assert s.getsockopt(SOL, _s.SO_RCVBUF) == 60000
    assert s.getsockopt(SOL, _s.SO_SNDBUF) == 40000
    listening(net)
    await s.connect((B_ADDR, 5000))
    assert s.getsockopt(SOL, _s.SO_RCVBUF) == 60000  # carried into the connection
    assert s.getsockopt(SOL, _s.SO_SNDBUF) == 40000
    assert s.connection.rcvbuf_size == 60000 and s.connection.sndbuf_size == 40000
    s.setsockopt(SOL, _s.SO_SNDBUF, 50000)  # and may change afterwards
    assert s.getsockopt(SOL, _s.SO_SNDBUF) == 100000


async def test_so_sndbuf_limits_what_send_takes(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    cli.setsockopt(SOL, _s.SO_SNDBUF, 8192)
    srv.setsockopt(SOL, _s.SO_RCVBUF, 8192)  # and a small window, so the data stays queued
    cli.setblocking(False)
    taken = 0
    with pytest.raises(BlockingIOError):
        while True:
            taken += await cli.send(b"z" * 100_000)
    # Linux checks the buffer (sk_stream_memory_free) only before it starts an skb, which a write
    # then fills up to size_goal: at most one skb's worth beyond the 16384 bytes.
    conn = cli.connection
    assert 16384 <= wmem.queued(conn) < 16384 + pushmarks.size_goal(conn) + wmem.SKB_TRUESIZE_EMPTY


async def test_so_keepalive_probes_an_idle_connection(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    assert cli.getsockopt(SOL, _s.SO_KEEPALIVE) == 0
    cli.setsockopt(SOL, _s.SO_KEEPALIVE, 1)
    assert cli.getsockopt(SOL, _s.SO_KEEPALIVE) == 1
    start = trio.current_time()
    mark = len(net.wire)
    await trio.sleep(net.a.knobs.tcp_keepalive_time + 1)
    probes = net.sent("a", since=mark)
    assert len(probes) == 1
    [probe] = probes
    # After tcp_keepalive_time (7200 s) idle, a probe with seq = snd_una - 1 and no data.
    assert probe.time - start == pytest.approx(net.a.knobs.tcp_keepalive_time, abs=0.1)
    assert probe.seg.seq == (cli.connection.snd_una - 1) & 0xFFFFFFFF and not probe.seg.payload
    [answer] = net.sent("b", since=mark)
    assert answer.flags == ACK
    assert cli.state == srv.state == State.ESTABLISHED


async def test_so_keepalive_gives_up_on_a_dead_peer(net: Net, autojump_clock: MockClock) -> None:
    cli, _srv = await connected_pair(net)
    knobs = net.a.knobs
    cli.setsockopt(SOL, _s.SO_KEEPALIVE, 1)
    start = trio.current_time()
    net.unplug("b")
    with pytest.raises(TimeoutError) as e:
        await cli.recv(10)
    assert e.value.errno == errno.ETIMEDOUT
    elapsed = trio.current_time() - start
    assert elapsed == pytest.approx(knobs.tcp_keepalive_time + knobs.tcp_keepalive_probes
                                    * knobs.tcp_keepalive_intvl, abs=0.5)
    sent = net.sent("a")
    probes = [s for s in sent if s.time > start and not s.flags & RST]
    assert len(probes) == knobs.tcp_keepalive_probes
    assert sent[-1].flags & RST  # Linux tcp_keepalive_timer resets the connection


async def test_so_keepalive_off_sends_nothing(net: Net, autojump_clock: MockClock) -> None:
    cli, _ = await connected_pair(net)
    cli.setsockopt(SOL, _s.SO_KEEPALIVE, 1)
    cli.setsockopt(SOL, _s.SO_KEEPALIVE, 0)
    mark = len(net.wire)
    await trio.sleep(3 * 7200)
    assert net.sent(since=mark) == []


async def test_so_error_is_cleared_when_read(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    assert cli.getsockopt(SOL, _s.SO_ERROR) == 0
    srv.setsockopt(SOL, _s.SO_LINGER, struct.pack("ii", 1, 0))
    srv.close()
    await settle()
    assert cli.getsockopt(SOL, _s.SO_ERROR) == errno.ECONNRESET
    assert cli.getsockopt(SOL, _s.SO_ERROR) == 0
    assert await cli.recv(10) == b""  # the error was consumed: now just the end of the stream
    assert Socket(net.a).getsockopt(SOL, _s.SO_ERROR) == 0


async def test_tcp_nodelay_turns_off_nagle(net: Net, autojump_clock: MockClock) -> None:
    lst = listening(net)
    results = {}
    for nodelay in (0, 1):
        cli, srv = await connected_pair(net, listener=lst)
        srv.setsockopt(TCP, _s.TCP_QUICKACK, 0)  # the receiver delays its ACKs (40 ms)
        assert cli.getsockopt(TCP, _s.TCP_NODELAY) == 0
        cli.setsockopt(TCP, _s.TCP_NODELAY, nodelay)
        assert cli.getsockopt(TCP, _s.TCP_NODELAY) == nodelay
        start = trio.current_time()
        for ch in b"abc":
            await cli.send(bytes([ch]))
        assert await recv_n(srv, 3) == b"abc"
        port = cli.getsockname()[1]
        results[nodelay] = [round(s.time - start, 3) for s in net.sent("a", port=port) if s.seg.payload]
    # Nagle: a small segment waits while another is unacknowledged, i.e. for the 40 ms delayed ACK.
    assert results[0][0] == 0 and results[0][1] >= 0.04
    # TCP_NODELAY: every small write goes out at once.
    assert results[1] == [0.0, 0.0, 0.0]


async def recv_n(sock: Socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        got += await sock.recv(n - len(got))
    return got


async def test_tcp_quickack_sends_the_pending_ack_now(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    assert Socket(net.a).getsockopt(TCP, _s.TCP_QUICKACK) == 1  # Linux: not in ping-pong mode
    srv.setsockopt(TCP, _s.TCP_QUICKACK, 0)
    assert srv.getsockopt(TCP, _s.TCP_QUICKACK) == 0
    mark = len(net.wire)
    await cli.send(b"needs an ack")
    await settle()
    assert net.sent("b", since=mark) == []  # the ACK is delayed
    start = trio.current_time()
    srv.setsockopt(TCP, _s.TCP_QUICKACK, 1)
    [ack] = net.sent("b", since=mark)
    assert ack.flags == ACK and ack.time == start  # sent by the setsockopt call itself
    assert srv.getsockopt(TCP, _s.TCP_QUICKACK) == 1


async def test_tcp_maxseg_limits_the_segments_we_send(net: Net, autojump_clock: MockClock) -> None:
    listening(net)
    cli = Socket(net.a)
    assert cli.getsockopt(TCP, _s.TCP_MAXSEG) == 536  # Linux TCP_MSS_DEFAULT before a connection
    cli.setsockopt(TCP, _s.TCP_MAXSEG, 1000)
    assert cli.getsockopt(TCP, _s.TCP_MAXSEG) == 1000
    await cli.connect((B_ADDR, 5000))
    # The effective MSS: 1000 less the 12 bytes of timestamp option on every segment.
    assert cli.getsockopt(TCP, _s.TCP_MAXSEG) == 988
    await cli.sendall(b"m" * 20_000)
    sizes = {len(s.seg.payload) for s in net.sent("a") if s.seg.payload}
    assert max(sizes) == 988


async def test_tcp_maxseg_default_after_connect(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    # 1500 MTU - 40 bytes of headers - 12 bytes of timestamp option.
    assert cli.getsockopt(TCP, _s.TCP_MAXSEG) == 1448
    assert srv.getsockopt(TCP, _s.TCP_MAXSEG) == 1448


async def test_tcp_maxseg_out_of_range_is_einval(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.a)
    for bad in (0, 87, 32768):
        with pytest.raises(OSError) as e:
            s.setsockopt(TCP, _s.TCP_MAXSEG, bad)
        assert e.value.errno == errno.EINVAL


async def test_tcp_maxseg_is_the_syn_mss_option(net: Net, autojump_clock: MockClock) -> None:
    lst = listening(net, opts={(TCP, _s.TCP_MAXSEG): 1200})
    cli = Socket(net.a)
    cli.setsockopt(TCP, _s.TCP_MAXSEG, 1000)
    await cli.connect((B_ADDR, 5000))
    await lst.accept()
    [syn] = net.sent("a", has=SYN)
    [synack] = net.sent("b", has=SYN)
    assert syn.seg.mss == 1000
    assert synack.seg.mss == 1200


async def test_default_syn_mss_option(net: Net, autojump_clock: MockClock) -> None:
    await connected_pair(net)
    [syn] = net.sent("a", has=SYN)
    [synack] = net.sent("b", has=SYN)
    assert syn.seg.mss == synack.seg.mss == 1460


# ---------------------------------------------------------------------------- keepalive timing


async def test_tcp_keepidle_keepintvl_keepcnt_time_the_probes(net: Net, autojump_clock: MockClock) -> None:
    """Linux: per-socket values replace tcp_keepalive_time/intvl/probes (keepalive_*_when)."""
    cli, _srv = await connected_pair(net)
    knobs = net.a.knobs
    assert cli.getsockopt(TCP, _s.TCP_KEEPIDLE) == int(knobs.tcp_keepalive_time) == 7200
    assert cli.getsockopt(TCP, _s.TCP_KEEPINTVL) == 75
    assert cli.getsockopt(TCP, _s.TCP_KEEPCNT) == 9
    cli.setsockopt(TCP, _s.TCP_KEEPIDLE, 10)
    cli.setsockopt(TCP, _s.TCP_KEEPINTVL, 3)
    cli.setsockopt(TCP, _s.TCP_KEEPCNT, 2)
    assert (cli.getsockopt(TCP, _s.TCP_KEEPIDLE), cli.getsockopt(TCP, _s.TCP_KEEPINTVL),
            cli.getsockopt(TCP, _s.TCP_KEEPCNT)) == (10, 3, 2)
    cli.setsockopt(SOL, _s.SO_KEEPALIVE, 1)
    start = trio.current_time()
    net.unplug("b")
    with pytest.raises(TimeoutError):
        await cli.recv(10)
    sent = [s for s in net.sent("a") if s.time > start]
    probes = [round(s.time - start, 3) for s in sent if not s.flags & RST]
    assert probes == [10.0, 13.0]  # idle 10 s, then every 3 s; the third timeout gives up
    assert sent[-1].flags & RST and round(sent[-1].time - start, 3) == 16.0


async def test_tcp_keepidle_set_on_an_idle_connection_rearms_the_timer(
        net: Net, autojump_clock: MockClock) -> None:
    cli, _srv = await connected_pair(net)
    cli.setsockopt(SOL, _s.SO_KEEPALIVE, 1)
    start = trio.current_time()
    await trio.sleep(20)
    mark = len(net.wire)
    cli.setsockopt(TCP, _s.TCP_KEEPIDLE, 5)  # idle for 20 s already: probe at once
    await trio.sleep(1)
    [probe] = net.sent("a", since=mark)
    assert probe.time - start == pytest.approx(20, abs=0.01)


async def test_keepalive_options_out_of_range_are_einval(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.a)
    for option, bad in ((_s.TCP_KEEPIDLE, 0), (_s.TCP_KEEPIDLE, 32768), (_s.TCP_KEEPINTVL, 0),
                        (_s.TCP_KEEPINTVL, 32768), (_s.TCP_KEEPCNT, 0), (_s.TCP_KEEPCNT, 128)):
        with pytest.raises(OSError) as e:
            s.setsockopt(TCP, option, bad)
        assert e.value.errno == errno.EINVAL
    s.setsockopt(TCP, _s.TCP_KEEPIDLE, 32767)
    s.setsockopt(TCP, _s.TCP_KEEPCNT, 127)
    assert s.getsockopt(TCP, _s.TCP_KEEPIDLE) == 32767 and s.getsockopt(TCP, _s.TCP_KEEPCNT) == 127


async def test_tcp_keepidle_default_follows_the_knob(net: Net, autojump_clock: MockClock) -> None:
    net.a.knobs.tcp_keepalive_time = 15.0  # FreeBSD net.inet.tcp.keepidle=15000
    assert Socket(net.a).getsockopt(TCP, _s.TCP_KEEPIDLE) == 15


# ---------------------------------------------------------------------------- IP_TOS, IP_TTL


async def test_ip_ttl_and_ip_tos_mark_the_connections_segments(net: Net, autojump_clock: MockClock) -> None:
    lst = listening(net, opts={(_s.IPPROTO_IP, _s.IP_TTL): 4, (_s.IPPROTO_IP, _s.IP_TOS): 0x20})
    assert lst.getsockopt(_s.IPPROTO_IP, _s.IP_TTL) == 4
    cli, srv = await connected_pair(net, listener=lst)
    [synack] = net.sent("b", has=SYN | ACK)
    assert (synack.seg.ttl, synack.seg.tos) == (4, 0x20)  # the listener's values reach the child
    assert (srv.getsockopt(_s.IPPROTO_IP, _s.IP_TTL), srv.getsockopt(_s.IPPROTO_IP, _s.IP_TOS)) == (4, 0x20)
    srv.setsockopt(_s.IPPROTO_IP, _s.IP_TTL, 6)
    srv.setsockopt(_s.IPPROTO_IP, _s.IP_TOS, 0xE3)  # the ECN bits belong to TCP: dropped
    assert srv.getsockopt(_s.IPPROTO_IP, _s.IP_TOS) == 0xE0
    mark = len(net.wire)
    await srv.send(b"x" * 100)
    await settle()
    [data] = net.sent("b", since=mark)
    assert (data.seg.ttl, data.seg.tos) == (6, 0xE0)
    assert all((s.seg.ttl, s.seg.tos) == (64, 0) for s in net.sent("a"))  # Linux's defaults
    assert cli.getsockopt(_s.IPPROTO_IP, _s.IP_TTL) == 64 and cli.getsockopt(_s.IPPROTO_IP, _s.IP_TOS) == 0
    srv.setsockopt(_s.IPPROTO_IP, _s.IP_TTL, -1)  # back to ip_default_ttl
    assert srv.getsockopt(_s.IPPROTO_IP, _s.IP_TTL) == 64


async def test_ip_mtu_discover_dont_clears_df(net: Net, autojump_clock: MockClock) -> None:
    """IP_MTU_DISCOVER (Linux do_ip_setsockopt, ip_dont_fragment): IP_PMTUDISC_WANT (1) by
    default, DF on every segment; IP_PMTUDISC_DONT (0) sends without DF; a value past
    IP_PMTUDISC_OMIT (5) is EINVAL; a one-byte value is taken as Linux takes it."""
    _cli, srv = await connected_pair(net)
    assert srv.getsockopt(_s.IPPROTO_IP, 10) == 1
    mark = len(net.wire)
    await srv.send(b"x" * 100)
    await settle()
    [data] = net.sent("b", since=mark)
    assert data.seg.df
    srv.setsockopt(_s.IPPROTO_IP, 10, bytes([0]))
    assert srv.getsockopt(_s.IPPROTO_IP, 10) == 0
    mark = len(net.wire)
    await srv.send(b"y" * 100)
    await settle()
    [data] = net.sent("b", since=mark)
    assert not data.seg.df
    for bad in (-1, 6):
        with pytest.raises(OSError) as e:
            srv.setsockopt(_s.IPPROTO_IP, 10, bad)
        assert e.value.errno == errno.EINVAL
    assert srv.getsockopt(_s.IPPROTO_IP, 10) == 0


async def test_ip_ttl_out_of_range_is_einval(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.a)
    for bad in (0, 256, -2):
        with pytest.raises(OSError) as e:
            s.setsockopt(_s.IPPROTO_IP, _s.IP_TTL, bad)
        assert e.value.errno == errno.EINVAL
