"""What the engine reports as it works: segments, state changes, timers, drops.

The engine calls these hooks only when an observer is attached, so tracing
costs nothing when nobody watches. Traces, ladder diagrams and labs are
observers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..wire.segment import Segment
    from .connection import Connection
    from .states import State
    from .timers import TimerKind


class Observer(Protocol):
    def on_segment(self, conn: object | None, direction: str, seg: Segment, now: float) -> None:
        """A segment the engine took in (`"in"`) or handed out (`"out"`)."""

    def on_state(self, conn: object, old: State, new: State, now: float) -> None:
        """A connection moved from one state to another."""

    def on_timer(self, conn: object, kind: TimerKind, action: str, deadline: float | None,
                 now: float) -> None:
        """A timer was set (`"set"`), fired (`"fire"`) or cancelled (`"cancel"`)."""

    def on_retransmit(self, conn: object, seg: Segment, now: float, reason: str = "") -> None:
        """A segment was sent again, and why (Linux-ish names): "RTO" (the retransmission
        timeout, SYN and FIN retries too), "TLP" (a loss probe), "RACK" (marked lost by time,
        RFC 8985), "fast retransmit" (the duplicate threshold, without SACK or RACK)."""

    def on_drop(self, conn: object | None, reason: str, seg: Segment | None, now: float) -> None:
        """A segment was ignored or a connection abandoned, with the reason."""


class BaseObserver:
    """Every hook as a no-op: an observer subclasses it and overrides only what it watches."""

    def on_segment(self, conn: object | None, direction: str, seg: Segment, now: float) -> None:
        pass

    def on_state(self, conn: object, old: State, new: State, now: float) -> None:
        pass

    def on_timer(self, conn: object, kind: TimerKind, action: str, deadline: float | None,
                 now: float) -> None:
        pass

    def on_retransmit(self, conn: object, seg: Segment, now: float, reason: str = "") -> None:
        pass

    def on_drop(self, conn: object | None, reason: str, seg: Segment | None, now: float) -> None:
        pass


class ForwardingObserver(BaseObserver):
    """Every hook passed on to `inner`, the observer it stands in front of (None: to nobody); a
    subclass overrides what it watches and calls super() to pass it on. `on_tso` and `on_child`
    (a listener's request became `child`, its Connection: Listener.birth_from_request) go on only
    where `inner` has it (the trace recorder's, which not every observer has)."""

    def __init__(self, inner: Observer | None) -> None:
        self.inner = inner

    def on_segment(self, conn: object | None, direction: str, seg: Segment, now: float) -> None:
        if self.inner is not None:
            self.inner.on_segment(conn, direction, seg, now)

    def on_state(self, conn: object, old: State, new: State, now: float) -> None:
        if self.inner is not None:
            self.inner.on_state(conn, old, new, now)

    def on_timer(self, conn: object, kind: TimerKind, action: str, deadline: float | None,
                 now: float) -> None:
        if self.inner is not None:
            self.inner.on_timer(conn, kind, action, deadline, now)

    def on_tso(self, conn: object | None, seg: Segment, now: float) -> None:
        on_tso = getattr(self.inner, "on_tso", None)
        if on_tso is not None:
            on_tso(conn, seg, now)

    def on_child(self, request: object, child: object, now: float) -> None:
        on_child = getattr(self.inner, "on_child", None)
        if on_child is not None:
            on_child(request, child, now)

    def on_retransmit(self, conn: object, seg: Segment, now: float, reason: str = "") -> None:
        if self.inner is not None:
            self.inner.on_retransmit(conn, seg, now, reason)

    def on_drop(self, conn: object | None, reason: str, seg: Segment | None, now: float) -> None:
        if self.inner is not None:
            self.inner.on_drop(conn, reason, seg, now)


def note_drop(conn: Connection, seg: Segment, reason: str) -> None:
    """`seg` was ignored by `conn`, for `reason`: told to the engine's observer, if one is attached."""
    obs = conn.engine.observer
    if obs is not None:
        obs.on_drop(conn, reason, seg, conn.engine.now)
