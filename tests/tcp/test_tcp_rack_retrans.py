"""RACK and retransmissions, between two engines in virtual time (1 ms RTT): a lost
retransmission is found lost again by RACK's clock and counted (TCPLostRetransmit), not left
to the RTO; an ACK whose echoed timestamp predates a retransmission says nothing to RACK
about that retransmission's send time (Linux tcp_skb_spurious_retrans)."""

from __future__ import annotations

from minitcp.tcp.rack import RACK_STATIC_REO_WND, Rack
from minitcp.tcp.scoreboard import RETRANS, AckState, Record, Scoreboard
from minitcp.tcp.seq import MASK
from minitcp.wire.segment import ACK

from .peer import Peer
from .test_tcp_loss_recovery import MSS, Faults, _pair, _resends


def test_a_lost_retransmission_is_marked_lost_again_by_rack_not_the_rto() -> None:
    # Segment 5 is lost, and so is its first retransmission. Segments sent after that
    # retransmission are SACKed: RACK (tcp_rack_detect_loss) marks it lost by time and it
    # goes a third time, long before any RTO; Linux counts it (tcp_mark_skb_lost).
    p, rec, client, server = _pair(Faults({5: 2}))
    client.apply_option("sndbuf", 1 << 20, p.now)
    data = bytes(range(256)) * (40 * MSS // 256)
    assert client.send(data, p.now) == len(data)
    p.run(until=1.5)
    assert server.recv(1 << 20, p.now) == data
    c = p.a.counters
    assert c["TCPLostRetransmit"] == 1
    assert c["TCPTimeouts"] == 0
    resends = [(t, k, why) for t, k, why in _resends(rec, client.iss) if k == 5]
    assert [why for _, _, why in resends] == ["RACK", "RACK"]
    # The second resend follows the first within a few round trips (1 ms), not an RTO (200 ms).
    assert resends[1][0] - resends[0][0] < 0.02


def test_without_a_lost_retransmission_nothing_is_counted() -> None:
    p, _, client, server = _pair(Faults({5: 1}))
    client.send(b"n" * 20 * MSS, p.now)
    p.run(until=1.5)
    assert server.recv(1 << 20, p.now) == b"n" * 20 * MSS
    assert p.a.counters["TCPLostRetransmit"] == 0
    assert p.a.counters["TCPFastRetrans"] == 1


class _Rack:
    def __init__(self) -> None:
        self.advanced: list[float] = []

    def advance(self, sacked: int, end: int, sent: float, order: int, now: float) -> None:
        self.advanced.append(sent)


def _board_with_retransmission(sent: float, resent: float) -> tuple[Scoreboard, Record]:
    board = Scoreboard(MSS)
    rec = board.add(1000, 1000 + MSS, sent, False)
    board.resent(rec, resent)
    return board, rec


def test_an_ack_echoing_a_timestamp_before_the_retransmission_does_not_advance_rack() -> None:
    # Sent at 1.000 s, resent at 1.050 s; the ACK echoes 1.010 s (the original's timestamp,
    # in the sender's millisecond clock): the original was delivered, the retransmission's
    # send time must not become RACK's (it would make everything before it look overdue).
    board, rec = _board_with_retransmission(1.000, 1.050)
    assert rec.sacked & RETRANS
    st = AckState(1000 + MSS, 1000, None, -1)
    st.tsecr = 1010
    rack = _Rack()
    board.clean(1000 + MSS, True, st, rack, 1.060)
    assert rack.advanced == [] and not board.recs


def test_an_ack_echoing_the_retransmission_advances_rack() -> None:
    board, _ = _board_with_retransmission(1.000, 1.050)
    st = AckState(1000 + MSS, 1000, None, -1)
    st.tsecr = 1050
    rack = _Rack()
    board.clean(1000 + MSS, True, st, rack, 1.060)
    assert rack.advanced == [1.050]
    # No timestamp echoed (timestamps off): nothing tells them apart, RACK advances.
    board, _ = _board_with_retransmission(1.000, 1.050)
    st = AckState(1000 + MSS, 1000, None, -1)
    rack = _Rack()
    board.clean(1000 + MSS, True, st, rack, 1.060)
    assert rack.advanced == [1.050]


def test_the_echoed_timestamp_wraps() -> None:
    # The millisecond clock wraps at 2**32: 'before' is by sequence arithmetic.
    t = (MASK - 5) / 1000  # 5 ms before the wrap
    board, _ = _board_with_retransmission(t, t + 0.050)
    st = AckState(1000 + MSS, 1000, None, -1)
    st.tsecr = (int(t * 1000) + 2) & MASK
    rack = _Rack()
    board.clean(1000 + MSS, True, st, rack, t + 0.060)
    assert rack.advanced == []



def test_the_reordering_window_widens_once_per_round_trip_counted_by_deliveries() -> None:
    # Linux tcp_rack_update_reo_wnd: a D-SACK seen widens the window one step, then not
    # again until a packet sent after that widening is delivered (rs->prior_delivered at
    # least rack.last_delivered), however much time passes.
    rack = Rack()
    rack.dsack_seen = True
    rack.update_reo_wnd(prior_delivered=10, delivered=20, tcp_recovery=1)
    assert (rack.reo_wnd_steps, rack.last_delivered) == (2, 20)
    # More D-SACKs, on ACKs of packets sent before the widening (delivered count 19 < 20):
    # the same round, no step.
    rack.dsack_seen = True
    rack.update_reo_wnd(prior_delivered=19, delivered=25, tcp_recovery=1)
    assert rack.reo_wnd_steps == 2 and not rack.dsack_seen
    # A D-SACK on the ACK of a packet sent once 20 had been delivered: the next round.
    rack.dsack_seen = True
    rack.update_reo_wnd(prior_delivered=20, delivered=30, tcp_recovery=1)
    assert rack.reo_wnd_steps == 3
    # An ACK that delivered nothing new (a pure D-SACK) changes nothing.
    rack.dsack_seen = True
    rack.update_reo_wnd(prior_delivered=0, delivered=30, tcp_recovery=1)
    assert rack.reo_wnd_steps == 3 and rack.dsack_seen
    # Static window (tcp_recovery & 2): never widened.
    static = Rack()
    static.dsack_seen = True
    static.update_reo_wnd(prior_delivered=10, delivered=20, tcp_recovery=1 | RACK_STATIC_REO_WND)
    assert static.reo_wnd_steps == 1
    # The widening outlives RACK_RECOVERY_THRESH recoveries (reo_wnd_persist), then resets.
    rack.dsack_seen = False
    rack.reo_wnd_persist = 0
    rack.update_reo_wnd(prior_delivered=31, delivered=32, tcp_recovery=1)
    assert rack.reo_wnd_steps == 1


def test_records_carry_the_delivered_count_they_left_at() -> None:
    # tcp_rate_skb_sent: the delivered count at each (re)transmission, kept through a split,
    # and the newest one an ACK delivers is its prior_delivered.
    board = Scoreboard(MSS)
    a = board.add(1000, 1000 + 2 * MSS, 1.0, False, delivered=7)
    board.split(0, MSS)
    assert [r.tx_delivered for r in board.recs] == [7, 7]
    b = board.add(1000 + 2 * MSS, 1000 + 3 * MSS, 1.1, False, delivered=9)
    board.resent(a, 1.2, delivered=12)
    st = AckState(1000 + 3 * MSS, 1000, None, -1)
    board.sacktag(b.seq, b.end, False, 1000, st, _Rack(), 1.3)
    assert st.prior_delivered == 9
    st = AckState(1000 + 3 * MSS, 1000, None, -1)
    board.clean(1000 + MSS, True, st, _Rack(), 1.3)
    assert st.prior_delivered == 12



def test_a_retransmitted_tso_packet_counts_each_of_its_segments() -> None:
    # A whole first flight lost: the probe's SACK shows the rest lost (RACK), and the slow-start
    # reduction bound lets PRR resend them two and three at a time, as TSO packets. RetransSegs
    # counts their segments (Linux __tcp_retransmit_skb adds tcp_skb_pcount), as TCP_INFO's
    # total_retrans does; it counted each packet once.
    p, rec, client, server = _pair(Faults({k: 1 for k in range(10)}))
    p.a.tso_max = 65536
    client.send(b"g" * 10 * MSS, p.now)
    p.run(until=3.0)
    assert server.recv(1 << 20, p.now) == b"g" * 10 * MSS
    resent = [k for _, k, _ in _resends(rec, client.iss)]
    assert sorted(resent) == list(range(10))
    assert p.a.counters["RetransSegs"] == client.total_retrans == 10


def test_min_rtt_takes_the_newest_packet_of_a_stretch_ack() -> None:
    # Linux tcp_ack_update_rtt feeds tcp_update_rtt_min with ca_rtt_us, the RTT of the newest
    # packet the ACK covers: one ACK for a packet sent 50 ms ago and one sent 20 ms ago gives
    # min_rtt 20 ms (RACK's window is min_rtt/4), while SRTT takes the oldest's 50 ms.
    p = Peer()
    conn = p.connect(at=0.0, rtt=0.06, mss=1000, wscale=None)
    conn.send(b"a" * 1000, 0.1)
    conn.send(b"b" * 1000, 0.13)
    assert len(p.out()) == 2
    p.feed(p.seg(ACK, ack=2001), at=0.15)
    rec = conn.recovery
    assert rec.min_rtt is not None and abs(rec.min_rtt - 0.02) < 1e-9
    assert rec.rack.min_rtt == rec.min_rtt
    assert rec.srtt is not None and rec.srtt > 0.05
