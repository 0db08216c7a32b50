"""Questions tests ask of a `trace.Recorder` by endpoints: which states a connection went through,
which events concern it. What the Recorder answers itself (`rec.drop_reasons()`,
`rec.segments()`) is asked of it directly.

The recorder keeps typed events (minitcp/trace/events.py) that name a connection by its two
endpoints as the reporting host sees them (`local`, `remote`), not by the object. So a connection
is matched by its endpoints: on one host those are its own, and on two hosts with different
addresses they tell the hosts apart. A TIME_WAIT entry has the endpoints of the connection it
took over and reports one change of its own, TIME_WAIT -> CLOSED.
"""

from __future__ import annotations

from typing import TypeVar

from minitcp.tcp.states import State
from minitcp.trace.events import Event, StateEvent
from minitcp.trace.recorder import Recorder, conn_endpoints

E = TypeVar("E", bound=Event)


def events_of(rec: Recorder, kind: type[E], conn: object | None = None) -> list[E]:
    """`rec`'s events of type `kind`, in order; only those about `conn` when it is given."""
    where = None if conn is None else conn_endpoints(conn)
    return [e for e in rec.events
            if isinstance(e, kind) and (where is None or (e.local, e.remote) == where)]


def state_changes(rec: Recorder, conn: object | None = None) -> list[tuple[State, State, float]]:
    """(old, new, time) of every state change, or of `conn`'s."""
    return [(State[e.old], State[e.new], e.time) for e in events_of(rec, StateEvent, conn)]


def state_path(rec: Recorder, conn: object) -> list[State]:
    """The states `conn` went through, starting with the first one it left."""
    changes = state_changes(rec, conn)
    return [changes[0][0], *(new for _, new, _ in changes)] if changes else []


def entered(rec: Recorder, lport: int, rport: int) -> list[State]:
    """The states the connection from our port `lport` to the peer's `rport` entered, in order
    (a later connection on the same ports continues the list)."""
    return [State[e.new] for e in events_of(rec, StateEvent)
            if e.local.endswith(f":{lport}") and e.remote.endswith(f":{rport}")]
