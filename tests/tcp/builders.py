"""Per-state builders: a `Peer` and the engine's connection already in one state of RFC 9293's
figure 5, in smoltcp's style (its socket/tcp.rs tests start from `socket_established()`,
`socket_time_wait()`, ...).

Each builder gets there through the real engine, feeding the segments a peer would send, never
by setting fields: when a builder breaks, the way into that state broke. Whatever the engine
sent on the way has been taken off the wire. The engine is the server (`Peer.accept`: the SYN at
0.0, the ACK at 0.01, so the RTT is 10 ms and the RTO 210 ms) unless the state needs an active
open. The times are fixed, so tests can count from them:

    syn_sent       connect() at 0.0
    syn_received   the peer's SYN at 0.0, the SYN-ACK sent
    established    the handshake done at 0.01
    fin_wait_1     close() at 1.0 (or shutdown(SHUT_WR) with orphan=False)
    fin_wait_2     from fin_wait_1: the peer ACKs our FIN at 1.01
    closing        from fin_wait_1: the peer's FIN, crossing ours (not ACKing it), at 1.0005
    time_wait      from fin_wait_1: the peer's FIN+ACK at 1.01, answered by our last ACK
    close_wait     from established: the peer's FIN at 1.0
    last_ack       from close_wait: close() at 2.0

Knob values are keyword arguments (`established(tcp_fin_timeout=5)`).
"""

from __future__ import annotations

from typing import Any

from minitcp.tcp.connection import SHUT_WR, Connection
from minitcp.tcp.states import State
from minitcp.wire.segment import ACK, FIN, SYN

from .peer import LOCAL, REMOTE, Peer, knobs


def _peer(knob_values: dict[str, Any]) -> Peer:
    return Peer(knobs(**knob_values) if knob_values else None)


def _close(p: Peer, conn: Connection, at: float, *, orphan: bool = True) -> None:
    """The application closes (or only shuts down its sending side) at `at`; the FIN goes out."""
    p.now = at
    if orphan:
        conn.close(at)
    else:
        conn.shutdown(SHUT_WR, at)
    (fin,) = p.out()
    assert fin.flags & FIN


# ---------------------------------------------------------------------------- opening


def syn_sent(**knob_values: Any) -> tuple[Peer, Connection]:
    """connect() at 0.0: our SYN is out, nothing came back yet."""
    p = _peer(knob_values)
    conn = p.eng.connect(LOCAL, p.lport, REMOTE, p.rport, 0.0)
    (syn,) = p.out()
    assert syn.flags == SYN
    p.iss = syn.seq
    assert conn.state == State.SYN_SENT
    return p, conn


def syn_received(**knob_values: Any) -> tuple[Peer, Connection]:
    """A listener (backlog 5) took the peer's SYN at 0.0, a bare one with only the MSS option,
    and answered SYN-ACK; the connection waits in the listener's SYN queue for the last ACK."""
    p = _peer(knob_values)
    lst = p.eng.listen(LOCAL, p.lport, 5)
    (synack,) = p.feed(p.seg(SYN, seq=0, mss=1460), at=0.0)
    assert synack.flags == SYN | ACK
    p.iss = synack.seq
    (conn,) = lst.syn_queue.values()
    assert conn.state == State.SYN_RECEIVED
    return p, conn


def established(*, ts: bool = False, **knob_values: Any) -> tuple[Peer, Connection]:
    """The handshake done (passive open, accepted): ESTABLISHED at 0.01, nothing in flight."""
    p = _peer(knob_values)
    conn = p.accept(at=0.0, rtt=0.01, ts=ts)
    return p, conn


# ---------------------------------------------------------------------------- we close first


def fin_wait_1(*, orphan: bool = True, ts: bool = False, **knob_values: Any) -> tuple[Peer, Connection]:
    """close() at 1.0 (shutdown(SHUT_WR) when not `orphan`): our FIN (seq 1) is unacknowledged."""
    p, conn = established(ts=ts, **knob_values)
    _close(p, conn, 1.0, orphan=orphan)
    assert conn.state == State.FIN_WAIT_1
    return p, conn


def fin_wait_2(*, orphan: bool = True, **knob_values: Any) -> tuple[Peer, Connection]:
    """The peer ACKed our FIN at 1.01; its own FIN has not come."""
    p, conn = fin_wait_1(orphan=orphan, **knob_values)
    assert p.feed(p.seg(ACK, seq=1, ack=2), at=1.01) == []
    assert conn.state == State.FIN_WAIT_2
    return p, conn


def closing(**knob_values: Any) -> tuple[Peer, Connection]:
    """Simultaneous close: the peer's FIN crossed ours at 1.0005; we ACKed it, ours is unacked."""
    p, conn = fin_wait_1(**knob_values)
    out = p.feed(p.seg(FIN | ACK, seq=1, ack=1), at=1.0005)
    assert conn.state == State.CLOSING
    assert p.rels(out) == [(".", 2, 2, 0)]
    return p, conn


def time_wait(*, ts: bool = False, **knob_values: Any) -> tuple[Peer, Connection]:
    """The peer's FIN+ACK came at 1.01 and we sent the last ACK: TIME-WAIT until 61.01 (unless
    the knobs leave no room for it: tcp_max_tw_buckets=0 closes at once)."""
    p, conn = fin_wait_1(ts=ts, **knob_values)
    extra: dict[str, Any] = {"ts_val": 200, "ts_ecr": 0} if ts else {}
    out = p.feed(p.seg(FIN | ACK, seq=1, ack=2, **extra), at=1.01)
    assert p.rels(out) == [(".", 2, 2, 0)]
    return p, conn


# ---------------------------------------------------------------------------- the peer closes first


def close_wait(**knob_values: Any) -> tuple[Peer, Connection]:
    """The peer's FIN came at 1.0; our ACK of it is delayed (until the next tick, 1.004: no data
    came, so ato is 0), the application not told yet."""
    p, conn = established(**knob_values)
    assert p.feed(p.seg(FIN | ACK, seq=1), at=1.0) == []
    assert conn.state == State.CLOSE_WAIT
    return p, conn


def last_ack(*, at: float = 2.0, **knob_values: Any) -> tuple[Peer, Connection]:
    """close() at `at` after the peer's FIN: our FIN (seq 1, ACKing theirs) is unacknowledged."""
    p, conn = close_wait(**knob_values)
    _close(p, conn, at)
    assert conn.state == State.LAST_ACK
    return p, conn
