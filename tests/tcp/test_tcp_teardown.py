"""Closing a connection, state by state: ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT,
CLOSING, LAST-ACK, fed by hand to one engine (RFC 9293 section 3.6 and 3.10.7.4; Linux tcp_close,
tcp_fin, tcp_rcv_state_process, tcp_write_timeout).

The engine is the server (`Peer.accept`): the handshake gives an RTT of 10 ms,
so the RTO is 10 ms + 200 ms (Linux floors the variance term at tcp_rto_min).
"""

from __future__ import annotations

import errno

import pytest

from minitcp.tcp.connection import SHUT_RD, SHUT_WR
from minitcp.tcp.states import State
from minitcp.tcp.timers import TimerKind
from minitcp.trace.events import SegmentEvent
from minitcp.wire.segment import ACK, FIN, PSH, RST

from ..helpers.recorded import events_of, state_changes, state_path
from .builders import close_wait, closing, established, fin_wait_1, fin_wait_2, last_ack
from .peer import Peer

RTO = 0.21


def test_the_handshake_gives_the_rto_these_tests_count_with() -> None:
    _, conn = established()
    assert conn.recovery.rto == pytest.approx(RTO)


# ---------------------------------------------------------------------------- ESTABLISHED


def test_established_delivers_in_order_data_and_acks_it_in_quickack_mode() -> None:
    p, conn = established()
    out = p.feed(p.seg(ACK | PSH, seq=1, payload=b"hello"), at=1.0)
    assert p.rels(out) == [(".", 1, 6, 0)]  # quick-ACK at connection start: at once
    assert conn.recv(100, p.now) == b"hello"
    assert conn.recv(100, p.now) is None  # nothing more yet


def test_established_fin_moves_to_close_wait_and_the_ack_is_delayed() -> None:
    p, conn = established()
    assert p.feed(p.seg(FIN | ACK, seq=1), at=1.0) == []
    assert conn.state == State.CLOSE_WAIT
    assert conn.recv(10, p.now) == b""  # end of stream
    # Linux tcp_fin enters ping-pong mode hoping our FIN will carry the ACK; with no data
    # received, ato is still 0 and tcp_send_delayed_ack times it for the next tick (4 ms).
    assert p.trels(p.run_until(2.0)) == [(1.004, ".", 1, 2, 0)]
    assert p.eng.counters["DelayedACKs"] == 1
    assert p.eng.counters["CurrEstab"] == 1  # CLOSE-WAIT still counts as established


def test_fin_after_data_waits_the_40_ms_ato() -> None:
    """Once data has come, ato is TCP_ATO_MIN (tcp_event_data_recv), and the ACK of a FIN
    waits for it as for data (Linux, measured: 40-44 ms)."""
    p, conn = established()
    assert p.rels(p.feed(p.seg(ACK | PSH, seq=1, payload=b"hello"), at=0.5)) == [(".", 1, 6, 0)]
    assert conn.recv(100, p.now) == b"hello"
    assert p.feed(p.seg(FIN | ACK, seq=6), at=1.0) == []
    assert p.trels(p.run_until(2.0)) == [(1.04, ".", 1, 7, 0)]


def test_established_can_still_send_in_close_wait() -> None:
    p, conn = established()
    p.feed(p.seg(FIN | ACK, seq=1), at=1.0)
    assert conn.send(b"late reply", p.now) == 10
    out = p.out()
    assert p.rels(out) == [("P.", 1, 2, 10)]  # the pending ACK of the FIN rides on the data
    assert p.run_until(1.1) == []  # so no delayed ACK follows


# ---------------------------------------------------------------------------- FIN-WAIT-1


def test_close_sends_fin_and_enters_fin_wait_1() -> None:
    p, conn = established()
    p.now = 1.0
    conn.close(p.now)
    assert p.rels(p.out()) == [("F.", 1, 1, 0)]
    assert conn.state == State.FIN_WAIT_1
    assert conn.timers() == [(TimerKind.RTO, pytest.approx(RTO), 0)]


def test_fin_wait_1_ack_of_fin_moves_to_fin_wait_2() -> None:
    p, conn = fin_wait_1()
    assert p.feed(p.seg(ACK, seq=1, ack=2), at=1.01) == []
    assert conn.state == State.FIN_WAIT_2
    # Orphaned by close(): it waits tcp_fin_timeout for the peer's FIN (Linux tcp_rcv_state_process).
    assert conn.timers() == [(TimerKind.FIN_WAIT2, pytest.approx(60.0), 0)]


def test_fin_wait_1_fin_ack_goes_straight_to_time_wait() -> None:
    p, conn = fin_wait_1()
    out = p.feed(p.seg(FIN | ACK, seq=1, ack=2), at=1.01)
    assert p.rels(out) == [(".", 2, 2, 0)]  # the last ACK goes at once
    assert conn.state == State.TIME_WAIT
    assert state_path(p.rec, conn)[-3:] == [State.FIN_WAIT_1, State.FIN_WAIT_2, State.TIME_WAIT]
    assert p.eng.in_use(*_tuple(p)) and conn.key not in p.eng.conns


def test_fin_wait_1_fin_without_our_ack_is_simultaneous_close_closing() -> None:
    p, conn = fin_wait_1()
    out = p.feed(p.seg(FIN | ACK, seq=1, ack=1), at=1.0005)  # their FIN crossed ours
    assert conn.state == State.CLOSING
    assert p.rels(out) == [(".", 2, 2, 0)]  # ACK their FIN at once
    assert p.feed(p.seg(ACK, seq=2, ack=2), at=1.001) == []
    assert conn.state == State.TIME_WAIT


def test_fin_wait_1_fin_is_retransmitted_with_backoff() -> None:
    p, conn = fin_wait_1()
    sent = p.run_until(3.0)
    # A lone FIN is one packet in flight: its loss probe (2*SRTT + rto_min, capped at the RTO)
    # comes when the RTO would, and the RTO restarts from it; then the RTO backs off (Linux
    # tcp_schedule_loss_probe, tcp_send_loss_probe).
    assert [t for t, _ in sent] == pytest.approx([1.0 + RTO, 1.0 + 2 * RTO, 1.0 + 4 * RTO, 1.0 + 8 * RTO])
    assert all(p.rel(s) == ("F.", 1, 1, 0) for _, s in sent)
    assert [e.segment for e in events_of(p.rec, SegmentEvent) if e.retransmit] == [s for _, s in sent]
    assert [e.reason for e in events_of(p.rec, SegmentEvent) if e.retransmit] == ["TLP", "RTO", "RTO", "RTO"]
    assert conn.timers()[0][0] == TimerKind.RTO and conn.timers()[0][2] == 3
    assert p.eng.counters["TCPLossProbes"] == 1


def test_orphan_fin_gives_up_after_tcp_orphan_retries_silently() -> None:
    """tcp_orphan_retries = 0 means 8 (Linux tcp_orphan_retries()): FIN once, its loss probe,
    plus 8 retransmissions by the RTO (the probe is not counted)."""
    p, conn = fin_wait_1()
    sent = p.run_until(1000.0)
    assert [t for t, _ in sent] == pytest.approx([1.0 + RTO * 2 ** k for k in range(9)])
    assert conn.state == State.CLOSED
    assert state_changes(p.rec)[-1][2] == pytest.approx(1.0 + RTO * 512)
    assert all(s.flags & RST == 0 for _, s in sent)  # no RST: silently
    assert p.eng.counters["TCPAbortOnTimeout"] == 1
    assert not p.eng.conns and not p.eng.timewait_entries()


def test_orphan_retries_knob() -> None:
    p, conn = fin_wait_1(tcp_orphan_retries=2)
    assert len(p.run_until(1000.0)) == 3  # the loss probe and two retransmissions
    assert conn.state == State.CLOSED and state_changes(p.rec)[-1][2] == pytest.approx(1.0 + 8 * RTO)


def test_not_orphaned_fin_uses_tcp_retries2() -> None:
    """After shutdown(SHUT_WR) the application still holds the socket: tcp_retries2 (15) applies."""
    p, conn = fin_wait_1(orphan=False)
    sent = p.run_until(5000.0)
    assert len(sent) == 16  # the loss probe, then 15 retransmissions
    assert conn.state == State.CLOSED
    with pytest.raises(OSError) as e:
        conn.recv(1, p.now)
    assert e.value.errno == errno.ETIMEDOUT


def test_fin_wait_1_data_for_a_closed_reader_gets_rst() -> None:
    p, conn = fin_wait_1()
    (rst,) = p.feed(p.seg(ACK | PSH, seq=1, ack=1, payload=b"too late"), at=1.01)
    assert (rst.flags, rst.seq) == (RST, (p.iss + 1) & 0xFFFFFFFF)  # the closed-port reply to it
    assert conn.state == State.CLOSED
    assert p.eng.counters["TCPAbortOnData"] == 1
    assert p.run_until(100) == []  # and nothing more: no FIN retransmission


# ---------------------------------------------------------------------------- FIN-WAIT-2


def test_fin_wait_2_fin_is_acked_at_once_and_time_wait_follows() -> None:
    p, conn = fin_wait_2()
    out = p.feed(p.seg(FIN | ACK, seq=1, ack=2), at=5.0)
    assert p.rels(out) == [(".", 2, 2, 0)]
    assert conn.state == State.TIME_WAIT
    (tw,) = p.eng.timewait_entries()
    assert tw.expires == 65.0


def test_orphaned_fin_wait_2_ends_after_tcp_fin_timeout_silently() -> None:
    p, conn = fin_wait_2()
    assert p.run_until(200.0) == []
    assert conn.state == State.CLOSED
    assert state_changes(p.rec)[-1][2] == pytest.approx(61.01)
    assert not p.eng.timewait_entries() and not p.eng.conns


def test_fin_timeout_knob() -> None:
    p, _ = fin_wait_2(tcp_fin_timeout=5)
    p.run_until(100.0)
    assert state_changes(p.rec)[-1][1:] == (State.CLOSED, pytest.approx(6.01))


def test_fin_wait_2_after_shutdown_waits_forever_and_still_receives() -> None:
    p, conn = fin_wait_2(orphan=False)
    assert conn.timers() == []
    assert p.run_until(100_000.0) == []
    assert conn.state == State.FIN_WAIT_2
    p.feed(p.seg(ACK | PSH, seq=1, ack=2, payload=b"still talking"), at=100_000.0)
    assert conn.recv(100, p.now) == b"still talking"
    out = p.feed(p.seg(FIN | ACK, seq=14, ack=2), at=100_001.0)
    assert p.rels(out) == [(".", 2, 15, 0)]
    assert conn.state == State.TIME_WAIT
    assert conn.recv(100, p.now) == b""


def test_close_in_fin_wait_2_after_shutdown_starts_the_fin_timeout() -> None:
    p, conn = fin_wait_2(orphan=False)
    p.now = 10.0
    conn.close(p.now)
    assert p.out() == []
    p.run_until(200.0)
    assert state_changes(p.rec)[-1][1:] == (State.CLOSED, 70.0)


def test_orphaned_fin_wait_2_answers_new_data_with_rst() -> None:
    p, conn = fin_wait_2()
    (rst,) = p.feed(p.seg(ACK | PSH, seq=1, ack=2, payload=b"x"), at=2.0)
    assert (rst.flags, (rst.seq - p.iss) & 0xFFFFFFFF) == (RST, 2)
    assert conn.state == State.CLOSED
    assert p.eng.counters["TCPAbortOnData"] == 1


def test_shut_rd_then_shut_wr_also_resets_on_new_data() -> None:
    """The RST rule is about the read side being shut (Linux RCV_SHUTDOWN), with or without close."""
    p, conn = established()
    conn.shutdown(SHUT_RD, p.now)
    assert p.out() == []  # SHUT_RD sends nothing
    assert conn.recv(10, p.now) == b""
    p.now = 1.0
    conn.shutdown(SHUT_WR, p.now)
    p.out()
    assert p.feed(p.seg(ACK, seq=1, ack=2), at=1.01) == []
    assert conn.state == State.FIN_WAIT_2
    (rst,) = p.feed(p.seg(ACK | PSH, seq=1, ack=2, payload=b"x"), at=2.0)
    assert rst.flags == RST and conn.state == State.CLOSED


# ---------------------------------------------------------------------------- CLOSE-WAIT and LAST-ACK


def test_close_in_close_wait_sends_fin_carrying_the_pending_ack() -> None:
    p, conn = close_wait()
    p.now = 1.002  # within the tick the ACK may wait
    conn.close(p.now)
    assert p.rels(p.out()) == [("F.", 1, 2, 0)]
    assert conn.state == State.LAST_ACK
    assert p.eng.counters["CurrEstab"] == 0
    assert p.run_until(1.1) == []  # the delayed ACK was cancelled: it rode on the FIN


def test_last_ack_ack_of_fin_closes() -> None:
    p, conn = last_ack()
    assert p.feed(p.seg(ACK, seq=2, ack=2), at=2.01) == []
    assert conn.state == State.CLOSED
    assert not p.eng.conns and not p.eng.timewait_entries()  # the passive closer has no TIME_WAIT
    assert state_path(p.rec, conn)[-4:] == [State.ESTABLISHED, State.CLOSE_WAIT, State.LAST_ACK,
                                           State.CLOSED]
    assert p.eng.counters["EstabResets"] == 0
    assert p.eng.poll_at() is None


def test_last_ack_retransmits_fin_then_gives_up_silently() -> None:
    p, conn = last_ack()
    sent = p.run_until(1000.0)
    # The loss probe, then 8 retransmissions (tcp_orphan_retries 0 means 8).
    assert len(sent) == 9 and all(p.rel(s) == ("F.", 1, 2, 0) for _, s in sent)
    assert sent[0][0] == pytest.approx(2.0 + RTO)
    assert conn.state == State.CLOSED
    assert p.eng.counters["OutRsts"] == 0


def test_last_ack_retransmitted_fin_answer_is_the_peers_ack() -> None:
    p, conn = last_ack()
    (t, _fin), = p.run_until(2.0 + RTO)
    assert p.feed(p.seg(ACK, seq=2, ack=2), at=t + 0.01) == []
    assert conn.state == State.CLOSED


def test_last_ack_rst_at_rcv_nxt_ends_it() -> None:
    p, conn = last_ack()
    assert p.feed(p.seg(RST, seq=2), at=2.1) == []
    assert conn.state == State.CLOSED


def test_shutdown_wr_in_close_wait_sends_fin_and_the_socket_still_reads_eof() -> None:
    p, conn = close_wait()
    p.now = 1.5
    conn.shutdown(SHUT_WR, p.now)
    assert p.rels(p.out()) == [("F.", 1, 2, 0)]
    assert conn.state == State.LAST_ACK
    with pytest.raises(OSError) as e:
        conn.send(b"no", p.now)
    assert e.value.errno == errno.EPIPE


# ---------------------------------------------------------------------------- CLOSING


def test_closing_retransmits_fin_until_acked_then_time_wait() -> None:
    p, conn = closing()
    assert conn.state == State.CLOSING
    (_t, fin), = p.run_until(1.0 + RTO)
    assert p.rel(fin) == ("F.", 1, 2, 0)  # our FIN again, now acknowledging theirs
    assert p.feed(p.seg(ACK, seq=2, ack=2), at=1.3) == []
    assert conn.state == State.TIME_WAIT
    (tw,) = p.eng.timewait_entries()
    assert tw.expires == pytest.approx(61.3)


def _tuple(p: Peer) -> tuple[int, int, int, int]:
    from .peer import LOCAL, REMOTE

    return LOCAL, p.lport, REMOTE, p.rport
