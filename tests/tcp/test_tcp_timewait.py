"""TIME-WAIT, as Linux's tcp_timewait_state_process runs it (RFC 9293 section 3.10.7.4,
RFC 1122 section 4.2.2.13, RFC 1337, RFC 6191), fed by hand to one engine.

The engine is the server and closes first, so it is the one in TIME-WAIT,
with its listener still open (which matters for a new SYN on the same pair).
"""

from __future__ import annotations

import pytest

from minitcp.tcp.states import State
from minitcp.wire.segment import ACK, FIN, PSH, RST, SYN

from ..helpers.recorded import state_changes
from .builders import time_wait
from .peer import LOCAL, REMOTE, Peer, knobs


def test_time_wait_lasts_60_seconds_then_frees_the_pair() -> None:
    p, conn = time_wait()
    assert conn.state == State.TIME_WAIT
    four = (LOCAL, p.lport, REMOTE, p.rport)
    assert p.eng.in_use(*four) and conn.key not in p.eng.conns
    (tw,) = p.eng.timewait_entries()
    assert tw.expires == pytest.approx(61.01)
    assert p.run_until(61.0) == [] and p.eng.in_use(*four)
    p.run_until(61.01)
    assert not p.eng.in_use(*four)
    assert p.eng.counters["TW"] == 1
    assert state_changes(p.rec)[-1] == (State.TIME_WAIT, State.CLOSED, pytest.approx(61.01))
    assert p.eng.poll_at() is None


def test_timewait_len_knob() -> None:
    p, _ = time_wait(tcp_timewait_len=5)
    (tw,) = p.eng.timewait_entries()
    assert tw.expires == pytest.approx(6.01)


def test_retransmitted_fin_is_acked_again_and_the_timer_restarts() -> None:
    p, _ = time_wait()
    out = p.feed(p.seg(FIN | ACK, seq=1, ack=2), at=30.0)
    assert p.rels(out) == [(".", 2, 2, 0)]
    assert out[0].window > 0
    (tw,) = p.eng.timewait_entries()
    assert tw.expires == 90.0
    p.run_until(89.0)
    assert p.eng.timewait_entries()  # the first 60 s have passed, the entry is still there
    p.run_until(90.0)
    assert not p.eng.timewait_entries()


def test_time_wait_ack_carries_timestamps_when_they_were_in_use() -> None:
    p, _ = time_wait(ts=True)
    (ack,) = p.feed(p.seg(FIN | ACK, seq=1, ack=2, ts_val=300, ts_ecr=0), at=2.0)
    # Linux echoes tw_ts_recent, the TSval of the FIN that started TIME-WAIT: only a segment
    # exactly at rcv_nxt updates it (tcp_timewait_state_process).
    assert ack.ts_ecr == 200 and ack.ts_val is not None


def test_old_timestamp_in_time_wait_is_rejected_by_paws_and_answered() -> None:
    p, _ = time_wait(ts=True)
    out = p.feed(p.seg(ACK, seq=2, ack=2, ts_val=150, ts_ecr=0), at=2.0)  # older than 200
    assert p.rels(out) == [(".", 2, 2, 0)]


def test_bare_ack_at_rcv_nxt_restarts_the_timer_silently() -> None:
    p, _ = time_wait()
    assert p.feed(p.seg(ACK, seq=2, ack=2), at=20.0) == []
    (tw,) = p.eng.timewait_entries()
    assert tw.expires == 80.0


def test_restarts_leave_only_the_last_deadline() -> None:
    p, _ = time_wait()
    for at in (10.0, 20.0, 30.0):
        assert p.feed(p.seg(ACK, seq=2, ack=2), at=at) == []
    assert p.eng.poll_at() == 90.0  # the older places in the queue are skipped, not due
    p.run_until(89.9)
    assert len(p.eng.timewait_entries()) == 1 and p.eng.counters["TW"] == 0
    p.run_until(90.0)
    assert not p.eng.timewait_entries() and p.eng.counters["TW"] == 1


def test_data_in_time_wait_is_answered_with_our_ack() -> None:
    p, _ = time_wait()
    out = p.feed(p.seg(ACK | PSH, seq=1, ack=2, payload=b"old"), at=5.0)
    assert p.rels(out) == [(".", 2, 2, 0)]


def test_new_syn_above_the_old_sequence_space_reuses_the_pair() -> None:
    """RFC 1122 section 4.2.2.13; Linux picks ISN = old snd_nxt + 65535 + 2 so the new
    incarnation starts above anything the old one could still have in flight."""
    p, _ = time_wait()
    lst = p.eng.listeners[(LOCAL, p.lport)]
    old_iss = p.iss
    (synack,) = p.feed(p.seg(SYN, seq=50_000, mss=1460), at=10.0)
    assert synack.flags == SYN | ACK
    assert (synack.seq - old_iss) & 0xFFFFFFFF == 2 + 65537  # old snd_nxt is iss + 2 (SYN, FIN)
    assert (synack.ack - p.peer_isn) & 0xFFFFFFFF == 50_001
    assert not p.eng.timewait_entries()
    assert [(old, new) for old, new, _ in state_changes(p.rec)[-2:]] == [
        (State.TIME_WAIT, State.CLOSED), (State.LISTEN, State.SYN_RECEIVED)]
    (half,) = lst.syn_queue.values()
    assert half.state == State.SYN_RECEIVED


def test_a_pair_back_in_time_wait_lasts_its_own_60_seconds() -> None:
    """A new SYN takes the pair over at 10 s; the new incarnation closes into TIME-WAIT at 20 s.
    The old entry's place in the queue (due at 61.01) must neither end the new entry nor
    hold back its deadline."""
    p, _ = time_wait()
    lst = p.eng.listeners[(LOCAL, p.lport)]
    p.peer_isn += 50_000
    (synack,) = p.feed(p.seg(SYN, seq=0, mss=1460), at=10.0)
    p.iss = synack.seq
    assert p.feed(p.seg(ACK), at=10.01) == []
    conn = lst.accept()
    assert conn is not None
    p.now = 20.0
    conn.close(p.now)
    p.out()
    assert p.rels(p.feed(p.seg(FIN | ACK, seq=1, ack=2), at=20.02)) == [(".", 2, 2, 0)]
    (tw,) = p.eng.timewait_entries()
    assert tw.expires == pytest.approx(80.02)
    p.run_until(70.0)
    assert p.eng.timewait_entries() == [tw]
    assert p.eng.poll_at() == pytest.approx(80.02)
    p.run_until(80.02)
    assert not p.eng.timewait_entries()
    assert (p.eng.counters["TWRecycled"], p.eng.counters["TW"]) == (1, 1)
    assert (tw.snd_nxt - synack.seq) & 0xFFFFFFFF == 2  # the new incarnation's: its SYN and FIN


def test_new_syn_with_a_newer_timestamp_reuses_the_pair_even_below_rcv_nxt() -> None:
    """RFC 6191: with timestamps, a newer TSval is enough (Linux checks ts_recent < tsval)."""
    p, _ = time_wait(ts=True)
    (synack,) = p.feed(p.seg(SYN, seq=0, mss=1460, ts_val=10_000, ts_ecr=0), at=10.0)
    assert synack.flags == SYN | ACK
    assert not p.eng.timewait_entries()


def test_old_syn_gets_the_time_wait_ack_and_does_not_restart_the_timer() -> None:
    p, _ = time_wait()
    out = p.feed(p.seg(SYN, seq=1, mss=1460), at=10.0)  # not above rcv_nxt: maybe an old duplicate
    assert p.rels(out) == [(".", 2, 2, 0)]
    (tw,) = p.eng.timewait_entries()
    assert tw.expires == pytest.approx(61.01)


def test_insecure_syn_knob_resets_time_wait_on_a_syn_in_the_window() -> None:
    """RFC 793 page 71 applies in TIME-WAIT too when RFC 5961 section 4 is off."""
    p, _ = time_wait(tcp_insecure_syn=1)
    out = p.feed(p.seg(SYN | ACK, seq=2, ack=2, mss=1460), at=10.0)
    assert p.rels(out) == [("R.", 2, 2, 0)]
    assert not p.eng.timewait_entries()
    assert state_changes(p.rec)[-1] == (State.TIME_WAIT, State.CLOSED, 10.0)
    # Below the window (an old duplicate) it is only ACKed, as without the knob.
    p, _ = time_wait(tcp_insecure_syn=1)
    assert p.rels(p.feed(p.seg(SYN, seq=1, mss=1460), at=10.0)) == [(".", 2, 2, 0)]
    assert len(p.eng.timewait_entries()) == 1


def test_new_syn_with_nobody_listening_gets_the_time_wait_ack() -> None:
    """Linux tcp_v4_rcv, TCP_TW_SYN: no listener, so fall through to the TIME-WAIT ACK."""
    p = Peer()
    conn = p.connect(at=0.0, rtt=0.01)
    p.now = 1.0
    conn.close(p.now)
    p.out()
    p.feed(p.seg(FIN | ACK, seq=1, ack=2), at=1.01)
    assert conn.state == State.TIME_WAIT
    out = p.feed(p.seg(SYN, seq=50_000, mss=1460), at=5.0)
    assert p.rels(out) == [(".", 2, 2, 0)]
    assert len(p.eng.timewait_entries()) == 1
    assert p.eng.counters["OutRsts"] == 0


def test_rst_at_rcv_nxt_ends_time_wait_unless_rfc1337() -> None:
    p, _ = time_wait()
    assert p.feed(p.seg(RST, seq=2), at=5.0) == []
    assert not p.eng.timewait_entries()  # TIME-WAIT assassination: Linux allows it by default
    assert state_changes(p.rec)[-1] == (State.TIME_WAIT, State.CLOSED, 5.0)

    p, _ = time_wait(tcp_rfc1337=1)
    assert p.feed(p.seg(RST, seq=2), at=5.0) == []
    (tw,) = p.eng.timewait_entries()
    assert tw.expires == pytest.approx(61.01)


def test_rst_elsewhere_is_ignored_in_time_wait() -> None:
    p, _ = time_wait()
    assert p.feed(p.seg(RST, seq=500), at=5.0) == []
    assert len(p.eng.timewait_entries()) == 1


def test_tw_buckets_overflow_closes_without_time_wait() -> None:
    p, conn = time_wait(tcp_max_tw_buckets=0)
    assert conn.state == State.CLOSED
    assert not p.eng.timewait_entries()
    assert p.eng.counters["TCPTimeWaitOverflow"] == 1
    # Nothing remembers the pair now: the peer's retransmitted FIN finds a closed port.
    (rst,) = p.feed(p.seg(FIN | ACK, seq=1, ack=2), at=2.0)
    assert (rst.flags, (rst.seq - p.iss) & 0xFFFFFFFF) == (RST, 2)


def test_tw_buckets_limit_counts_entries() -> None:
    p = Peer(knobs(tcp_max_tw_buckets=2))
    p.eng.listen(LOCAL, 80, 10)
    for i, port in enumerate((41000, 41001, 41002)):
        p.rport = port
        p.iss = p.feed(p.seg(SYN, seq=0, mss=1460), at=float(i))[0].seq
        p.feed(p.seg(ACK, seq=1, ack=1), at=i + 0.01)
        conn = p.eng.listeners[(LOCAL, 80)].accept()
        conn.close(p.now)
        p.out()
        p.feed(p.seg(FIN | ACK, seq=1, ack=2), at=i + 0.02)
    assert len(p.eng.timewait_entries()) == 2
    assert p.eng.counters["TCPTimeWaitOverflow"] == 1
    assert conn.state == State.CLOSED
