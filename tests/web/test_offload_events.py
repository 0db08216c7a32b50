"""TSO and GRO in the web events: the pieces the sending host cut from one TSO packet say so
(`tso`), and a segment GRO joined at the receiver names every transmission it joins (`gro`), so
the page draws each piece as one arrow that arrived (docs/web-events.md)."""

from __future__ import annotations

import trio
from trio.testing import MockClock

from minitcp.link.memory import memory_link_pair
from minitcp.stack import Stack
from minitcp.trace.recorder import Recorder
from minitcp.web.events import WebEvents

from ..helpers.stacks import connected


async def test_tso_pieces_and_a_gro_joined_arrival(autojump_clock: MockClock) -> None:
    la, lb = memory_link_pair(1500)
    rec = Recorder()
    a = Stack(la, "198.18.0.2", observer=rec.host("a"))  # TSO on (the default): the host cuts
    b = Stack(lb, "198.18.0.1", observer=rec.host("b"), gro=True)  # GRO as a NIC's host joins
    async with connected(a, b, "198.18.0.1", 80) as (client, server):
        await trio.sleep(1.0)  # past the initial ACK quickness: nothing else in flight
        await client.send(b"x" * 4344)  # three full MSS pieces of one TSO packet
        got = b""
        while len(got) < 4344:
            got += await server.recv(65536)
    events = WebEvents().convert_all(rec.events)
    pieces = [e for e in events if e["kind"] == "segment" and e["host"] == "a" and e["dir"] == "out"
              and e["len"] > 0]
    assert [p["len"] for p in pieces] == [1448] * 3
    first = pieces[0]["id"]
    assert [p["tso"] for p in pieces] == [{"index": i, "count": 3, "first": first} for i in range(3)]
    assert all("tso" not in e for e in events if e["kind"] == "segment" and e["len"] == 0)
    (joined,) = [e for e in events if e["kind"] == "segment" and e["host"] == "b" and e["dir"] == "in"
                 and e["len"] > 0]
    assert joined["len"] == 4344 and joined["gro"] == {"count": 3, "sent": [p["id"] for p in pieces]}
    assert joined["sent"] == pieces[0]["id"]
