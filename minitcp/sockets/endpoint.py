"""What every handle to one socket shares: Linux's open file description.

`dup()` makes another handle to the same endpoint; `close()` on a handle drops
one reference, and only the last one reaches TCP (Linux: the file's reference
count reaching zero calls tcp_close). Non-blocking mode lives here too, as
O_NONBLOCK lives on the open file description and is shared by dup()'d fds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from ..stack import Stack
    from ..tcp.connection import Connection
    from ..tcp.listener import Listener

# Options are replaced, never changed in place, so every endpoint without any (nearly all)
# and every accepted child of a listener can share one mapping instead of a dict each.
NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})


class Endpoint:
    __slots__ = ("autobound", "conn", "connecting", "family", "laddr", "listener", "lport", "nonblocking",
                 "options", "refs", "reuseaddr", "stack", "waiters", "watchers")

    def __init__(self, stack: Stack, family: int) -> None:
        self.stack = stack
        self.family = family  # AF_INET or AF_INET6: the addresses the socket takes and gives
        self.refs = 1
        self.conn: Connection | None = None
        self.listener: Listener | None = None
        self.laddr = 0
        self.lport = 0
        self.reuseaddr = False
        # connect() chose the port (Linux: no SOCK_BINDPORT_LOCK), so a failed attempt gives it back.
        self.autobound = False
        # Linux SS_CONNECTING: a connect() was started and its outcome not yet reported to a connect().
        self.connecting = False
        self.nonblocking = False
        # Options set before there is a connection, handed to it (or to the listener's children).
        self.options = NO_OPTIONS
        # The tasks blocked on this endpoint, newest first, linked through the waiters themselves:
        # nothing at all while nobody waits. (A trio ParkingLot per endpoint, with the frame and
        # closure of its park(), cost an idle connection ~1 KB.)
        self.waiters: _Waiter | None = None
        # Epoll instances watching this socket (readiness.Epoll): called on every wake-up.
        self.watchers: tuple[Callable[[Endpoint], None], ...] = ()

    @property
    def reuseport(self) -> bool:
        """SO_REUSEPORT (the port table reads it)."""
        return bool(self.options.get("reuseport"))

    def set_option(self, name: str, value: Any) -> None:
        self.options = {**self.options, name: value}

    def wait(self) -> Awaitable[None]:
        """Block the calling task until the next wake() (or until it is cancelled).

        A plain function returning trio's awaitable, so waiting adds no frame of its own.
        """
        waiter = self.waiters = _Waiter(self, trio.lowlevel.current_task(), self.waiters)
        return trio.lowlevel.wait_task_rescheduled(waiter)

    def add_watcher(self, watcher: Callable[[Endpoint], None]) -> None:
        self.watchers = (*self.watchers, watcher)

    def remove_watcher(self, watcher: Callable[[Endpoint], None]) -> None:
        self.watchers = tuple(w for w in self.watchers if w != watcher)

    def wake(self) -> None:
        """The engine says readiness changed: let every waiting task look again."""
        for watcher in self.watchers:
            watcher(self)
        waiter, self.waiters = self.waiters, None
        while waiter is not None:  # (trio runs the woken tasks in an order of its own choosing)
            trio.lowlevel.reschedule(waiter.task)
            waiter = waiter.next

    def attach(self, conn: Connection) -> None:
        self.conn = conn
        conn.user = self

    def release(self) -> None:
        """The last handle is gone: close the connection or listener, free the port."""
        stack = self.stack
        now = stack.now()  # the FIN's retransmission timer starts now, not at the last packet
        if self.listener is not None:
            self.listener.close(now)
            self.listener.user = None
        elif self.conn is not None:
            linger = self.options.get("linger")
            if linger is not None:
                self.conn.apply_option("linger", linger, now)
            self.conn.close(now)
            self.conn.user = None
        if self.lport:
            stack.ports.release(self, self.lport)
        stack.kick()
        self.wake()


class _Waiter:
    """One blocked task; trio calls it as the abort function when the wait is cancelled."""

    __slots__ = ("ep", "next", "task")

    def __init__(self, ep: Endpoint, task: trio.lowlevel.Task, after: _Waiter | None) -> None:
        self.ep = ep
        self.task = task
        self.next = after

    def __call__(self, _raise_cancel: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        # Still on the endpoint's chain: wake() reschedules every waiter it unlinks, and trio
        # never aborts a rescheduled task.
        ep = self.ep
        if ep.waiters is self:
            ep.waiters = self.next
        else:
            before = ep.waiters
            while before is not None and before.next is not self:
                before = before.next
            assert before is not None
            before.next = self.next
        return trio.lowlevel.Abort.SUCCEEDED
