"""What a server keeps of the event stream: bounded, however long the page stays open.

Each connection's events go into a ring of their own (the newest `per_conn` kept); events of no
connection (ICMP packets, counters) into one shared ring. When a connection has ended on every
host that reported it (its last state CLOSED) it counts as closed; beyond the newest
`full_conns` closed ones, a closed connection's events are replaced by one `summary` event
(first and last time, segments, retransmissions, the states each host went through). Summaries
themselves are a ring of `summaries`. So memory is bounded by
per_conn x (open + full_conns) + summaries + the shared ring.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any

WebEvent = dict[str, Any]
Listener = Callable[[WebEvent], None]


class EventLog:
    def __init__(self, per_conn: int = 2000, full_conns: int = 50, summaries: int = 1000,
                 shared: int = 2000) -> None:
        self.per_conn = per_conn
        self.full_conns = full_conns
        self._conns: dict[str, deque[WebEvent]] = {}
        self._last_state: dict[str, dict[str, str]] = {}  # conn -> host -> its latest state
        self._closed: OrderedDict[str, None] = OrderedDict()  # closed conns still kept whole, oldest first
        self._summaries: deque[WebEvent] = deque(maxlen=summaries)
        self._shared: deque[WebEvent] = deque(maxlen=shared)
        self.listeners: set[Listener] = set()
        self.on_close: Callable[[str], None] | None = None  # told each connection summarised

    def add(self, events: Iterable[WebEvent]) -> None:
        for e in events:
            conn = e.get("conn") or ""
            if conn:
                ring = self._conns.get(conn)
                if ring is None:
                    ring = self._conns[conn] = deque(maxlen=self.per_conn)
                ring.append(e)
                if e["kind"] == "state":
                    self._state(conn, e["host"], e["new"])
            else:
                self._shared.append(e)
            for listener in list(self.listeners):
                listener(e)

    def _state(self, conn: str, host: str, new: str) -> None:
        states = self._last_state.setdefault(conn, {})
        states[host] = new
        if all(s == "CLOSED" for s in states.values()):
            self._closed[conn] = None
            while len(self._closed) > self.full_conns:
                self._summarise(self._closed.popitem(last=False)[0])
        else:
            self._closed.pop(conn, None)  # reopened (a new incarnation of the four-tuple)

    def _summarise(self, conn: str) -> None:
        ring = self._conns.pop(conn, deque())
        self._last_state.pop(conn, None)
        paths: dict[str, list[str]] = {}
        for e in ring:
            if e["kind"] == "state":
                path = paths.setdefault(e["host"], [e["old"]])
                path.append(e["new"])
        last = ring[-1] if ring else {"id": -1, "t": 0.0}
        self._summaries.append({
            "id": last["id"], "t": last["t"], "kind": "summary", "host": "", "conn": conn, "local": "",
            "remote": "", "first": ring[0]["t"] if ring else 0.0, "events": len(ring),
            "segments": sum(1 for e in ring if e["kind"] == "segment" and e["dir"] == "out"),
            "retransmits": sum(1 for e in ring if e["kind"] == "retransmit"), "states": paths,
        })
        if self.on_close is not None:
            self.on_close(conn)

    def replay(self, after: int = -1) -> list[WebEvent]:
        """Everything kept with an id above `after`: summaries first, then events in order."""
        kept = [e for ring in self._conns.values() for e in ring] + list(self._shared)
        return ([s for s in self._summaries if s["id"] > after]
                + sorted((e for e in kept if e["id"] > after), key=lambda e: e["id"]))

    def __len__(self) -> int:
        return sum(len(r) for r in self._conns.values()) + len(self._shared) + len(self._summaries)
