"""The pacing rate and the TSO packet sizes Linux derives from it (pacing.py), on the wire.

Linux tcp_update_pacing_rate (200% of cwnd * mss / srtt in slow start, 120% after),
tcp_tso_autosize / tcp_tso_segs (about 1 ms of the rate per packet, at least tcp_min_tso_segs,
more for a near peer) and tcp_cwnd_test (a packet takes at most half of cwnd).
"""

from __future__ import annotations

import pytest

from minitcp.tcp.connection import Connection
from minitcp.tcp.knobs import KnobRangeError, Knobs
from minitcp.tcp.tcpinfo import NO_PACING_LIMIT, tcp_info
from minitcp.wire.segment import ACK, PSH
from minitcp.wire.tso import TSO_MAX

from .peer import Peer


def _sizes(segs: list) -> list[int]:
    return [len(s.payload) // s.gso if s.gso else 1 for s in segs if s.payload]


def _accepted(rtt: float, **knobs: int) -> tuple[Peer, Connection]:
    p = Peer(Knobs(**knobs))  # type: ignore[arg-type]
    p.eng.tso_max = TSO_MAX
    conn = p.accept(at=0.0, rtt=rtt)
    return p, conn


def test_the_rate_is_set_on_the_handshake_and_follows_cwnd_over_srtt() -> None:
    p, c = _accepted(0.1)
    mss = c.mss
    # SYN_RECV -> ESTABLISHED: tcp_update_pacing_rate, 200% of 10 * mss per 100 ms.
    assert c.pacing_rate == 2 * 10 * mss * 10 == tcp_info(c, p.now)["pacing_rate"]
    assert tcp_info(c, p.now)["max_pacing_rate"] == NO_PACING_LIMIT
    c.send(bytes(10 * mss), p.now)
    p.out()
    # An ACK of two segments at the same RTT: cwnd 12 in slow start (cwnd-limited).
    p.feed(p.seg(ACK, ack=1 + 2 * mss), at=0.2)
    assert c.recovery.cc.cwnd == 12
    assert c.pacing_rate == 2 * 12 * mss * 10
    # Past half of ssthresh: tcp_pacing_ca_ratio (120%).
    c.recovery.cc.ssthresh = 20
    p.feed(p.seg(ACK, ack=1 + 3 * mss), at=0.3)
    cwnd = c.recovery.cc.cwnd
    assert cwnd >= 10
    assert c.pacing_rate == pytest.approx(1.2 * cwnd * mss / c.recovery.srtt, rel=1e-3)


def test_a_far_peer_gets_packets_of_tcp_min_tso_segs() -> None:
    """At 100 ms the rate's millisecond is under one segment: tcp_min_tso_segs segments per packet."""
    p, conn = _accepted(0.1)
    mss = conn.mss
    conn.send(bytes(10 * mss), p.now)
    out = p.out()
    assert _sizes(out) == [2] * 5
    assert all(s.flags & PSH for s in out)  # __tcp_transmit_skb: PSH on every GSO packet
    p2, conn2 = _accepted(0.1, tcp_min_tso_segs=4)
    conn2.send(bytes(10 * mss), p2.now)
    assert _sizes(p2.out()) == [4, 4, 2]


def test_a_near_peer_gets_half_of_cwnd_per_packet() -> None:
    """At 100 us min_rtt >> tcp_tso_rtt_log is 0: a whole sk_gso_max_size more, so only
    tcp_cwnd_test's half of cwnd cuts the flight: two packets of five."""
    p, conn = _accepted(0.0001)
    mss = conn.mss
    conn.send(bytes(10 * mss), p.now)
    out = p.out()
    assert [(s.gso, len(s.payload)) for s in out] == [(mss, 5 * mss)] * 2
    # A larger tcp_tso_rtt_log makes the same peer near enough at 10 ms too.
    p2, conn2 = _accepted(0.01, tcp_tso_rtt_log=14)
    conn2.send(bytes(10 * mss), p2.now)
    assert _sizes(p2.out()) == [5, 5]


def test_after_idle_the_restarted_window_is_sized_before_the_packet() -> None:
    """slow_start/slow-start-after-idle.pkt: after 2 s idle cwnd restarts at 10 and the first
    packet is half of it, 5 segments (tcp_min_tso_segs 10 keeps the rate out of it)."""
    p, conn = _accepted(0.1, tcp_min_tso_segs=10)
    mss = conn.mss
    assert conn.send(bytes(10 * mss), p.now) == 10 * mss
    assert _sizes(p.out()) == [5, 5]
    assert p.feed(p.seg(ACK, ack=1 + 10 * mss), at=0.2) == []
    assert conn.recovery.cc.cwnd == 20
    assert conn.send(bytes(20 * mss), p.now) == 20 * mss
    assert _sizes(p.out()) == [10, 10]
    p.feed(p.seg(ACK, ack=1 + 30 * mss), at=0.3)
    assert conn.recovery.cc.cwnd == 40
    p.now = 2.3
    conn.send(bytes(20 * mss), p.now)
    assert _sizes(p.out())[0] == 5  # not min(20, 10)
    assert conn.recovery.cc.cwnd == 10


@pytest.mark.parametrize(("name", "bad"), [("tcp_min_tso_segs", 0), ("tcp_min_tso_segs", 256),
                                           ("tcp_pacing_ss_ratio", 1001), ("tcp_pacing_ca_ratio", -1),
                                           ("tcp_tso_rtt_log", 256)])
def test_the_knobs_keep_linux_ranges(name: str, bad: int) -> None:
    with pytest.raises(KnobRangeError):
        Knobs().set(name, bad)
