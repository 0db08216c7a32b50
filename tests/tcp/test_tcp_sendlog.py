"""The send log's chronograph as TCP_INFO reports it: busy_time, rwnd_limited, sndbuf_limited
(Linux tcp_chrono_*), in the exact times of packetdrill's tcp_info/tcp-info-rwnd-limited.pkt."""

from __future__ import annotations

import pytest

from minitcp.tcp import tcpinfo
from minitcp.wire.segment import ACK

from .peer import Peer


def test_rwnd_limited_and_busy_time() -> None:
    p = Peer()
    conn = p.connect(at=0.0, rtt=0.01, window=0, mss=1000, wscale=None)  # "win 0" in the SYN-ACK
    info = tcpinfo.tcp_info(conn, 0.01)
    assert info["rwnd_limited"] == info["busy_time"] == 0
    assert conn.send(b"x" * 1000, 0.01) == 1000  # nothing fits in the closed window
    assert p.out() == []
    assert tcpinfo.tcp_info(conn, 0.11)["rwnd_limited"] == pytest.approx(100_000, abs=1)
    sent = p.feed(p.seg(ACK, ack=1, window=2000), at=0.21)  # the window opens
    assert p.rels(sent) == [("P.", 1, 1, 1000)]
    assert tcpinfo.tcp_info(conn, 0.21)["rwnd_limited"] == pytest.approx(200_000, abs=1)
    assert p.feed(p.seg(ACK, ack=1001, window=10), at=0.24) == []  # a window too small
    assert conn.send(b"y" * 1000, 0.24) == 1000
    assert p.out() == []
    sent = p.feed(p.seg(ACK, ack=1001, window=2000), at=0.34)
    assert p.rels(sent) == [("P.", 1001, 1, 1000)]
    info = tcpinfo.tcp_info(conn, 0.34)
    assert info["rwnd_limited"] == pytest.approx(300_000, abs=1)
    assert info["busy_time"] == pytest.approx(330_000, abs=1)  # and 30 ms with data in flight
    p.feed(p.seg(ACK, ack=2001, window=2000), at=0.36)
    info = tcpinfo.tcp_info(conn, 1.0)
    assert info["busy_time"] == pytest.approx(350_000, abs=1)  # everything acknowledged: idle
    assert info["sndbuf_limited"] == 0


def test_sndbuf_limited_while_the_writer_waits_for_room() -> None:
    """Linux tcp_cwnd_validate starts the chrono when a transmission empties the write queue
    while a writer waits for room (SOCK_NOSPACE); tcp_check_space stops it when the writer may go."""
    p = Peer()
    # A 4000-byte window: skbs of size_goal 2000 (half of it), each costing 2000 + 832 (wmem.py).
    conn = p.connect(at=0.0, rtt=0.01, window=4000, mss=1000, wscale=None)
    conn.apply_option("sndbuf", 1000, 0.01)  # tcp_wmem[0], 4096 bytes, fixed
    p.feed(p.seg(ACK, ack=1, window=2000), at=0.01)  # room for two segments
    # The second skb takes sk_wmem_queued (5664) past sk_sndbuf: the rest waits (SOCK_NOSPACE).
    assert conn.send(b"z" * 10000, 0.01) == 4000
    assert len(p.out()) == 2
    assert conn.send(b"z" * 6000, 0.01) == 0
    assert len(p.feed(p.seg(ACK, ack=1001, window=2000), at=0.02)) == 1  # 1000 bytes still unsent
    assert len(p.feed(p.seg(ACK, ack=2001, window=2000), at=0.03)) == 1  # the queue is empty
    assert not conn.writable  # 3664 queued
    p.feed(p.seg(ACK, ack=3001, window=2000), at=0.05)  # 1832 queued: free space is half of it
    assert conn.writable
    info = tcpinfo.tcp_info(conn, 0.05)
    assert info["sndbuf_limited"] == pytest.approx(20_000, abs=1)
    assert info["busy_time"] == pytest.approx(40_000, abs=1)


@pytest.mark.parametrize(("window", "rwnd_limited"), [(10_000, 0), (5_000, 20_000)])
def test_a_sender_that_fills_cwnd_first_is_not_rwnd_limited(window: int, rwnd_limited: int) -> None:
    """tcp_write_xmit asks tcp_cwnd_test before tcp_snd_wnd_test: with cwnd (IW10, 10 segments)
    and the peer's window (10000 bytes) full at once, cwnd is what stops the sender and the
    rwnd chrono stays stopped (tcp-info-sndbuf-limited.pkt's `win 10000` SYN-ACK); a window of
    half that stops it first."""
    p = Peer()
    conn = p.connect(at=0.0, rtt=0.01, window=window, mss=1000, wscale=None)
    assert conn.send(b"x" * 20_000, 0.01) == 20_000
    assert sum(len(s.payload) for s in p.out()) == window
    p.feed(p.seg(ACK, ack=window + 1, window=60_000), at=0.03)
    info = tcpinfo.tcp_info(conn, 0.03)
    assert info["rwnd_limited"] == pytest.approx(rwnd_limited, abs=1)
    assert info["busy_time"] == pytest.approx(20_000, abs=1)
