"""Two engines on an `EnginePair`'s simulated wire: open a connection, live a whole one, read
the wire as tuples.

Used by the engine tests (tests/tcp), the fault-injection tests (tests/stack) and the trace
tests (tests/tools), which all start from a connection opened through a pair.
"""

from __future__ import annotations

from typing import Any

from minitcp.tcp.connection import Connection
from minitcp.tcp.pair import EnginePair, WireEvent
from minitcp.tcp.seq import MASK
from minitcp.tcp.states import State
from minitcp.wire.segment import ACK, flag_str


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


def full_life(p: EnginePair) -> None:
    """Handshake, 100 bytes up, 300 bytes down, the client closes first, TIME_WAIT runs out."""
    client, server = pair_connect(p)
    client.send(b"x" * 100, p.now)
    p.run_for(0.1)
    assert server.recv(1000, p.now) == b"x" * 100
    server.send(b"y" * 300, p.now)
    p.run_for(0.1)
    assert client.recv(1000, p.now) == b"y" * 300
    client.close(p.now)
    p.run_for(0.1)
    server.close(p.now)
    p.run_for(61.0)


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
