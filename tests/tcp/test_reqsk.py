"""A listener's half-open request (minitcp.tcp.reqsk, Linux's request_sock): what it sends and
keeps before the third segment, and the Connection born of it (tcp_check_req -> syn_recv_sock)."""

from __future__ import annotations

import pytest

from minitcp.tcp.reqsk import RequestSock
from minitcp.tcp.states import State
from minitcp.tcp.tcpinfo import tcp_info
from minitcp.trace.ss import ss_rows
from minitcp.wire.segment import ACK, CWR, ECE, SYN

from .peer import LOCAL, Peer, knobs


def _request(p: Peer, **syn_opts: object) -> RequestSock:
    (synack,) = p.feed(p.seg(SYN, seq=0, window=64240, **syn_opts), at=0.0)
    p.iss = synack.seq
    (req,) = p.eng.requests.values()
    return req


def test_the_synack_carries_the_listeners_options_and_nothing_is_a_connection_yet() -> None:
    p = Peer(knobs(tcp_ecn=1))
    lst = p.eng.listen(LOCAL, p.lport, 5)
    lst.options = {"maxseg": 1200, "tos": 0x10, "ttl": 33}
    (synack,) = p.feed(p.seg(SYN | ECE | CWR, seq=0, window=64240, mss=1460, wscale=7,
                             sack_permitted=True, ts_val=555, ts_ecr=0), at=0.0)
    assert synack.flags == SYN | ACK | ECE  # RFC 3168 section 6.1.1: an ECN-setup SYN-ACK
    assert (synack.mss, synack.wscale, synack.sack_permitted, synack.ts_ecr) == (1200, 7, True, 555)
    assert (synack.tos, synack.ttl) == (0x10, 33)
    assert synack.window == 65535 - 65535 % (1200 - 12)  # whole segments less timestamps
    assert not p.eng.conns and type(lst.syn_queue[next(iter(lst.syn_queue))]) is RequestSock


def test_a_retransmitted_syn_gets_the_same_synack_again_rate_limited() -> None:
    p = Peer()
    p.eng.listen(LOCAL, p.lport, 5)
    req = _request(p, mss=1460)
    (again,) = p.feed(p.seg(SYN, seq=0, window=64240, mss=1460), at=0.3)
    assert p.rel(again) == ("S.", 0, 1, 0)
    assert p.feed(p.seg(SYN, seq=0, window=64240, mss=1460), at=0.4) == []  # tcp_invalid_ratelimit
    assert p.eng.counters["TCPACKSkippedSynRecv"] == 1 and p.eng.counters["RetransSegs"] == 1
    [(_, left, retransmits)] = req.timers(0.3)
    assert left == pytest.approx(1.0) and retransmits == 0  # the timer restarted at 0.3
    assert not p.eng.conns and p.eng.requests == {req.key: req}


def test_the_synack_timer_backs_off_and_gives_up_after_tcp_synack_retries() -> None:
    p = Peer(knobs(tcp_synack_retries=2))
    lst = p.eng.listen(LOCAL, p.lport, 5)
    _request(p, mss=1460)
    sent = p.run_until(100.0)
    assert [round(t, 3) for t, _ in sent] == [1.0, 3.0]
    assert all(p.rel(s) == ("S.", 0, 1, 0) for _, s in sent)
    assert not lst.syn_queue and not p.eng.requests and p.eng.poll_at() is None
    c = p.eng.counters
    assert (c["TCPSynRetrans"], c["AttemptFails"], c["TCPAbortOnTimeout"]) == (2, 1, 0)
    assert p.rec.state_path(lport=p.lport, rport=p.rport) == [State.LISTEN, State.SYN_RECEIVED, State.CLOSED]


def test_the_third_ack_makes_the_connection_with_the_requests_history() -> None:
    p = Peer()
    lst = p.eng.listen(LOCAL, p.lport, 5)
    _request(p, mss=1460, wscale=7, sack_permitted=True, ts_val=100, ts_ecr=0)
    ((t, resent),) = p.run_until(1.1)  # one SYN-ACK retransmission, at 1 s
    assert t == pytest.approx(1.0)
    assert p.feed(p.seg(ACK, ts_val=101, ts_ecr=resent.ts_val, payload=b"hello"), at=1.2)
    conn = lst.accept()
    assert conn is not None and conn.state == State.ESTABLISHED and not p.eng.requests
    assert conn.recv(10, 1.3) == b"hello"
    assert (conn.mss, conn.snd_wscale, conn.sack_ok, conn.ts_ok) == (1460 - 12, 7, True, True)
    info = tcp_info(conn, 1.3)
    assert (info["total_retrans"], info["segs_in"], info["data_segs_in"]) == (1, 2, 1)
    # Karn: the SYN-ACK was resent, so no RTT sample; the backed-off RTO stays (as before).
    assert conn.recovery.srtt is None and conn.recovery.rto == pytest.approx(2.0)
    # One object's path, LISTEN -> SYN-RECEIVED (the request's) -> ESTABLISHED, and the same by ports.
    assert p.rec.state_path(conn) == [State.LISTEN, State.SYN_RECEIVED, State.ESTABLISHED]
    assert p.rec.state_path(lport=p.lport, rport=p.rport) == [State.LISTEN, State.SYN_RECEIVED,
                                                              State.ESTABLISHED]


def test_ss_shows_a_request_with_its_timer() -> None:
    p = Peer()
    p.eng.listen(LOCAL, p.lport, 5)
    _request(p, mss=1460)
    rows = [r for r in ss_rows(p.eng, now=0.25) if r[0] == "SYN-RECV"]
    assert rows == [("SYN-RECV", "0", "0", f"198.18.0.2:{p.lport}", f"198.18.0.1:{p.rport}",
                     "timer:(on,750ms,0)")]


def test_closing_the_listener_drops_its_requests_silently() -> None:
    p = Peer()
    lst = p.eng.listen(LOCAL, p.lport, 5)
    _request(p, mss=1460)
    lst.close(0.5)
    assert p.out() == [] and not p.eng.requests and p.eng.poll_at() is None
    assert p.rec.state_path(lport=p.lport, rport=p.rport)[-1] == State.CLOSED
