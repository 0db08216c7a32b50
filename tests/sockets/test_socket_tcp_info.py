"""getsockopt(TCP_INFO) and Socket.tcp_info(): Linux's struct tcp_info, field by field."""

from __future__ import annotations

import socket as _s

import trio
from trio.testing import MockClock

from minitcp.sockets.socket import Socket
from minitcp.tcp import tcpinfo

from .net import B_ADDR, Net, connected_pair, settle

TCP = _s.IPPROTO_TCP
TCP_INFO = _s.TCP_INFO


async def test_struct_is_linux_6_12s_248_bytes(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.a)
    raw = s.getsockopt(TCP, TCP_INFO)
    assert isinstance(raw, bytes) and len(raw) == 248
    # A shorter optlen gets the head of the struct, as Linux copies min(len, sizeof).
    assert s.getsockopt(TCP, TCP_INFO, 104) == raw[:104]
    assert tcpinfo.unpack(raw) == s.tcp_info()


async def test_unconnected_and_listening_sockets(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.b)
    info = s.tcp_info()
    assert info["state"] == 7  # TCP_CLOSE
    assert info["rto"] == 1_000_000 and info["snd_cwnd"] == 10
    assert info["snd_ssthresh"] == tcpinfo.INFINITE_SSTHRESH and info["min_rtt"] == tcpinfo.NO_MIN_RTT
    s.bind(("", 5000))
    s.listen(7)
    info = s.tcp_info()
    assert (info["state"], info["unacked"], info["sacked"]) == (10, 0, 7)  # TCP_LISTEN, queue, backlog
    c = Socket(net.a)
    await c.connect((B_ADDR, 5000))
    await settle()
    assert s.tcp_info()["unacked"] == 1  # one connection waits in the accept queue


async def test_established_connection(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    await trio.sleep(1)
    await settle()
    c, s = cli.tcp_info(), srv.tcp_info()
    assert c["state"] == s["state"] == 1  # TCP_ESTABLISHED
    opts = tcpinfo.TCPI_OPT_TIMESTAMPS | tcpinfo.TCPI_OPT_SACK | tcpinfo.TCPI_OPT_WSCALE
    assert c["options"] & opts == opts
    conn = cli.connection
    assert (c["snd_wscale"], c["rcv_wscale"]) == (conn.snd_wscale, conn.rcv_wscale)
    # advmss without the timestamp option, as Linux reports it once timestamps are agreed on.
    assert c["snd_mss"] == conn.mss == 1448 and c["advmss"] == 1448 and c["pmtu"] == 1500
    # The client's SYN was acknowledged (Linux counts it in bytes_acked); a passive
    # connection is born with its SYN-ACK acknowledged, so the server's count starts at 0.
    assert (c["bytes_acked"], s["bytes_acked"]) == (1, 0)
    assert c["bytes_received"] == s["bytes_received"] == 0
    # SYN, ACK out and SYN-ACK in for the client; SYN and ACK in for the server, whose SYN-ACK
    # Linux counts on the listener's request, not the connection (as a kernel server's `ss -ti`).
    assert (c["segs_out"], c["segs_in"], s["segs_out"], s["segs_in"]) == (2, 1, 0, 2)
    assert c["data_segs_out"] == c["data_segs_in"] == 0
    assert c["unacked"] == 0 and c["ca_state"] == tcpinfo.CA_OPEN
    assert c["delivered"] == 1
    # The handshake's RTT on a memory link is (nearly) nothing; rtt is srtt in us.
    assert c["rtt"] == round(conn.recovery.srtt * 1e6) and c["min_rtt"] <= c["rtt"] + 1
    assert 990 <= c["last_data_recv"] <= 1010 and 990 <= c["last_ack_recv"] <= 1010
    assert c["snd_wnd"] == conn.snd_wnd and c["rcv_wnd"] > 0
    assert tcpinfo.unpack(cli.getsockopt(TCP, TCP_INFO)) == c


async def test_data_counters(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    await cli.sendall(b"x" * 5000)
    await settle()
    assert await srv.recv(10000) == b"x" * 5000
    await trio.sleep(0.5)
    c, s = cli.tcp_info(), srv.tcp_info()
    sent = [x for x in net.sent("a") if x.seg.payload]
    assert c["data_segs_out"] == len(sent) == s["data_segs_in"]
    assert c["bytes_sent"] == 5000 and c["bytes_retrans"] == c["total_retrans"] == 0
    assert c["bytes_acked"] == 5001 and s["bytes_received"] == 5000
    assert c["delivered"] == 1 + 4  # the SYN, then 5000 bytes in 1448-byte segments
    assert c["segs_out"] == len(net.sent("a")) and s["segs_out"] == len(net.sent("b")) - 1  # SYN-ACK
    assert c["notsent_bytes"] == 0 and c["last_data_sent"] == 500
    # The peer's FIN counts in bytes_received, as Linux's tcp_rcv_nxt_update counts it.
    srv.shutdown(_s.SHUT_WR)
    await settle()
    assert cli.tcp_info()["bytes_received"] == 1


async def test_retransmissions(net: Net, autojump_clock: MockClock) -> None:
    cli, _srv = await connected_pair(net)
    net.unplug("b")
    await cli.send(b"y" * 100)
    # The loss probe at about 200 ms (a lone packet: when the RTO would fire), then the RTO 200 ms
    # later and again 400 ms after that: two timeouts, three retransmissions.
    await trio.sleep(1.5)
    info = cli.tcp_info()
    resent = len(net.sent("a")) - 3  # less the SYN, the handshake's ACK and the first send
    assert info["retransmits"] == info["backoff"] == 2
    assert info["total_retrans"] == resent == 3
    assert info["bytes_retrans"] == 300 and info["bytes_sent"] == 400
    assert info["ca_state"] == tcpinfo.CA_LOSS and info["unacked"] == info["lost"] == 1
    assert info["retrans"] == 1
