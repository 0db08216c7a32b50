"""ECN as a sender (RFC 3168 sections 6.1.2 to 6.1.5, Linux tcp_ecn_send and tcp_enter_cwr),
through a simulated wire: new data is ECT(0), pure ACKs and retransmissions are not-ECT; an
ECE reduces the window once (the CWR state) and the next new data says CWR."""

from __future__ import annotations

from minitcp.tcp.cc import CaState
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.pair import EnginePair
from minitcp.tcp.seq import MASK
from minitcp.wire.segment import CWR, ECE, Segment

from ..helpers.pairs import pair_connect

MSS = 1448
ECT_0, CE = 0x02, 0x03


class Marks:
    """A fault hook: marks the client's data at `ce_at` Congestion Experienced (as a router
    would), drops the first copy of the one at `drop_at`."""

    def __init__(self, ce_at: int | None = None, drop_at: int | None = None) -> None:
        self.ce_at, self.drop_at = ce_at, drop_at
        self.iss: int | None = None

    def __call__(self, sender: str, seg: Segment, now: float) -> list[float]:
        if sender == "a" and self.iss is not None and seg.payload:
            off = (seg.seq - self.iss - 1) & MASK
            if off == self.ce_at:
                self.ce_at = None
                seg.tos |= CE
            if off == self.drop_at:
                self.drop_at = None
                return []
        return [0.0]


def _setup(hook: Marks) -> tuple[EnginePair, object, object]:
    p = EnginePair(Knobs(tcp_ecn=1), Knobs(tcp_ecn=2), fault=hook, latency=0.003)
    client, server = pair_connect(p)
    assert client.ecn_ok and server.ecn_ok
    hook.iss = client.iss
    p.run_for(0.5)
    return p, client, server


def test_new_data_is_ect0_and_acks_are_not_ect() -> None:
    hook = Marks()
    p, client, server = _setup(hook)
    start = len(p.wire)
    client.send(b"e" * 20 * MSS, p.now)
    p.run_for(1.0)
    assert server.recv(100_000, p.now) == b"e" * 20 * MSS
    # New data only: a loss probe of the tail (the receiver delays its last ACK) is a
    # retransmission, sent not-ECT (RFC 3168 section 6.1.5).
    first: dict[int, Segment] = {}
    for e in p.wire[start:]:
        if e.sender == "a" and e.seg.payload:
            first.setdefault(e.seg.seq, e.seg)
    data = list(first.values())
    acks = [e.seg for e in p.wire[start:] if e.sender == "b"]
    assert data and all(s.tos & 0x03 == ECT_0 for s in data)
    assert acks and all(s.tos & 0x03 == 0 for s in acks)
    assert not any(s.flags & (CWR | ECE) for s in data + acks)


def test_ece_reduces_the_window_once_and_the_next_data_says_cwr() -> None:
    hook = Marks(ce_at=12 * MSS)
    p, client, server = _setup(hook)
    cc = client.recovery.cc
    start = len(p.wire)
    data = b"c" * 200 * MSS
    sent = client.send(data, p.now)
    seen_cwr_state = None
    for _ in range(400):
        p.run_for(0.005)
        sent += client.send(data[sent:], p.now)
        if seen_cwr_state is None and cc.ca_state == CaState.CWR:
            seen_cwr_state = (cc.prior_cwnd, cc.ssthresh, cc.cwnd)
        server.recv(1_000_000, p.now)
    assert sent == len(data) and client.snd_una == (client.iss + 1 + sent) & MASK
    assert seen_cwr_state is not None
    prior, ssthresh, cwnd = seen_cwr_state
    # CUBIC's beta, from cwnd; PRR then brings cwnd down to ssthresh as ACKs come
    # (tcp_cwnd_reduction), it never grows in CWR.
    assert ssthresh == max(prior * 717 // 1024, 2) and cwnd <= prior
    wire = p.wire[start:]
    echoed = [i for i, e in enumerate(wire) if e.sender == "b" and e.seg.flags & ECE]
    said_cwr = [i for i, e in enumerate(wire) if e.sender == "a" and e.seg.flags & CWR]
    assert echoed and len(said_cwr) == 1  # one reduction, one CWR
    cwr_seg = wire[said_cwr[0]].seg
    assert cwr_seg.payload and cwr_seg.tos & 0x03 == ECT_0
    # The receiver echoes ECE until the CWR arrives (RFC 3168 section 6.1.3), then stops.
    assert all(i < said_cwr[0] + 5 for i in echoed)
    assert client.engine.counters.get("TCPTimeouts", 0) == 0
    assert cc.ca_state == CaState.OPEN and cc.cwnd >= ssthresh  # the CWR state ended


def test_retransmissions_are_not_ect() -> None:
    hook = Marks(drop_at=3 * MSS)
    p, client, server = _setup(hook)
    start = len(p.wire)
    client.send(b"r" * 20 * MSS, p.now)
    p.run_for(3.0)
    assert server.recv(100_000, p.now) == b"r" * 20 * MSS
    copies = [e.seg for e in p.wire[start:] if e.sender == "a" and e.seg.payload
              and (e.seg.seq - client.iss - 1) & MASK == 3 * MSS]
    assert len(copies) == 2
    assert copies[0].tos & 0x03 == ECT_0 and copies[1].tos & 0x03 == 0
