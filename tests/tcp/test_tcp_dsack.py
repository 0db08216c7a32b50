"""D-SACK (RFC 2883): the ACK answering a duplicate reports it in the first SACK block, as Linux.

Sequence numbers are the peer's, relative to its ISN. The receiver holds 1:100
in order and 200:300, 400:500, 600:700 out of order (the FreeBSD suite's
rcv-data-segments/overlapping-* set-up) before each duplicate.
"""

from __future__ import annotations

from minitcp.bench.loss import rules
from minitcp.faults import FaultInjector
from minitcp.tcp.pair import EnginePair
from minitcp.tcp.seq import MASK, seq_gt, seq_lt
from minitcp.wire.segment import ACK, FIN, Segment

from .builders import established
from .peer import Peer, knobs


def _sack(p: Peer, seg: Segment) -> list[tuple[int, int]]:
    return [((a - p.peer_isn) & MASK, (b - p.peer_isn) & MASK) for a, b in seg.sack]


def _holes(p: Peer, ts: bool = False) -> None:
    """1:100 in order, 200:300, 400:500 and 600:700 queued out of order."""
    extra = {"ts_val": 200, "ts_ecr": 0} if ts else {}
    p.feed(p.seg(ACK, seq=1, payload=b"a" * 99, **extra), at=0.1)
    for start in (200, 400, 600):
        (ack,) = p.feed(p.seg(ACK, seq=start, payload=b"o" * 100, **extra), at=0.1)
    assert p.rel(ack)[2] == 100
    assert _sack(p, ack) == [(600, 700), (400, 500), (200, 300)]


def _dup(p: Peer, start: int, end: int, ts: bool = False) -> Segment:
    extra = {"ts_val": 201, "ts_ecr": 0} if ts else {}
    (ack,) = p.feed(p.seg(ACK, seq=start, payload=b"d" * (end - start), **extra), at=0.1)
    return ack


def test_duplicate_below_rcv_nxt_comes_first_then_the_sack_blocks() -> None:
    p = Peer()
    p.accept()
    _holes(p)
    ack = _dup(p, 50, 75)  # overlapping-050-075
    assert p.rel(ack) == (".", 1, 100, 0)
    assert _sack(p, ack) == [(50, 75), (600, 700), (400, 500), (200, 300)]
    # Reported once: the next ACK carries the SACK blocks alone.
    (ack,) = p.feed(p.seg(ACK, seq=800, payload=b"n" * 10), at=0.2)
    assert _sack(p, ack)[0] == (800, 810) and (50, 75) not in _sack(p, ack)


def test_a_segment_starting_below_rcv_nxt_reports_only_its_old_part() -> None:
    p = Peer()
    p.accept()
    _holes(p)
    ack = _dup(p, 50, 275)  # tcp_dsack_set(seq, rcv_nxt); 200:275 is not contiguous with 50:100
    assert p.rel(ack) == (".", 1, 300, 0)
    assert _sack(p, ack) == [(50, 100), (600, 700), (400, 500)]


def test_in_order_data_over_a_queued_block_reports_the_block_clipped() -> None:
    """Linux tcp_ofo_queue (after commit a041f70e): each queued block below the new data's end
    is extended into the D-SACK block when contiguous with it, never past the block."""
    p = Peer()
    p.accept()
    _holes(p)
    ack = _dup(p, 100, 400)
    assert p.rel(ack) == (".", 1, 500, 0)
    assert _sack(p, ack) == [(200, 300), (600, 700)]
    ack = _dup(p, 1, 800)  # the whole retransmission: only the part below the old rcv_nxt
    assert p.rel(ack) == (".", 1, 800, 0)
    assert _sack(p, ack) == [(1, 500)]


def test_duplicate_of_queued_out_of_order_data() -> None:
    p = Peer()
    p.accept()
    _holes(p)
    ack = _dup(p, 150, 275)  # overlapping-150-275: the part of 200:300 it repeats, then the SACKs
    assert p.rel(ack) == (".", 1, 100, 0)
    assert _sack(p, ack) == [(200, 275), (150, 300), (600, 700), (400, 500)]
    ack = _dup(p, 450, 550)  # starts inside a block: from its start to the block's end
    assert _sack(p, ack) == [(450, 500), (400, 550), (150, 300), (600, 700)]


def test_a_segment_that_starts_at_a_blocks_end_is_coalesced_without_dsack() -> None:
    """Linux tcp_data_queue_ofo coalesces it into the block on its left (tcp_ooo_try_coalesce)
    before looking for overlaps, so the bytes it repeats further right are not reported."""
    p = Peer()
    p.accept()
    _holes(p)
    ack = _dup(p, 300, 475)
    assert _sack(p, ack) == [(200, 500), (600, 700)]


def test_three_blocks_with_timestamps_dsack_included() -> None:
    p = Peer()
    p.accept(ts=True)
    _holes(p, ts=True)
    ack = _dup(p, 50, 75, ts=True)
    assert _sack(p, ack) == [(50, 75), (600, 700), (400, 500)]


def test_old_segment_outside_the_window_gets_a_dsack_in_its_dupack() -> None:
    """Wholly below rcv_wup: unacceptable (tcp_sequence), answered by tcp_send_dupack with D-SACK."""
    p = Peer()
    p.accept()
    (ack,) = p.feed(p.seg(ACK, seq=1, payload=b"a" * 1000), at=0.1)  # quick-ACKed: rcv_wup = 1001
    (ack,) = p.feed(p.seg(ACK, seq=1, payload=b"a" * 1000), at=0.2)
    assert p.rel(ack) == (".", 1, 1001, 0)
    assert _sack(p, ack) == [(1, 1001)]


def test_a_retransmitted_fin_is_reported() -> None:
    p, conn = established()
    p.feed(p.seg(ACK | FIN, seq=1), at=0.1)
    p.run_until(1.0)  # the delayed ACK of the FIN
    (ack,) = p.feed(p.seg(ACK | FIN, seq=1), at=1.5)
    assert conn.state.name == "CLOSE_WAIT"
    assert p.rel(ack) == (".", 1, 2, 0)
    assert _sack(p, ack) == [(1, 2)]


def test_no_dsack_without_sack_or_with_the_knob_off() -> None:
    for peer, opts in ((Peer(knobs(tcp_dsack=0)), {}), (Peer(), {"sack": False})):
        peer.accept(**opts)
        peer.feed(peer.seg(ACK, seq=1, payload=b"a" * 99), at=0.1)
        (ack,) = peer.feed(peer.seg(ACK, seq=50, payload=b"d" * 25), at=0.1)
        assert peer.rel(ack) == (".", 1, 100, 0)
        assert ack.sack == ()


def test_a_fin_on_a_partly_duplicate_segment_clears_the_d_sack() -> None:
    """Linux tcp_data_queue records the D-SACK for the old head of a segment
    (tcp_dsack_set(seq, rcv_nxt)), queues the rest, and then its FIN reaches tcp_fin, which
    resets the SACK state (tcp_sack_reset): the ACK of the FIN carries no SACK block at all.
    Without the FIN, the same segment's ACK reports the old head, at once (quick-ACK mode);
    the FIN's ACK waits the 40 ms ato (tcp_fin enters ping-pong mode)."""
    for fin, sent, blocks in ((0, (0.2, ".", 1, 150, 0), [(50, 100)]),
                              (FIN, (0.24, ".", 1, 151, 0), [])):
        p = Peer()
        conn = p.accept()
        (ack,) = p.feed(p.seg(ACK, seq=1, payload=b"a" * 99), at=0.1)  # quick-ACK mode: at once
        assert p.rel(ack) == (".", 1, 100, 0)
        out = [(0.2, s) for s in p.feed(p.seg(ACK | fin, seq=50, payload=b"d" * 100), at=0.2)]
        out += p.run_until(0.5)
        assert p.trels(out) == [sent]
        assert _sack(p, out[0][1]) == blocks
        assert conn.fin_rcvd == bool(fin)


def test_out_of_order_data_beyond_the_fin_is_dropped_when_the_fin_is_reached() -> None:
    """Linux tcp_fin purges the out-of-order queue ("It _is_ possible, that we have something
    out-of-order _after_ FIN ... For now drop them"): no SACK block for it follows."""
    p = Peer()
    conn = p.accept()
    (ack,) = p.feed(p.seg(ACK, seq=300, payload=b"o" * 100), at=0.1)  # beyond the FIN to come
    assert _sack(p, ack) == [(300, 400)]
    out = p.feed(p.seg(ACK | FIN, seq=1, payload=b"a" * 99), at=0.2)
    out += [s for _, s in p.run_until(0.5)]
    assert [p.rel(s) for s in out] == [(".", 1, 101, 0)]
    assert _sack(p, out[0]) == []
    assert conn.rcvbuf is not None and conn.rcvbuf.ooo_bytes == 0


def test_an_old_segment_below_the_window_counts_a_lost_delayed_ack() -> None:
    """Linux tcp_validate_incoming -> tcp_send_dupack: data wholly below the window (an old
    duplicate, or a retransmission whose ACK was lost) is answered at once with a D-SACK, and
    counted as DelayedACKLost as well as TCPDSACKOldSent."""
    p = Peer()
    p.accept()
    p.feed(p.seg(ACK, seq=1, payload=b"a" * 99), at=0.1)
    p.feed(p.seg(ACK, seq=100, payload=b"b" * 100), at=0.1)
    before = dict(p.eng.counters)
    (ack,) = p.feed(p.seg(ACK, seq=(1 - 70000) & MASK, payload=b"o" * 8), at=0.2)
    assert p.rel(ack)[2] == 200  # the duplicate ACK says where we are
    moved = p.eng.counters.moved(before)
    assert moved.get("DelayedACKLost") == 1 and moved.get("TCPDSACKOldSent") == 1


def _sent(p: Peer, before: dict[str, int]) -> tuple[int, int]:
    moved = p.eng.counters.moved(before)
    return moved.get("TCPDSACKOldSent", 0), moved.get("TCPDSACKOfoSent", 0)


def test_each_report_set_is_counted_old_below_rcv_nxt_ofo_above() -> None:
    """Linux tcp_dsack_set counts every report it sets, TCPDSACKOldSent when it starts below
    rcv_nxt, TCPDSACKOfoSent above (a duplicate of out-of-order data, tcp_data_queue_ofo);
    tcp_dsack_extend sets (and counts) one only when none is pending. The loss bench reads
    both to count the receiver's D-SACKs, for minitcp's receiver as for the kernel's."""
    p = Peer()
    p.accept()
    _holes(p)
    before = dict(p.eng.counters)
    _dup(p, 150, 275)  # repeats part of the queued 200:300
    assert _sent(p, before) == (0, 1)
    before = dict(p.eng.counters)
    _dup(p, 450, 550)  # inside 400:500
    assert _sent(p, before) == (0, 1)
    before = dict(p.eng.counters)
    ack = _dup(p, 100, 400)  # in order; the queued 150:300 came twice (tcp_ofo_queue's extend)
    assert _sack(p, ack)[0] == (150, 300)
    assert _sent(p, before) == (1, 0)
    before = dict(p.eng.counters)
    ack = _dup(p, 50, 700)  # its old part is set; 600:700 does not touch it and is not reported
    assert _sack(p, ack) == [(50, 550)]
    assert _sent(p, before) == (1, 0)


def _is_dsack(seg: Segment) -> bool:
    """RFC 2883 section 4 (the sender's reading, Linux tcp_check_dsack): the first block lies
    below the cumulative ACK or inside the second block."""
    if not seg.sack:
        return False
    (start, end), rest = seg.sack[0], seg.sack[1:]
    if seq_lt(start, seg.ack):
        return True
    return bool(rest) and not seq_gt(end, rest[0][1]) and not seq_lt(start, rest[0][0])


def test_under_the_loss_benchs_mix_every_dsack_on_the_wire_is_counted() -> None:
    """1 MB through the loss bench's mix rules (bench/loss.py: loss, duplication and reordering
    each way) in virtual time: the receiver's ACKs that carry a D-SACK block are as many as its
    TCPDSACKOldSent + TCPDSACKOfoSent, some of them duplicates of out-of-order data. The bench
    compares senders by these counters of their receivers, minitcp's and the kernel's."""
    nbytes = 1_000_000
    p = EnginePair(latency=0.0001)
    FaultInjector(rules("mix", "out", -(-nbytes // 1448))).attach(p, "a")
    lst = p.b.listen(p.addr_b, 80, 5)
    client = p.a.connect(p.addr_a, 40000, p.addr_b, 80, p.now)
    server = None
    while server is None and p.now < 5.0:  # the rules hold or lose a handshake segment too
        p.run_for(0.05)
        server = lst.accept()
    assert server is not None
    data = bytes(range(256)) * (nbytes // 256)
    sent, got = 0, b""
    while len(got) < len(data) and p.now < 20.0:
        sent += client.send(data[sent:], p.now)
        p.run_for(0.01)
        got += server.recv(1 << 22, p.now) or b""
    assert got == data
    on_wire = sum(_is_dsack(e.seg) for e in p.sent("b"))
    old, ofo = p.b.counters["TCPDSACKOldSent"], p.b.counters["TCPDSACKOfoSent"]
    assert ofo > 0 and old > 0
    assert old + ofo == on_wire
