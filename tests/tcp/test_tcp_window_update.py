"""The window update after a read, as Linux's tcp_cleanup_rbuf sends it.

With a large MSS (MTU 65000) the receive space is about one segment: if the
update waited for the read to free a whole MSS more than was offered, the
sender would sit on a tiny window until the delayed-ACK timer (40 ms).
"""

from minitcp.wire.segment import ACK, PSH

from .peer import Peer


def test_a_read_that_doubles_the_window_sends_the_update_at_once() -> None:
    p = Peer(mtu=65000)
    conn = p.accept(mss=64960)
    half = 32474  # what the kernel sends into a 64 KB window: two halves
    p.feed(p.seg(ACK | PSH, seq=1, payload=b"a" * half), at=0.02)
    p.feed(p.seg(ACK | PSH, seq=1 + half, payload=b"b" * half), at=0.02)
    p.out()
    offered = (conn.rcv_adv - conn.rcv_nxt) & 0xFFFFFFFF
    assert 0 < offered < 1000  # only a sliver left, and less than one MSS freed by the read below
    assert conn.recv(2 * half, p.now) == b"a" * half + b"b" * half
    (update,) = p.out()
    assert p.rel(update) == (".", 1, 1 + 2 * half, 0)
    assert update.window << conn.rcv_wscale >= 2 * offered
