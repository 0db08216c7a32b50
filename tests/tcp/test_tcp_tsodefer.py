"""Linux tcp_tso_should_defer (tsodefer.py): a send head of more than one segment that cwnd
would cut short waits for the next ACK, right after a send and while that ACK is due, so that
a few ACKs' room leaves as one packet; and the limits that send at once instead."""

from __future__ import annotations

from minitcp.tcp import tsodefer
from minitcp.tcp.cc import CaState
from minitcp.tcp.knobs import Knobs
from minitcp.wire.segment import ACK
from minitcp.wire.tso import TSO_MAX

from .peer import Peer

T0 = 0.01  # the handshake's end (rtt 10 ms: srtt 10 ms), when the write is made


def _sending(**knob: int) -> tuple[Peer, int]:
    """A connection that wrote 200 KB at T0: cwnd 10 sent as two packets of 5 segments."""
    # tcp_min_tso_segs 10: the autosized TSO size (max_segs) is not the limit here.
    p = Peer(Knobs(tcp_min_tso_segs=10, **knob))
    p.eng.tso_max = TSO_MAX
    conn = p.accept(at=0.0)
    mss = conn.mss
    conn.send(bytes(200_000), p.now)
    assert [len(s.payload) // mss for s in p.out()] == [5, 5]
    return p, mss


def _segs(p: Peer, out: list, mss: int) -> list[int]:
    return [len(s.payload) // mss for s in out]


def test_the_room_of_a_few_acks_leaves_as_one_packet() -> None:
    p, mss = _sending()
    # The first ACK comes an RTT after the last send: nothing deferred (more than 1 ms since
    # it), cwnd 11, 9 in flight: two segments.
    assert _segs(p, p.feed(p.seg(ACK, ack=1 + mss), at=T0 + 0.010), mss) == [2]
    # 0.5 and 1 ms later: cwnd 12 (13) with 10 (9) in flight leaves 2 (4) segments, less than a
    # third of cwnd, the head left 10 ms ago (the next ACK is due): deferred, cwnd-limited.
    assert p.feed(p.seg(ACK, ack=1 + 2 * mss), at=T0 + 0.0105) == []
    assert p.feed(p.seg(ACK, ack=1 + 3 * mss), at=T0 + 0.011) == []
    # cwnd 14, 8 in flight: 6 segments are more than a third of cwnd: one packet of all of them.
    assert _segs(p, p.feed(p.seg(ACK, ack=1 + 4 * mss), at=T0 + 0.0115), mss) == [6]


def test_no_deferring_more_than_1ms_after_the_last_send() -> None:
    p, mss = _sending()
    assert _segs(p, p.feed(p.seg(ACK, ack=1 + mss), at=T0 + 0.010), mss) == [2]
    assert p.feed(p.seg(ACK, ack=1 + 2 * mss), at=T0 + 0.0105) == []
    # 1.5 ms after the last send (Linux: tcp_wstamp_ns more than NSEC_PER_MSEC ago): it goes.
    assert _segs(p, p.feed(p.seg(ACK, ack=1 + 3 * mss), at=T0 + 0.0115), mss) == [4]


def test_no_deferring_when_the_next_ack_is_not_due() -> None:
    p, mss = _sending()
    # The head was sent less than half an srtt (5 ms) ago: the next ACK may come late.
    assert _segs(p, p.feed(p.seg(ACK, ack=1 + mss), at=T0 + 0.001), mss) == [2]
    assert _segs(p, p.feed(p.seg(ACK, ack=1 + 2 * mss), at=T0 + 0.0015), mss) == [2]


def test_a_third_of_the_window_goes_at_once() -> None:
    # tcp_tso_win_divisor 100: a hundredth of cwnd is room enough, nothing waits.
    p, mss = _sending(tcp_tso_win_divisor=100)
    assert _segs(p, p.feed(p.seg(ACK, ack=1 + mss), at=T0 + 0.010), mss) == [2]
    assert _segs(p, p.feed(p.seg(ACK, ack=1 + 2 * mss), at=T0 + 0.0105), mss) == [2]


def test_divisor_0_defers_only_up_to_three_segments() -> None:
    p, mss = _sending(tcp_tso_win_divisor=0)
    assert _segs(p, p.feed(p.seg(ACK, ack=1 + mss), at=T0 + 0.010), mss) == [2]
    assert p.feed(p.seg(ACK, ack=1 + 2 * mss), at=T0 + 0.0105) == []
    # 4 segments of room: more than tcp_max_tso_deferred_mss (3).
    assert _segs(p, p.feed(p.seg(ACK, ack=1 + 3 * mss), at=T0 + 0.011), mss) == [4]



def test_no_deferring_in_recovery() -> None:
    p, mss = _sending()
    conn = p.conn
    assert conn is not None
    assert _segs(p, p.feed(p.seg(ACK, ack=1 + mss), at=T0 + 0.010), mss) == [2]
    assert p.feed(p.seg(ACK, ack=1 + 2 * mss), at=T0 + 0.0105) == []
    # The send head that just waited, asked again: cwnd-limited; in Recovery (or Loss) Linux
    # sends at once (icsk_ca_state >= TCP_CA_Recovery).
    cc = conn.recovery.cc
    ask = (conn, conn.snd_nxt, 100 * mss, False, False, 10)
    assert tsodefer.should_defer(*ask) == tsodefer.DEFER_CWND
    cc.ca_state = CaState.RECOVERY
    assert tsodefer.should_defer(*ask) == tsodefer.SEND
