"""Shared helpers for the TCP engine tests.

`Peer` drives ONE engine by hand: the test plays the remote end, builds each
segment itself (sequence numbers relative to its own ISN, acknowledgements
relative to the engine's ISN, which is read from the engine's SYN or SYN-ACK)
and gets back exactly what the engine sent. Timers fire in virtual time with
`Peer.run_until`. `Recorder` is an observer that keeps everything it is told.
`wire_log` turns an `EnginePair`'s wire into compact tuples for assertions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from minitcp.tcp.connection import Connection
from minitcp.tcp.engine import TcpEngine
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.pair import EnginePair, WireEvent
from minitcp.tcp.seq import MASK
from minitcp.tcp.states import State
from minitcp.tcp.timers import TimerKind
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, SYN, Segment, flag_str

LOCAL = ip_int("198.18.0.2")  # the engine under test
REMOTE = ip_int("198.18.0.1")  # the peer the test plays
LPORT = 80
RPORT = 40000
PEER_ISN = 1_000_000


def knobs(**values: Any) -> Knobs:
    k = Knobs()
    for name, value in values.items():
        k.set(name, value)
    return k


@dataclass
class Recorder:
    """An observer that records every hook call (the engine's `Observer` protocol)."""

    segments: list[tuple[str, Segment, float]] = field(default_factory=list)
    states: list[tuple[object, State, State, float]] = field(default_factory=list)
    timers: list[tuple[object, TimerKind, str, float | None, float]] = field(default_factory=list)
    retransmits: list[tuple[Segment, float]] = field(default_factory=list)
    drops: list[tuple[object | None, str, Segment | None, float]] = field(default_factory=list)

    def on_segment(self, conn: object | None, direction: str, seg: Segment, now: float) -> None:
        self.segments.append((direction, seg, now))

    def on_state(self, conn: object, old: State, new: State, now: float) -> None:
        self.states.append((conn, old, new, now))

    def on_timer(self, conn: object, kind: TimerKind, action: str, deadline: float | None,
                 now: float) -> None:
        self.timers.append((conn, kind, action, deadline, now))

    def on_retransmit(self, conn: object, seg: Segment, now: float) -> None:
        self.retransmits.append((seg, now))

    def on_drop(self, conn: object | None, reason: str, seg: Segment | None, now: float) -> None:
        self.drops.append((conn, reason, seg, now))

    def state_path(self, conn: object) -> list[State]:
        """The states `conn` went through, starting with the first one it left."""
        path: list[State] = []
        for c, old, new, _ in self.states:
            if c is conn:
                if not path:
                    path.append(old)
                path.append(new)
        return path

    def drop_reasons(self) -> list[str]:
        return [reason for _, reason, _, _ in self.drops]


class Peer:
    """A hand-played remote end for one engine.

    Segments the peer builds use `seq` relative to PEER_ISN (the SYN is 0, the
    first data byte 1) and `ack` relative to the engine's ISN. `rel()` maps
    the engine's segments back to the same relative numbers.
    """

    def __init__(self, knob: Knobs | None = None, *, mtu: int = 1500, lport: int = LPORT,
                 rport: int = RPORT, peer_isn: int = PEER_ISN) -> None:
        self.rec = Recorder()
        self.eng = TcpEngine(knob, mtu=mtu, observer=self.rec, secret=b"tcp-tests")
        self.lport, self.rport = lport, rport
        self.peer_isn = peer_isn
        self.iss = 0  # the engine's ISN, learnt from its SYN or SYN-ACK
        self.now = 0.0
        self.conn: Connection | None = None

    # ---------------------------------------------------------------- building and feeding

    def seg(self, flags: int, seq: int = 1, ack: int = 1, payload: bytes = b"", window: int = 65535,
            **options: Any) -> Segment:
        return Segment(REMOTE, LOCAL, self.rport, self.lport, (self.peer_isn + seq) & MASK,
                       (self.iss + ack) & MASK if flags & ACK else 0, flags, window, payload, **options)

    def feed(self, seg: Segment, at: float | None = None) -> list[Segment]:
        """Deliver `seg` at time `at` (default: now); return what the engine sent at once."""
        if at is not None:
            assert at >= self.now, "time runs forward"
            self.now = at
        self.eng.receive(seg, self.now)
        return self.eng.take_output()

    def out(self) -> list[Segment]:
        return self.eng.take_output()

    def run_until(self, t: float) -> list[tuple[float, Segment]]:
        """Fire every timer due up to `t`; each segment sent, with the time it was sent."""
        sent: list[tuple[float, Segment]] = []
        while True:
            deadline = self.eng.poll_at()
            if deadline is None or deadline > t:
                break
            self.now = max(self.now, deadline)
            self.eng.handle_timeout(self.now)
            sent += [(self.now, s) for s in self.eng.take_output()]
        self.now = max(self.now, t)
        return sent

    def run_until_sent(self, limit: float) -> tuple[float, Segment]:
        """Fire timers until the engine sends something (at most until `limit`); the first segment."""
        while True:
            deadline = self.eng.poll_at()
            assert deadline is not None and deadline <= limit, "nothing was sent"
            sent = self.run_until(deadline)
            if sent:
                return sent[0]

    # ---------------------------------------------------------------- reading the engine's segments

    def rel(self, s: Segment) -> tuple[str, int, int | None, int]:
        """(flags as tcpdump prints them, seq - our ISN, ack - peer ISN or None, payload length)."""
        ack = (s.ack - self.peer_isn) & MASK if s.flags & ACK else None
        return flag_str(s.flags), (s.seq - self.iss) & MASK, ack, len(s.payload)

    def rels(self, segs: list[Segment]) -> list[tuple[str, int, int | None, int]]:
        return [self.rel(s) for s in segs]

    def trels(self, sent: list[tuple[float, Segment]]) -> list[tuple[float, str, int, int | None, int]]:
        """`rels` with the send time (rounded to the microsecond) in front."""
        return [(round(t, 6), *self.rel(s)) for t, s in sent]

    # ---------------------------------------------------------------- common openings

    def syn_options(self, ts: bool = False, mss: int | None = 1460, wscale: int | None = 7,
                    sack: bool = True) -> dict[str, Any]:
        opts: dict[str, Any] = {"mss": mss, "wscale": wscale, "sack_permitted": sack}
        if ts:
            opts.update(ts_val=100, ts_ecr=0)
        return opts

    def accept(self, backlog: int = 5, *, at: float = 0.0, rtt: float = 0.01, ts: bool = False,
               **syn_opts: Any) -> Connection:
        """Listen, take the peer's SYN at `at`, ACK the SYN-ACK `rtt` later, accept."""
        lst = self.eng.listen(LOCAL, self.lport, backlog)
        opts = self.syn_options(ts=ts, **syn_opts)
        (synack,) = self.feed(self.seg(SYN, seq=0, window=64240, **opts), at=at)
        assert synack.flags == SYN | ACK
        self.iss = synack.seq
        extra = {"ts_val": 101, "ts_ecr": synack.ts_val} if ts else {}
        assert self.feed(self.seg(ACK, **extra), at=at + rtt) == []
        conn = lst.accept()
        assert conn is not None and conn.state == State.ESTABLISHED
        self.conn = conn
        return conn

    def connect(self, *, at: float = 0.0, rtt: float = 0.01, ts: bool = False, window: int = 65535,
                **syn_opts: Any) -> Connection:
        """Active open from the engine; the peer answers SYN-ACK `rtt` later."""
        self.now = at
        conn = self.eng.connect(LOCAL, self.lport, REMOTE, self.rport, at)
        (syn,) = self.out()
        assert syn.flags == SYN
        self.iss = syn.seq
        opts = self.syn_options(ts=ts, **syn_opts)
        if ts:
            opts["ts_ecr"] = syn.ts_val
        (ack,) = self.feed(self.seg(SYN | ACK, seq=0, ack=1, window=window, **opts), at=at + rtt)
        assert self.rel(ack) == (".", 1, 1, 0)
        assert conn.state == State.ESTABLISHED
        self.conn = conn
        return conn


# -------------------------------------------------------------------- EnginePair helpers


def pair_connect(p: EnginePair, lport: int = 40000, rport: int = 80, backlog: int = 5,
                 **options: Any) -> tuple[Connection, Connection]:
    """Open a connection a -> b through the pair's wire; return (client, server)."""
    lst = p.b.listeners.get((p.addr_b, rport)) or p.b.listen(p.addr_b, rport, backlog)
    client = p.a.connect(p.addr_a, lport, p.addr_b, rport, p.now, **options)
    p.run_for(0.01)
    server = lst.accept()
    assert server is not None
    assert client.state == State.ESTABLISHED and server.state == State.ESTABLISHED
    return client, server


def wire_log(events: list[WireEvent], isn: dict[str, int] | None = None, t0: float = 0.0
             ) -> list[tuple[float, str, str, int, int | None, int, bool]]:
    """(time - t0, sender, flags, seq, ack, payload length, delivered) per segment.

    With `isn` ({"a": client ISN, "b": server ISN}) seq and ack are relative.
    """
    out = []
    for e in events:
        s = e.seg
        other = "b" if e.sender == "a" else "a"
        seq = s.seq if isn is None else (s.seq - isn[e.sender]) & MASK
        ack: int | None = None
        if s.flags & ACK:
            ack = s.ack if isn is None else (s.ack - isn[other]) & MASK
        out.append((round(e.time - t0, 6), e.sender, flag_str(s.flags), seq, ack, len(s.payload),
                    e.delivered))
    return out


def isns(client: Connection, server: Connection) -> dict[str, int]:
    return {"a": client.iss, "b": server.iss}
