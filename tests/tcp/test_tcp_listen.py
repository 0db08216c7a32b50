"""A listener's two queues (Linux tcp_conn_request, tcp_check_req, inet_csk_listen_stop):
the SYN queue and the accept queue, bounded by the backlog, and tcp_abort_on_overflow."""

from __future__ import annotations

import errno

import pytest

from minitcp.tcp.pair import EnginePair
from minitcp.tcp.states import State
from minitcp.wire.segment import ACK, RST, SYN

from ..helpers.pairs import pair_connect
from .peer import LOCAL, Peer, knobs


def test_syn_queue_is_bounded_by_the_backlog() -> None:
    """Without SYN cookies (tcp_syncookies=0) a SYN finding the SYN queue full is dropped;
    with them (the default) it is answered with a cookie: tests/tcp/test_syncookies.py."""
    p = Peer(knobs(tcp_syncookies=0))
    lst = p.eng.listen(LOCAL, 80, 2)
    answers = []
    for port in (41000, 41001, 41002):
        p.rport = port
        answers.append(p.feed(p.seg(SYN, seq=0, mss=1460), at=0.0))
    assert [len(a) for a in answers] == [1, 1, 0]
    assert len(lst.syn_queue) == 2
    assert p.eng.counters["ListenDrops"] == 1 and p.eng.counters["TCPReqQFullDrop"] == 1
    assert "SYN queue full" in p.rec.drop_reasons()


def test_accept_queue_holds_backlog_plus_one_then_syns_are_dropped() -> None:
    p = EnginePair()
    lst = p.b.listen(p.addr_b, 80, 1)
    c1 = p.a.connect(p.addr_a, 40001, p.addr_b, 80, 0.0)
    p.run_for(0.01)
    c2 = p.a.connect(p.addr_a, 40002, p.addr_b, 80, p.now)
    p.run_for(0.01)
    assert len(lst.accept_queue) == 2  # backlog 1, and Linux takes one more
    c3 = p.a.connect(p.addr_a, 40003, p.addr_b, 80, p.now)
    p.run_for(0.5)
    assert c3.state == State.SYN_SENT  # its SYN was dropped, not refused
    assert p.b.counters["ListenOverflows"] == 1 and p.b.counters["ListenDrops"] == 1
    assert lst.accept() is not None  # room for one
    p.run_for(1.0)  # the SYN again at 1 s after the first one
    assert c3.state == State.ESTABLISHED
    assert (c1.state, c2.state) == (State.ESTABLISHED, State.ESTABLISHED)
    assert len(lst.accept_queue) == 2


def _fill_then_overflow(abort_on_overflow: int) -> tuple[EnginePair, object, list]:
    """backlog 2: two connections wait in the accept queue, two more SYNs sit in the SYN queue;
    the third ACK fills the accept queue (3 = backlog + 1), the fourth finds it full."""
    p = EnginePair(knobs_b=knobs(tcp_abort_on_overflow=abort_on_overflow))
    lst = p.b.listen(p.addr_b, 80, 2)
    clients = []
    for port in (40001, 40002):
        clients.append(p.a.connect(p.addr_a, port, p.addr_b, 80, p.now))
        p.run_for(0.01)
    t = p.now
    for port in (40003, 40004):
        clients.append(p.a.connect(p.addr_a, port, p.addr_b, 80, t))
    p.run(until=t + 0.0016)
    return p, lst, clients


def test_abort_on_overflow_0_drops_the_final_ack_and_completes_later() -> None:
    p, lst, clients = _fill_then_overflow(0)
    c4 = clients[3]
    assert len(lst.accept_queue) == 3
    assert c4.state == State.ESTABLISHED  # the client cannot tell
    (half,) = lst.syn_queue.values()
    assert half.state == State.SYN_RECEIVED
    assert p.b.counters["ListenOverflows"] == 1
    syn_time = [e.time for e in p.wire if e.sender == "b" and e.seg.flags == SYN | ACK][-1]
    p.run(until=2.0)
    # The SYN-ACK came again at 1 s; the client's ACK for it found the queue still full.
    resent = [e.time for e in p.wire if e.sender == "b" and e.seg.flags == SYN | ACK]
    assert resent[-1] == pytest.approx(syn_time + 1.0)
    assert p.b.counters["ListenOverflows"] == 2
    assert lst.accept() is not None
    p.run(until=4.0)  # next SYN-ACK at 3 s: now the ACK gets in
    assert len(lst.accept_queue) == 3 and not lst.syn_queue
    assert p.b.counters["PassiveOpens"] == 4
    server4 = lst.accept_queue[-1]
    c4.send(b"finally", p.now)
    p.run(until=5.0)
    assert server4.recv(100, p.now) == b"finally"


def test_abort_on_overflow_1_answers_the_final_ack_with_rst() -> None:
    p, lst, clients = _fill_then_overflow(1)
    c4 = clients[3]
    rsts = [e.seg for e in p.wire if e.sender == "b" and e.seg.flags & RST]
    assert len(rsts) == 1 and rsts[0].flags == RST
    assert rsts[0].seq == c4.rcv_nxt  # seq = the ACK it answers, exactly what c4 expects next
    p.run(until=0.1)
    assert c4.state == State.CLOSED
    with pytest.raises(OSError) as e:
        c4.recv(1, p.now)
    assert e.value.errno == errno.ECONNRESET
    assert not lst.syn_queue and len(lst.accept_queue) == 3


def test_duplicate_syn_restarts_the_synack_timer() -> None:
    """Linux tcp_check_req re-arms the request timer after answering a duplicate SYN."""
    p = Peer()
    p.eng.listen(LOCAL, 80, 5)
    p.iss = p.feed(p.seg(SYN, seq=0, mss=1460), at=0.0)[0].seq
    p.feed(p.seg(SYN, seq=0, mss=1460), at=0.6)
    assert [t for t, _ in p.run_until(2.0)] == [1.6]


def test_listener_close_resets_connections_nobody_accepted() -> None:
    p = EnginePair()
    lst = p.b.listen(p.addr_b, 80, 5)
    c1 = p.a.connect(p.addr_a, 40001, p.addr_b, 80, 0.0)
    p.run_for(0.01)
    lst.close(p.now)
    p.run_for(0.01)
    assert [e.seg.flags for e in p.wire if e.sender == "b"][-1] == RST | ACK
    assert c1.state == State.CLOSED
    assert (p.addr_b, 80) not in p.b.listeners
    c2 = p.a.connect(p.addr_a, 40002, p.addr_b, 80, p.now)
    p.run_for(0.01)
    assert c2.state == State.CLOSED  # the port is closed now: RST|ACK to the SYN
    with pytest.raises(OSError) as e:
        c2.recv(1, p.now)
    assert e.value.errno == errno.ECONNREFUSED


def test_listener_options_are_inherited_by_new_connections() -> None:
    p = EnginePair()
    lst = p.b.listen(p.addr_b, 80, 5)
    lst.options["nodelay"] = True
    _, server = pair_connect(p)
    assert server.opts is not None and server.opts.nodelay is True


def test_accepted_connection_leaves_the_listener() -> None:
    p = EnginePair()
    client, server = pair_connect(p)
    assert server.listener is None
    assert p.b.listeners[(p.addr_b, 80)].accept() is None
    assert client.state == server.state == State.ESTABLISHED
    assert p.a.counters["ActiveOpens"] == 1 and p.b.counters["PassiveOpens"] == 1
    assert p.a.counters["CurrEstab"] == 1 and p.b.counters["CurrEstab"] == 1
    # the first segment seen from the wire is the client's SYN, with ACK never set on it
    assert p.wire[0].seg.flags == SYN and not p.wire[0].seg.flags & ACK


def test_connection_reset_in_the_accept_queue_is_still_accepted() -> None:
    """Linux keeps a reset child in the accept queue: accept() returns it, and its first
    read reports ECONNRESET."""
    p = EnginePair()
    lst = p.b.listen(p.addr_b, 80, 5)
    client = p.a.connect(p.addr_a, 40001, p.addr_b, 80, 0.0)
    p.run_for(0.01)
    client.abort(p.now)  # RST before the server application accepted
    p.run_for(0.01)
    assert p.b.counters["EstabResets"] == 1
    server = lst.accept()
    assert server is not None and server.state == State.CLOSED
    with pytest.raises(OSError) as e:
        server.recv(10, p.now)
    assert e.value.errno == errno.ECONNRESET
    assert lst.accept() is None
