"""TCP segmentation offload in the engine: one segment per run of full-sized ones, the same wire.

With `engine.tso_max` set, the sender hands over as many full segments as may
go at once in one TSO segment; cut by the host (`minitcp.wire.tso`) they must
be exactly the segments the engine sends without it, lost and retransmitted
ones included, and the counters and the observer must count wire segments.
"""

from __future__ import annotations

import random

import pytest

from minitcp.tcp.knobs import Knobs
from minitcp.tcp.pair import EnginePair
from minitcp.trace.recorder import Recorder
from minitcp.wire.segment import ACK, PSH, Segment
from minitcp.wire.tso import TSO_MAX

from ..helpers.pairs import pair_connect, wire_log
from .peer import Peer


def _transfer(tso: bool, fault: object = None) -> tuple[list, bytes, dict]:
    p = EnginePair(fault=fault)  # type: ignore[arg-type]
    if tso:
        p.a.tso_max = TSO_MAX
    client, server = pair_connect(p)
    data = random.Random(7).randbytes(3_000_000)
    sent = 0
    got = bytearray()
    for _ in range(100_000):
        if sent < len(data):
            sent += client.send(memoryview(data)[sent : sent + 100_000], p.now)
        elif not client.fin_queued:
            client.close(p.now)
        got += server.recv(1 << 20, p.now) or b""
        if not p.step():
            break
    wire = [(e.time, e.sender, e.seg.fields()) for e in p.wire]
    return wire, bytes(got), dict(p.a.counters)


def _drop_some() -> object:
    rng = random.Random(3)

    def fault(sender: str, seg: Segment, now: float) -> list[float]:
        return [] if sender == "a" and seg.payload and rng.random() < 0.02 else [0.0]

    return fault


@pytest.mark.parametrize("lossy", [False, True])
def test_the_wire_is_the_same_with_and_without_tso(lossy: bool) -> None:
    plain = _transfer(False, _drop_some() if lossy else None)
    tso = _transfer(True, _drop_some() if lossy else None)
    assert tso[1] == plain[1] == random.Random(7).randbytes(3_000_000)
    assert tso[0] == plain[0]
    assert tso[2]["OutSegs"] == plain[2]["OutSegs"]
    assert tso[2]["RetransSegs"] == plain[2]["RetransSegs"]
    if lossy:
        assert plain[2]["RetransSegs"] > 10


def test_a_window_of_full_segments_leaves_as_two_tso_segments() -> None:
    # tcp_min_tso_segs 10: the pacing rate does not cut the packets smaller (tcp_tso_autosize).
    p = Peer(Knobs(tcp_min_tso_segs=10))
    p.eng.tso_max = TSO_MAX
    conn = p.accept(at=0.0)
    mss = conn.mss
    before = p.eng.counters["OutSegs"]
    assert conn.send(bytes(10 * mss + 5), p.now) == 10 * mss + 5
    # cwnd 10: ten full segments in two packets of half cwnd each (Linux tcp_cwnd_test), the
    # rest waits for Nagle. PSH on a packet of more than one segment, as Linux's
    # __tcp_transmit_skb forces it.
    assert [(seg.gso, len(seg.payload), seg.flags) for seg in p.out()] == [(mss, 5 * mss, ACK | PSH)] * 2
    assert p.eng.counters["OutSegs"] - before == 10
    observed = [e.segment for e in p.rec.segments(direction="out") if e.segment.payload]
    assert [len(s.payload) for s in observed] == [mss] * 10
    # One ACK for all of them opens the window: the rest, short, goes alone with PSH.
    out = p.feed(p.seg(ACK, ack=1 + 10 * mss), at=0.1)
    assert [(s.gso, len(s.payload), s.flags) for s in out] == [(0, 5, ACK | PSH)]


def test_a_retransmission_is_one_wire_segment() -> None:
    p = Peer(Knobs(tcp_min_tso_segs=4))
    p.eng.tso_max = TSO_MAX
    conn = p.accept(at=0.0)
    conn.send(bytes(4 * conn.mss), p.now)
    (seg,) = p.out()
    assert seg.flags == ACK | PSH and len(seg.payload) == 4 * conn.mss
    (_, again) = p.run_until_sent(5.0)
    assert (again.gso, len(again.payload)) == (0, conn.mss)


def test_observers_see_the_same_segments_either_way() -> None:
    logs = []
    for tso in (False, True):
        p = EnginePair()
        rec = Recorder()
        p.a.observer = rec
        if tso:
            p.a.tso_max = TSO_MAX
        client, _server = pair_connect(p)
        client.send(bytes(200_000), p.now)
        client.close(p.now)
        p.run_for(2.0)
        logs.append([(e.direction, e.segment.fields(), e.time) for e in rec.segments()])
        assert wire_log(p.wire)
    assert logs[0] == logs[1]
