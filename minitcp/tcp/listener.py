"""A listening endpoint: the SYN queue and the accept queue (RFC 9293 section 3.10.7.2).

Half-open connections live in the SYN queue as full `Connection` objects in
SYN-RECEIVED (their buffers are not allocated until used). Linux's rules for
full queues (tcp_conn_request, tcp_check_req): a SYN that finds the accept
queue full is dropped; so is a final ACK, unless tcp_abort_on_overflow asks
for an RST. The accept queue holds backlog + 1 connections, as in Linux.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any

from ..wire.segment import ACK, FIN, RST, SYN, Segment
from .reset import reset_for
from .states import Event, State

if TYPE_CHECKING:
    from .connection import Connection
    from .engine import TcpEngine


class Listener:
    __slots__ = ("accept_queue", "backlog", "engine", "event_pending", "laddr", "lport", "options",
                 "syn_queue", "user")

    def __init__(self, engine: TcpEngine, laddr: int, lport: int, backlog: int) -> None:
        self.engine = engine
        self.laddr = laddr
        self.lport = lport
        self.backlog = min(max(backlog, 0), engine.knobs.somaxconn)
        self.syn_queue: dict[int, Connection] = {}
        self.accept_queue: collections.deque[Connection] = collections.deque()
        # Socket options new connections inherit (SO_RCVBUF, TCP_NODELAY, ...): name -> value.
        self.options: dict[str, Any] = {}
        self.user: Any = None
        self.event_pending = False

    state = State.LISTEN

    def accept_queue_full(self) -> bool:
        return len(self.accept_queue) > self.backlog

    def input(self, seg: Segment, isn: int | None = None) -> None:
        """A segment for no connection, to this listening port."""
        eng = self.engine
        flags = seg.flags
        if flags & RST:
            return
        if flags & ACK:
            # RFC 9293 section 3.10.7.2: an ACK reaching a listener is answered with RST.
            eng.emit_reply(reset_for(seg))
            return
        if not flags & SYN or flags & FIN:
            eng.note_drop(seg, "not a SYN, to a listening port")
            return
        if self.accept_queue_full():
            eng.counters["ListenOverflows"] += 1
            eng.counters["ListenDrops"] += 1
            eng.note_drop(seg, "accept queue full")
            return
        queued = len(self.syn_queue)
        if queued >= max(self.backlog, 1) or queued >= eng.knobs.tcp_max_syn_backlog:
            eng.counters["ListenDrops"] += 1
            eng.note_drop(seg, "SYN queue full")
            return
        conn = eng.new_connection(seg.dst, seg.dport, seg.src, seg.sport)
        conn.listener = self
        for name, value in self.options.items():
            conn.apply_option(name, value, eng.now)
        self.syn_queue[conn.key] = conn
        conn.passive_open(seg, isn)

    def established(self, conn: Connection) -> None:
        self.syn_queue.pop(conn.key, None)
        self.accept_queue.append(conn)
        self.engine.wake(self)

    def forget(self, conn: Connection) -> None:
        """A connection of ours went CLOSED. From the SYN queue it just goes; in the accept
        queue it stays, as in Linux: accept() still returns it and its first read reports
        the reset (ECONNRESET)."""
        self.syn_queue.pop(conn.key, None)

    def accept(self) -> Connection | None:
        """The oldest established connection, now the application's; None when there is none."""
        if not self.accept_queue:
            return None
        conn = self.accept_queue.popleft()
        conn.listener = None
        return conn

    def close(self, now: float) -> None:
        """Stop listening at time `now`. Linux (inet_csk_listen_stop) resets the connections
        nobody accepted."""
        eng = self.engine
        eng.begin_call(now)
        for conn in list(self.syn_queue.values()):
            conn.listener = None
            conn.orphan = True
            conn.drop(Event.LISTENER_CLOSED, reason="listener closed")
        while self.accept_queue:
            conn = self.accept_queue.popleft()
            conn.listener = None
            conn.abort(now)
        eng.stop_listening(self)
