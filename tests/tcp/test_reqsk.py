"""A listener's half-open request (minitcp.tcp.reqsk, Linux's request_sock): what it sends and
keeps before the third segment, and the Connection born of it (tcp_check_req -> syn_recv_sock)."""

from __future__ import annotations

import pytest

from minitcp.tcp.listener import Listener
from minitcp.tcp.reqsk import RequestSock
from minitcp.tcp.seq import MASK
from minitcp.tcp.states import State
from minitcp.tcp.tcpinfo import tcp_info
from minitcp.trace.ss import ss_rows
from minitcp.wire.segment import ACK, CWR, ECE, RST, SYN

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


def _young(lst: Listener) -> int:
    """The SYN queue's entries whose SYN-ACK timer never fired, counted."""
    return sum(1 for h in lst.syn_queue.values()
               if not (h.retransmits if isinstance(h, RequestSock) else h.recovery.retransmits))


def _syns(p: Peer, count: int, at: float) -> None:
    for k in range(count):
        p.rport = 20000 + k
        assert len(p.feed(p.seg(SYN, seq=0, window=64240, mss=1460), at=at)) == 1


def test_old_requests_clogging_the_queue_are_pruned() -> None:
    """Linux reqsk_timer_handler: with the SYN queue more than half full (of its backlog) and
    no young entry left, an entry gives up after 2 SYN-ACK retransmissions instead of
    tcp_synack_retries (5): a full queue of 16 unanswered requests resends at 1 s and 3 s, and at
    7 s the first half gives up; the rest, in a queue now half full, live on to 5."""
    p = Peer()
    lst = p.eng.listen(LOCAL, p.lport, 16)
    _syns(p, 16, 0.0)
    assert lst.young == 16
    sent = p.run_until(6.9)
    assert sorted({round(t, 3) for t, _ in sent}) == [1.0, 3.0] and len(sent) == 32
    assert lst.young == _young(lst) == 0 and len(lst.syn_queue) == 16
    assert len(p.run_until(7.0)) == 8  # the half left in the queue resends
    assert len(lst.syn_queue) == 8 and p.eng.counters["AttemptFails"] == 8
    sent = p.run_until(100.0)
    assert sorted({round(t, 3) for t, _ in sent}) == [15.0, 31.0] and len(sent) == 16
    c = p.eng.counters
    assert (c["TCPSynRetrans"], c["AttemptFails"], len(lst.syn_queue), lst.young) == (56, 16, 0, 0)


def test_a_queue_half_full_is_not_pruned() -> None:
    """Eight requests in a queue of 16: each sends its 5 retransmissions (tcp_synack_retries)."""
    p = Peer()
    lst = p.eng.listen(LOCAL, p.lport, 16)
    _syns(p, 8, 0.0)
    p.run_until(100.0)
    assert p.eng.counters["TCPSynRetrans"] == 40 and not lst.syn_queue and lst.young == 0


def test_young_entries_keep_old_ones_their_retries() -> None:
    """The rule in numbers (a queue of 16): one retry fewer each time the young entries, doubled,
    are at most the queue's length, down to 2; a queue at most half full keeps all 5."""
    p = Peer()
    lst = p.eng.listen(LOCAL, p.lport, 16)
    _syns(p, 16, 0.0)
    got = {}
    for young in (0, 1, 2, 4, 8, 9, 16):
        lst.aged = set(list(lst.syn_queue)[young:])
        got[young] = lst.synack_retries()
    assert got == {0: 2, 1: 2, 2: 2, 4: 3, 8: 4, 9: 5, 16: 5}
    for key in list(lst.syn_queue)[8:]:
        lst.syn_queue.pop(key)
    lst.aged = set(lst.syn_queue)
    assert lst.synack_retries() == 5  # 8 of 16: not more than half full


def test_the_young_count_follows_the_queue() -> None:
    """An old request (its timer fired) whose third ACK comes, a young one beside it: the count
    of young entries is the queue's, through the connection's birth and its leaving."""
    p = Peer()
    lst = p.eng.listen(LOCAL, p.lport, 16)
    _request(p, mss=1460)
    assert len(p.run_until(1.5)) == 1 and lst.young == 0
    old_port = p.rport
    p.rport = 30000
    assert len(p.feed(p.seg(SYN, seq=0, window=64240, mss=1460), at=1.6)) == 1
    assert lst.young == _young(lst) == 1
    p.rport = old_port
    p.feed(p.seg(ACK, ack=1), at=1.7)
    assert lst.accept() is not None
    assert len(lst.syn_queue) == 1 and lst.young == _young(lst) == 1


# ---------------------------------------------------------------- what the request handles itself
# Linux tcp_check_req: an RST or SYN in the window, a segment out of the window or with an old
# timestamp, an ACK of something else, a segment without ACK: all handled on the request, no
# Connection made (Listener.birth_from_request is never called).


def _births(p: Peer, monkeypatch: pytest.MonkeyPatch) -> list[RequestSock]:
    """The requests a Connection was made for, from now on."""
    made: list[RequestSock] = []
    birth = Listener.birth_from_request

    def counted(lst: Listener, req: RequestSock) -> object:
        made.append(req)
        return birth(lst, req)

    monkeypatch.setattr(Listener, "birth_from_request", counted)
    return made


@pytest.mark.parametrize(("flags", "seq", "ack"), [(RST, 1000, 1), (RST | ACK, 1, 1), (RST | ACK, 1, 7)])
def test_an_rst_in_the_window_ends_the_request_with_no_connection(
        monkeypatch: pytest.MonkeyPatch, flags: int, seq: int, ack: int) -> None:
    """embryonic_reset: no RST answers an RST (whatever it acknowledges, as this machine's Linux
    6.18 does), the request leaves the SYN queue, EmbryonicRsts and AttemptFails count it, and
    observers see it go SYN-RECEIVED -> CLOSED."""
    p = Peer()
    lst = p.eng.listen(LOCAL, p.lport, 5)
    _request(p, mss=1460)
    made = _births(p, monkeypatch)
    assert p.feed(p.seg(flags, seq=seq, ack=ack), at=0.1) == []
    assert made == [] and not p.eng.conns and not p.eng.requests and not lst.syn_queue
    c = p.eng.counters
    assert (c["EmbryonicRsts"], c["AttemptFails"], c["OutRsts"]) == (1, 1, 0)
    assert p.rec.state_path(lport=p.lport, rport=p.rport) == [State.LISTEN, State.SYN_RECEIVED, State.CLOSED]
    assert "RST in SYN-RECEIVED: back to LISTEN" in p.rec.drop_reasons()
    assert p.run_until(10.0) == [] and p.eng.poll_at() is None  # its SYN-ACK timer went with it


def test_a_syn_in_the_window_is_answered_with_an_rst_and_ends_the_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    p = Peer()
    p.eng.listen(LOCAL, p.lport, 5)
    _request(p, mss=1460)
    made = _births(p, monkeypatch)
    (rst,) = p.feed(p.seg(SYN, seq=5), at=0.1)
    assert rst.flags == RST | ACK and rst.seq == 0 and rst.ack == (p.peer_isn + 6) & MASK  # tcp_v4_send_reset
    assert made == [] and not p.eng.requests
    c = p.eng.counters
    assert (c["EmbryonicRsts"], c["AttemptFails"], c["OutRsts"]) == (1, 1, 1)


def test_an_ack_of_something_else_gets_the_listeners_rst_and_the_request_stays(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """tcp_check_req returns the listener, which resets any ACK, even one out of the window; the
    request keeps waiting for the right one."""
    p = Peer()
    lst = p.eng.listen(LOCAL, p.lport, 5)
    req = _request(p, mss=1460)
    made = _births(p, monkeypatch)
    for seq in (1, 300000):
        (rst,) = p.feed(p.seg(ACK, seq=seq, ack=5), at=0.1)
        assert p.rel(rst) == ("R", 5, None, 0)
    assert made == [] and p.eng.requests == {req.key: req}
    assert (p.eng.counters["OutRsts"], p.eng.counters["EmbryonicRsts"]) == (2, 0)
    assert p.feed(p.seg(ACK, seq=1, ack=1), at=0.2) == []  # the third ACK still completes it
    assert made == [req] and lst.accept() is not None


def test_a_segment_out_of_the_window_gets_our_ack_rate_limited_and_the_request_stays(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of the window (an old ACK, one beyond our SYN-ACK's window, an RST there): our ACK
    (tcp_v4_reqsk_send_ack: at our ISN + 1, the SYN-ACK's window scaled), one per
    tcp_invalid_ratelimit for segments without data (TCPACKSkippedSynRecv), none for an RST;
    old data is answered every time."""
    p = Peer()
    lst = p.eng.listen(LOCAL, p.lport, 5)
    req = _request(p, mss=1460, wscale=7)
    made = _births(p, monkeypatch)
    (ack,) = p.feed(p.seg(ACK, seq=300000, ack=1), at=0.1)
    assert p.rel(ack) == (".", 1, 1, 0) and ack.window == 64240 >> 7
    assert p.feed(p.seg(ACK, seq=0, ack=1), at=0.2) == []  # within 500 ms: skipped
    assert p.feed(p.seg(RST, seq=300000), at=0.7) == []  # an RST is never answered
    assert p.rels(p.feed(p.seg(ACK, seq=0, ack=1, payload=b"x"), at=0.7)) == [(".", 1, 1, 0)]
    assert p.rels(p.feed(p.seg(ACK, seq=0, ack=1), at=0.8)) == [(".", 1, 1, 0)]
    c = p.eng.counters
    assert (c["TCPACKSkippedSynRecv"], c["BeyondWindow"], c["EmbryonicRsts"]) == (1, 0, 0)
    assert made == [] and p.eng.requests == {req.key: req}
    assert p.feed(p.seg(ACK, seq=1, ack=1), at=0.9) == []
    conn = lst.accept()
    assert made == [req] and conn is not None and conn.state == State.ESTABLISHED
    assert tcp_info(conn, 0.9)["segs_in"] == 7  # the SYN, the 5 the request kept, the third ACK


def test_paws_rejects_an_old_timestamp_on_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """tcp_paws_reject against the SYN's TSval: an ACK gets our ACK (echoing the SYN's TSval), an
    RST in the window is dropped unanswered (its timestamp is not TCP_PAWS_MSL old); each counts
    PAWSEstabRejected, and the request stays."""
    p = Peer()
    p.eng.listen(LOCAL, p.lport, 5)
    req = _request(p, mss=1460, wscale=7, ts_val=1000, ts_ecr=0)
    made = _births(p, monkeypatch)
    (ack,) = p.feed(p.seg(ACK, seq=1, ack=1, ts_val=10, ts_ecr=0), at=0.1)
    assert p.rel(ack) == (".", 1, 1, 0) and ack.ts_ecr == 1000 and ack.window == 65160 >> 7
    assert p.feed(p.seg(RST, seq=1, ts_val=10, ts_ecr=0), at=0.2) == []
    assert p.eng.counters["PAWSEstabRejected"] == 2 and p.eng.counters["EmbryonicRsts"] == 0
    assert made == [] and p.eng.requests == {req.key: req}


def test_a_segment_without_ack_is_dropped_keeping_its_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    """"If ACK not set, just silently drop the packet", after ts_recent took its TSval: the next
    SYN-ACK echoes it."""
    p = Peer()
    p.eng.listen(LOCAL, p.lport, 5)
    req = _request(p, mss=1460, ts_val=1000, ts_ecr=0)
    made = _births(p, monkeypatch)
    assert p.feed(p.seg(0, seq=1, payload=b"hi", ts_val=1005, ts_ecr=0), at=0.1) == []
    ((_, synack),) = p.run_until(1.0)
    assert p.rel(synack) == ("S.", 0, 1, 0) and synack.ts_ecr == 1005
    assert made == [] and p.eng.requests == {req.key: req} and req.data_segs_in == 1
