"""MSG_EOR: records that never share a segment (Linux marks the skb eor, tcp_skb_can_collapse_to),
sent past Nagle when more data is queued behind them (tcp_write_xmit pushes all but the tail),
resent only as far as their end (packetdrill's gtests/net/tcp/eor scripts)."""

from __future__ import annotations

from minitcp.wire.segment import ACK, Segment

from .builders import established


def lengths(segs: list[Segment]) -> list[int]:
    return [len(s.payload) for s in segs]


def test_small_writes_coalesce_without_eor() -> None:
    p, conn = established()
    conn.send(b"a" * 100, 0.02)
    assert lengths(p.out()) == [100]
    conn.send(b"b" * 100, 0.02)  # Nagle: a small segment is in flight
    conn.send(b"c" * 100, 0.02)
    assert p.out() == []
    assert lengths(p.feed(p.seg(ACK, ack=101), at=0.03)) == [200]


def test_a_record_goes_alone_and_past_nagle_once_data_follows_it() -> None:
    p, conn = established()
    conn.send(b"a" * 100, 0.02)
    assert lengths(p.out()) == [100]
    conn.send(b"b" * 100, 0.02, eor=True)
    assert p.out() == []  # the tail of the queue: Nagle holds it
    conn.send(b"c" * 100, 0.02)
    assert lengths(p.out()) == [100]  # the record "b" is no longer the tail: pushed, alone
    assert lengths(p.feed(p.seg(ACK, ack=201), at=0.03)) == [100]  # then "c", after Nagle


def test_a_large_record_ends_its_last_segment() -> None:
    p, conn = established()
    conn.send(b"d" * 2000, 0.02, eor=True)
    assert lengths(p.out()) == [1460, 540]
    conn.send(b"e" * 2000, 0.02)
    assert lengths(p.out()) == [1460]  # its 540 waits: "d"'s short segment is in flight
    assert lengths(p.feed(p.seg(ACK, ack=3461), at=0.03)) == [540]


def test_a_resent_head_stops_at_its_records_end() -> None:
    p, conn = established()
    conn.apply_option("nodelay", True, 0.02)
    conn.send(b"a" * 100, 0.02, eor=True)
    conn.send(b"b" * 1000, 0.02)
    assert lengths(p.out()) == [100, 1000]
    sent = p.run_until(0.5)
    # The loss probe resends the tail packet; then the RTO the head, only as far as the
    # record's end (the two records are two packets, never coalesced).
    assert lengths([seg for _, seg in sent])[:2] == [1000, 100]
