"""What every minitcp server shares: a listener, one task per connection, counters, logging.

A server is an object with an async `handle(stream)` method; `serve()` opens a
listener on the stack and accepts in a loop, one task per accepted connection
(as `trio.serve_listeners` does, without its wrapper frame per connection, and
taking every connection already queued at each wake-up). A
connection that breaks (the peer reset it, even before the handler could ask
who it was; or vanished, and a timer gave up on it) is normal life for a
server and ends quietly, with one DEBUG line; a bug in a handler is logged with
its traceback and counted in `errors`, and the server goes on serving the
other connections.

So that a server's memory is bounded by its configuration and not by peers that
vanish, a connection silent for `idle_timeout` seconds is closed (idle.py;
counted in `idle_closed`), and with `keepalive` every accepted connection has
SO_KEEPALIVE, so the stack's keepalive timer (tcp_keepalive_time, _intvl,
_probes) finds a vanished peer out and resets the connection even before that.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from ..sockets.streams import SocketStream, open_tcp_listener
from .idle import IdleLimitedStream

if TYPE_CHECKING:
    from ..stack import Stack

log = logging.getLogger("minitcp.apps")

T = TypeVar("T")
DEFAULT_BACKLOG = 1024  # room for a burst of SYNs (Linux caps it at somaxconn, 4096)
# Seconds a connection may stay silent before the server closes it; 0: no limit. Five minutes:
# longer than any pause an interactive `nc` session or a slow client makes (Linux itself has
# no such limit; servers such as nginx default to 60 s between requests, as HttpServer does).
DEFAULT_IDLE_TIMEOUT = 300.0
# What socket calls raise when the peer ended the connection (reset, or gone silent until a
# retransmission or keepalive timer gave up): ENOTCONN from getpeername() on a connection reset
# before its handler ran, the rest from reads and writes. The errnos SocketStream turns into
# trio.BrokenResourceError; a handler calling the socket itself meets them as OSError.
PEER_GONE = frozenset({errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE, errno.ETIMEDOUT, errno.ECONNABORTED})


class AppServer:
    """Base class: subclasses set `name` and `default_port` and implement `handle`."""

    name = "app"
    default_port = 0
    # A server whose handler bounds idleness itself (HttpServer, between requests) sets this.
    handles_idle = False

    def __init__(self, *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT, keepalive: bool = False) -> None:
        if idle_timeout < 0:
            raise ValueError(f"idle_timeout must be 0 (none) or more seconds, not {idle_timeout}")
        self.idle_timeout = idle_timeout
        self.keepalive = keepalive  # SO_KEEPALIVE on every accepted connection
        self.idle_closed = 0  # connections closed for staying silent idle_timeout seconds
        self.connections = 0  # accepted so far
        self.active = 0  # being served now
        self.peak = 0  # the most ever served at once
        self.errors = 0  # handlers that failed with an unexpected exception
        self.port = 0  # set by serve()

    async def handle(self, stream: trio.abc.HalfCloseableStream) -> None:
        raise NotImplementedError

    async def serve(
        self,
        stack: Stack,
        port: int | None = None,
        *,
        backlog: int = DEFAULT_BACKLOG,
        family: int = socket.AF_INET,
        task_status: trio.TaskStatus[list[trio.abc.Listener[SocketStream]]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on `port` (default: the well-known one) and serve until cancelled.

        Use with `nursery.start(server.serve, stack)`: it returns once the port
        is listening, so a client may connect right away. With `family` AF_INET6
        it listens on both families (IPv4 clients as IPv4-mapped addresses).
        """
        self.port = self.default_port if port is None else port
        listener = open_tcp_listener(stack, self.port, backlog=backlog, family=family)
        if self.keepalive:
            # Accepted connections inherit it from the listener, as in Linux (inet_csk_clone_lock).
            listener.socket.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        async with trio.open_nursery() as nursery, listener:
            task_status.started([listener])
            while True:
                stream = await listener.accept()
                # Named by the server: trio would otherwise build a name string for every task.
                nursery.start_soon(self._run, stream, name=self.name)
                # The rest of a burst without a checkpoint (a scheduler round trip) each: one
                # schedule point per wake-up, as an epoll server accepts until EAGAIN.
                try:
                    while True:
                        nursery.start_soon(self._run, listener.accept_nowait(), name=self.name)
                except trio.WouldBlock:
                    pass

    async def _run(self, stream: trio.abc.HalfCloseableStream) -> None:
        self.connections += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.idle_timeout and not self.handles_idle:
                with trio.CancelScope() as scope:
                    await self.handle(IdleLimitedStream(stream, scope, self.idle_timeout))
                if scope.cancelled_caught:
                    self.idle_closed += 1
                    log.debug("%s server: closed a connection idle for %s s", self.name, self.idle_timeout)
            else:
                await self.handle(stream)
        except Exception as exc:
            if _peer_gone(exc):  # nothing left to do but forget the connection
                log.debug("%s server: the peer ended a connection: %s", self.name, exc)
            else:
                self.errors += 1
                log.exception("%s server: handler failed", self.name)
        finally:
            self.active -= 1
            if isinstance(stream, SocketStream):
                # What trio.aclose_forcefully does, without its cancelled scope and the Cancelled
                # raised and caught in it (~25 us a connection): closing a socket never blocks.
                stream.close()
            else:
                await trio.aclose_forcefully(stream)


def _peer_gone(exc: Exception) -> bool:
    """Whether `exc` is the peer's doing (see PEER_GONE), not a bug in the handler."""
    if isinstance(exc, trio.BrokenResourceError | trio.ClosedResourceError):
        return True
    return isinstance(exc, OSError) and exc.errno in PEER_GONE


def run_until_interrupted(async_fn: Callable[..., Awaitable[T]], *args: Any) -> T | None:
    """`trio.run(async_fn, *args)`, ended quietly by Ctrl-C (SIGINT) or SIGTERM.

    Returns what `async_fn` returned, or None when a signal cancelled it. The
    function's own `finally` blocks run either way (that is where a TunLink is
    closed and its device removed).
    """

    async def wrapper() -> T | None:
        result: T | None = None
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:

                async def body() -> None:
                    nonlocal result
                    result = await async_fn(*args)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(body)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break
        return result

    return trio.run(wrapper)


def example_parser(doc: str, port: int | None = None) -> argparse.ArgumentParser:
    """The command line every script in examples/ starts from: its docstring's first line, the
    TUN device it creates (--dev), and with `port` the port a server serves (--port)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--dev", default="mtcp0", help="TUN device name (default: %(default)s)")
    if port is not None:
        parser.add_argument("--port", type=int, default=port, help="port to serve (default: %(default)s)")
    return parser
