"""The state machine's table (minitcp.tcp.states.TRANSITIONS), edge by edge, on a real engine.

For every (state, event) -> state of the table, one test brings an engine's connection to the
state, makes the event happen as the outside world would (a segment, a timer, a user call, an
ICMP error) and checks that the first state change the observer then sees is exactly that
edge. Builders in the style of smoltcp's tests (`reach(State.CLOSING, ...)`) get there.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from minitcp.tcp.connection import SHUT_WR, Connection
from minitcp.tcp.listener import Listener
from minitcp.tcp.seq import MASK
from minitcp.tcp.states import TRANSITIONS, Event, IllegalTransition, State, next_state
from minitcp.tcp.timers import TimerKind
from minitcp.trace.events import StateEvent
from minitcp.trace.recorder import Recorder
from minitcp.wire.icmp import ICMP_DEST_UNREACH, UNREACH_HOST
from minitcp.wire.segment import ACK, FIN, RST, SYN, Segment

from .peer import LOCAL, REMOTE, Peer, knobs

FAR = 100_000.0  # seconds of virtual time: longer than any timer's give-up (keepalive: 2 h 11 min)


class Tripwire(Recorder):
    """A trace Recorder that, once armed, raises on the next timer to fire, as a bug would."""

    armed = False

    def on_timer(self, conn: object, kind: TimerKind, action: str, deadline: float | None,
                 now: float) -> None:
        super().on_timer(conn, kind, action, deadline, now)
        if self.armed and action == "fire":
            self.armed = False
            raise RuntimeError("a bug, planted by the test")


def _state_changes(rec: Recorder) -> list[tuple[State, State]]:
    return [(State[e.old], State[e.new]) for e in rec.events if isinstance(e, StateEvent)]


@dataclass
class Setup:
    """What an event needs of the connection before it can happen."""

    knob: dict[str, Any] = field(default_factory=dict)
    user: bool = False  # SYN-RECEIVED: the application's own connection (simultaneous open)
    accept_full: bool = False  # SYN-RECEIVED: the listener's accept queue is full
    stuck: bool = False  # the peer's window is zero, with our data queued behind it
    keepalive: bool = False  # SO_KEEPALIVE on
    orphan: bool = False  # our side ended with close() (else shutdown(SHUT_WR))
    unread: bool = False  # data from the peer waits, unread


NEEDS: dict[Event, Setup] = {
    Event.CLOSE: Setup(user=True),
    Event.ABORT: Setup(user=True),
    Event.RCV_SYN_IN_WINDOW: Setup(knob={"tcp_insecure_syn": 1}),
    Event.PROBES_EXHAUSTED: Setup(stuck=True),
    Event.KEEPALIVE_EXHAUSTED: Setup(keepalive=True),
    Event.FIN_WAIT_2_TIMEOUT: Setup(orphan=True),
    Event.TIME_WAIT_FULL: Setup(knob={"tcp_max_tw_buckets": 0}),
    Event.CLOSE_UNREAD: Setup(unread=True),
    Event.RCV_DATA_AFTER_CLOSE: Setup(orphan=True),
    Event.ENGINE_ERROR: Setup(orphan=True),
    Event.ACCEPT_QUEUE_FULL: Setup(knob={"tcp_abort_on_overflow": 1}, accept_full=True),
    Event.OUT_OF_ORPHANS: Setup(knob={"tcp_max_orphans": 0}),
}


@dataclass
class Ctx:
    """One engine, the peer the test plays, and where their sequence numbers stand.

    `nxt` is the peer's next sequence number and `acked` the highest acknowledgement it sent,
    both relative as `Peer.seg` takes them; `fin` is where our FIN sits."""

    p: Peer
    rec: Tripwire
    window: int = 65535
    conn: Connection | None = None
    listener: Listener | None = None
    nxt: int = 1
    acked: int = 1
    fin: int = 1

    def feed(self, flags: int, payload: bytes = b"", *, seq: int | None = None, ack: int | None = None,
             **options: Any) -> list[Segment]:
        seg = self.p.seg(flags, seq=self.nxt if seq is None else seq, ack=self.acked if ack is None else ack,
                         payload=payload, window=self.window, **options)
        return self.p.feed(seg)

    def run_until(self, t: float) -> None:
        self.p.run_until(t)


# ---------------------------------------------------------------- the user's calls
# (kept here, so that a change of the engine's user API is a change in these few lines)


def _send(ctx: Ctx, data: bytes) -> None:
    assert ctx.conn is not None
    ctx.conn.send(data, ctx.p.now)


def _shutdown_wr(ctx: Ctx) -> None:
    assert ctx.conn is not None
    ctx.conn.shutdown(SHUT_WR, ctx.p.now)


def _close(ctx: Ctx) -> None:
    assert ctx.conn is not None
    ctx.conn.close(ctx.p.now)


def _abort(ctx: Ctx) -> None:
    assert ctx.conn is not None
    ctx.conn.abort(ctx.p.now)


def _set_option(ctx: Ctx, name: str, value: Any) -> None:
    assert ctx.conn is not None
    ctx.conn.apply_option(name, value, ctx.p.now)


def _listen(ctx: Ctx, backlog: int = 5) -> Listener:
    ctx.listener = ctx.p.eng.listen(LOCAL, ctx.p.lport, backlog)
    return ctx.listener


def _close_listener(ctx: Ctx) -> None:
    assert ctx.listener is not None
    ctx.listener.close(ctx.p.now)


def _active_open(ctx: Ctx) -> None:
    p = ctx.p
    ctx.conn = p.eng.connect(LOCAL, p.lport, REMOTE, p.rport, p.now)
    (syn,) = p.out()
    p.iss = syn.seq


# ---------------------------------------------------------------- reaching a state


def reach(state: State, setup: Setup) -> Ctx:
    """A fresh engine with a connection in `state`, prepared as `setup` asks."""
    p = Peer(knobs(**setup.knob))
    rec = Tripwire()
    p.eng.observer = rec  # in place of the Peer's own recorder, which then sees nothing
    ctx = Ctx(p, rec, window=0 if setup.stuck else 65535)
    if state == State.CLOSED:
        return ctx
    if state == State.LISTEN:
        _listen(ctx)
        return ctx
    if state == State.SYN_SENT:
        _active_open(ctx)
        return ctx
    if state == State.SYN_RECEIVED:
        if setup.user:
            _active_open(ctx)
            ctx.feed(SYN, seq=0, **p.syn_options())  # their SYN crosses ours
        else:
            _syn_to_listener(ctx, setup.accept_full)
        return ctx
    ctx.conn = p.connect(window=ctx.window)
    if setup.keepalive:
        _set_option(ctx, "keepalive", True)
    if setup.unread:
        ctx.feed(ACK, b"unread data")
        ctx.nxt += len(b"unread data")
    if setup.stuck:
        _send(ctx, b"stuck")  # waits for a window that never opens
        ctx.fin += len(b"stuck")
    if state == State.ESTABLISHED:
        return ctx
    if state in (State.CLOSE_WAIT, State.LAST_ACK):
        ctx.feed(FIN | ACK)
        ctx.nxt += 1
        if state == State.LAST_ACK:
            _end_sending(ctx, setup.orphan)
        return ctx
    _end_sending(ctx, setup.orphan)  # FIN-WAIT-1
    if state == State.CLOSING:
        ctx.feed(FIN | ACK)  # their FIN crosses ours
        ctx.nxt += 1
    elif state in (State.FIN_WAIT_2, State.TIME_WAIT):
        ctx.acked = ctx.fin + 1
        ctx.feed(ACK)
        if state == State.TIME_WAIT:
            ctx.feed(FIN | ACK)
            ctx.nxt += 1
    return ctx


def _end_sending(ctx: Ctx, orphan: bool) -> None:
    """Our FIN: close() makes the connection an orphan, shutdown(SHUT_WR) leaves it the user's."""
    if orphan:
        _close(ctx)
    else:
        _shutdown_wr(ctx)


def _syn_to_listener(ctx: Ctx, accept_full: bool) -> None:
    """The peer's SYN to a listener, answered by SYN-ACK; with `accept_full`, by the time our
    SYN-ACK is answered three other clients fill the accept queue (backlog 2 holds 3)."""
    p = ctx.p
    listener = _listen(ctx, backlog=2)
    if accept_full:
        _handshake(p, 40001)
        _handshake(p, 40002)
        waiting = _handshake(p, 40003, complete=False)
    (synack,) = ctx.feed(SYN, seq=0, **p.syn_options())
    p.iss = synack.seq
    if accept_full:
        waiting()
        assert listener.accept_queue_full()
    ctx.conn = next(c for c in listener.syn_queue.values() if c.rport == p.rport)
    ctx.nxt = 1


def _handshake(p: Peer, rport: int, complete: bool = True) -> Callable[[], None]:
    """Another client's handshake from `rport`; returns the final ACK, sent now or later."""
    p.eng.receive(Segment(REMOTE, LOCAL, rport, p.lport, 5000, 0, SYN, 64240, mss=1460), p.now)
    (synack,) = p.out()

    def final_ack() -> None:
        p.eng.receive(Segment(REMOTE, LOCAL, rport, p.lport, 5001, (synack.seq + 1) & MASK, ACK, 64240),
                      p.now)
        p.out()

    if complete:
        final_ack()
    return final_ack


# ---------------------------------------------------------------- making an event happen


def _rcv_fin(ctx: Ctx) -> None:
    ctx.feed(FIN | ACK)


def _rcv_ack_of_fin(ctx: Ctx) -> None:
    ctx.acked = ctx.fin + 1
    ctx.feed(ACK)


def _rcv_syn_in_window(ctx: Ctx) -> None:
    ctx.feed(SYN)  # at the sequence number we expect next: inside the window


def _new_syn(ctx: Ctx) -> None:
    _listen(ctx)  # somebody listens on the port: a new SYN may take the pair over
    ctx.feed(SYN, seq=ctx.nxt + 100_000, **ctx.p.syn_options())


def _give_up_retransmitting(ctx: Ctx) -> None:
    assert ctx.conn is not None
    if ctx.conn.state in (State.ESTABLISHED, State.CLOSE_WAIT):
        _send(ctx, b"never acknowledged")  # else a SYN or FIN is in flight already
    ctx.run_until(ctx.p.now + FAR)


def _icmp_unreachable(ctx: Ctx) -> None:
    assert ctx.conn is not None
    p = ctx.p
    p.eng.icmp_error(LOCAL, p.lport, REMOTE, p.rport, ctx.conn.iss, ICMP_DEST_UNREACH, UNREACH_HOST, p.now)


def _time_wait_full(ctx: Ctx) -> None:
    assert ctx.conn is not None
    if ctx.conn.state == State.FIN_WAIT_2:
        _rcv_fin(ctx)
    else:
        _rcv_ack_of_fin(ctx)


def _close_only(ctx: Ctx) -> None:
    assert ctx.conn is not None
    ctx.conn.close(ctx.p.now)


def _engine_error(ctx: Ctx) -> None:
    ctx.rec.armed = True
    ctx.run_until(ctx.p.now + FAR)


def _wait(ctx: Ctx) -> None:
    ctx.run_until(ctx.p.now + FAR)


ACT: dict[Event, Callable[[Ctx], object]] = {
    Event.ACTIVE_OPEN: _active_open,
    Event.CLOSE: _close,
    Event.RCV_SYN: lambda ctx: ctx.feed(SYN, seq=0, **ctx.p.syn_options()),
    Event.RCV_SYN_ACK: lambda ctx: ctx.feed(SYN | ACK, seq=0, **ctx.p.syn_options()),
    Event.RCV_ACK_OF_SYN: lambda ctx: ctx.feed(ACK),
    Event.RCV_FIN: _rcv_fin,
    Event.RCV_ACK_OF_FIN: _rcv_ack_of_fin,
    Event.TIMEOUT_2MSL: _wait,
    Event.RCV_RST: lambda ctx: ctx.feed(RST | ACK),
    Event.RCV_SYN_IN_WINDOW: _rcv_syn_in_window,
    Event.RCV_NEW_SYN: _new_syn,
    Event.RCV_DATA_AFTER_CLOSE: lambda ctx: ctx.feed(ACK, b"more data"),
    Event.ICMP_ERROR: _icmp_unreachable,
    Event.RETRIES_EXHAUSTED: _give_up_retransmitting,
    Event.PROBES_EXHAUSTED: _wait,
    Event.KEEPALIVE_EXHAUSTED: _wait,
    Event.FIN_WAIT_2_TIMEOUT: _wait,
    Event.TIME_WAIT_FULL: _time_wait_full,
    Event.CLOSE_UNREAD: _close,
    Event.ABORT: _abort,
    Event.SHUTDOWN_OPENING: _shutdown_wr,
    Event.LISTENER_CLOSED: _close_listener,
    Event.ACCEPT_QUEUE_FULL: lambda ctx: ctx.feed(ACK),
    Event.OUT_OF_ORPHANS: _close_only,
    Event.ENGINE_ERROR: _engine_error,
}

# Where the same two states are joined by several events, the counter (Linux's MIB name) only
# that event moves: proof that the edge was taken for the reason the test means.
COUNTED: dict[Event, str] = {
    Event.TIMEOUT_2MSL: "TW",
    Event.RCV_NEW_SYN: "TWRecycled",
    Event.PROBES_EXHAUSTED: "TCPWinProbe",
    Event.KEEPALIVE_EXHAUSTED: "TCPKeepAlive",
    Event.TIME_WAIT_FULL: "TCPTimeWaitOverflow",
    Event.CLOSE_UNREAD: "TCPAbortOnClose",
    Event.ACCEPT_QUEUE_FULL: "ListenOverflows",
    Event.OUT_OF_ORPHANS: "TCPAbortOnMemory",
    Event.ENGINE_ERROR: "TCPConnectionErrors",
}

# A listener is not a connection: it is in LISTEN from listen() to close() and reports no
# state change, so these two edges are checked on the engine's listeners instead (below).
LISTENER_EDGES = {(State.CLOSED, Event.PASSIVE_OPEN), (State.LISTEN, Event.CLOSE)}
CONNECTION_EDGES = sorted((edge for edge in TRANSITIONS.items() if edge[0] not in LISTENER_EDGES),
                          key=lambda edge: (edge[0][0], list(Event).index(edge[0][1])))


@pytest.mark.parametrize(("edge", "target"), CONNECTION_EDGES,
                         ids=[f"{s.name}-{e.name}" for (s, e), _ in CONNECTION_EDGES])
def test_edge_is_taken_by_the_engine(edge: tuple[State, Event], target: State) -> None:
    state, event = edge
    ctx = reach(state, NEEDS.get(event, Setup()))
    if ctx.conn is not None:
        assert ctx.conn.state == state, f"the builder did not reach {state.name}"
    if state == State.TIME_WAIT:
        assert ctx.p.eng.timewait_entries(), "no TIME_WAIT entry"
    seen = len(_state_changes(ctx.rec))
    counters = dict(ctx.p.eng.counters)
    ACT[event](ctx)
    changes = _state_changes(ctx.rec)[seen:]
    assert changes, f"{event.value!r} changed no state"
    assert changes[0] == (state, target)
    if event in COUNTED:
        assert COUNTED[event] in ctx.p.eng.counters.moved(counters)


def test_passive_open_makes_a_listener() -> None:
    ctx = reach(State.CLOSED, Setup())
    listener = _listen(ctx)
    assert listener.state == TRANSITIONS[State.CLOSED, Event.PASSIVE_OPEN] == State.LISTEN
    assert ctx.p.eng.listeners[(LOCAL, ctx.p.lport)] is listener


def test_close_of_a_listener_deletes_it() -> None:
    ctx = reach(State.LISTEN, Setup())
    _close_listener(ctx)
    assert TRANSITIONS[State.LISTEN, Event.CLOSE] == State.CLOSED
    assert ctx.p.eng.listeners == {}


# ---------------------------------------------------------------- the table itself


@pytest.mark.parametrize(("state", "event"), [
    (State.LISTEN, Event.RCV_FIN),
    (State.CLOSED, Event.RCV_ACK_OF_FIN),
    (State.TIME_WAIT, Event.CLOSE),
    (State.ESTABLISHED, Event.ACTIVE_OPEN),
    (State.SYN_SENT, Event.RCV_ACK_OF_SYN),
    (State.FIN_WAIT_2, Event.RETRIES_EXHAUSTED),
])
def test_next_state_refuses_an_edge_not_in_the_table(state: State, event: Event) -> None:
    with pytest.raises(IllegalTransition, match=f"{state.name} on {event.name}"):
        next_state(state, event)


def test_next_state_follows_the_table() -> None:
    for (state, event), target in TRANSITIONS.items():
        assert next_state(state, event) == target


def _reachable(start: State, edges: dict[State, set[State]]) -> set[State]:
    seen, todo = {start}, collections.deque([start])
    while todo:
        for nxt in edges[todo.popleft()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_every_state_is_reachable_and_can_end() -> None:
    forward: dict[State, set[State]] = collections.defaultdict(set)
    backward: dict[State, set[State]] = collections.defaultdict(set)
    for (state, _), target in TRANSITIONS.items():
        forward[state].add(target)
        backward[target].add(state)
    assert _reachable(State.CLOSED, forward) == set(State)
    assert _reachable(State.CLOSED, backward) == set(State)  # from every state CLOSED can be reached


def test_every_event_is_used_and_named_once() -> None:
    assert {event for _, event in TRANSITIONS} == set(Event)
    assert len(Event.__members__) == len(Event), "two events share a label (one became an alias)"
    assert set(ACT) | {Event.PASSIVE_OPEN} == set(Event)
