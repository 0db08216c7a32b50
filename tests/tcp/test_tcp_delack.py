"""Delayed ACK as Linux does it (tcp_input.c __tcp_ack_snd_check, tcp_event_data_recv;
tcp_output.c tcp_send_delayed_ack; tcp_timer.c tcp_delack_timer_handler), on one engine."""

from __future__ import annotations

import pytest

from minitcp.tcp.timers import TimerKind
from minitcp.trace.events import TimerEvent
from minitcp.wire.segment import ACK, PSH

from ..helpers.recorded import events_of
from .builders import established
from .peer import Peer


def _quick_acks(p: Peer, conn: object, start: float, count: int = 16) -> float:
    """Send `count` small segments 10 ms apart; each must be ACKed at once. Returns the next seq."""
    seq = 1
    for i in range(count):
        out = p.feed(p.seg(ACK | PSH, seq=seq, payload=b"q" * 100), at=start + i * 0.01)
        seq += 100
        assert p.rels(out) == [(".", 1, seq, 0)], f"segment {i} not ACKed at once"
        assert conn.recv(1000, p.now) == b"q" * 100
    return seq


def test_quickack_mode_at_connection_start_then_40_ms_delay() -> None:
    """Linux tcp_incr_quickack: min(rcv_wnd / (2 * rcv_mss), 16) immediate ACKs at the start."""
    p, conn = established()
    seq = _quick_acks(p, conn, 1.0)
    assert p.feed(p.seg(ACK | PSH, seq=seq, payload=b"late"), at=1.3) == []
    assert conn.timers() == [(TimerKind.DELACK, pytest.approx(0.04), 0)]
    assert p.trels(p.run_until(2.0)) == [(1.34, ".", 1, seq + 4, 0)]
    assert p.eng.counters["DelayedACKs"] == 1
    # A silence longer than the RTO (210 ms) starts quick-ACK mode again (tcp_event_data_recv).
    out = p.feed(p.seg(ACK | PSH, seq=seq + 4, payload=b"again"), at=2.0)
    assert p.rels(out) == [(".", 1, seq + 9, 0)]


def test_delay_grows_from_40_ms_to_at_most_200_ms() -> None:
    """Each missed delayed ACK doubles the ATO (not in ping-pong mode), bounded by the RTT
    estimate (here 300 ms) and by TCP_DELACK_MAX = 200 ms."""
    p = Peer()
    conn = p.connect(rtt=0.3)
    assert conn.recovery.srtt == pytest.approx(0.3)
    seq = _quick_acks(p, conn, 1.0)
    delays = []
    t = 1.6
    for _ in range(5):
        assert p.feed(p.seg(ACK | PSH, seq=seq, payload=b"d"), at=t) == []
        seq += 1
        (when, ack), = p.run_until(t + 0.4)
        assert p.rel(ack) == (".", 1, seq, 0)
        delays.append(round(when - t, 6))
        t += 0.5
    assert delays == [0.04, 0.08, 0.16, 0.2, 0.2]
    assert p.eng.counters["DelayedACKs"] == 5


def test_delay_stays_at_40_ms_on_a_fast_path() -> None:
    """With srtt below 40 ms the bound is TCP_DELACK_MIN (tcp_send_delayed_ack)."""
    p = Peer()
    conn = p.accept(rtt=0.001)
    seq = _quick_acks(p, conn, 1.0)
    delays = []
    t = 1.3
    for _ in range(4):
        p.feed(p.seg(ACK | PSH, seq=seq, payload=b"d"), at=t)
        seq += 1
        (when, _), = p.run_until(t + 0.1)
        delays.append(round(when - t, 6))
        t += 0.15  # under the 201 ms RTO: no return to quick-ACK mode
    assert delays == [0.04] * 4


def test_two_full_segments_are_acked_at_once() -> None:
    """"ACK every second full-sized segment": more than one MSS unacknowledged, and the window
    it would advertise does not shrink, so the ACK goes at once (the application keeps up)."""
    p, conn = established()
    seq = _quick_acks(p, conn, 1.0)
    assert p.feed(p.seg(ACK, seq=seq, payload=b"f" * 1460), at=1.3) == []
    assert conn.recv(5000, p.now) == b"f" * 1460
    assert p.out() == []  # one full segment: still waiting
    assert p.feed(p.seg(ACK, seq=seq + 1460, payload=b"f" * 1460), at=1.31) == []
    assert conn.recv(5000, p.now) == b"f" * 1460  # Linux tcp_recvmsg -> tcp_cleanup_rbuf sends it now
    assert p.rels(p.out()) == [(".", 1, seq + 2920, 0)]
    assert p.eng.counters["DelayedACKs"] == 0
    # Two small segments are not "more than one full segment": they wait.
    p.feed(p.seg(ACK | PSH, seq=seq + 2920, payload=b"s" * 100), at=1.4)
    p.feed(p.seg(ACK | PSH, seq=seq + 3020, payload=b"s" * 100), at=1.41)
    assert p.out() == []
    assert [round(t, 6) for t, _ in p.run_until(2.0)] == [1.44]


def test_out_of_order_and_duplicate_data_are_acked_at_once_even_after_quickack() -> None:
    p, conn = established()
    seq = _quick_acks(p, conn, 1.0)
    out = p.feed(p.seg(ACK | PSH, seq=seq + 500, payload=b"o" * 10), at=1.2)
    assert p.rels(out) == [(".", 1, seq, 0)]  # a duplicate ACK for the hole (RFC 5681 section 4.2)
    out = p.feed(p.seg(ACK | PSH, seq=seq - 100, payload=b"q" * 100), at=1.25)
    assert p.rels(out) == [(".", 1, seq, 0)]  # an old duplicate: ACK at once
    out = p.feed(p.seg(ACK | PSH, seq=seq, payload=b"h" * 500), at=1.3)
    assert p.rels(out) == [(".", 1, seq + 510, 0)]  # the hole filled: ACK at once
    assert conn.recv(1000, p.now) == b"h" * 500 + b"o" * 10


def test_pending_ack_rides_on_data() -> None:
    p, conn = established()
    seq = _quick_acks(p, conn, 1.0)
    assert p.feed(p.seg(ACK | PSH, seq=seq, payload=b"request"), at=1.3) == []
    p.now = 1.31
    conn.send(b"response", p.now)
    assert p.rels(p.out()) == [("P.", 1, seq + 7, 8)]  # the ACK is in the reply
    assert p.run_until(1.4) == []  # and no bare ACK follows
    assert p.eng.counters["DelayedACKs"] == 0
    acts = [(TimerKind[e.timer], e.action) for e in events_of(p.rec, TimerEvent) if e.timer == "DELACK"]
    assert acts[-2:] == [(TimerKind.DELACK, "set"), (TimerKind.DELACK, "cancel")]


def test_a_quick_reply_turns_on_ping_pong_mode() -> None:
    """Linux tcp_event_data_sent: data sent within ATO of the last arrival means an interactive
    flow; the next ACK is then delayed even in quick-ACK mode, hoping to ride on the next reply."""
    p, conn = established()
    p.feed(p.seg(ACK | PSH, seq=1, payload=b"GET"), at=1.0)  # quick-ACKed
    p.out()
    p.now = 1.01
    conn.send(b"200 OK", p.now)
    p.out()
    assert conn.pingpong
    assert p.feed(p.seg(ACK | PSH, seq=4, ack=7, payload=b"GET"), at=1.05) == []
    (t, _ack), = p.run_until(1.2)
    assert t == pytest.approx(1.09)
    assert not conn.pingpong  # the reply did not come: ping-pong mode is left (delack timer)


def test_quickack_sends_the_pending_ack_now() -> None:
    p, conn = established()
    seq = _quick_acks(p, conn, 1.0)
    p.feed(p.seg(ACK | PSH, seq=seq, payload=b"x"), at=1.3)
    assert p.out() == []
    p.now = 1.305
    conn.quickack(p.now)
    assert p.rels(p.out()) == [(".", 1, seq + 1, 0)]
    assert p.run_until(1.4) == []
    assert p.eng.counters["DelayedACKs"] == 0
    conn.quickack(p.now)
    assert p.out() == []  # nothing pending: nothing sent


def test_a_duplicate_means_our_ack_was_lost_so_ping_pong_mode_ends() -> None:
    """Linux tcp_data_queue: old data again -> DelayedACKLost, tcp_enter_quickack_mode (which
    also leaves ping-pong mode): the duplicate and the next new segment are ACKed at once."""
    p, conn = established()
    p.feed(p.seg(ACK | PSH, seq=1, payload=b"GET"), at=1.0)
    p.now = 1.01
    conn.send(b"200 OK", p.now)
    p.out()
    assert conn.pingpong
    out = p.feed(p.seg(ACK | PSH, seq=1, ack=7, payload=b"GET"), at=1.3)  # our ACK of it was lost
    assert p.rels(out) == [(".", 7, 4, 0)]
    assert not conn.pingpong and p.eng.counters["DelayedACKLost"] == 1
    out = p.feed(p.seg(ACK | PSH, seq=4, ack=7, payload=b"next"), at=1.35)
    assert p.rels(out) == [(".", 7, 8, 0)]  # at once: quick-ACK, no ping-pong


def test_reading_a_small_segment_sends_its_ack_unless_in_ping_pong_mode() -> None:
    """Linux tcp_cleanup_rbuf: when the application drains the queue, the pending ACK for a
    small ("pushed") segment goes at once, unless a reply is expected (ping-pong mode);
    after two small segments it goes in any case (ICSK_ACK_PUSHED2)."""
    p, conn = established()
    seq = _quick_acks(p, conn, 1.0)
    assert p.feed(p.seg(ACK | PSH, seq=seq, payload=b"typed"), at=1.2) == []
    assert conn.recv(100, p.now) == b"typed"
    assert p.rels(p.out()) == [(".", 1, seq + 5, 0)]  # at the read, not 40 ms later
    seq += 5
    conn.delack.pingpong = True  # as after a quick reply (see test_a_quick_reply_turns_on_ping_pong_mode)
    p.feed(p.seg(ACK | PSH, seq=seq, payload=b"one"), at=1.3)
    assert conn.recv(100, p.now) == b"one"
    assert p.out() == []  # a reply may carry it
    p.feed(p.seg(ACK | PSH, seq=seq + 3, payload=b"two"), at=1.31)
    assert conn.recv(100, p.now) == b"two"
    assert p.rels(p.out()) == [(".", 1, seq + 6, 0)]  # two small segments: no more waiting
