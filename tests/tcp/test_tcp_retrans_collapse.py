"""Linux tcp_retrans_try_collapse (tcp_output.c): a retransmission of a short segment takes
the short segments after it into one packet of up to an MSS, unless tcp_retrans_collapse is
0, a segment was SACKed, or a MSG_EOR record ends before it. (No loss probe here:
tcp_early_retrans=0, so the RTO resends the head, about 210 ms after a 10 ms handshake.)"""

from __future__ import annotations

from typing import Any

from minitcp.tcp.seq import MASK
from minitcp.wire.segment import ACK

from .peer import Peer, knobs

MSS = 1000


def _three_writes(eor: bool = False, **knob: Any) -> Peer:
    p = Peer(knobs(tcp_early_retrans=0, **knob))
    conn = p.connect(at=0.0, rtt=0.01, mss=MSS, wscale=None)
    conn.apply_option("nodelay", 1, 0.01)
    conn.send(b"a" * 100, 0.01)
    conn.send(b"b" * 200, 0.01, eor=eor)
    conn.send(b"c" * 300, 0.01)
    assert p.rels(p.out()) == [("P.", 1, 1, 100), ("P.", 101, 1, 200), ("P.", 301, 1, 300)]
    return p


def _resent(p: Peer) -> list[tuple[str, int, int | None, int]]:
    return [p.rel(s) for _, s in p.run_until(0.5) if s.payload]


def test_the_rto_resends_three_short_segments_as_one_packet() -> None:
    p = _three_writes()
    assert _resent(p) == [("P.", 1, 1, 600)]
    assert p.conn is not None
    board = p.conn.recovery.board
    assert len(board.recs) == 1 and board.packets_out == 1 and board.retrans_out == 1
    assert p.eng.counters["RetransSegs"] == 1
    p.feed(p.seg(ACK, ack=601), at=0.6)
    assert board.packets_out == 0 and not board.recs


def test_with_tcp_retrans_collapse_0_each_goes_as_it_went() -> None:
    p = _three_writes(tcp_retrans_collapse=0)
    assert _resent(p) == [("P.", 1, 1, 100)]


def test_a_sacked_segment_stops_the_collapse() -> None:
    p = _three_writes()
    sack = ((p.iss + 301) & MASK, (p.iss + 601) & MASK)
    p.feed(p.seg(ACK, ack=1, sack=(sack,)), at=0.02)
    assert _resent(p)[0] == ("P.", 1, 1, 300)


def test_nothing_is_joined_past_the_end_of_a_msg_eor_record() -> None:
    p = _three_writes(eor=True)
    assert _resent(p) == [("P.", 1, 1, 300)]
