"""Loss recovery as Linux's, between two engines in virtual time (1 ms RTT): SACK recovery
repairs several holes in one round trip, an RTO never resends what the peer SACKed, a lost
tail is repaired by a loss probe rather than the RTO, a reordered segment costs no lasting
window (undone on its D-SACK), and every retransmission says why."""

from __future__ import annotations

from minitcp.tcp.cc import CaState
from minitcp.tcp.pair import EnginePair
from minitcp.tcp.seq import MASK
from minitcp.trace.recorder import Recorder
from minitcp.wire.segment import Segment

from ..helpers.pairs import pair_connect

MSS = 1448  # 1500 - 40 - 12 (timestamps)


class Faults:
    """Drops the first `drops[k]` copies of the client's segment at offset k*MSS, delays the
    first copy of those in `delays` (seconds)."""

    def __init__(self, drops: dict[int, int], delays: dict[int, float] | None = None) -> None:
        self.drops = dict(drops)
        self.delays = dict(delays or {})
        self.iss: int | None = None

    def __call__(self, sender: str, seg: Segment, now: float) -> list[float]:
        if sender == "a" and self.iss is not None and seg.payload:
            k = ((seg.seq - self.iss - 1) & MASK) // MSS
            if self.drops.get(k):
                self.drops[k] -= 1
                return []
            if k in self.delays:
                return [self.delays.pop(k)]
        return [0.0]


def _pair(faults: Faults) -> tuple[EnginePair, Recorder, object, object]:
    p = EnginePair(fault=faults)
    rec = Recorder()
    p.a.observer = rec
    client, server = pair_connect(p)
    faults.iss = client.iss
    p.run(until=1.0)
    return p, rec, client, server


def _resends(rec: Recorder, iss: int) -> list[tuple[float, int, str]]:
    return [(e.time, ((e.segment.seq - iss - 1) & MASK) // MSS, e.reason) for e in rec.segments()
            if e.direction == "out" and e.retransmit and e.segment.payload]


def test_four_holes_in_one_window_are_repaired_in_one_round_trip() -> None:
    holes = (32, 34, 36, 38)
    p, rec, client, server = _pair(Faults({k: 1 for k in holes}))
    client.apply_option("sndbuf", 1 << 20, p.now)
    data = b"h" * 80 * MSS
    assert client.send(data[: 30 * MSS], p.now) == 30 * MSS  # a first flight opens the window
    p.run(until=1.1)
    got = server.recv(1 << 20, p.now) or b""
    assert client.send(data[30 * MSS:], p.now) == 50 * MSS
    for _ in range(100):
        p.run_for(0.01)
        got += server.recv(1 << 20, p.now) or b""
    assert got == data
    resends = _resends(rec, client.iss)
    assert sorted(k for _, k, _ in resends if k in holes) == list(holes)
    times = [t for t, k, _ in resends if k in holes]
    # All marked lost by RACK on the same SACKs and resent within one round trip (1 ms), as
    # PRR lets the SACKed segments clock them out; NewReno resent one hole per round trip.
    assert max(times) - min(times) < 0.001
    c = p.a.counters
    assert c["TCPTimeouts"] == 0 and c["TCPSackRecovery"] == 1 and c["TCPFastRetrans"] == 4


def test_after_an_rto_no_sacked_data_is_resent() -> None:
    # The head is lost three times: its fast retransmission and its loss probe too; the RTO
    # repairs it. The nine SACKed segments go once each.
    p, rec, client, server = _pair(Faults({0: 3}))
    client.send(b"r" * 10 * MSS, p.now)
    p.run(until=5.0)
    assert server.recv(100_000, p.now) == b"r" * 10 * MSS
    c = p.a.counters
    assert c["TCPTimeouts"] >= 1
    resent = [k for _, k, _ in _resends(rec, client.iss)]
    assert set(resent) == {0}
    assert "RTO" in [why for _, _, why in _resends(rec, client.iss)]


def test_a_lost_last_segment_is_repaired_by_the_loss_probe_not_the_rto() -> None:
    p, rec, client, server = _pair(Faults({9: 1}))
    client.send(b"t" * 10 * MSS, p.now)
    p.run(until=3.0)
    assert server.recv(100_000, p.now) == b"t" * 10 * MSS
    c = p.a.counters
    assert (c["TCPLossProbes"], c["TCPTimeouts"]) == (1, 0)
    (resend,) = _resends(rec, client.iss)
    # One packet is left in flight once the rest is ACKed: its probe allows for a delayed ACK
    # (2*SRTT + rto_min), capped at the RTO: the probe, not the RTO, resends it.
    assert resend[1:] == (9, "TLP")
    # The ACK of the probe is its own end (tlp_high_seq), not beyond: Linux's
    # tcp_process_tlp_ack leaves the window alone until an ACK goes further.
    assert client.info()["cwnd"] >= 10


def test_a_reordered_segment_costs_no_lasting_window() -> None:
    # Segment 2 comes 5 ms late (5 RTTs): it looks lost, is resent, then D-SACKed.
    p, _, client, server = _pair(Faults({}, {2: 0.005}))
    client.send(b"o" * 20 * MSS, p.now)
    p.run(until=1.2)
    assert server.recv(100_000, p.now) == b"o" * 20 * MSS
    c = p.a.counters
    assert c["TCPDSACKRecv"] >= 1
    assert c["TCPDSACKUndo"] + c["TCPFullUndo"] + c["TCPPartialUndo"] >= 1
    info = client.info()
    assert client.recovery.ca_state == CaState.OPEN
    assert info["ssthresh"] >= 0x7FFFFFFF and info["cwnd"] >= 10  # the reduction was undone


def test_every_retransmission_says_why() -> None:
    p, rec, client, server = _pair(Faults({3: 1, 9: 1}))
    client.send(b"w" * 20 * MSS, p.now)
    p.run(until=3.0)
    assert server.recv(100_000, p.now) == b"w" * 20 * MSS
    # 3 and 9 are lost by RACK: segments sent after them were SACKed (RFC 8985 section 6).
    # The tail, 16-19, leaves late, its room gathered over a few ACKs (tcp_tso_should_defer,
    # tsodefer.py), and the receiver, its window shrinking as nothing is read, delays the ACK
    # of the last ones (__tcp_ack_snd_check): the loss probe (2 * srtt + 2 ms) resends 19 first.
    reasons = {k: why for _, k, why in _resends(rec, client.iss)}
    assert reasons == {3: "RACK", 9: "RACK", 19: "TLP"}
    p2, rec2, client2, _ = _pair(Faults({9: 1}))
    client2.send(b"w" * 10 * MSS, p2.now)
    p2.run(until=3.0)
    assert {k: why for _, k, why in _resends(rec2, client2.iss)} == {9: "TLP"}
