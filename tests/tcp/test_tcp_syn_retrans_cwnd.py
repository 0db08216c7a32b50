"""cwnd after a handshake whose SYN was retransmitted (Linux tcp_init_transfer: cwnd 1 after more
than one SYN or SYN-ACK retransmission, RFC 5681 section 3.1; tcp_try_undo_spurious_syn keeps
the initial window when the SYN-ACK echoes the first SYN's timestamp)."""

from __future__ import annotations

import pytest

from minitcp.tcp.connection import Connection
from minitcp.tcp.states import State
from minitcp.wire.segment import ACK, SYN

from .peer import LOCAL, REMOTE, Peer


def _connect_after(retransmissions: int, echo_first: bool = False) -> tuple[Peer, Connection]:
    """Active open at 0; the peer answers after `retransmissions` SYN timeouts (1 s, 2 s, ...),
    echoing the first SYN's timestamp or the last one's."""
    p = Peer()
    conn = p.eng.connect(LOCAL, p.lport, REMOTE, p.rport, 0.0)
    syns = p.out()
    for _ in range(retransmissions):
        _, syn = p.run_until_sent(60.0)
        syns.append(syn)
    assert all(s.flags == SYN for s in syns) and len(syns) == retransmissions + 1
    p.iss = syns[0].seq
    echoed = syns[0 if echo_first else -1].ts_val
    opts = {**p.syn_options(ts=True), "ts_ecr": echoed}
    p.feed(p.seg(SYN | ACK, seq=0, ack=1, **opts), at=p.now + 0.01)
    assert conn.state == State.ESTABLISHED
    return p, conn


@pytest.mark.parametrize(("retransmissions", "packets"), [(0, 10), (1, 10), (2, 1)])
def test_more_than_one_syn_retransmission_starts_at_one_segment(retransmissions: int, packets: int) -> None:
    p, conn = _connect_after(retransmissions)
    assert conn.recovery.cc.cwnd == packets
    conn.send(bytes(20 * conn.mss), p.now)
    assert sum(1 for s in p.out() if s.payload) == packets  # data segments on the wire


def test_a_spurious_syn_timeout_keeps_the_initial_window() -> None:
    p, conn = _connect_after(2, echo_first=True)
    assert conn.recovery.cc.cwnd == 10
    conn.send(bytes(20 * conn.mss), p.now)
    assert sum(1 for s in p.out() if s.payload) == 10


def test_a_passive_open_after_two_synack_retransmissions_starts_at_one() -> None:
    p = Peer()
    lst = p.eng.listen(LOCAL, p.lport, 5)
    (synack,) = p.feed(p.seg(SYN, seq=0, window=64240, **p.syn_options()), at=0.0)
    p.iss = synack.seq
    p.run_until_sent(60.0)
    p.run_until_sent(60.0)
    p.feed(p.seg(ACK, seq=1, ack=1), at=p.now + 0.01)
    conn = lst.accept()
    assert conn is not None and conn.state == State.ESTABLISHED
    assert conn.recovery.cc.cwnd == 1
    conn.send(bytes(5 * conn.mss), p.now)
    assert [len(s.payload) for s in p.out()] == [conn.mss]
