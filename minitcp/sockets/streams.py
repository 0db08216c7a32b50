"""Trio adapters: minitcp sockets as `trio.abc.HalfCloseableStream` and `trio.abc.Listener`.

They behave like trio's own SocketStream and SocketListener, so code written
for `trio.serve_listeners`, h11 servers or `trio.testing` checks runs on
minitcp unchanged: `send_eof` is shutdown(SHUT_WR), a reset connection
raises BrokenResourceError, a closed stream ClosedResourceError.
"""

from __future__ import annotations

import errno
import operator
from typing import TYPE_CHECKING

import trio

from .addresses import AF_INET
from .socket import SHUT_WR, Socket

if TYPE_CHECKING:
    from ..stack import Stack

_BROKEN = (errno.ECONNRESET, errno.EPIPE, errno.ETIMEDOUT, errno.ENOTCONN, errno.ECONNABORTED)
DEFAULT_RECEIVE_SIZE = 65536


class SocketStream(trio.abc.HalfCloseableStream):
    __slots__ = ("_closed", "_eof_sent", "_receiving", "_sending", "socket")

    def __init__(self, sock: Socket) -> None:
        self.socket = sock
        self._sending = False
        self._receiving = False
        self._closed = False
        self._eof_sent = False

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("this stream was closed")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is using send_all")
        self._check_open()
        if self._eof_sent:
            raise trio.ClosedResourceError("can't send data after sending EOF")
        self._sending = True
        try:
            if not data:
                await trio.lowlevel.checkpoint()
                return
            await self.socket.sendall(data)
        except OSError as exc:
            raise self._translate(exc) from exc
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is using send_all")
        self._check_open()
        conn = self.socket.connection
        await self.socket._wait(lambda: conn is None or conn.writable)

    async def send_eof(self) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is using send_all")
        self._check_open()
        await trio.lowlevel.checkpoint()
        self._eof_sent = True
        try:
            self.socket.shutdown(SHUT_WR)
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:
                raise self._translate(exc) from exc

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._receiving:
            raise trio.BusyResourceError("another task is using receive_some")
        self._check_open()
        max_bytes = DEFAULT_RECEIVE_SIZE if max_bytes is None else operator.index(max_bytes)
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        self._receiving = True
        sock = self.socket
        try:
            # Socket.recv(max_bytes), inlined: an idle connection waits here, and a coroutine
            # frame fewer saves it ~250 B.
            ep = sock._live()
            conn = sock._connected(ep, for_send=False)
            parked = False
            while (data := conn.recv(max_bytes, ep.stack.now())) is None:
                await sock._park(ep, 0)
                sock._woken(ep)
                parked = True
            if data:  # the read may owe the peer an ACK or window update; end of stream owes nothing
                ep.stack.kick()
            if not parked:  # a call that parked has been a checkpoint already (see Socket.recv)
                await trio.lowlevel.checkpoint()
            return data
        except OSError as exc:
            raise self._translate(exc) from exc
        finally:
            self._receiving = False

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()

    def close(self) -> None:
        """Close at once: aclose() without its checkpoint (closing a minitcp socket never blocks)."""
        self._closed = True
        self.socket.close()

    def _translate(self, exc: OSError) -> Exception:
        if self._closed or exc.errno == errno.EBADF:
            return trio.ClosedResourceError("this stream was closed")
        if exc.errno in _BROKEN:
            return trio.BrokenResourceError(f"connection failed: {exc}")
        return exc


class SocketListener(trio.abc.Listener[SocketStream]):
    __slots__ = ("_closed", "socket")

    def __init__(self, sock: Socket) -> None:
        self.socket = sock
        self._closed = False

    async def accept(self) -> SocketStream:
        if self._closed:
            raise trio.ClosedResourceError("this listener was closed")
        try:
            sock = await self.socket._accept()
        except OSError as exc:
            if self._closed or exc.errno == errno.EBADF:
                raise trio.ClosedResourceError("this listener was closed") from exc
            raise
        return SocketStream(sock)

    def accept_nowait(self) -> SocketStream:
        """A connection already queued, taken without a checkpoint; trio.WouldBlock if none is.

        Not in trio's Listener: a server woken for one connection takes the rest of a burst
        this way, with one schedule point for all of them (as an epoll server accepts until
        EAGAIN).
        """
        if self._closed:
            raise trio.ClosedResourceError("this listener was closed")
        try:
            sock = self.socket._accept_nowait()
        except OSError as exc:
            if exc.errno == errno.EBADF:
                raise trio.ClosedResourceError("this listener was closed") from exc
            raise
        if sock is None:
            raise trio.WouldBlock
        return SocketStream(sock)

    async def aclose(self) -> None:
        self._closed = True
        self.socket.close()
        await trio.lowlevel.checkpoint()


async def open_tcp_stream(stack: Stack, host: str, port: int) -> SocketStream:
    """Connect to (host, port) from `stack`, like trio.open_tcp_stream."""
    sock = Socket(stack)
    try:
        await sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return SocketStream(sock)


def open_tcp_listener(stack: Stack, port: int, *, host: str = "", backlog: int = 128,
                      family: int = AF_INET) -> SocketListener:
    """A listener on `port` with SO_REUSEADDR, like trio.open_tcp_listeners (one address here).
    With `family` AF_INET6 and no `host` it takes both families (a dual-stack wildcard)."""
    import socket as _s

    sock = Socket(stack, family=family)
    sock.setsockopt(_s.SOL_SOCKET, _s.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return SocketListener(sock)
