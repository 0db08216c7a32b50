"""Opening a connection: LISTEN, SYN-SENT, SYN-RECEIVED, fed by hand to one engine.

RFC 9293 section 3.5 and 3.10.7, with Linux's choices (tcp_rcv_synsent_state_process,
tcp_check_req, tcp_conn_request) where the RFC leaves room.
"""

from __future__ import annotations

import errno

import pytest

from minitcp.tcp.pair import EnginePair
from minitcp.tcp.states import State
from minitcp.wire.segment import ACK, FIN, RST, SYN

from ..helpers.recorded import state_changes, state_path
from .builders import syn_received, syn_sent
from .peer import LOCAL, REMOTE, RPORT, Peer, knobs

# ---------------------------------------------------------------------------- LISTEN


def test_listen_answers_syn_with_synack_carrying_our_options() -> None:
    p = Peer()
    lst = p.eng.listen(LOCAL, 80, 5)
    syn = p.seg(SYN, seq=0, window=64240, mss=1460, wscale=7, sack_permitted=True, ts_val=777, ts_ecr=0)
    (synack,) = p.feed(syn, at=0.0)
    p.iss = synack.seq
    assert p.rel(synack) == ("S.", 0, 1, 0)
    assert synack.mss == 1460  # MTU 1500 - 40
    assert synack.wscale == 7  # enough to advertise tcp_rmem[2] = 6 MiB
    assert synack.sack_permitted is True
    assert synack.ts_ecr == 777 and synack.ts_val is not None
    # Linux rounds the SYN-ACK window down to a multiple of (MSS - timestamp option): 65535 -> 65160.
    assert synack.window == 65160
    assert (synack.src, synack.dst, synack.sport, synack.dport) == (LOCAL, REMOTE, 80, RPORT)
    (half,) = lst.syn_queue.values()
    assert half.state == State.SYN_RECEIVED
    assert lst.accept() is None


def test_synack_window_without_timestamps_is_a_multiple_of_the_mss() -> None:
    p = Peer()
    p.eng.listen(LOCAL, 80, 5)
    (synack,) = p.feed(p.seg(SYN, seq=0, mss=1460, wscale=7, sack_permitted=True))
    assert synack.window == 64240 and synack.ts_val is None


def test_listen_answers_a_bare_ack_with_rst_from_its_ack_number() -> None:
    p = Peer()
    p.eng.listen(LOCAL, 80, 5)
    (rst,) = p.feed(p.seg(ACK, seq=5, ack=12345), at=0.0)  # p.iss is 0: ack is absolute here
    assert (rst.flags, rst.seq, rst.ack, rst.window) == (RST, 12345, 0, 0)
    assert p.eng.counters["OutRsts"] == 1
    assert not p.eng.conns


def test_listen_ignores_rst_and_a_stray_fin() -> None:
    p = Peer()
    p.eng.listen(LOCAL, 80, 5)
    assert p.feed(p.seg(RST, seq=0)) == []
    assert p.feed(p.seg(FIN, seq=0)) == []
    assert p.eng.counters["OutSegs"] == 0
    assert not p.eng.conns


def test_handshake_completes_and_counts_passive_open() -> None:
    p = Peer()
    conn = p.accept(at=0.0, rtt=0.05)
    c = p.eng.counters
    assert (c["PassiveOpens"], c["ActiveOpens"], c["CurrEstab"]) == (1, 0, 1)
    assert state_path(p.rec, conn) == [State.LISTEN, State.SYN_RECEIVED, State.ESTABLISHED]
    # The SYN-ACK was answered after 50 ms: that is the first RTT sample (RFC 6298 section 2.2).
    assert conn.recovery.srtt == pytest.approx(0.05)
    assert conn.recovery.rto == pytest.approx(0.05 + 0.2)  # Linux floors rttvar at 200 ms


# ---------------------------------------------------------------------------- SYN-SENT


def test_connect_sends_syn_with_options_then_acks_the_synack() -> None:
    p = Peer()
    conn = p.eng.connect(LOCAL, 80, REMOTE, RPORT, 0.0)
    (syn,) = p.out()
    p.iss = syn.seq
    assert p.rel(syn) == ("S", 0, None, 0)
    assert (syn.mss, syn.wscale, syn.sack_permitted) == (1460, 7, True)
    assert syn.ts_val is not None and syn.ts_ecr == 0
    assert syn.window == 64240  # Linux: 65535 rounded down to a multiple of the MSS
    assert conn.state == State.SYN_SENT
    out = p.feed(p.seg(SYN | ACK, seq=0, ack=1, mss=1460, wscale=7, sack_permitted=True,
                       ts_val=5, ts_ecr=syn.ts_val), at=0.02)
    assert p.rels(out) == [(".", 1, 1, 0)]
    assert out[0].ts_ecr == 5
    assert out[0].window == conn.rwin.select(conn) >> 7  # scaled from now on
    assert conn.state == State.ESTABLISHED
    assert p.eng.counters["ActiveOpens"] == 1 and p.eng.counters["CurrEstab"] == 1


def test_syn_sent_answers_an_unacceptable_ack_with_rst_and_stays() -> None:
    p, conn = syn_sent()
    (rst,) = p.feed(p.seg(SYN | ACK, seq=0, ack=5, mss=1460))  # acknowledges bytes never sent
    assert (rst.flags, rst.seq) == (RST, (p.iss + 5) & 0xFFFFFFFF)
    assert conn.state == State.SYN_SENT
    assert "unacceptable ACK in SYN-SENT" in p.rec.drop_reasons()


def test_after_an_unacceptable_ack_the_syn_goes_again_soon_then_backs_off() -> None:
    """Linux tcp_rcv_synsent_state_process: TCP_TIMEOUT_MIN before the first retransmission;
    the retransmission then doubles the RTO as usual (1 s -> 2 s)."""
    p = Peer()
    p.eng.connect(LOCAL, 80, REMOTE, RPORT, 0.0)
    p.iss = p.out()[0].seq
    p.feed(p.seg(ACK, seq=0, ack=5), at=0.1)
    assert p.trels(p.run_until(3.0)) == [(0.108, "S", 0, None, 0), (2.108, "S", 0, None, 0)]
    # Once the SYN was retransmitted, another bad ACK leaves the backed-off timer alone.
    p.feed(p.seg(ACK, seq=0, ack=5), at=3.0)
    assert p.trels(p.run_until(6.2)) == [(6.108, "S", 0, None, 0)]


def test_syn_sent_rst_ack_refuses_the_connection() -> None:
    p, conn = syn_sent()
    assert p.feed(p.seg(RST | ACK, seq=0, ack=1)) == []
    assert conn.state == State.CLOSED
    assert p.eng.counters["AttemptFails"] == 1
    with pytest.raises(OSError) as e:
        conn.recv(10, p.now)
    assert e.value.errno == errno.ECONNREFUSED
    assert p.eng.poll_at() is None  # the SYN timer went with it


def test_syn_sent_ignores_rst_without_ack_and_rst_with_a_wrong_ack() -> None:
    p, conn = syn_sent()
    assert p.feed(p.seg(RST, seq=0)) == []
    assert p.feed(p.seg(RST | ACK, seq=0, ack=9)) == []
    assert conn.state == State.SYN_SENT


def test_syn_sent_simultaneous_open_answers_syn_with_synack() -> None:
    p, conn = syn_sent()
    out = p.feed(p.seg(SYN, seq=0, mss=1400, wscale=2, sack_permitted=True), at=0.1)
    assert p.rels(out) == [("S.", 0, 1, 0)]  # our own ISN again, now acknowledging theirs
    assert out[0].mss == 1460
    assert conn.state == State.SYN_RECEIVED
    assert p.feed(p.seg(ACK, seq=1, ack=1), at=0.2) == []
    assert conn.state == State.ESTABLISHED
    assert conn.mss == 1400


def test_simultaneous_open_through_a_wire() -> None:
    """Both ends connect at once: SYN, SYN crossing, SYN-ACK, SYN-ACK crossing (RFC 9293 figure 8).

    Linux takes the peer's SYN-ACK in SYN-RECEIVED as the ACK of its own SYN
    (tcp_validate_incoming lets it through), so both are ESTABLISHED after
    one round trip with no challenge ACK.
    """
    p = EnginePair()
    a = p.a.connect(p.addr_a, 5000, p.addr_b, 6000, 0.0)
    b = p.b.connect(p.addr_b, 6000, p.addr_a, 5000, 0.0)
    p.run(until=0.0011)  # each SYN-ACK arrived at 1 ms
    assert (a.state, b.state) == (State.ESTABLISHED, State.ESTABLISHED)
    p.run(until=0.1)
    kinds = sorted((e.sender, e.seg.flags, e.seg.seq - (a.iss if e.sender == "a" else b.iss),
                    e.seg.ack - (b.iss if e.sender == "a" else a.iss) if e.seg.flags & ACK else None)
                   for e in p.wire)
    # Each side also ACKs the other's SYN-ACK at once: it repeats sequence space already received.
    assert kinds == sorted([("a", SYN, 0, None), ("a", SYN | ACK, 0, 1), ("a", ACK, 1, 1),
                            ("b", SYN, 0, None), ("b", SYN | ACK, 0, 1), ("b", ACK, 1, 1)])
    for eng in (p.a, p.b):
        assert eng.counters["TCPSYNChallenge"] == 0
        assert eng.counters["CurrEstab"] == 1
    a.send(b"ping", p.now)
    p.run(until=0.2)
    assert b.recv(10, p.now) == b"ping"


def test_syn_retries_follow_linux_backoff_then_etimedout() -> None:
    p, conn = syn_sent()
    sent = p.run_until(200.0)
    assert [t for t, _ in sent] == [1.0, 3.0, 7.0, 15.0, 31.0, 63.0]  # tcp_syn_retries = 6
    assert all(p.rel(s) == ("S", 0, None, 0) for _, s in sent)
    assert conn.state == State.CLOSED
    assert state_changes(p.rec)[-1][2] == 127.0  # given up at 63 + 64 s
    with pytest.raises(OSError) as e:
        conn.send(b"x", p.now)
    assert e.value.errno == errno.ETIMEDOUT
    c = p.eng.counters
    assert (c["RetransSegs"], c["AttemptFails"], c["OutRsts"]) == (6, 1, 0)
    assert c["TCPAbortOnTimeout"] == 1  # Linux tcp_write_err counts every write timeout


def test_syn_retries_knob() -> None:
    p = Peer(knobs(tcp_syn_retries=2))
    conn = p.eng.connect(LOCAL, 80, REMOTE, RPORT, 0.0)
    p.out()
    assert [t for t, _ in p.run_until(100)] == [1.0, 3.0]
    assert conn.state == State.CLOSED and state_changes(p.rec)[-1][2] == 7.0


def test_karn_no_rtt_sample_from_a_retransmitted_syn() -> None:
    p, conn = syn_sent(tcp_timestamps=0)
    assert len(p.run_until(1.5)) == 1  # the SYN again at 1 s
    p.feed(p.seg(SYN | ACK, seq=0, ack=1, mss=1460), at=1.6)
    assert conn.state == State.ESTABLISHED
    assert conn.recovery.srtt is None  # 1.6 s or 0.6 s? ambiguous, so no sample (Karn)
    assert conn.recovery.rto == 2.0  # the backed-off value stays


# ---------------------------------------------------------------------------- SYN-RECEIVED


def test_syn_received_retransmitted_syn_gets_the_synack_again() -> None:
    p, _ = syn_received()
    (again,) = p.feed(p.seg(SYN, seq=0, mss=1460), at=0.6)
    assert p.rel(again) == ("S.", 0, 1, 0)
    assert p.eng.counters["RetransSegs"] == 1


def test_syn_received_duplicate_syns_are_rate_limited() -> None:
    """Linux tcp_check_req resends the SYN-ACK for a duplicate SYN at most once per
    tcp_invalid_ratelimit (500 ms), counting TCPACKSkippedSynRecv otherwise."""
    p, _ = syn_received()
    assert len(p.feed(p.seg(SYN, seq=0, mss=1460), at=0.1)) == 1
    assert p.feed(p.seg(SYN, seq=0, mss=1460), at=0.3) == []
    assert p.eng.counters["TCPACKSkippedSynRecv"] == 1
    assert len(p.feed(p.seg(SYN, seq=0, mss=1460), at=0.7)) == 1


def test_synack_retransmitted_at_1_3_7_15_31_then_given_up() -> None:
    p, _ = syn_received()
    lst = p.eng.listeners[(LOCAL, p.lport)]
    sent = p.run_until(100.0)
    assert [t for t, _ in sent] == [1.0, 3.0, 7.0, 15.0, 31.0]  # tcp_synack_retries = 5
    assert all(p.rel(s) == ("S.", 0, 1, 0) for _, s in sent)
    assert not lst.syn_queue and not p.eng.conns
    assert state_changes(p.rec)[-1][1:] == (State.CLOSED, 63.0)
    assert p.eng.counters["OutRsts"] == 0  # dropped silently
    assert p.eng.poll_at() is None


def test_syn_received_rst_removes_the_half_open_connection_silently() -> None:
    p, _ = syn_received()
    lst = p.eng.listeners[(LOCAL, p.lport)]
    assert p.feed(p.seg(RST, seq=1), at=0.1) == []
    assert not lst.syn_queue and not p.eng.conns
    assert p.eng.counters["AttemptFails"] == 1
    assert p.run_until(100) == []
    # The listener is still there: a new SYN starts over.
    assert p.rel(p.feed(p.seg(SYN, seq=0, mss=1460))[0])[0] == "S."


def test_syn_received_bad_ack_gets_rst_and_keeps_waiting() -> None:
    p, _ = syn_received()
    lst = p.eng.listeners[(LOCAL, p.lport)]
    (rst,) = p.feed(p.seg(ACK, seq=1, ack=77), at=0.1)
    assert (rst.flags, rst.seq) == (RST, (p.iss + 77) & 0xFFFFFFFF)
    assert len(lst.syn_queue) == 1


def test_synack_rtt_sample_and_data_on_the_third_segment() -> None:
    p, _ = syn_received()
    lst = p.eng.listeners[(LOCAL, p.lport)]
    # The handshake's ACK may already carry data (it is delivered, and ACKed at once: quick-ACK).
    out = p.feed(p.seg(ACK, seq=1, ack=1, payload=b"hello"), at=0.03)
    conn = lst.accept()
    assert conn is not None and conn.recv(100, p.now) == b"hello"
    assert p.rels(out) == [(".", 1, 6, 0)]
    assert conn.recovery.srtt == pytest.approx(0.03)


def test_syn_received_takes_any_in_window_rst() -> None:
    """Linux tcp_check_req: a half-open connection is reset by any RST in its window; the
    RFC 5961 exact-sequence rule and its challenge ACK are for established sockets."""
    p, _ = syn_received()
    lst = p.eng.listeners[(LOCAL, p.lport)]
    assert p.feed(p.seg(RST, seq=1000), at=0.1) == []
    assert not lst.syn_queue
    assert p.eng.counters["TCPChallengeACK"] == 0


def test_syn_received_a_different_syn_resets_the_half_open_connection() -> None:
    p, _ = syn_received()
    lst = p.eng.listeners[(LOCAL, p.lport)]
    (rst,) = p.feed(p.seg(SYN, seq=500, mss=1460), at=0.1)
    assert (rst.flags, (rst.ack - p.peer_isn) & 0xFFFFFFFF) == (RST | ACK, 501)
    assert not lst.syn_queue and p.eng.counters["AttemptFails"] == 1


def test_a_connection_has_no_instance_dict() -> None:
    """Connection and every part it owns declare __slots__: one without them would give every
    connection a dict (about 100 B more per idle connection, against a 4 KB budget)."""
    p = Peer()
    conn = p.eng.connect(LOCAL, 80, REMOTE, RPORT, 0.0)
    assert not hasattr(conn, "__dict__")
    for part in (conn.delack, conn.rwin, conn.recovery, conn.recovery.cc):
        assert not hasattr(part, "__dict__"), part
