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
    # Skb 1 (25000) goes in full; the packet cut from its front splits it (tso_fragment); its
    # unsent part is topped up to 25000 (to 35001); below 42000 queued, a last skb starts and
    # fills (to 60001), which takes sk_wmem_queued past the buffer: as Linux, 60000 of 61000.
    assert conn.send(bytes(61000), 0.1) == 60000
    assert len(p.out()) == 10
    assert wmem.queued(conn) == 60000 + pushmarks.skb_count(conn) * EMPTY > wmem.sndbuf(conn)
    assert conn.send(bytes(1000), 0.1) == 0
    assert not conn.writable


def test_the_writer_wakes_once_free_space_is_half_of_what_is_queued() -> None:
    p, conn = _blocked_writer()
    conn.send(bytes(61000), 0.1)
    p.out()
    p.feed(p.seg(ACK, ack=10001, window=50000), at=0.2)  # cwnd 20: 10001:30001 leaves
    assert wmem.queued(conn) > 50000
    assert not conn.writable
    p.feed(p.seg(ACK, ack=30001, window=50000), at=0.3)  # the rest leaves: 30000 queued
    queued = wmem.queued(conn)
    assert queued == 30000 + pushmarks.skb_count(conn) * EMPTY
    assert not conn.writable  # free space 12000 less the skbs' cost, less than half of it
    # ACKs of 1000 bytes: the writer stays asleep until the free space is half of what is
    # queued, and wakes with the ACK that makes it so (Linux: 35001 in blocking-write.pkt).
    ack, at = 30001, 0.3
    while not conn.writable:
        used = wmem.queued(conn)
        assert wmem.sndbuf(conn) - used < used // 2
        assert ack < 50001
        ack, at = ack + 1000, at + 0.01
        p.feed(p.seg(ACK, ack=ack, window=50000), at=at)
    used = wmem.queued(conn)
    assert wmem.sndbuf(conn) - used >= used // 2
    assert 30001 < ack < 50001  # which ACK depends on the skbs the packets cut: 35001 on Linux
    assert conn.send(bytes(1000), at) == 1000
