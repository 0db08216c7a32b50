"""Moving bytes: buffers, reassembly, zero windows and persist probes, Nagle, sequence
numbers across 2**32, fed by hand to one engine (RFC 9293 section 3.8, RFC 1122 section
4.2.3.4, RFC 1982; Linux tcp_output.c)."""

from __future__ import annotations

import itertools

import pytest

from minitcp.tcp.connection import Connection
from minitcp.tcp.isn import IsnGenerator
from minitcp.tcp.states import State
from minitcp.tcp.timers import TimerKind
from minitcp.wire.segment import ACK, FIN, PSH, SYN

from ..helpers.recorded import state_changes
from .builders import established
from .peer import LOCAL, REMOTE, RPORT, Peer, knobs

RTO = 0.21  # 10 ms handshake RTT + 200 ms


# ---------------------------------------------------------------------------- buffers


def test_send_takes_only_what_the_send_buffer_holds() -> None:
    p, conn = established()
    big = b"x" * 1_000_000
    taken = conn.send(big, p.now)
    assert 0 < taken < len(big)
    assert conn.send(big, p.now) == 0  # full: nothing is taken, nothing raised (EAGAIN for the socket layer)
    assert not conn.writable
    out = p.out()
    assert [len(s.payload) for s in out] == [1460] * 10  # initial window: 10 segments (RFC 6928)
    p.feed(p.seg(ACK, seq=1, ack=1 + 14600), at=0.05)
    # More went (cwnd 20), cut from the unsent tail skb: a write tops it up to size_goal without
    # checking the buffer (Linux tcp_sendmsg_locked), but a waiting writer is not woken until
    # the free space is half of what is queued (sk_stream_write_space).
    assert not conn.writable and conn.send(big, p.now) > 0
    rounds = 0
    while not conn.writable:  # ACK all that is sent, round after round, until the queue drains
        assert rounds < 10
        p.out()
        rounds += 1
        p.feed(p.seg(ACK, seq=1, ack=(conn.snd_nxt - p.iss) & 0xFFFFFFFF), at=0.05 + 0.05 * rounds)
    assert conn.send(big, p.now) > 0


def test_receive_window_closes_when_the_application_does_not_read() -> None:
    p = Peer()
    p.eng.listen(LOCAL, 80, 5).options["rcvbuf"] = 4096  # doubled like Linux: 8192, half advertised
    (synack,) = p.feed(p.seg(SYN, seq=0, mss=1460, wscale=7, sack_permitted=True), at=0.0)
    p.iss = synack.seq
    assert synack.window == 2920  # 4096 rounded down to whole MSS
    p.feed(p.seg(ACK, seq=1, ack=1), at=0.01)
    conn = p.eng.listeners[(LOCAL, 80)].accept()
    data = bytes(range(256)) * 16  # 4096 bytes
    acks = []
    for off in range(0, 4096, 1024):
        acks += p.feed(p.seg(ACK, seq=1 + off, payload=data[off:off + 1024]), at=0.02)
    # Two quick ACKs (rcv_wnd / 2 MSS), then delayed ACKs; the window never reopens meanwhile,
    # so "every second full segment" does not apply (Linux __tcp_ack_snd_check) and it waits 40 ms.
    assert [p.rel(a)[2] for a in acks] == [1025, 2049]
    acks += [s for _, s in p.run_until(0.1)]
    assert acks[-1].ack == (p.peer_isn + 4097) & 0xFFFFFFFF
    assert acks[-1].window == 0  # all of the buffer is used
    # More data into a zero window, with unread data queued, is dropped (and answered with the
    # same ACK) by the sequence check already (Linux 6.16+ tcp_sequence: it ends beyond the window).
    out = p.feed(p.seg(ACK, seq=4097, payload=b"more"), at=0.2)
    assert p.rels(out) == [(".", 1, 4097, 0)] and out[0].window == 0
    assert p.eng.counters["BeyondWindow"] == 1 and p.eng.counters["TCPZeroWindowDrop"] == 0
    # Reading opens the window: the update goes at once (Linux tcp_cleanup_rbuf).
    assert conn.recv(10_000, p.now) == data
    (update,) = p.out()
    assert p.rel(update) == (".", 1, 4097, 0)
    assert update.window << 7 == 4096


# ---------------------------------------------------------------------------- reassembly


def test_out_of_order_segments_are_reassembled_with_overlaps_trimmed() -> None:
    p, conn = established()
    data = b"abcdefghijklmnopqrstuvwxyz0123"
    acks = []
    for lo, hi in ((20, 30), (5, 15), (0, 8), (12, 25)):
        acks += p.feed(p.seg(ACK | PSH, seq=1 + lo, payload=data[lo:hi]), at=1.0)
    assert [p.rel(a)[2] for a in acks] == [1, 1, 16, 31]  # every arrival ACKed at once
    assert conn.recv(100, p.now) == data
    assert conn.recv(100, p.now) is None
    assert p.eng.counters["TCPOFOQueue"] == 2


def test_duplicate_data_is_acked_at_once_and_not_delivered_twice() -> None:
    p, conn = established()
    p.feed(p.seg(ACK | PSH, seq=1, payload=b"once"), at=1.0)
    out = p.feed(p.seg(ACK | PSH, seq=1, payload=b"once"), at=1.5)
    assert p.rels(out) == [(".", 1, 5, 0)]
    assert conn.recv(100, p.now) == b"once"


def _small_window() -> tuple[Peer, Connection]:
    """SO_RCVBUF 2048 on the listener: a 2048-byte window after the handshake (at 0.01)."""
    p = Peer()
    p.eng.listen(LOCAL, 80, 5).options["rcvbuf"] = 2048  # 4096 bookkept, 2048 advertised
    p.iss = p.feed(p.seg(SYN, seq=0, mss=1460, wscale=7, sack_permitted=True), at=0.0)[0].seq
    p.feed(p.seg(ACK, seq=1, ack=1), at=0.01)
    conn = p.eng.listeners[(LOCAL, 80)].accept()
    assert conn.info()["rcv_wnd"] == 2048
    return p, conn


def test_a_segment_past_the_window_into_an_empty_queue_is_taken_whole() -> None:
    """Linux 6.16+ tcp_sequence accepts a segment that ends beyond the window when the receive
    queue is empty, and tcp_data_queue does not trim it: all 3000 bytes and the FIN are taken
    (measured on a 6.18 kernel: 2000 bytes into a 1460-byte window, ACKed 2001 with window 0)."""
    p, conn = _small_window()
    out = [(0.02, s) for s in p.feed(p.seg(ACK | PSH | FIN, seq=1, payload=b"z" * 3000), at=0.02)]
    out += p.run_until(0.5)
    assert p.trels(out) == [(0.06, ".", 1, 3002, 0)]  # the FIN's ACK waits the 40 ms ato
    assert out[0][1].window == 0
    assert conn.recv(5000, p.now) == b"z" * 3000 and conn.state == State.CLOSE_WAIT


def test_a_segment_past_the_window_is_dropped_while_unread_data_waits() -> None:
    """With unread data queued, a segment that ends beyond the window is dropped whole and
    answered with a duplicate ACK at once (Linux 6.16+ tcp_sequence: INVALID_END_SEQUENCE,
    counted as BeyondWindow; measured on 6.18)."""
    p, conn = _small_window()
    (ack,) = p.feed(p.seg(ACK, seq=1, payload=b"a" * 1000), at=0.02)
    assert p.rel(ack) == (".", 1, 1001, 0)
    window = ack.window << 7
    out = p.feed(p.seg(ACK, seq=1001, payload=b"b" * (window + 1)), at=0.03)
    assert p.rels(out) == [(".", 1, 1001, 0)]
    assert p.eng.counters["BeyondWindow"] == 1
    # What fits is taken; a FIN just past the right edge too (Linux 6.18 tcp_sequence:
    # "Some stacks are known to handle FIN incorrectly").
    out = p.feed(p.seg(ACK | FIN, seq=1001, payload=b"b" * window), at=0.04)
    out += [s for _, s in p.run_until(0.5)]
    assert p.rels(out) == [(".", 1, 1002 + window, 0)]
    assert conn.state == State.CLOSE_WAIT
    assert conn.recv(5000, p.now) == b"a" * 1000 + b"b" * window


def test_a_segment_at_the_right_edge_of_an_empty_queue_is_out_of_window() -> None:
    """A segment starting exactly at the right edge passes tcp_sequence into an empty queue,
    then tcp_data_queue drops it ("Out of window. F.e. zero window probe.") and ACKs at once,
    in quick-ACK mode: no out-of-order queueing."""
    p, conn = _small_window()
    out = p.feed(p.seg(ACK, seq=2049, payload=b"x" * 100), at=0.02)
    assert p.rels(out) == [(".", 1, 1, 0)]
    assert p.eng.counters["TCPOFOQueue"] == 0 and (conn.rcvbuf is None or conn.rcvbuf.ooo_bytes == 0)


# ---------------------------------------------------------------------------- zero window, persist


def _zero_window_sender() -> tuple[Peer, object]:
    """The peer's handshake ACK advertises a zero window; the application has 1000 bytes to send."""
    p = Peer()
    lst = p.eng.listen(LOCAL, 80, 5)
    p.iss = p.feed(p.seg(SYN, seq=0, mss=1460, wscale=7, sack_permitted=True), at=0.0)[0].seq
    p.feed(p.seg(ACK, seq=1, ack=1, window=0), at=0.01)
    conn = lst.accept()
    assert conn.send(b"d" * 1000, p.now) == 1000
    assert p.out() == []
    assert conn.timers() == [(TimerKind.PERSIST, pytest.approx(RTO), 0)]
    return p, conn


def test_zero_window_probes_back_off_and_use_snd_una_minus_one() -> None:
    p, conn = _zero_window_sender()
    sent = p.run_until(0.01 + RTO * 31 + 0.001)
    assert [t for t, _ in sent] == pytest.approx([0.01 + RTO * (2 ** k - 1) for k in range(1, 6)])
    assert all(p.rel(s) == (".", 0, 1, 0) for _, s in sent)  # seq = snd_una - 1, no data
    assert p.eng.counters["TCPWinProbe"] == 5
    assert conn.timers()[0][2] == 5  # probes out, like `ss -o` shows


def test_answered_zero_window_probes_keep_backing_off_and_never_give_up() -> None:
    """RFC 1122 section 4.2.2.17: the sender stays as long as probes are answered. Linux keeps
    the exponential backoff (icsk_backoff) and times each probe from the answer (tcp_ack_probe)."""
    p, conn = _zero_window_sender()
    times = []
    t = 0.0
    while len(times) < 20:
        t, probe = p.run_until_sent(10_000)
        assert p.rel(probe) == (".", 0, 1, 0)
        times.append(t)
        assert p.feed(p.seg(ACK, seq=1, ack=1, window=0), at=t + 0.01) == []
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(times)]
    assert gaps[:4] == pytest.approx([2 * RTO + 0.01, 4 * RTO + 0.01, 8 * RTO + 0.01, 16 * RTO + 0.01])
    assert gaps[-1] == pytest.approx(120.01)  # capped at rto_max
    assert conn.state == State.ESTABLISHED  # 20 probes > tcp_retries2, still alive
    # The window opens: the data goes, the backoff is forgotten.
    out = p.feed(p.seg(ACK, seq=1, ack=1, window=100), at=t + 1)
    assert p.rels(out) == [("P.", 1, 1, 1000)]
    assert conn.recovery.backoff == 0


def test_unanswered_zero_window_probes_give_up_after_tcp_retries2() -> None:
    p, conn = _zero_window_sender()
    sent = p.run_until(100_000)
    assert len(sent) == 15
    assert conn.state == State.CLOSED
    assert p.eng.counters["TCPAbortOnTimeout"] == 1


def test_a_window_too_small_for_the_sender_is_filled_by_the_probe_timer() -> None:
    """Sender SWS avoidance holds back a sliver of window; Linux's probe timer (tcp_write_wakeup)
    then sends what fits rather than waiting for ever."""
    p = Peer()
    conn = p.accept(rtt=0.01, wscale=0)
    conn.send(b"a" * 100, p.now)
    p.out()
    p.feed(p.seg(ACK, seq=1, ack=101, window=300), at=0.1)  # was 65535, now 300
    conn.send(b"b" * 1000, p.now)
    assert p.out() == []  # 300 < half the largest window seen: not worth sending yet
    ((kind, left, _),) = conn.timers()
    assert kind == TimerKind.PERSIST and left == pytest.approx(conn.recovery.rto)
    (t, seg), = p.run_until(0.1 + left)
    assert p.rel(seg) == ("P.", 101, 1, 300)
    # Unanswered, it is retransmitted as it was: 300 bytes, nothing beyond the window.
    t2, again = p.run_until_sent(5.0)
    assert t2 == pytest.approx(t + conn.recovery.rto / 2) and p.rel(again)[1:] == (101, 1, 300)
    out = p.feed(p.seg(ACK, seq=1, ack=401, window=65535), at=t2 + 0.01)
    assert p.rels(out) == [("P.", 401, 1, 700)]


def test_window_update_restarts_sending_without_waiting_for_the_probe() -> None:
    p, conn = _zero_window_sender()
    out = p.feed(p.seg(ACK, seq=1, ack=1, window=8), at=0.05)  # 8 << 7 = 1024 bytes
    assert p.rels(out) == [("P.", 1, 1, 1000)]
    assert TimerKind.PERSIST not in [k for k, _, _ in conn.timers()]


# ---------------------------------------------------------------------------- Nagle


def test_nagle_holds_a_second_small_write_until_the_first_is_acked() -> None:
    p, conn = established()
    conn.send(b"first", p.now)
    conn.send(b"second", p.now)
    assert p.rels(p.out()) == [("P.", 1, 1, 5)]
    out = p.feed(p.seg(ACK, seq=1, ack=6), at=0.1)
    assert p.rels(out) == [("P.", 6, 1, 6)]


def test_nagle_in_minshalls_form_sends_a_write_tail_at_once() -> None:
    """Linux tcp_minshall_check: only an unacknowledged *small* segment holds the next one."""
    p, conn = established()
    conn.send(b"y" * 2000, p.now)
    assert p.rels(p.out()) == [(".", 1, 1, 1460), ("P.", 1461, 1, 540)]
    conn.send(b"z" * 100, p.now)
    assert p.out() == []  # the 540-byte segment is still out
    out = p.feed(p.seg(ACK, seq=1, ack=2001), at=0.1)
    assert p.rels(out) == [("P.", 2001, 1, 100)]


def test_nodelay_sends_small_writes_at_once() -> None:
    p, conn = established()
    conn.apply_option("nodelay", True, p.now)
    conn.send(b"first", p.now)
    conn.send(b"second", p.now)
    assert p.rels(p.out()) == [("P.", 1, 1, 5), ("P.", 6, 1, 6)]


def test_setting_nodelay_flushes_what_nagle_held() -> None:
    p, conn = established()
    conn.send(b"first", p.now)
    conn.send(b"second", p.now)
    p.out()
    conn.apply_option("nodelay", True, p.now)
    assert p.rels(p.out()) == [("P.", 6, 1, 6)]


def test_fin_is_never_held_by_nagle() -> None:
    p, conn = established()
    conn.send(b"first", p.now)
    conn.send(b"second", p.now)
    p.out()
    conn.close(p.now)
    assert p.rels(p.out()) == [("FP.", 6, 1, 6)]  # the FIN rides on the held data


# ---------------------------------------------------------------------------- 2**32 wrap


def test_sequence_numbers_wrap_around_2_32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(IsnGenerator, "isn", lambda self, *a: 2**32 - 5)
    p = Peer(peer_isn=2**32 - 3)
    conn = p.connect(at=0.0, rtt=0.01)
    assert conn.iss == 2**32 - 5
    conn.apply_option("nodelay", True, p.now)
    conn.send(b"0123456789", p.now)
    (seg,) = p.out()
    assert seg.seq == 2**32 - 4 and p.rel(seg) == ("P.", 1, 1, 10)
    out = p.feed(p.seg(ACK | PSH, seq=1, ack=11, payload=b"abcdefgh"), at=0.05)
    assert out[0].ack == 6  # (2**32 - 3) + 1 + 8 wrapped
    assert conn.snd_una == 6 and conn.recv(100, p.now) == b"abcdefgh"
    # Out-of-order data on the far side of the wrap is still put in the right place.
    p.feed(p.seg(ACK | PSH, seq=13, ack=11, payload=b"MNOP"), at=0.06)
    p.feed(p.seg(ACK | PSH, seq=9, ack=11, payload=b"IJKL"), at=0.07)
    assert conn.recv(100, p.now) == b"IJKLMNOP"
    conn.close(p.now)
    (fin,) = p.out()
    assert p.rel(fin) == ("F.", 11, 17, 0) and fin.seq == 6
    out = p.feed(p.seg(FIN | ACK, seq=17, ack=12), at=0.1)
    assert p.rels(out) == [(".", 12, 18, 0)]
    assert conn.state == State.TIME_WAIT


def test_engine_sends_from_the_right_four_tuple() -> None:
    p = Peer()
    conn = p.connect()
    conn.send(b"x", p.now)
    (s,) = p.out()
    assert (s.src, s.sport, s.dst, s.dport) == (LOCAL, 80, REMOTE, RPORT)


def test_retransmission_timeout_doubles_and_karn_skips_the_ambiguous_sample() -> None:
    p, conn = established(tcp_timestamps=0, tcp_early_retrans=0)  # the RTO alone, no loss probe
    p.now = 1.0
    conn.send(b"q" * 100, p.now)
    (_seg,) = p.out()
    sent = p.run_until(1.0 + 3 * RTO)  # nothing answers: resent after RTO, then after 2 RTO
    assert [t for t, _ in sent] == pytest.approx([1.0 + RTO, 1.0 + 3 * RTO])
    assert all(p.rel(s) == ("P.", 1, 1, 100) for _, s in sent)
    assert conn.recovery.rto == pytest.approx(4 * RTO)
    p.feed(p.seg(ACK, seq=1, ack=101), at=1.0 + 3 * RTO + 0.05)
    assert conn.recovery.srtt == pytest.approx(0.01)  # no sample from a retransmitted segment (Karn)
    assert conn.recovery.rto == pytest.approx(4 * RTO)  # the backed-off RTO stays until a clean sample
    conn.send(b"r" * 100, p.now)
    t1 = p.now
    p.out()
    assert conn.timers() == [(TimerKind.RTO, pytest.approx(4 * RTO), 0)]
    p.feed(p.seg(ACK, seq=1, ack=201), at=t1 + 0.01)
    assert conn.recovery.rto == pytest.approx(0.01 + 0.2)  # a clean sample: back to srtt + 200 ms
    assert p.eng.counters["RetransSegs"] == 2 and p.eng.counters["TCPTimeouts"] == 2


def test_rto_minimum_is_200_ms_and_maximum_120_s() -> None:
    p = Peer(knobs(tcp_timestamps=0))
    conn = p.accept(rtt=0.0001)
    assert conn.recovery.rto == pytest.approx(0.2001)
    conn.send(b"q", p.now)
    p.out()
    sent = p.run_until(2000)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(sent)]
    assert max(gaps) == pytest.approx(120.0)


def test_tcp_retries2_gives_up_after_15_retransmissions_without_rst() -> None:
    p = Peer()
    conn = p.accept(rtt=0.001)
    conn.send(b"lost", p.now)
    p.out()
    sent = p.run_until(10_000)
    assert len(sent) == 16  # the loss probe (not counted by tcp_retries2), then 15 retransmissions
    assert all(not s.flags & 0x04 for _, s in sent)
    assert conn.state == State.CLOSED
    # RTO 201 ms doubling to 120 s: ~925 s, Linux's "about 924.6 s" (tcp_retries2 = 15).
    assert state_changes(p.rec)[-1][2] == pytest.approx(925.6, abs=1.0)
    c = p.eng.counters
    assert (c["TCPAbortOnTimeout"], c["EstabResets"], c["CurrEstab"], c["OutRsts"]) == (1, 1, 0, 0)
