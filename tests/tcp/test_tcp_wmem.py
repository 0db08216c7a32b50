"""The send buffer as Linux counts it (tcp/wmem.py): sk_wmem_queued in skb truesize, the skb a
write fills past the buffer, and the writer woken only once a third of the buffer is free.
The numbers are those of Linux's packetdrill blocking/blocking-write.pkt."""

from __future__ import annotations

from minitcp.tcp import pushmarks, wmem
from minitcp.tcp.connection import Connection
from minitcp.wire.segment import ACK

from .peer import Peer

EMPTY = wmem.SKB_TRUESIZE_EMPTY


def _blocked_writer() -> tuple[Peer, Connection]:
    p = Peer()
    # win 50000, no window scaling: size_goal 25000 (half the window), cwnd 10 segments of 1000.
    conn = p.connect(at=0.0, rtt=0.1, window=50000, mss=1000, wscale=None)
    conn.apply_option("sndbuf", 21000, 0.1)  # doubled: sk_sndbuf 42000
    assert wmem.sndbuf(conn) == 42000 and pushmarks.size_goal(conn) == 25000
    return p, conn


def test_a_write_fills_each_skb_it_starts_and_starts_one_only_below_the_buffer() -> None:
    p, conn = _blocked_writer()
    # Skb 1 (25000) goes in full; its first 10000 bytes leave and cut it in two (tso_fragment);
    # the unsent part is topped up to 25000 (10001:35001); at 35000 + 2 * 832 queued, below
    # 42000, skb 3 (35001:60001) starts and fills; then 60000 + 3 * 832 is past the buffer.
    assert conn.send(bytes(61000), 0.1) == 60000
    assert len(p.out()) == 10
    assert pushmarks.skb_count(conn) == 3
    assert wmem.queued(conn) == 60000 + 3 * EMPTY
    assert conn.send(bytes(1000), 0.1) == 0
    assert not conn.writable


def test_the_writer_wakes_once_free_space_is_half_of_what_is_queued() -> None:
    p, conn = _blocked_writer()
    conn.send(bytes(61000), 0.1)
    p.out()
    p.feed(p.seg(ACK, ack=10001, window=50000), at=0.2)  # cwnd 20: 10001:30001 leaves
    assert wmem.queued(conn) == 50000 + 3 * EMPTY
    assert not conn.writable
    p.feed(p.seg(ACK, ack=30001, window=50000), at=0.3)  # the rest leaves: 30000 queued
    assert wmem.queued(conn) == 30000 + 2 * EMPTY
    assert not conn.writable  # free 10336, less than half of 31664
    p.feed(p.seg(ACK, ack=36001, window=50000), at=0.4)  # one skb gone, one trimmed
    assert wmem.queued(conn) == 24000 + EMPTY
    assert conn.writable
    assert conn.send(bytes(1000), 0.4) == 1000
