"""`Peer`: the remote end of ONE engine, played by hand.

The test builds each segment itself (sequence numbers relative to its own ISN,
acknowledgements relative to the engine's ISN, which is read from the engine's
SYN or SYN-ACK) and gets back exactly what the engine sent. Timers fire in
virtual time with `Peer.run_until`. The engine's observer is a
`trace.Recorder` (`Peer.rec`); tests/helpers/recorded.py asks it questions.
"""

from __future__ import annotations

from typing import Any

from minitcp.tcp.connection import Connection
from minitcp.tcp.engine import TcpEngine
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.seq import MASK
from minitcp.tcp.states import State
from minitcp.trace.recorder import Recorder
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
        extra: dict[str, Any] = {"ts_val": 101, "ts_ecr": synack.ts_val} if ts else {}
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
