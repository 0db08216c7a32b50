"""NewReno recovery with Reno's window (cc/reno.py) through a simulated wire: initial window
(RFC 6928), fast retransmit and fast recovery (RFC 5681, RFC 6582), the retransmission timer
(RFC 6298)."""

from __future__ import annotations

from minitcp.tcp.pair import EnginePair
from minitcp.tcp.seq import MASK
from minitcp.trace.recorder import Recorder
from minitcp.wire.segment import Segment

from ..helpers.pairs import pair_connect

MSS = 1448  # 1500 - 40 - 12 (timestamps)


class DropOnce:
    """A fault hook losing the first copy of the client's data segments at the given offsets."""

    def __init__(self, offsets: set[int]) -> None:
        self.offsets = set(offsets)
        self.iss: int | None = None

    def __call__(self, sender: str, seg: Segment, now: float) -> list[float]:
        if sender == "a" and self.iss is not None and seg.payload:
            off = (seg.seq - self.iss - 1) & MASK
            if off in self.offsets:
                self.offsets.discard(off)
                return []
        return [0.0]


def _setup(drop: set[int]) -> tuple[EnginePair, Recorder, object, object, DropOnce]:
    hook = DropOnce(drop)
    p = EnginePair(fault=hook)
    rec = Recorder()
    p.a.observer = rec
    client, server = pair_connect(p)
    hook.iss = client.iss
    p.run(until=1.0)
    return p, rec, client, server, hook


def test_initial_window_is_ten_segments() -> None:
    p, _, client, server, _ = _setup(set())
    data = b"i" * 100_000
    sent = client.send(data, p.now)
    p.run(until=1.0001)  # sent, not yet acknowledged
    first_flight = [e for e in p.wire if e.time == 1.0 and e.sender == "a"]
    assert [len(e.seg.payload) for e in first_flight] == [MSS] * 10
    got = b""
    for _ in range(100):
        p.run_for(0.01)
        sent += client.send(data[sent:], p.now)
        got += server.recv(200_000, p.now) or b""
    assert got == data
    assert client.info()["cwnd"] > 10  # slow start grew it


def test_a_lost_segment_is_resent_by_sack_recovery_well_before_the_rto() -> None:
    p, rec, client, server, _ = _setup({2 * MSS})
    client.send(b"f" * 20 * MSS, p.now)
    p.run(until=3.0)
    assert server.recv(100_000, p.now) == b"f" * 20 * MSS
    lost_seq = (client.iss + 1 + 2 * MSS) & MASK
    segs = rec.segments()
    sends = [i for i, e in enumerate(segs)
             if e.direction == "out" and e.segment.seq == lost_seq and e.segment.payload]
    assert len(sends) == 2  # the lost copy and its retransmission
    assert segs[sends[1]].reason == "RACK"
    resend_at = segs[sends[1]].time
    acks_at_hole = [e.segment for e in segs[: sends[1]]
                    if e.direction == "in" and not e.segment.payload and e.segment.ack == lost_seq]
    # The ACK that brought snd_una to the hole, then duplicates SACKing what did arrive. The first
    # flight is one packet (one skb of 10 segments, Linux's GSO skb): RACK orders its parts by
    # sequence and marks the hole lost once a segment sent after the flight is SACKed, one round
    # trip later (Linux tcp_rack_advance takes the partly ACKed skb's end).
    assert len(acks_at_hole) >= 1 + 3
    assert not acks_at_hole[0].sack and all(s.sack for s in acks_at_hole[1:])
    assert resend_at < 1.01  # within two round trips, far before the retransmission timer
    c = p.a.counters
    assert (c["TCPFastRetrans"], c["TCPTimeouts"]) == (1, 0)
    assert c["RetransSegs"] == 1 + c["TCPLossProbes"]  # (the tail may be probed: a delayed ACK)
    assert c["TCPSackRecovery"] == 1


def test_two_holes_in_one_window_are_repaired_in_one_round_trip() -> None:
    """RFC 6675 / RFC 8985: two losses in one window are both marked lost and resent at once,
    not one per round trip (NewReno's partial ACKs)."""
    p, _, client, server, _ = _setup({2 * MSS, 5 * MSS})
    client.send(b"n" * 20 * MSS, p.now)
    p.run(until=3.0)
    assert server.recv(100_000, p.now) == b"n" * 20 * MSS
    c = p.a.counters
    assert (c["TCPFastRetrans"], c["TCPTimeouts"], c["TCPSackRecovery"]) == (2, 0, 1)
    resends = [e.time for e in p.wire if e.sender == "a" and e.seg.payload
               and (e.seg.seq - client.iss - 1) & MASK in (2 * MSS, 5 * MSS)]
    assert len(resends) == 4 and resends[2] == resends[3] and max(resends) < 1.01


def test_a_lone_lost_segment_is_repaired_by_the_loss_probe_at_the_rto() -> None:
    """One packet in flight: the probe timeout (2*SRTT + rto_min for the delayed ACK) is capped
    at the RTO, so the probe goes when the RTO would, and the window stays (Linux
    tcp_schedule_loss_probe)."""
    p, rec, client, server, _ = _setup({0})
    client.send(b"t" * MSS, p.now)
    p.run(until=3.0)
    assert server.recv(10_000, p.now) == b"t" * MSS
    c = p.a.counters
    assert (c["TCPLossProbes"], c["TCPTimeouts"], c["RetransSegs"]) == (1, 0, 1)
    resend = [e for e in rec.segments() if e.direction == "out" and e.segment.payload][1]
    assert resend.reason == "TLP" and abs(resend.time - (1.0 + 0.201)) < 0.002
    assert client.info()["cwnd"] >= 10


def test_timeout_collapses_the_window_to_one_segment() -> None:
    p, _, client, server, hook = _setup({0})
    p.a.knobs.tcp_early_retrans = 0  # no loss probe
    client.send(b"t" * MSS, p.now)  # a single segment: no duplicate ACKs can come, only the RTO
    p.run(until=1.1)
    assert client.snd_una != client.snd_max
    p.run(until=3.0)
    assert server.recv(10_000, p.now) == b"t" * MSS
    c = p.a.counters
    assert (c["TCPTimeouts"], c["RetransSegs"], c["TCPFastRetrans"]) == (1, 1, 0)
    resend = [e.time for e in p.wire if e.sender == "a" and e.seg.payload][1]
    assert abs(resend - (1.0 + 0.201)) < 0.002  # srtt about 1 ms + the 200 ms floor
    assert client.info()["cwnd"] == 2  # 1 segment after the loss, +1 for the ACK that followed
    assert hook.offsets == set()
