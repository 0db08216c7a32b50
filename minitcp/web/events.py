"""The web event stream: each trace event (trace/events.py) as one JSON object for the page.

The recorder (trace/recorder.py) stays the only thing that watches the engine; `WebEvents`
only reads its events, in order, and says each one again in the shape docs/web-events.md
describes: a number (`id`), a time from the stream's start (`t`, seconds), the connection
(`conn`: its two endpoints sorted, as `Event.conversation`), and per kind the fields a browser
needs without knowing TCP's rules. What the ladder (trace/diagram.py) works out over a whole
trace, it works out here one event at a time, since a live page cannot wait for the end:
- an arriving segment names the transmission it is (`sent`: the id of the latest earlier "out"
  segment with the same fingerprint from another host), so the page draws one arrow across;
- a fault names the segment it acted on (`seg`), a retransmission the segment it marks;
- each segment carries the line tcpdump would print for it (`tcpdump`, relative numbers);
- a piece the host cut from one TSO packet says which (`tso`), a segment GRO joined on arrival
  names the transmissions it joins (`gro`).
Pending socket calls (an accept() told as it starts) are said as they were when read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from minitcp.trace import words
from minitcp.trace.events import (
    CallEvent,
    DropEvent,
    Event,
    FaultEvent,
    Fingerprint,
    PacketEvent,
    RetransmitEvent,
    SegmentEvent,
    StateEvent,
    TimerEvent,
    endpoint,
    fingerprint,
)
from minitcp.trace.tcpdump import RelativeSeq, describe_packet, describe_segment
from minitcp.wire import tso

VERSION = 1  # docs/web-events.md: bumped when a field changes meaning


def conn_key(e: Event) -> str:
    """The connection an event belongs to, as the page names it: "a b" (sorted endpoints); "" for none."""
    return " ".join(e.conversation) if e.local and e.remote else ""


class WebEvents:
    """Turns trace events into web events, remembering what later events refer to.

    `t0` is the stream's zero (default: the first event's time). Memory: one entry per
    distinct fingerprint sent (the last id of each) and one per connection, so a long run should
    `forget()` connections that closed (LiveFeed does, when the EventLog summarises one).
    """

    def __init__(self, t0: float | None = None, timewait_len: float = 60.0) -> None:
        self.t0 = t0
        self.timewait_len = timewait_len  # knobs.tcp_timewait_len: Linux's TCP_TIMEWAIT_LEN, 60 s
        self._tw: dict[tuple[str, str], float] = {}  # (host, conn) -> when its TIME_WAIT ends
        self.next_id = 0
        self._sent: dict[Fingerprint, tuple[int, str]] = {}  # fingerprint -> (id, host) of its latest "out"
        self._last_out: dict[str, int] = {}  # host -> id of its latest "out" segment
        self._tcpdump: dict[tuple[str, str], RelativeSeq] = {}  # (host, conn) -> tcpdump's memory of it
        self._tso_first: dict[str, int] = {}  # host -> id of the first piece of its latest TSO packet

    def convert_all(self, events: Iterable[Event]) -> list[dict[str, Any]]:
        return [out for e in events for out in self.convert(e)]

    def _new(self, e: Event, kind: str) -> dict[str, Any]:
        if self.t0 is None:
            self.t0 = e.time
        out: dict[str, Any] = {"id": self.next_id, "t": round(e.time - self.t0, 9), "kind": kind,
                               "host": e.host, "conn": conn_key(e), "local": e.local, "remote": e.remote}
        self.next_id += 1
        return out

    def convert(self, e: Event) -> list[dict[str, Any]]:
        """The web events for one trace event: one, and a TIME_WAIT timer beside a state change
        into or out of TIME_WAIT (the engine keeps TIME_WAIT in a table of its own, timewait.py,
        not as a connection timer, so the recorder sees no timer event for it)."""
        out = self._new(e, e.kind)
        more = []
        if isinstance(e, StateEvent) and "TIME_WAIT" in (e.old, e.new):
            more.append(self._timewait(e))
        if isinstance(e, SegmentEvent):
            self._segment(e, out)
        elif isinstance(e, FaultEvent):
            sent = self._sent.get(e.fingerprint)
            out.update(dir=e.direction, action=e.action, flags=e.flags, seq=e.seq, ack=e.ack, len=e.length,
                       label=e.label, seg=sent[0] if sent else None, src=e.src)
        elif isinstance(e, RetransmitEvent):
            out.update(flags=e.flags, seq=e.seq, len=e.length, seg=self._last_out.get(e.host))
        elif isinstance(e, StateEvent):
            out.update(old=e.old, new=e.new)
        elif isinstance(e, TimerEvent):
            deadline = None if e.deadline is None else round(out["t"] + e.deadline - e.time, 9)
            out.update(timer=e.timer, action=e.action, deadline=deadline)
        elif isinstance(e, DropEvent):
            out.update(reason=e.reason, segment=e.segment, text=words.drop_text(e.segment, e.reason),
                       text_zh=words.drop_text(e.segment, e.reason, "zh"))
        elif isinstance(e, CallEvent):
            out.update(call=e.call, fd=e.fd, arg=e.arg, ret=e.ret, error=e.error, note=e.note,
                       text=words.call_text(e), text_zh=words.call_text(e, "zh"))
        elif isinstance(e, PacketEvent):
            out.update(dir=e.direction, len=e.length, tcpdump=describe_packet(e.packet))
        return [out, *more]

    def _timewait(self, e: StateEvent) -> dict[str, Any]:
        key = (e.host, conn_key(e))
        timer = self._new(e, "timer")
        if e.new == "TIME_WAIT":  # tcp_time_wait(): the entry lives TCP_TIMEWAIT_LEN
            self._tw[key] = e.time + self.timewait_len
            timer.update(timer="TIME_WAIT", action="set", deadline=round(self._tw[key] - (self.t0 or 0.0), 9))
        else:
            end = self._tw.pop(key, e.time)
            action = "fire" if e.time >= end - 1e-6 else "cancel"  # cancel: reused or killed early
            timer.update(timer="TIME_WAIT", action=action, deadline=None)
        return timer

    def _segment(self, e: SegmentEvent, out: dict[str, Any]) -> None:
        seg = e.segment
        relative = self._tcpdump.setdefault((e.host, conn_key(e)), RelativeSeq())
        out.update(dir=e.direction, src=e.src, dst=e.dst, flags=e.flags, seq=e.seq, ack=e.ack, len=e.length,
                   win=e.window, options=e.options, label=e.label, retransmit=e.retransmit,
                   tcpdump=describe_segment(seg, relative))
        fp = e.fingerprint
        if e.direction == "out":
            self._sent[fp] = (out["id"], e.host)
            self._last_out[e.host] = out["id"]
            if e.tso is not None:  # a piece of one TSO packet: the pieces name the first one
                if e.tso[0] == 0:
                    self._tso_first[e.host] = out["id"]
                out["tso"] = {"index": e.tso[0], "count": e.tso[1], "first": self._tso_first.get(e.host)}
        elif e.gro:
            # Joined by GRO: it stands for the wire segments a cut of it gives (wire/tso.py, the
            # same cut the sender's host made), each the latest transmission of its bytes.
            joined = [self._sent.get(fingerprint(piece)) for piece in tso.split(seg)]
            out["gro"] = {"count": e.gro, "sent": [s[0] if s is not None and s[1] != e.host else None
                                                   for s in joined]}
            out["sent"] = out["gro"]["sent"][0]
        else:
            # The latest transmission of these bytes by another host is the one that arrived
            # (a retransmission, not the lost original): the rule of trace/diagram.py.
            sent = self._sent.get(fp)
            out["sent"] = sent[0] if sent is not None and sent[1] != e.host else None

    def forget(self, conn: str) -> None:
        """Drop what is remembered of a connection's segments (it closed: none will refer to them)."""
        ends = set(conn.split(" "))
        if len(ends) != 2:
            return
        self._tcpdump = {key: v for key, v in self._tcpdump.items() if key[1] != conn}
        self._tw = {key: v for key, v in self._tw.items() if key[1] != conn}
        self._sent = {fp: v for fp, v in self._sent.items()
                      if {endpoint(fp[0], fp[2]), endpoint(fp[1], fp[3])} != ends}


def counters_event(ev: WebEvents, t: float, host: str, moved: Mapping[str, int]) -> dict[str, Any]:
    """A synthetic event: the counters (Linux MIB names) that moved on `host`, with their deltas."""
    out = {"id": ev.next_id, "t": round(t - (ev.t0 or 0.0), 9), "kind": "counters", "host": host, "conn": "",
           "local": "", "remote": "", "moved": dict(moved)}
    ev.next_id += 1
    return out
