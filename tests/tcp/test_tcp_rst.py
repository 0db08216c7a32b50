"""Resets: the closed port (CLOSED state), RFC 5961 checks on a live connection,
and the resets the application causes (close with unread data, SO_LINGER 0)."""

from __future__ import annotations

import errno

import pytest

from minitcp.tcp.connection import SHUT_RD, SHUT_WR
from minitcp.tcp.states import State
from minitcp.wire.segment import ACK, FIN, PSH, RST, SYN

from .builders import established
from .peer import LOCAL, REMOTE, Peer, knobs

# ---------------------------------------------------------------------------- CLOSED (no socket)


def test_closed_port_syn_gets_rst_ack_acknowledging_it() -> None:
    p = Peer()
    (rst,) = p.feed(p.seg(SYN, seq=0, mss=1460))
    assert (rst.flags, rst.seq, rst.ack) == (RST | ACK, 0, (p.peer_isn + 1) & 0xFFFFFFFF)
    assert (rst.src, rst.dst, rst.sport, rst.dport) == (LOCAL, REMOTE, p.lport, p.rport)
    assert p.eng.counters["OutRsts"] == 1 and p.eng.counters["InSegs"] == 1
    assert p.rec.drop_reasons() == ["no socket on this port"]


def test_closed_port_ack_gets_rst_from_the_ack_number() -> None:
    p = Peer()
    (rst,) = p.feed(p.seg(ACK | PSH, seq=10, ack=4242, payload=b"abc"))
    assert (rst.flags, rst.seq, rst.ack) == (RST, 4242, 0)


def test_closed_port_fin_with_data_counts_the_fin() -> None:
    p = Peer()
    (rst,) = p.feed(p.seg(FIN, seq=10, payload=b"abc"))
    assert (rst.flags, rst.ack) == (RST | ACK, (p.peer_isn + 14) & 0xFFFFFFFF)


def test_closed_port_never_answers_rst() -> None:
    p = Peer()
    assert p.feed(p.seg(RST | ACK, seq=10, ack=3)) == []
    assert p.eng.counters["OutSegs"] == 0


# ---------------------------------------------------------------------------- RFC 5961 on ESTABLISHED


def test_rst_exactly_at_rcv_nxt_resets_the_connection() -> None:
    p, conn = established()
    assert p.feed(p.seg(RST, seq=1), at=1.0) == []
    assert conn.state == State.CLOSED
    c = p.eng.counters
    assert (c["EstabResets"], c["CurrEstab"]) == (1, 0)
    with pytest.raises(OSError) as e:
        conn.recv(1, p.now)
    assert e.value.errno == errno.ECONNRESET
    assert conn.recv(1, p.now) == b""  # the error is reported once, then end of stream


def test_rst_elsewhere_in_the_window_gets_a_rate_limited_challenge_ack() -> None:
    p, conn = established()
    out = p.feed(p.seg(RST, seq=1000), at=1.0)
    assert p.rels(out) == [(".", 1, 1, 0)]  # "tell me where you are" (RFC 5961 section 3.2)
    assert conn.state == State.ESTABLISHED
    assert p.feed(p.seg(RST, seq=2000), at=1.3) == []  # tcp_invalid_ratelimit: 500 ms
    assert p.eng.counters["TCPACKSkippedChallenge"] == 1
    assert len(p.feed(p.seg(RST, seq=3000), at=1.6)) == 1
    assert p.eng.counters["TCPChallengeACK"] == 2
    assert "RST not at rcv_nxt (RFC 5961)" in p.rec.drop_reasons()


def test_rst_outside_the_window_is_dropped_silently() -> None:
    p, conn = established()
    assert p.feed(p.seg(RST, seq=10_000_000), at=1.0) == []
    assert p.feed(p.seg(RST, seq=-5), at=1.0) == []
    assert conn.state == State.ESTABLISHED
    assert p.eng.counters["TCPChallengeACK"] == 0


def test_challenge_ack_limit_is_stack_wide_per_second() -> None:
    """tcp_challenge_ack_limit counts challenge ACKs of the whole stack per second
    (RFC 5961 section 7); each connection also has its own 500 ms limit."""
    p = Peer(knobs(tcp_challenge_ack_limit=1))
    p.accept()  # connection 1, from port 40000
    first_iss = p.iss
    p.rport = 40001  # connection 2
    p.iss = p.feed(p.seg(SYN, seq=0, mss=1460), at=0.1)[0].seq
    p.feed(p.seg(ACK, seq=1, ack=1), at=0.11)
    assert len(p.feed(p.seg(RST, seq=500), at=1.0)) == 1
    p.rport, p.iss = 40000, first_iss
    assert p.feed(p.seg(RST, seq=500), at=1.1) == []  # connection 1, same second: over the limit
    assert len(p.feed(p.seg(RST, seq=700), at=2.0)) == 1  # a new second


def test_insecure_rst_knob_accepts_any_in_window_rst() -> None:
    p, conn = established(tcp_insecure_rst=1)
    assert p.feed(p.seg(RST, seq=1000), at=1.0) == []
    assert conn.state == State.CLOSED


def test_syn_on_an_established_connection_gets_a_challenge_ack() -> None:
    p, conn = established()
    out = p.feed(p.seg(SYN, seq=77_000, mss=1460), at=1.0)
    assert p.rels(out) == [(".", 1, 1, 0)]
    assert conn.state == State.ESTABLISHED
    assert p.eng.counters["TCPSYNChallenge"] == 1 and p.eng.counters["TCPChallengeACK"] == 1


def test_an_ack_for_unsent_data_is_dropped_silently_in_established_only() -> None:
    """Linux tcp_ack: an ACK beyond snd_nxt is dropped (TCP_ACK_UNSENT_DATA); in ESTABLISHED
    (tcp_rcv_established) nothing answers it, in the other states tcp_rcv_state_process sends a
    challenge ACK (RFC 5961 section 5.2). The Linux suite's ts_recent/invalid_ack.pkt: the bad
    segment's timestamp is not taken either."""
    p, conn = established(ts=True)
    assert p.feed(p.seg(FIN | ACK, seq=1, ack=9999, ts_val=200000, ts_ecr=0), at=0.1) == []
    assert conn.state == State.ESTABLISHED
    (ack,) = p.feed(p.seg(ACK, seq=1, payload=b"x" * 1000, ts_val=201, ts_ecr=0), at=0.1)
    assert p.rel(ack) == (".", 1, 1001, 0) and ack.ts_ecr == 201
    p.feed(p.seg(FIN | ACK, seq=1001), at=0.2)  # CLOSE_WAIT
    assert p.rels(p.feed(p.seg(ACK, seq=1002, ack=9999, ts_val=202, ts_ecr=0), at=0.3)) == [(".", 1, 1002, 0)]


def test_rst_at_the_fin_sequence_counts_even_after_the_fin_was_acked() -> None:
    """Linux tcp_reset_check: RCV.NXT - 1 is below the window once our ACK of the FIN went out,
    yet still accepted in CLOSE-WAIT (EPIPE) and LAST-ACK (ECONNRESET)."""
    for close_first, state, err in ((False, State.CLOSE_WAIT, errno.EPIPE),
                                    (True, State.LAST_ACK, errno.ECONNRESET)):
        p = Peer()
        conn = p.accept()
        p.feed(p.seg(FIN | ACK, seq=1), at=1.0)
        assert p.rels([s for _, s in p.run_until(1.5)]) == [(".", 1, 2, 0)]  # the delayed ACK of the FIN
        if close_first:
            conn.shutdown(SHUT_WR, p.now)
            assert p.rels(p.out()) == [("F.", 1, 2, 0)]
        assert conn.state == state
        assert p.feed(p.seg(RST, seq=1), at=2.0) == []
        assert conn.state == State.CLOSED
        assert conn.error == err


def test_insecure_syn_knob_resets_on_a_syn_in_the_window() -> None:
    """RFC 793 page 71 (RFC 5961 section 4 off): reset, CLOSED, "connection reset"."""
    p, conn = established(tcp_insecure_syn=1)
    out = p.feed(p.seg(SYN, seq=1, mss=1460), at=1.0)
    assert p.rels(out) == [("R.", 1, 1, 0)]
    assert conn.state == State.CLOSED
    with pytest.raises(OSError) as e:
        conn.send(b"x", p.now)
    assert e.value.errno == errno.ECONNRESET


def test_insecure_syn_knob_still_only_acks_a_syn_before_the_window() -> None:
    # Its end (seq + 1) reaches rcv_nxt, so Linux's tcp_sequence lets it in, but the SYN's own
    # sequence number is outside the window: RFC 793 says ACK it and drop it.
    p, conn = established(tcp_insecure_syn=1)
    assert p.rels(p.feed(p.seg(SYN, seq=0, mss=1460), at=1.0)) == [(".", 1, 1, 0)]
    assert conn.state == State.ESTABLISHED


def test_rst_in_close_wait_reports_epipe_and_rcv_nxt_minus_one_is_accepted() -> None:
    """Linux tcp_reset_check: once the peer's FIN is in, an RST at rcv_nxt - 1 is exact too."""
    p, conn = established()
    p.feed(p.seg(FIN | ACK, seq=1), at=1.0)
    assert conn.state == State.CLOSE_WAIT
    assert p.feed(p.seg(RST, seq=1), at=1.1) == []
    assert conn.state == State.CLOSED
    with pytest.raises(OSError) as e:
        conn.send(b"x", p.now)
    assert e.value.errno == errno.EPIPE


# ---------------------------------------------------------------------------- resets the application causes


def test_close_with_unread_data_sends_rst_instead_of_fin() -> None:
    p, conn = established()
    p.feed(p.seg(ACK | PSH, seq=1, payload=b"unread"), at=1.0)
    p.now = 1.1
    conn.close(p.now)
    assert p.rels(p.out()) == [("R.", 1, 7, 0)]  # seq = snd_nxt, ack = rcv_nxt (tcp_send_active_reset)
    assert conn.state == State.CLOSED
    c = p.eng.counters
    assert (c["TCPAbortOnClose"], c["EstabResets"], c["OutRsts"]) == (1, 1, 1)
    assert not p.eng.timewait_entries()
    assert p.eng.poll_at() is None


def test_the_reset_for_unread_data_carries_the_timestamp_option_and_the_window() -> None:
    # Linux's tcp_send_active_reset sends through tcp_transmit_skb: the established options
    # (timestamps) and the window, as any segment of the connection.
    p, conn = established(ts=True)
    p.feed(p.seg(ACK | PSH, seq=1, payload=b"unread", ts_val=500, ts_ecr=0), at=1.0)
    p.now = 1.1
    conn.close(p.now)
    (rst,) = p.out()
    assert rst.flags == RST | ACK
    assert rst.ts_val is not None and rst.ts_ecr == 500
    assert rst.window > 0


def test_close_after_reading_everything_sends_fin() -> None:
    p, conn = established()
    p.feed(p.seg(ACK | PSH, seq=1, payload=b"read me"), at=1.0)
    assert conn.recv(100, p.now) == b"read me"
    p.now = 1.1
    conn.close(p.now)
    assert p.rels(p.out()) == [("F.", 1, 8, 0)]


def test_shut_rd_does_not_discard_queued_data_but_close_still_resets() -> None:
    p, conn = established()
    p.feed(p.seg(ACK | PSH, seq=1, payload=b"abc"), at=1.0)
    conn.shutdown(SHUT_RD, p.now)
    assert p.out() == []
    p.now = 1.1
    conn.close(p.now)
    assert p.out()[0].flags == RST | ACK
    assert p.eng.counters["TCPAbortOnClose"] == 1


def test_linger_zero_abort_sends_rst_and_skips_time_wait() -> None:
    p, conn = established()
    conn.send(b"unsent?", p.now)
    p.out()
    p.now = 1.0
    conn.apply_option("linger", 0, p.now)
    conn.close(p.now)
    assert p.rels(p.out()) == [("R.", 8, 1, 0)]
    assert conn.state == State.CLOSED
    assert p.eng.counters["TCPAbortOnData"] == 1  # Linux counts SO_LINGER 0 there
    assert not p.eng.timewait_entries()
    assert p.run_until(100) == []


def test_abort_is_linger_zero() -> None:
    p = Peer()
    conn = p.connect()
    conn.abort(p.now)
    assert p.rels(p.out()) == [("R.", 1, 1, 0)]
    assert conn.state == State.CLOSED and not p.eng.conns


def test_close_in_syn_sent_is_silent() -> None:
    p = Peer()
    conn = p.eng.connect(LOCAL, 80, REMOTE, 40000, 0.0)
    p.out()
    conn.close(p.now)
    assert p.out() == [] and conn.state == State.CLOSED
    assert p.eng.poll_at() is None


def test_after_the_peers_fin_a_later_rst_leaves_reads_at_end_of_stream() -> None:
    """Linux tcp_recvmsg checks SOCK_DONE (FIN received) before sk_err: recv() says EOF,
    and the error (EPIPE for an RST in CLOSE_WAIT) is reported by send()."""
    p, conn = established()
    p.feed(p.seg(ACK | PSH | FIN, seq=1, payload=b"bye"), at=1.0)
    assert conn.state == State.CLOSE_WAIT
    p.feed(p.seg(RST, seq=5), at=1.1)
    assert conn.state == State.CLOSED
    assert conn.recv(100, p.now) == b"bye"
    assert conn.recv(100, p.now) == b""
    assert conn.recv(100, p.now) == b""
    with pytest.raises(OSError) as e:
        conn.send(b"x", p.now)
    assert e.value.errno == errno.EPIPE
