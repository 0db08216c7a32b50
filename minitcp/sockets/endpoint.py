"""What every handle to one socket shares: Linux's open file description.

`dup()` makes another handle to the same endpoint; `close()` on a handle drops
one reference, and only the last one reaches TCP (Linux: the file's reference
count reaching zero calls tcp_close). Non-blocking mode lives here too, as
O_NONBLOCK lives on the open file description and is shared by dup()'d fds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from ..stack import Stack
    from ..tcp.connection import Connection
    from ..tcp.listener import Listener


class Endpoint:
    __slots__ = ("autobound", "conn", "connecting", "laddr", "listener", "lot", "lport", "nonblocking",
                 "options", "refs", "reuseaddr", "stack")

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
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
        self.options: dict[str, Any] = {}
        self.lot = trio.lowlevel.ParkingLot()

    def wake(self) -> None:
        """The engine says readiness changed: let every waiting task look again."""
        self.lot.unpark_all()

    def attach(self, conn: Connection) -> None:
        self.conn = conn
        conn.user = self

    def release(self) -> None:
        """The last handle is gone: close the connection or listener, free the port."""
        stack = self.stack
        stack.sync_clock()  # the FIN's retransmission timer starts now, not at the last packet
        if self.listener is not None:
            self.listener.close()
            self.listener.user = None
        elif self.conn is not None:
            linger = self.options.get("linger")
            if linger is not None:
                self.conn.linger = linger
            self.conn.close()
            self.conn.user = None
        if self.lport:
            stack.ports.release(self, self.lport)
        stack.kick()
        self.wake()
