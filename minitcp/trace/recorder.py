"""The trace recorder: an engine observer that writes down everything, per connection.

One `Recorder` can watch one host (attach it as the engine's or the Stack's
observer) or several: `recorder.host("server")` is an observer that tags what
it sees with that name, and `recorder.watch(pair)` attaches one to each side of
an `EnginePair`, so the ladder diagram has both columns. Two recorders, one
per engine, work too: `merge(rec_a, rec_b)` puts their events in time order.

Sequence numbers are kept relative to each side's ISN, as Wireshark shows them
(and tcpdump without -S after the handshake): the SYN is seq 0, the first data
byte seq 1. Each host keeps its own bases, learnt from the SYNs it sees, so a
host that joins mid-connection still gets small numbers (first seq seen - 1).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from minitcp.tcp.cc import CaState
from minitcp.tcp.reqsk import RequestSock
from minitcp.tcp.states import State
from minitcp.tcp.tcpinfo import tcp_info
from minitcp.wire.errors import WireError
from minitcp.wire.ipv4 import PROTO_TCP
from minitcp.wire.segment import ACK, SYN, Segment, flag_str
from minitcp.wire.tcp import parse_tcp6_packet, parse_tcp_packet
from minitcp.wire.tso import wire_count

from .events import (
    CallEvent,
    CongestionEvent,
    DropEvent,
    Event,
    FaultEvent,
    PacketEvent,
    RetransmitEvent,
    SegmentEvent,
    StateEvent,
    TimerEvent,
    endpoint,
    seg_label,
    snapshot,
)

if TYPE_CHECKING:
    from minitcp.sockets.calls import SocketCall
    from minitcp.tcp.pair import EnginePair
    from minitcp.tcp.timers import TimerKind

MASK = 0xFFFFFFFF


def conn_endpoints(conn: object) -> tuple[str, str]:
    """(local, remote) of a Connection or a TIME_WAIT entry; ("", "") for anything else."""
    four = getattr(conn, "four_tuple", None)
    if four is None:
        return "", ""
    laddr, lport, raddr, rport = four
    return endpoint(laddr, lport), endpoint(raddr, rport)


class Recorder:
    """Records segments, states, timers, retransmissions, drops and faults as `Event`s.

    Used directly as an observer it records under `host` (default "local").
    `timers=False` leaves timer events out (delayed-ACK timers are chatty); `segments=False`
    leaves segments and retransmissions out (a long transfer would copy every segment), keeping
    states, drops and faults.
    """

    def __init__(self, host: str = "local", *, timers: bool = True, segments: bool = True) -> None:
        self.events: list[Event] = []
        self.record_timers = timers
        self.record_segments = segments
        self._default = HostObserver(self, host)
        self._views: dict[str, HostObserver] = {host: self._default}
        # (host, src, sport, dst, dport) -> the ISN of the side sending src -> dst, as that host knows it.
        self._bases: dict[tuple[str, int, int, int, int], int] = {}
        # host -> (the last segment object it sent, its event), to mark retransmissions.
        self._last_out: dict[str, tuple[Segment, SegmentEvent]] = {}
        # host -> id(handle) -> (the handle, kept so its id is not reused, its descriptor number).
        self._fds: dict[str, dict[int, tuple[object, int]]] = {}
        # Calls told as they started, by id: their events get the result when they return.
        self._pending: dict[int, tuple[object, CallEvent]] = {}
        # (host, id(connection)) -> its congestion state as last recorded (CongestionEvent).
        self._ca_states: dict[tuple[str, int], int] = {}

    # ------------------------------------------------------------------ attaching

    def host(self, name: str) -> HostObserver:
        """An observer that records into this recorder under the host name `name`."""
        view = self._views.get(name)
        if view is None:
            view = self._views[name] = HostObserver(self, name)
        return view

    def watch(self, pair: EnginePair, a: str = "client", b: str = "server") -> Recorder:
        """Observe both engines of an EnginePair, naming them `a` and `b`."""
        pair.a.observer = self.host(a)
        pair.b.observer = self.host(b)
        return self

    # ------------------------------------------------------------------ the Observer protocol

    def on_segment(self, conn: object | None, direction: str, seg: Segment, now: float) -> None:
        self._default.on_segment(conn, direction, seg, now)

    def on_state(self, conn: object, old: State, new: State, now: float) -> None:
        self._default.on_state(conn, old, new, now)

    def on_timer(self, conn: object, kind: TimerKind, action: str, deadline: float | None,
                 now: float) -> None:
        self._default.on_timer(conn, kind, action, deadline, now)

    def on_retransmit(self, conn: object, seg: Segment, now: float, reason: str = "") -> None:
        self._default.on_retransmit(conn, seg, now, reason)

    def on_drop(self, conn: object | None, reason: str, seg: Segment | None, now: float) -> None:
        self._default.on_drop(conn, reason, seg, now)

    def on_fault(self, direction: str, seg: Segment, action: str, now: float) -> None:
        self._default.on_fault(direction, seg, action, now)

    def on_tso(self, conn: object | None, seg: Segment, now: float) -> None:
        self._default.on_tso(conn, seg, now)

    def on_child(self, request: object, child: object, now: float) -> None:
        self._default.on_child(request, child, now)

    # ------------------------------------------------------------------ the Stack's packet hook

    def on_packet(self, direction: str, pkt: bytes | memoryview, now: float) -> None:
        """`Stack(on_packet=recorder.on_packet)`: every whole packet, ICMP included."""
        self._default.on_packet(direction, pkt, now)

    def on_call(self, call: SocketCall, now: float) -> None:
        """`stack.on_call = recorder.on_call`: the application's socket calls (sockets/calls.py)."""
        self._default.on_call(call, now)

    def fd(self, host: str, handle: object) -> int:
        """The descriptor number of `handle` on `host`, as a process with only stdin, stdout and
        stderr open would have it: the lowest one free (3, 4, ...), freed by close()."""
        table = self._fds.setdefault(host, {})
        entry = table.get(id(handle))
        if entry is None:
            taken = {fd for _, fd in table.values()}
            entry = table[id(handle)] = (handle, next(n for n in range(3, 4 + len(taken)) if n not in taken))
        return entry[1]

    def _closed(self, host: str, handle: object) -> None:
        self._fds.get(host, {}).pop(id(handle), None)

    def calls(self, host: str | None = None) -> list[CallEvent]:
        return [e for e in self.events if isinstance(e, CallEvent) and (host is None or e.host == host)]

    # ------------------------------------------------------------------ reading

    @property
    def hosts(self) -> list[str]:
        """Host names in the order they first appear in the trace."""
        return list(dict.fromkeys(e.host for e in self.events))

    def select(self, kind: str | None = None, *, host: str | None = None,
               conversation: tuple[str, str] | None = None) -> list[Event]:
        return [e for e in self.events
                if (kind is None or e.kind == kind) and (host is None or e.host == host)
                and (conversation is None or e.conversation == conversation)]

    def segments(self, host: str | None = None, direction: str | None = None) -> list[SegmentEvent]:
        """Segments `host` took in ("in") or handed out ("out"); both directions by default."""
        return [e for e in self.events if isinstance(e, SegmentEvent) and (host is None or e.host == host)
                and (direction is None or e.direction == direction)]

    def packets(self, host: str | None = None, direction: str | None = None) -> list[PacketEvent]:
        """Whole packets seen by the Stack's `on_packet` hook (only if the recorder was given it)."""
        return [e for e in self.events if isinstance(e, PacketEvent) and (host is None or e.host == host)
                and (direction is None or e.direction == direction)]

    def state_changes(self, conn: object | None = None, *, host: str | None = None,
                      lport: int | None = None, rport: int | None = None) -> list[StateEvent]:
        """State changes of one object (`conn`: a Connection or TIME_WAIT entry), or by ports."""
        return [e for e in self.events if isinstance(e, StateEvent)
                and (conn is None or e._conn_id == id(conn)) and (host is None or e.host == host)
                and (lport is None or _port(e.local) == lport)
                and (rport is None or _port(e.remote) == rport)]

    def state_path(self, conn: object | None = None, *, host: str | None = None,
                   lport: int | None = None, rport: int | None = None) -> list[State]:
        """The states gone through, starting with the first one left: [LISTEN, SYN_RECEIVED, ...]."""
        path: list[State] = []
        for e in self.state_changes(conn, host=host, lport=lport, rport=rport):
            if not path:
                path.append(State[e.old])
            path.append(State[e.new])
        return path

    def drops(self, host: str | None = None) -> list[DropEvent]:
        return [e for e in self.events if isinstance(e, DropEvent) and (host is None or e.host == host)]

    def drop_reasons(self, host: str | None = None) -> list[str]:
        """Why the engine ignored segments (or abandoned connections), in order."""
        return [e.reason for e in self.drops(host)]

    def retransmissions(self, host: str | None = None) -> list[RetransmitEvent]:
        return [e for e in self.events if isinstance(e, RetransmitEvent) and (host is None or e.host == host)]

    def conversations(self) -> dict[tuple[str, str], list[Event]]:
        """Events per connection (both hosts' views together), in order of first appearance."""
        out: dict[tuple[str, str], list[Event]] = {}
        for e in self.events:
            if e.local:
                out.setdefault(e.conversation, []).append(e)
        return out

    def to_dicts(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.events]

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dicts(), **kwargs)

    def forget(self, a: str, b: str) -> None:
        """Drop the ISN bases of the connection between endpoints `a` and `b` ("ip:port"): a long
        live trace (`minitcp up --web`) forgets each connection it has summed up."""
        ends = {a, b}
        self._bases = {key: base for key, base in self._bases.items()
                       if {endpoint(key[1], key[2]), endpoint(key[3], key[4])} != ends}

    def clear(self) -> None:
        self.events.clear()
        self._last_out.clear()
        self._fds.clear()
        self._pending.clear()
        self._ca_states.clear()

    # ------------------------------------------------------------------ relative numbers

    def relative(self, host: str, seg: Segment, learn: bool = True) -> tuple[int, int | None]:
        """(seq, ack) of `seg` relative to the ISNs `host` knows; learns the ISNs from it."""
        bases = self._bases
        fwd = (host, seg.src, seg.sport, seg.dst, seg.dport)
        rev = (host, seg.dst, seg.dport, seg.src, seg.sport)
        if learn:
            if seg.flags & SYN:
                bases[fwd] = seg.seq  # a new SYN is a new incarnation: start again
            elif fwd not in bases:
                bases[fwd] = (seg.seq - 1) & MASK
            if seg.flags & ACK and rev not in bases:
                bases[rev] = (seg.ack - 1) & MASK
        seq = (seg.seq - bases.get(fwd, 0)) & MASK
        ack = (seg.ack - bases.get(rev, 0)) & MASK if seg.flags & ACK else None
        return seq, ack

    def _options(self, host: str, seg: Segment) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        if seg.mss is not None:
            opts["mss"] = seg.mss
        if seg.wscale is not None:
            opts["wscale"] = seg.wscale
        if seg.sack_permitted:
            opts["sack_permitted"] = True
        if seg.ts_val is not None:
            opts["ts_val"], opts["ts_ecr"] = seg.ts_val, seg.ts_ecr or 0
        if seg.sack:
            # SACK blocks name the peer's bytes: relative to the other side's ISN, like ack.
            base = self._bases.get((host, seg.dst, seg.dport, seg.src, seg.sport), 0)
            opts["sack"] = [[(left - base) & MASK, (right - base) & MASK] for left, right in seg.sack]
        return opts


class HostObserver:
    """The Observer one engine talks to: records into a Recorder under one host name."""

    def __init__(self, recorder: Recorder, name: str) -> None:
        self.recorder = recorder
        self.name = name
        self._cut: list[int] | None = None  # [next index, count] while a TSO packet's pieces come
        # A listener's requests (reqsk.py) by id(): the event of their entry into SYN-RECEIVED,
        # which becomes their connection's when one is born of them (on_child).
        self._requests: dict[int, StateEvent] = {}

    def on_child(self, request: object, child: object, now: float) -> None:
        """The request `request` became the connection `child`: its entry into SYN-RECEIVED is
        the connection's (one object's state path, LISTEN -> SYN-RECEIVED -> ...)."""
        event = self._requests.pop(id(request), None)
        if event is not None:
            event._conn_id = id(child)

    def on_tso(self, conn: object | None, seg: Segment, now: float) -> None:
        """The engine's next `wire_count(seg)` "out" segments are the pieces of TSO packet `seg`."""
        self._cut = [0, wire_count(seg)]

    def _add(self, event: Event) -> None:
        self.recorder.events.append(event)

    def on_segment(self, conn: object | None, direction: str, seg: Segment, now: float) -> None:
        rec = self.recorder
        if not rec.record_segments:
            return
        src, dst = endpoint(seg.src, seg.sport), endpoint(seg.dst, seg.dport)
        local, remote = (src, dst) if direction == "out" else (dst, src)
        seq, ack = rec.relative(self.name, seg)
        event = SegmentEvent(
            now, self.name, local, remote, direction, flag_str(seg.flags), seq, ack, len(seg.payload),
            seg.window, rec._options(self.name, seg), seg.seq, seg.ack if seg.flags & ACK else None,
            _seg=snapshot(seg),
        )
        cut = self._cut
        if direction == "out" and cut is not None:
            event.tso = (cut[0], cut[1])
            cut[0] += 1
            if cut[0] >= cut[1]:
                self._cut = None
        elif direction == "in" and seg.gso and len(seg.payload) > seg.gso:
            event.gro = wire_count(seg)
        if direction == "out":
            self._congestion(conn, now)
        self._add(event)
        if direction == "out":
            rec._last_out[self.name] = (seg, event)

    def _congestion(self, conn: object | None, now: float) -> None:
        """A CongestionEvent when the sender's congestion state moved since its last segment: a
        sender changes state on an ACK or a timeout and sends right after, so its next segment is
        where the change shows (the engine reports no state change of its own)."""
        cc = getattr(getattr(conn, "recovery", None), "cc", None)
        if cc is None or conn is None:
            return
        key = (self.name, id(conn))
        state = int(cc.ca_state)
        old = self.recorder._ca_states.get(key, 0)  # a connection starts Open
        if state == old:
            return
        self.recorder._ca_states[key] = state
        info = tcp_info(conn, now)  # type: ignore[arg-type]
        self._add(CongestionEvent(now, self.name, *conn_endpoints(conn), CaState(old).name.title(),
                                  CaState(state).name.title(), info["snd_cwnd"], info["snd_ssthresh"],
                                  info["sacked"], info["lost"], info["retrans"]))

    def on_state(self, conn: object, old: State, new: State, now: float) -> None:
        event = StateEvent(now, self.name, *conn_endpoints(conn), old.name, new.name, _conn_id=id(conn))
        if isinstance(conn, RequestSock):
            if new == State.SYN_RECEIVED:
                self._requests[id(conn)] = event
            else:
                self._requests.pop(id(conn), None)
        self._add(event)

    def on_timer(self, conn: object, kind: TimerKind, action: str, deadline: float | None,
                 now: float) -> None:
        if self.recorder.record_timers:
            self._add(TimerEvent(now, self.name, *conn_endpoints(conn), kind.name, action, deadline))

    def on_retransmit(self, conn: object, seg: Segment, now: float, reason: str = "") -> None:
        # The engine reports the segment (on_segment) and then that it was a retransmission.
        if not self.recorder.record_segments:
            return
        last = self.recorder._last_out.get(self.name)
        if last is not None and last[0] is seg:
            last[1].retransmit = True
            last[1].reason = reason
            seq = last[1].seq
        else:
            seq, _ = self.recorder.relative(self.name, seg, learn=False)
        self._add(RetransmitEvent(now, self.name, *conn_endpoints(conn), flag_str(seg.flags), seq,
                                  len(seg.payload), reason))

    def on_drop(self, conn: object | None, reason: str, seg: Segment | None, now: float) -> None:
        label = None
        if conn is not None:
            local, remote = conn_endpoints(conn)
        elif seg is not None:  # an incoming segment nobody owns
            local, remote = endpoint(seg.dst, seg.dport), endpoint(seg.src, seg.sport)
        else:
            local = remote = ""
        if seg is not None:
            seq, ack = self.recorder.relative(self.name, seg, learn=False)
            label = seg_label(seg.flags, seq, ack, len(seg.payload))
        self._add(DropEvent(now, self.name, local, remote, reason, label))

    def on_fault(self, direction: str, seg: Segment, action: str, now: float) -> None:
        """A fault injector acted on `seg` on its way `direction` ("in"/"out") at this host."""
        src, dst = endpoint(seg.src, seg.sport), endpoint(seg.dst, seg.dport)
        local, remote = (src, dst) if direction == "out" else (dst, src)
        seq, ack = self.recorder.relative(self.name, seg)
        self._add(FaultEvent(now, self.name, local, remote, direction, action, flag_str(seg.flags), seq, ack,
                             len(seg.payload), _seg=snapshot(seg)))

    def on_call(self, call: SocketCall, now: float) -> None:
        rec = self.recorder
        started = rec._pending.pop(id(call), None)
        if started is not None:  # a call told as it started has returned: its result, in place
            event = started[1]
            event.ret, event.error, event.note = call.ret, call.error, call.note
            event.local, event.remote = call.local, call.remote
            return
        fd = call.fd if call.fd is not None else rec.fd(self.name, call.handle)
        ret = call.ret
        if call.new_handle is not None or call.new_fd is not None:
            ret = call.new_fd if call.new_fd is not None else rec.fd(self.name, call.new_handle)
        event = CallEvent(now, self.name, call.local, call.remote, call.call, fd, call.arg, ret, call.error,
                          call.note)
        self._add(event)
        if call.pending:
            rec._pending[id(call)] = (call, event)
        if call.call == "close" and call.fd is None:
            rec._closed(self.name, call.handle)

    def on_packet(self, direction: str, pkt: bytes | memoryview, now: float) -> None:
        data = bytes(pkt)  # the link's buffer is reused after the hook returns
        local = remote = ""
        version = data[0] >> 4 if data else 0
        if ((version == 4 and len(data) >= 20 and data[9] == PROTO_TCP)
                or (version == 6 and len(data) >= 40 and data[6] == PROTO_TCP)):
            try:
                seg = parse_tcp_packet(data) if version == 4 else parse_tcp6_packet(data)
            except WireError:
                pass  # still recorded: tcpdump shows a broken packet too
            else:
                src, dst = endpoint(seg.src, seg.sport), endpoint(seg.dst, seg.dport)
                local, remote = (src, dst) if direction == "out" else (dst, src)
        self._add(PacketEvent(now, self.name, local, remote, direction, len(data), _packet=data))


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1]) if address else -1


def merge(*sources: Recorder | Iterable[Event]) -> list[Event]:
    """Events of several recorders (or event lists) in time order; ties keep their order."""
    events: list[Event] = []
    for src in sources:
        events.extend(src.events if isinstance(src, Recorder) else src)
    return sorted(events, key=lambda e: e.time)
