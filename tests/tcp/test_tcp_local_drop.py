"""A local device that drops every packet (engine.xmit_drop, a qdisc with no room): Linux keeps
the data, probes again every TCP_RESOURCE_PROBE_INTERVAL without backing off, and gives up on
TCP_USER_TIMEOUT (tcp_send_probe0, tcp_retransmit_timer; packetdrill's
user_timeout/user-timeout-probe.pkt)."""

from __future__ import annotations

import errno

import pytest

from minitcp.tcp import tcpinfo
from minitcp.tcp.cc import CaState
from minitcp.tcp.connection import Connection
from minitcp.tcp.scoreboard import EVER_RETRANS, SACKED_RETRANS
from minitcp.tcp.seq import MASK
from minitcp.tcp.states import State
from minitcp.wire.segment import ACK, PSH, SYN

from .peer import LOCAL, Peer


def _idle_connection(user_timeout_ms: int) -> tuple[Peer, Connection]:
    p = Peer()
    conn = p.connect(at=0.0, rtt=0.1, mss=1460, wscale=None)
    conn.apply_option("user_timeout", user_timeout_ms, 0.1)  # TCP_USER_TIMEOUT, in ms
    conn.send(b"a" * 24, 0.1)
    assert p.rels(p.out()) == [("P.", 1, 1, 24)]
    p.feed(p.seg(ACK, ack=25), at=0.2)
    return p, conn


def test_unsent_data_is_probed_every_half_second_until_the_user_timeout() -> None:
    p, conn = _idle_connection(3000)
    p.eng.xmit_drop = True
    assert conn.send(b"b" * 24, 0.2) == 24
    assert p.out() == []
    # The probe timer (max(RTO, 200 ms)) finds the data still unsent: it starts the clock of
    # TCP_USER_TIMEOUT, and each probe dropped locally brings the next in 500 ms.
    assert p.run_until(3.45) == []
    info = tcpinfo.tcp_info(conn, 3.45)
    assert (info["probes"], info["backoff"]) == (6, 0)
    assert conn.state == State.ESTABLISHED
    p.run_until(3.55)
    assert conn.state == State.CLOSED
    with pytest.raises(OSError) as exc:
        conn.send(b"c", 3.55)
    assert exc.value.errno == errno.ETIMEDOUT


def test_the_data_leaves_once_the_device_takes_packets_again() -> None:
    p, conn = _idle_connection(0)
    p.eng.xmit_drop = True
    conn.send(b"b" * 24, 0.2)
    p.run_until(1.2)  # probes at 0.5 and 1.0 dropped, the next due at 1.5
    p.eng.xmit_drop = False
    sent = p.run_until(1.6)
    assert [(p.rel(s)[0], p.rel(s)[1]) for _, s in sent] == [("P.", 25)]
    assert sent[0][1].flags & PSH


def test_a_retransmission_dropped_locally_is_tried_again_without_back_off() -> None:
    p, conn = _idle_connection(0)
    conn.send(b"b" * 24, 0.2)
    assert p.rels(p.out()) == [("P.", 25, 1, 24)]
    p.eng.xmit_drop = True
    rto = conn.recovery.rto
    p.run_until(0.2 + rto + 2.0)  # the RTO, then one try every 500 ms, all dropped
    assert conn.recovery.backoff == 0 and conn.recovery.rto == rto
    p.eng.xmit_drop = False
    sent = p.run_until(0.2 + rto + 2.6)
    assert [p.rel(s)[1:] for _, s in sent] == [(25, 1, 24)]


def test_a_rack_retransmission_dropped_locally_is_not_in_flight_and_goes_on_the_next_ack() -> None:
    # packetdrill's cubic-rack-reo-timeout-retrans-failed-incoming-data.pkt in small: two
    # segments, the second SACKed; RACK's reordering timer marks the first lost and enters
    # Recovery, but the device drops the retransmission (Linux tcp_retransmit_skb: no RETRANS,
    # no retrans_out; __tcp_retransmit_skb: EVER_RETRANS, TCPRetransFail, total_retrans).
    p = Peer()
    conn = p.connect(at=0.0, rtt=0.02, mss=1000, wscale=None)
    conn.send(b"x" * 2000, 0.02)
    assert p.rels(p.out()) == [(".", 1, 1, 1000), ("P.", 1001, 1, 1000)]
    p.eng.xmit_drop = True
    sack = ((p.iss + 1001) & MASK, (p.iss + 2001) & MASK)
    assert p.feed(p.seg(ACK, ack=1, sack=(sack,)), at=0.04) == []
    assert conn.recovery.ca_state == CaState.DISORDER
    assert p.run_until(0.07) == []  # the reordering window (min_rtt/4) passes: dropped
    info = tcpinfo.tcp_info(conn, 0.07)
    assert conn.recovery.ca_state == CaState.RECOVERY
    assert (info["unacked"], info["sacked"], info["lost"], info["retrans"]) == (2, 1, 1, 0)
    assert (info["snd_cwnd"], info["total_retrans"]) == (1, 1)
    assert (p.eng.counters["TCPRetransFail"], p.eng.counters["RetransSegs"]) == (1, 1)
    head = conn.recovery.board.recs[0]
    assert head.sacked & EVER_RETRANS and not head.sacked & SACKED_RETRANS
    # The device takes packets again; data from the peer, its ACK telling nothing new: in
    # Recovery with nothing in flight, cwnd stays 1 and the lost segment goes, now in flight
    # (tcp_ack before the data: it still acknowledges 1), then the ACK of the data.
    p.eng.xmit_drop = False
    out = p.feed(p.seg(ACK | PSH, ack=1, payload=b"y" * 1000, sack=(sack,)), at=0.08)
    assert p.rels(out) == [(".", 1, 1, 1000), (".", 2001, 1001, 0)]
    info = tcpinfo.tcp_info(conn, 0.08)
    assert (info["snd_cwnd"], info["retrans"], info["total_retrans"]) == (1, 1, 2)


def test_a_dropped_retransmission_counts_but_a_listeners_dropped_syn_ack_does_not() -> None:
    # Linux __tcp_retransmit_skb counts RetransSegs and total_retrans before the device answers;
    # a listener's request resends its SYN-ACK through tcp_rtx_synack, which counts it only
    # once it left.
    p = Peer()
    p.eng.listen(LOCAL, p.lport, 5)
    (synack,) = p.feed(p.seg(SYN, seq=0, window=64240, **p.syn_options()), at=0.0)
    assert synack.flags == SYN | ACK
    p.eng.xmit_drop = True
    assert p.run_until(1.5) == []  # the SYN-ACK's timer (1 s) fired: resent, dropped
    assert p.eng.counters["RetransSegs"] == 0
    p.eng.xmit_drop = False
    sent = p.run_until(3.5)  # the next try (2 s later) leaves
    assert [s.flags for _, s in sent] == [SYN | ACK]
    assert p.eng.counters["RetransSegs"] == 1
