"""A half-open connection stays small (issue #17): what each SYN leaves behind in the SYN
queue, counted in objects the garbage collector tracks, not in time, so that anything added
to a request shows here as the per-SYN cost of a SYN flood's first backlog of SYNs. As
Linux's request_sock (inet_reqsk_alloc), a `RequestSock` holds SYN-RECEIVED until the third
ACK makes the connection (tcp_check_req -> syn_recv_sock)."""

from __future__ import annotations

import gc

from minitcp.tcp.engine import TcpEngine
from minitcp.tcp.reqsk import RequestSock
from minitcp.tcp.states import State
from minitcp.tcp.timers import TimerKind
from minitcp.wire.segment import ACK, RST, SYN, Segment

from .peer import LOCAL

# Per SYN: the RequestSock, its timer's heap entry, and its SYN-ACK, kept in the engine's
# output. No Connection, no part of one (a Connection with its parts was 13 objects).
_OBJECTS_PER_HALF_OPEN = 3


def _syn(k: int) -> Segment:
    return Segment(0x0A000000 + k, LOCAL, 1024 + k, 80, k * 7919, 0, SYN, 64240, mss=1460, wscale=7,
                   sack_permitted=True, ts_val=k + 1, ts_ecr=0)


def _tracked_per_syn(eng: TcpEngine, first: int, count: int) -> float:
    """Objects the garbage collector tracks that each SYN leaves behind."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()  # (a collection in the middle would count the objects it frees)
    try:
        before = len(gc.get_objects())
        for k in range(first, first + count):
            eng.receive(_syn(k), 0.001)
        eng.take_events()
        return (len(gc.get_objects()) - before) / count
    finally:
        if enabled:
            gc.enable()


def test_a_half_open_connection_allocates_no_more_than_its_parts() -> None:
    eng = TcpEngine(secret=b"tcp-tests")  # (no observer: a flood's engine records nothing)
    lst = eng.listen(LOCAL, 80, 1024)
    eng.receive(_syn(0), 0.0)  # (the first SYN builds what every later one shares)
    assert _tracked_per_syn(eng, 1, 100) <= _OBJECTS_PER_HALF_OPEN
    assert len(lst.syn_queue) == 101 and not eng.conns
    for req in lst.syn_queue.values():
        assert type(req) is RequestSock and req.state == State.SYN_RECEIVED


def test_synack_retransmissions_allocate_only_their_segments() -> None:
    eng = TcpEngine(secret=b"tcp-tests")
    lst = eng.listen(LOCAL, 80, 1024)
    for k in range(50):
        eng.receive(_syn(k), 0.0)
    eng.take_output()
    eng.take_events()
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        eng.handle_timeout(1.0)  # the first round of SYN-ACK retransmissions (RTO 1 s)
        grown = len(gc.get_objects()) - before
    finally:
        gc.enable()
    sent = eng.take_output()
    assert len(sent) == 50 and all(seg.flags == SYN | ACK for seg in sent)
    assert grown <= 50  # each its SYN-ACK (its timer's new heap entry replaces the one that fired)
    assert eng.counters["TCPSynRetrans"] == 50 and eng.counters["RetransSegs"] == 50
    conn = next(iter(lst.syn_queue.values()))
    assert [(kind, count) for kind, _, count in conn.timers()] == [(TimerKind.RTO, 1)]
    assert conn.info()["state"] == "SYN-RECV"


def test_stray_segments_aimed_at_requests_make_no_connection() -> None:
    """An ACK out of the window costs its answer (the request's ACK) and an RST in the window
    frees the request (Linux tcp_check_req): no Connection, no part of one, for either."""
    eng = TcpEngine(secret=b"tcp-tests")
    lst = eng.listen(LOCAL, 80, 1024)
    for k in range(50):
        eng.receive(_syn(k), 0.0)
    synacks = eng.take_output()
    oow = [Segment(s.dst, s.src, s.dport, s.sport, (s.ack + (1 << 20)) & 0xFFFFFFFF, (s.seq + 1) & 0xFFFFFFFF,
                   ACK, 502) for s in synacks]
    rst = [Segment(s.dst, s.src, s.dport, s.sport, s.ack, 0, RST, 0) for s in synacks]
    eng.take_events()
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        for seg in oow:
            eng.receive(seg, 0.1)
        grown = len(gc.get_objects()) - before
    finally:
        gc.enable()
    acks = eng.take_output()
    assert len(acks) == 50 and all(seg.flags == ACK for seg in acks)
    assert grown <= 50  # each its ACK
    assert not eng.conns and len(lst.syn_queue) == 50
    for seg in rst:
        eng.receive(seg, 0.2)
    assert eng.take_output() == [] and not eng.conns and not lst.syn_queue and not eng.requests
    assert eng.counters["EmbryonicRsts"] == 50
