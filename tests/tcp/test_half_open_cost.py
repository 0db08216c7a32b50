"""A half-open connection stays small (issue #17): what a SYN makes, and what a SYN-ACK
retransmission adds, counted in objects the garbage collector tracks, not in time. Linux keeps
SYN_RECEIVED in a request_sock and builds the full socket at the third ACK (tcp_check_req ->
syn_recv_sock); minitcp makes the scoreboard, RACK, undo, PRR and pacing parts on first use
(lazyparts.py). These tests fail when something makes them for a half-open connection again."""

from __future__ import annotations

import gc

from minitcp.tcp.engine import TcpEngine
from minitcp.tcp.lazyparts import made
from minitcp.tcp.states import State
from minitcp.wire.segment import ACK, SYN, Segment

from .peer import LOCAL, Peer

_HEAVY_RECOVERY_PARTS = ("board", "rack", "undo", "prr")
# A half-open connection: the Connection, its Recovery, congestion control, delayed-ACK and
# receive-window parts, its timer's heap entry, and its SYN-ACK's segment in the engine's
# output; 12 before the parts were made on first use.
_OBJECTS_PER_HALF_OPEN = 7


def _syn(k: int) -> Segment:
    return Segment(0x0A000000 + k, LOCAL, 1024 + k, 80, k * 7919, 0, SYN, 64240, mss=1460, wscale=7,
                   sack_permitted=True, ts_val=k + 1, ts_ecr=0)


def _tracked_per_syn(eng: TcpEngine, first: int, count: int) -> float:
    """Objects the garbage collector tracks that each SYN leaves behind (the SYN-ACKs kept)."""
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


def test_a_half_open_connection_makes_no_heavy_part() -> None:
    eng = TcpEngine(secret=b"tcp-tests")  # (no observer: a flood's engine records nothing)
    lst = eng.listen(LOCAL, 80, 1024)
    eng.receive(_syn(0), 0.0)  # (the first SYN builds what every later one shares)
    assert _tracked_per_syn(eng, 1, 100) <= _OBJECTS_PER_HALF_OPEN
    assert len(lst.syn_queue) == 101
    for conn in lst.syn_queue.values():
        assert conn.state == State.SYN_RECEIVED
        assert not any(made(conn.recovery, name) for name in _HEAVY_RECOVERY_PARTS)
        assert not made(conn, "pacing")


def test_synack_retransmissions_make_no_heavy_part_and_ss_still_reads_them() -> None:
    p = Peer()
    lst = p.eng.listen(LOCAL, 80, 1024)
    for k in range(50):
        p.feed(_syn(k), at=0.001)
    sent = p.run_until(1.5)  # the first round of SYN-ACK retransmissions (RTO 1 s)
    assert len(sent) == 50 and all(seg.flags == SYN | ACK for _, seg in sent)
    assert p.eng.counters["TCPSynRetrans"] == 50
    conn = next(iter(lst.syn_queue.values()))
    assert not any(made(conn.recovery, name) for name in _HEAVY_RECOVERY_PARTS)
    assert not made(conn, "pacing")
    # Looking makes them, with what they would have held (`ss -ti` of a SYN-RECV socket).
    info = conn.info()
    assert info["state"] == "SYN-RECV" and info["timers"][0][0] == "on" and info["timers"][0][2] == 1
    assert conn.packets_out == 0 and conn.pacing_rate == conn.pacing.rate
    assert made(conn.recovery, "board") and made(conn, "pacing")


def test_the_third_ack_builds_the_parts_with_the_negotiated_mss() -> None:
    p = Peer()
    p.eng.listen(LOCAL, 80, 5)
    (synack,) = p.feed(_syn(1), at=0.0)
    conn = p.eng.conns[next(iter(p.eng.conns))]
    assert not made(conn.recovery, "board")
    ack = Segment(0x0A000001, LOCAL, 1025, 80, (7919 + 1) & 0xFFFFFFFF, (synack.seq + 1) & 0xFFFFFFFF,
                  ACK, 502, ts_val=5, ts_ecr=synack.ts_val)
    p.feed(ack, at=0.01)
    assert conn.state == State.ESTABLISHED
    assert conn.recovery.board.mss == conn.mss == 1460 - 12  # the MSS the SYN set, less timestamps
