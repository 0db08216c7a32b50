"""PSH where Linux puts it (pushmarks.py): the end of each write, forced pushes, GSO packets.

Each test shows the segments on the wire. The Linux functions: tcp_sendmsg_locked (skbs of
size_goal, a write appending to the tail clears its PSH), tcp_push / tcp_mark_push (the
tail of a write without MSG_MORE), forced_push (more than half the largest window since the
last PSH), tso_fragment (PSH stays with the part that ends the skb) and __tcp_transmit_skb
(PSH on every packet of more than one segment).
"""

from __future__ import annotations

from minitcp.tcp import pushmarks
from minitcp.tcp.seq import MASK
from minitcp.wire.segment import ACK, PSH
from minitcp.wire.tso import TSO_MAX

from .builders import established


def test_a_burst_of_a_long_write_has_psh_on_each_gso_packet() -> None:
    """slow_start/slow-start-ack-per-1pkt.pkt: `> P. 1:10001(10000)` although the write goes on.
    At a 10 ms RTT the pacing rate cuts the burst in GSO packets of tcp_min_tso_segs (2)
    segments (tcp_tso_autosize), each with PSH on its last (__tcp_transmit_skb); packetdrill
    sees them as one."""
    p, conn = established()
    mss = conn.mss
    assert conn.send(bytes(20 * mss), p.now) == 20 * mss
    out = p.rels(p.out())  # cwnd 10: five packets of two segments
    assert out == [("P." if i % 2 else ".", 1 + i * mss, 1, mss) for i in range(10)]
    # An ACK of one segment lets two go: one packet, PSH on its second segment.
    out = p.feed(p.seg(ACK, ack=1 + mss), at=0.1)
    assert p.rels(out) == [(".", 1 + 10 * mss, 1, mss), ("P.", 1 + 11 * mss, 1, mss)]


def test_with_tso_the_burst_is_two_packets_of_half_cwnd_marked_psh() -> None:
    """slow_start/slow-start-after-idle.pkt: `> P. 1:5001(5000)`, `> P. 5001:10001(5000)`: with
    tcp_min_tso_segs 10 a TSO packet could take the whole cwnd of 10, but tcp_cwnd_test gives
    one packet at most half of it, so that two are in flight."""
    p, conn = established(tcp_min_tso_segs=10)
    p.eng.tso_max = TSO_MAX
    mss = conn.mss
    conn.send(bytes(20 * mss), p.now)
    assert [(seg.gso, len(seg.payload), seg.flags) for seg in p.out()] == [(mss, 5 * mss, ACK | PSH)] * 2


def test_one_segment_cut_from_a_write_has_no_psh() -> None:
    """limited_transmit: `> . 10001:11001(1000)`: a single segment that does not end the write."""
    p, conn = established()
    mss = conn.mss
    conn.send(bytes(15 * mss), p.now)
    p.out()
    # An ACK of one segment whose window has room for one more: one segment from the middle.
    out = p.feed(p.seg(ACK, ack=1 + mss, window=(10 * mss >> conn.snd_wscale) + 1), at=0.1)
    assert p.rels(out) == [(".", 1 + 10 * mss, 1, mss)]


def test_msg_more_leaves_the_tail_unmarked() -> None:
    """nagle/sendmsg_msg_more.pkt: `> . 3801:3951(150)`: data written with MSG_MORE goes without PSH."""
    p, conn = established()
    conn.send(b"a" * 100, p.now, more=True)
    assert p.out() == []  # corked
    conn.send(b"b" * 50, p.now, more=True)
    out = p.feed(p.seg(ACK, ack=1, window=60000), at=0.1)  # a window update sends it, unmarked
    assert p.rels(out) == [(".", 1, 1, 150)]


def test_a_write_appending_to_the_marked_tail_takes_psh_away() -> None:
    """Linux tcp_sendmsg_locked: `if (!copied) tcp_flags &= ~TCPHDR_PSH` on the tail it appends to."""
    p, conn = established()
    conn.send(b"y" * 2000, p.now)
    assert p.rels(p.out()) == [(".", 1, 1, 1460), ("P.", 1461, 1, 540)]
    conn.send(b"z" * 100, p.now)  # marked: the end of a write
    assert pushmarks.skb_left(conn, p.iss + 2001, 100) == (100, True)
    conn.send(b"w" * 100, p.now, more=True)  # appends to it: the mark goes, MSG_MORE sets none
    assert pushmarks.skb_left(conn, p.iss + 2001, 200) == (200, False)
    out = p.feed(p.seg(ACK, ack=2001), at=0.1)
    assert p.rels(out) == [(".", 2001, 1, 200)]


def test_forced_push_marks_each_skb_filled_past_half_the_window() -> None:
    """forced_push: write_seq more than max_window / 2 past pushed_seq when an skb fills."""
    p, conn = established()
    conn.mss = 1000
    conn.max_snd_wnd = 8000  # size_goal 4000, a forced push once 4000 bytes are unmarked
    assert pushmarks.size_goal(conn) == 4000
    conn.snd_wnd = 0  # nothing goes: the marks stay as the write left them
    # (cwnd 4: a packet may carry one skb, so tcp_write_xmit grows none with the next)
    conn.recovery.cc.cwnd = 4
    conn.apply_option("sndbuf", 32768, p.now)  # room for the whole write
    conn.send(bytes(20000), p.now)
    marks = [(s - p.iss, e - p.iss, bool(m & pushmarks.MARK_PSH)) for s, e, m in conn.pushq.skbs]
    assert marks == [(1, 4001, False), (4001, 8001, True), (8001, 12001, False),
                     (12001, 16001, True), (16001, 20001, True)]


def test_a_send_head_takes_bytes_from_the_next_skb_but_not_across_a_record() -> None:
    """Linux 6.10+ tcp_write_xmit: tcp_grow_skb fills the send head up to what the packet may
    carry, from the next skb (eating it, and its PSH, when it takes all of it), never past a
    MSG_EOR record's end (tcp_skb_can_collapse)."""
    p, conn = established()
    conn.mss = 1000
    conn.max_snd_wnd = 4000  # size_goal 2000
    conn.snd_wnd = 0  # nothing goes
    conn.recovery.cc.cwnd = 2  # and no packet could carry more than the head's 2000 bytes
    conn.send(bytes(5000), p.now)

    def layout() -> list[tuple[int, int, bool]]:
        return [(s - p.iss, e - p.iss, bool(m & pushmarks.MARK_PSH)) for s, e, m in conn.pushq.skbs]

    def grow(want: int) -> None:  # at the send head
        pushmarks.grow(conn, pushmarks.index(conn, conn.snd_nxt), conn.snd_nxt, want)

    assert layout() == [(1, 2001, False), (2001, 4001, True), (4001, 5001, True)]  # forced, end
    grow(3000)  # a packet of 3000: 1000 from the next skb
    assert layout() == [(1, 3001, False), (3001, 4001, True), (4001, 5001, True)]
    grow(4000)  # the next one eaten whole: its PSH comes along
    assert layout() == [(1, 4001, True), (4001, 5001, True)]
    grow(10000)  # only as far as the queue goes, its PSH too
    assert layout() == [(1, 5001, True)]
    conn.send(bytes(1000), p.now, eor=True)
    conn.send(bytes(1000), p.now)
    grow(10000)
    assert layout()[0][:2] == (1, 6001)  # the head ends a record: it takes nothing after it


def test_a_retransmitted_packet_of_two_segments_has_psh() -> None:
    """sack/sack-route-refresh-ip-tos.pkt: `> . 13141:16061(2920)` then `> P. 17521:20441(2920)`:
    single segments left of cut packets go without PSH, a whole packet of two segments resent
    as one gets it (__tcp_transmit_skb forces PSH on every GSO packet)."""
    p, conn = established()
    mss = conn.mss
    conn.send(bytes(10 * mss), p.now)
    assert len(p.out()) == 10  # five packets of two segments (10 ms RTT: tcp_min_tso_segs)
    # The first segment ACKed, the fourth and the last four SACKed: the second, third, fifth
    # and sixth are lost (RFC 6675, tcp_mark_head_lost).
    sack = tuple(((p.iss + 1 + a * mss) & MASK, (p.iss + 1 + b * mss) & MASK) for a, b in ((3, 4), (6, 10)))
    out = p.feed(p.seg(ACK, ack=1 + mss, sack=sack), at=0.02)
    assert p.rels(out) == [(".", 1 + mss, 1, mss), (".", 1 + 2 * mss, 1, mss),
                           (".", 1 + 4 * mss, 1, mss), ("P.", 1 + 5 * mss, 1, mss)]
