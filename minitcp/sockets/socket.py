"""The BSD socket API on minitcp, async, with Linux's errors and close/shutdown semantics.

A `Socket` is one handle (one file descriptor, in Linux terms). Blocking calls
wait on the endpoint, which the stack wakes whenever the engine reports a
change; in non-blocking mode they raise BlockingIOError
(EAGAIN, or EINPROGRESS for connect) instead. Errors are OSError with the
errno Linux gives.
"""

from __future__ import annotations

import errno
import math
import operator
import os
import socket as _s
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from ..tcp import tcpinfo
from ..tcp.connection import SHUT_RD, SHUT_RDWR, SHUT_WR
from ..tcp.family import ANY6, IPV4_MAX
from ..tcp.states import State
from . import readiness
from .addresses import AF_INET, AF_INET6, FAMILIES, parse, sockaddr
from .endpoint import Endpoint
from .options import TCP_CM_INQ, get_option, set_option, tcp_options

if TYPE_CHECKING:
    from ..stack import Stack
    from ..tcp.listener import Listener

# Plain ints: `flags & MSG_DONTWAIT` with the socket module's IntFlag members runs enum.Flag's
# Python-level __and__ (~1 us) on every wait.
MSG_PEEK = int(_s.MSG_PEEK)
MSG_DONTWAIT = int(_s.MSG_DONTWAIT)
MSG_WAITALL = int(_s.MSG_WAITALL)
MSG_OOB = int(_s.MSG_OOB)
MSG_EOR = int(_s.MSG_EOR)
MSG_MORE = 0x8000  # include/linux/socket.h (Python's socket module lacks it)
MSG_NOSIGNAL = int(_s.MSG_NOSIGNAL)
# The flags each call understands; any other is refused with EOPNOTSUPP rather than ignored.
# MSG_OOB (urgent data) is not implemented: refused, never half-done.
_SEND_FLAGS = MSG_DONTWAIT | MSG_MORE | MSG_NOSIGNAL | MSG_EOR
_RECV_FLAGS = MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL
__all__ = ["MSG_DONTWAIT", "MSG_PEEK", "SHUT_RD", "SHUT_RDWR", "SHUT_WR", "Socket"]


class Socket:
    """One handle to a TCP endpoint of a `Stack`: `family` AF_INET (the default) or AF_INET6,
    which takes IPv4 peers too, as IPv4-mapped addresses, unless IPV6_V6ONLY is set."""

    __slots__ = ("_closed", "_ep")

    def __init__(self, stack: Stack, endpoint: Endpoint | None = None, *, family: int = AF_INET) -> None:
        if endpoint is None:
            if family not in FAMILIES:
                # Linux __sock_create: no protocol family registered for it.
                raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
            endpoint = Endpoint(stack, family)
        self._ep = endpoint
        self._closed = False
        if stack.on_call is not None and type(self) is Socket:
            # A stack whose calls are traced makes TracedSockets (sockets/calls.py): the same
            # slots, so the class can be swapped; untraced sockets pay this one test.
            from .calls import TracedSocket

            self.__class__ = TracedSocket

    # ------------------------------------------------------------------ handles

    def dup(self) -> Socket:
        """Another handle to the same connection (dup(2)): close() on one leaves the other working."""
        ep = self._live()
        ep.refs += 1
        return Socket(ep.stack, ep)

    def close(self) -> None:
        """Release this handle; the last release closes the connection (FIN, or RST by Linux's rules)."""
        if self._closed:
            return
        self._closed = True
        ep = self._ep
        ep.refs -= 1
        if ep.refs == 0:
            ep.release()
        else:
            ep.wake()  # tasks blocked on this handle see EBADF

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _live(self) -> Endpoint:
        """The endpoint of an open handle."""
        if self._closed:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return self._ep

    @property
    def family(self) -> int:
        return self._ep.family

    @property
    def refs(self) -> int:
        return self._ep.refs

    @property
    def state(self) -> State:
        ep = self._ep
        if ep.listener is not None:
            return State.LISTEN
        conn = ep.conn
        if conn is None:
            return State.CLOSED
        if conn.state == State.TIME_WAIT:
            # Linux tcp_time_wait: the pair's TIME_WAIT lives on in an entry that belongs to no
            # socket (`ss` and the engine's table show it), and the socket itself is CLOSE, as
            # its TCP_INFO says (and stays so when the entry ends, 60 s later or by an RST).
            return State.CLOSED
        return conn.state

    @property
    def connection(self) -> Any:
        """The engine's connection (for looking: timers, counters, info())."""
        return self._ep.conn

    # ------------------------------------------------------------------ addresses

    def bind(self, address: tuple) -> None:
        ep = self._live()
        laddr, port = parse(ep.family, address, errno.EADDRNOTAVAIL)
        if ep.lport:
            raise OSError(errno.EINVAL, "socket is already bound")
        if laddr and laddr <= IPV4_MAX and ep.options.get("v6only"):
            # Linux __inet6_bind: a v4-mapped address on a v6-only socket "makes no sense".
            raise OSError(errno.EINVAL, "Invalid argument (IPv4-mapped address, IPV6_V6ONLY set)")
        if laddr not in (0, ep.stack.addr, ep.stack.addr6):
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        ep.laddr = laddr  # the port table compares it with the port's other sockets'
        try:
            ep.lport = ep.stack.ports.bind(ep, port)
        except OSError:
            ep.laddr = 0
            raise

    def getsockname(self) -> tuple:
        ep = self._live()
        return sockaddr(ep.family, ep.laddr, ep.lport)

    def getpeername(self) -> tuple:
        ep = self._live()
        conn = ep.conn
        if conn is None or conn.state in (State.SYN_SENT, State.CLOSED):
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        return sockaddr(ep.family, conn.raddr, conn.rport)

    # ------------------------------------------------------------------ passive open

    def listen(self, backlog: int = 128) -> None:
        ep = self._live()
        if ep.conn is not None:
            raise OSError(errno.EINVAL, "Invalid argument (socket is connected)")
        if ep.listener is not None:
            ep.listener.backlog = min(max(backlog, 0), ep.stack.engine.knobs.somaxconn)
            return
        if not ep.lport:
            ep.lport = ep.stack.ports.bind(ep, 0)
        else:
            ep.stack.ports.check_listen(ep, ep.lport)
        laddr, dual_stack = ep.laddr, False
        if ep.family == AF_INET6 and not laddr:
            # The IPv6 wildcard, IPv4's too unless IPV6_V6ONLY (Linux's bindv6only=0 default).
            laddr, dual_stack = ANY6, not ep.options.get("v6only")
        ep.listener = ep.stack.engine.listen(laddr, ep.lport, backlog, dual_stack)
        ep.listener.user = ep
        ep.listener.options = tcp_options(ep)

    async def accept(self) -> tuple[Socket, tuple]:
        sock = await self._accept()
        conn = sock._ep.conn
        assert conn is not None  # an accepted socket is born with its connection
        return sock, sockaddr(sock._ep.family, conn.raddr, conn.rport)

    async def _accept(self) -> Socket:
        """accept() without the peer's address, which SocketListener does not use."""
        ep = self._live()
        listener = ep.listener
        if listener is None:
            raise OSError(errno.EINVAL, "Invalid argument (socket is not listening)")
        await self._wait(lambda: bool(listener.accept_queue) or ep.listener is not listener)
        if ep.listener is not listener:
            # shutdown(SHUT_RD) stopped the listener: Linux wakes blocked accept() calls with EINVAL.
            raise OSError(errno.EINVAL, "Invalid argument (socket no longer listening)")
        return self._take_queued(ep, listener)

    def _accept_nowait(self) -> Socket | None:
        """The next connection already in the accept queue, without waiting or a checkpoint;
        None when the queue is empty."""
        ep = self._live()
        listener = ep.listener
        if listener is None:
            raise OSError(errno.EINVAL, "Invalid argument (socket is not listening)")
        return self._take_queued(ep, listener) if listener.accept_queue else None

    @staticmethod
    def _take_queued(ep: Endpoint, listener: Listener) -> Socket:
        """The head of the accept queue as a new socket."""
        conn = listener.accept()
        assert conn is not None
        child = Endpoint(ep.stack, ep.family)
        child.laddr, child.lport = conn.laddr, conn.lport
        # Linux sk_clone_lock: the new socket inherits the listener's options (SO_LINGER,
        # SO_REUSEADDR, TCP_NODELAY, ...); the connection got them from the listener already,
        # and getsockopt() and close() read them here. O_NONBLOCK is not inherited (accept(2)).
        child.options = ep.options
        child.reuseaddr = ep.reuseaddr
        child.attach(conn)
        # No kick(): taking a connection off the accept queue gives the engine nothing to send,
        # no event and no timer.
        return Socket(ep.stack, child)

    # ------------------------------------------------------------------ active open

    async def connect(self, address: tuple) -> None:
        """Active open; raises ECONNREFUSED, ETIMEDOUT, ENETUNREACH like Linux's connect(2)."""
        ep = self._live()
        stack = ep.stack
        if ep.listener is not None:
            # Linux __inet_stream_connect: an unconnected socket whose TCP state is not CLOSE.
            raise OSError(errno.EISCONN, "Transport endpoint is already connected (listening)")
        if ep.conn is not None:
            if ep.connecting:
                return await self._finish_connect(ep, again=True)
            if ep.conn.state != State.CLOSED:
                raise OSError(errno.EISCONN, "Transport endpoint is already connected")
            _detach(ep)  # shutdown() abandoned an attempt: unconnected, free to begin anew
        raddr, port = parse(ep.family, address, errno.ENETUNREACH)
        # An IPv4 peer is reached from the IPv4 address, an IPv6 one from the IPv6 address (a
        # v6-only socket has no IPv4 route: Linux tcp_v6_connect's ENETUNREACH for a mapped one).
        laddr = stack.addr if raddr <= IPV4_MAX else stack.addr6
        if laddr is None or not stack.on_link(raddr) or (raddr <= IPV4_MAX and ep.options.get("v6only")):
            raise OSError(errno.ENETUNREACH, "Network is unreachable (only the link's subnet is routed)")
        if ep.lport and stack.engine.connect_blocked(laddr, ep.lport, raddr, port, stack.now(), bound=True):
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        if not ep.lport:
            ep.lport = stack.ports.connect_port(ep, laddr, raddr, port, stack.now())
            ep.autobound = True
        ep.laddr = laddr
        conn = stack.engine.connect(laddr, ep.lport, raddr, port, stack.now(),
                                    **tcp_options(ep))
        ep.attach(conn)
        stack.kick()
        await self._finish_connect(ep, again=False)

    async def _finish_connect(self, ep: Endpoint, again: bool) -> None:
        """Wait for (or, non-blocking, report) the handshake's outcome, as Linux's connect(2) does.

        Until a connect() has reported the outcome the socket stays "connecting"
        (SS_CONNECTING): after a non-blocking connect, the first connect() once
        the handshake is done returns success and only later ones give EISCONN.
        A failure is reported once; the socket is then unconnected again
        (Linux tcp_disconnect), so connect() may be tried anew.
        """
        conn = ep.conn
        assert conn is not None
        ep.connecting = True
        if conn.state in (State.SYN_SENT, State.SYN_RECEIVED):
            if ep.nonblocking:
                raise BlockingIOError(errno.EALREADY if again else errno.EINPROGRESS,
                                      "Operation now in progress")
            await self._wait(lambda: conn.state not in (State.SYN_SENT, State.SYN_RECEIVED))
        ep.connecting = False
        if conn.state != State.CLOSED:
            return
        # RST, timeout, or the error was read from SO_ERROR already (Linux: ECONNABORTED then).
        err = conn.take_error() or errno.ECONNABORTED
        _detach(ep)
        raise OSError(err, os.strerror(err))

    # ------------------------------------------------------------------ data

    async def send(self, data: bytes | bytearray | memoryview, flags: int = 0) -> int:
        """Queue some bytes; waits for room (EAGAIN when non-blocking). EPIPE after SHUT_WR."""
        ep = self._live()
        if flags & ~_SEND_FLAGS:
            raise OSError(errno.EOPNOTSUPP, f"send flags {flags & ~_SEND_FLAGS:#x} not supported by minitcp "
                          "(MSG_OOB: urgent data)")
        conn = self._connected(ep, for_send=True)
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        if not view:
            await trio.lowlevel.checkpoint()
            return 0
        more, eor = bool(flags & MSG_MORE), bool(flags & MSG_EOR)
        while True:
            n = conn.send(view, ep.stack.now(), more, eor)
            if n:
                ep.stack.kick()
                await trio.lowlevel.checkpoint()
                return n
            await self._wait(lambda: conn.writable, flags)

    async def sendall(self, data: bytes | bytearray | memoryview, flags: int = 0) -> None:
        view = memoryview(data).cast("B")
        while view:
            n = await self.send(view, flags)
            view = view[n:]

    async def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Up to bufsize bytes; b"" at end of stream. MSG_PEEK leaves them queued."""
        ep = self._live()
        bufsize = operator.index(bufsize)
        if bufsize < 0:
            raise OSError(errno.EINVAL, "negative buffer size")
        if flags & ~_RECV_FLAGS:
            raise OSError(errno.EOPNOTSUPP, f"recv flags {flags & ~_RECV_FLAGS:#x} not supported by minitcp "
                          "(MSG_OOB: urgent data)")
        conn = self._connected(ep, for_send=False)
        if flags & MSG_WAITALL and not flags & MSG_PEEK and bufsize:
            return await self._recv_waitall(ep, conn, bufsize, flags)
        if bufsize == 0:
            # Linux tcp_recvmsg: zero bytes asked for are "copied" at once; it never waits.
            await trio.lowlevel.checkpoint()
            return b""
        peek = bool(flags & MSG_PEEK)
        # Not _wait(lambda: conn.readable): an idle connection spends its life here, and the
        # closure and the extra frame would cost it ~500 B. recv() is None exactly when unreadable.
        # (SocketStream.receive_some has this loop too, to save a frame more.)
        parked = False
        while (data := conn.recv(bufsize, ep.stack.now(), peek)) is None:
            await self._park(ep, flags)
            self._woken(ep)
            parked = True
        if data:  # the read may owe the peer an ACK or window update; end of stream owes nothing
            ep.stack.kick()
        if not parked:
            # Every call is a checkpoint, and one that parked has been one (a schedule point and a
            # cancel point): another costs a trip through the scheduler. Trio's own sockets also
            # checkpoint only when the first attempt succeeds.
            await trio.lowlevel.checkpoint()
        return data

    async def _recv_waitall(self, ep: Endpoint, conn: Any, bufsize: int, flags: int) -> bytes:
        """MSG_WAITALL: wait for all `bufsize` bytes (Linux tcp_recvmsg's target = len); less
        only at end of stream, on an error after some bytes (the error waits for the next
        call, as sk_err does), or when a non-blocking call would wait."""
        parts: list[bytes] = []
        got = 0
        while got < bufsize:
            try:
                data = conn.recv(bufsize - got, ep.stack.now())
            except OSError:
                if got:
                    break
                raise
            if data is None:
                if got and (ep.nonblocking or flags & MSG_DONTWAIT):
                    break
                await self._park(ep, flags)
                self._woken(ep)
                continue
            if not data:
                break
            ep.stack.kick()
            parts.append(data)
            got += len(data)
        await trio.lowlevel.checkpoint()
        return b"".join(parts)

    async def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0
                      ) -> tuple[bytes, list[tuple[int, int, bytes]], int, tuple[str, int] | None]:
        """recvmsg(2) as Python's socket.recvmsg returns it: (data, ancillary data, msg flags,
        address). With TCP_INQ set, the ancillary data carries (IPPROTO_TCP, TCP_CM_INQ, int):
        the bytes still queued after this read, 1 when none are but the peer's FIN is in
        (Linux tcp_inq_hint)."""
        data = await self.recv(bufsize, flags)
        anc: list[tuple[int, int, bytes]] = []
        ep = self._ep
        if ep.options.get("inq") and ancbufsize >= 16:  # CMSG_SPACE(sizeof(int))
            conn = ep.conn
            inq = conn.recv_queued if conn is not None else 0
            if not inq and conn is not None and conn.fin_rcvd:
                inq = 1
            anc.append((_s.IPPROTO_TCP, TCP_CM_INQ, struct.pack("i", inq)))
        return data, anc, 0, None

    # ------------------------------------------------------------------ readiness

    def poll(self) -> int:
        """The events poll(2) would report now: POLLIN, POLLOUT, POLLRDHUP, POLLHUP, POLLERR, ...
        (Linux tcp_poll; see readiness.poll_mask). POLLNVAL on a closed handle."""
        return readiness.POLLNVAL if self._closed else readiness.poll_mask(self._ep)

    async def wait_poll(self, events: int, timeout: float = -1) -> int:
        """poll(2) on this one socket: the events of `events` (POLLERR and POLLHUP always) that
        hold, waiting up to `timeout` seconds for one (-1: forever); 0 on timeout."""
        wanted = events | readiness.POLLERR | readiness.POLLHUP | readiness.POLLNVAL
        ep = self._ep
        with trio.move_on_after(math.inf if timeout < 0 else timeout):
            while not self.poll() & wanted:
                await ep.wait()
        await trio.lowlevel.checkpoint()
        return self.poll() & wanted

    def ioctl(self, request: int) -> int:
        """ioctl(SIOCINQ / SIOCOUTQ / SIOCOUTQNSD): queued bytes as Linux's tcp_ioctl counts them."""
        return readiness.ioctl_value(self._live(), request)

    def tcp_info(self) -> dict[str, Any]:
        """getsockopt(TCP_INFO) as a dict: Linux's struct tcp_info fields without `tcpi_`
        (see tcp/tcpinfo.py for the units and which fields minitcp cannot know)."""
        ep = self._live()
        knobs = ep.stack.engine.knobs
        if ep.listener is not None:
            return tcpinfo.listener_info(ep.listener, knobs, ep.stack.engine.mss)
        if ep.conn is None:
            return tcpinfo.unconnected(knobs, ep.stack.engine.mss)
        return tcpinfo.tcp_info(ep.conn, ep.stack.now(), self.state)

    # ------------------------------------------------------------------ closing with SO_LINGER

    async def aclose(self) -> None:
        """close(2) as a blocking call: with SO_LINGER on and a positive timeout, the last
        handle's close waits until our FIN is acknowledged or the timeout passes (Linux
        tcp_close -> sk_stream_wait_close; a non-blocking socket waits too, as on Linux).
        Without it, the same as close()."""
        ep = self._ep
        conn = ep.conn
        linger = ep.options.get("linger")
        last = not self._closed and ep.refs == 1
        self.close()
        if last and conn is not None and linger:
            with trio.move_on_after(linger):
                while conn.fin_in_flight:
                    await ep.wait()
        await trio.lowlevel.checkpoint()

    def _connected(self, ep: Endpoint, for_send: bool) -> Any:
        conn = ep.conn
        if conn is None:
            raise OSError(errno.EPIPE if for_send else errno.ENOTCONN, "Transport endpoint is not connected")
        return conn

    def shutdown(self, how: int) -> None:
        """Acts on the connection at once, whatever the number of handles (Linux tcp_shutdown)."""
        ep = self._live()
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            # Linux inet_shutdown checks `how` before the state: EINVAL even when unconnected.
            raise OSError(errno.EINVAL, "Invalid argument")
        if ep.listener is not None:
            if how in (SHUT_RD, SHUT_RDWR):
                # Linux: shutdown(SHUT_RD) on a listener stops it, as close would (inet_shutdown).
                ep.listener.close(ep.stack.now())
                ep.listener = None
                ep.stack.kick()
                ep.wake()
            # SHUT_WR alone on a listener does nothing and is no error (inet_shutdown, TCP_LISTEN).
            return
        if ep.conn is None:
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        ep.conn.shutdown(how, ep.stack.now())
        if ep.connecting and ep.conn.state == State.CLOSED:
            # shutdown() in SYN-SENT (Linux inet_shutdown: tcp_disconnect, then SS_UNCONNECTED):
            # a connect() that waits still reports ECONNRESET; otherwise SO_ERROR has it, and
            # the next connect() begins a new attempt.
            ep.connecting = False
        ep.stack.kick()
        ep.wake()

    # ------------------------------------------------------------------ options

    def setblocking(self, flag: bool) -> None:
        self._live().nonblocking = not flag

    def getblocking(self) -> bool:
        return not self._live().nonblocking

    def setsockopt(self, level: int, option: int, value: int | bytes) -> None:
        set_option(self._live(), level, option, value)

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> int | bytes:
        """The option's value: an int, or bytes for struct-valued options (SO_LINGER, TCP_INFO,
        TCP_CONGESTION); `buflen` cuts the bytes as a shorter optlen does on Linux."""
        value = get_option(self._live(), level, option, self.tcp_info)
        if buflen is not None and isinstance(value, bytes):
            return value[:buflen]
        return value

    # ------------------------------------------------------------------ waiting

    async def _wait(self, ready: Callable[[], bool], flags: int = 0) -> None:
        ep = self._ep
        if ready():
            await trio.lowlevel.checkpoint()
            return
        while not ready():
            await self._park(ep, flags)
            self._woken(ep)

    @staticmethod
    def _park(ep: Endpoint, flags: int) -> Awaitable[None]:
        """Wait for the endpoint's next wake-up; EAGAIN instead when the call may not block."""
        if ep.nonblocking or flags & MSG_DONTWAIT:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return ep.wait()

    def _woken(self, ep: Endpoint) -> None:
        if self._closed:
            raise OSError(errno.EBADF, "Bad file descriptor")


def _detach(ep: Endpoint) -> None:
    """A failed or abandoned attempt leaves the socket unconnected (Linux tcp_disconnect), and
    gives back the port connect() chose for it."""
    if ep.conn is not None:
        ep.conn.user = None
    ep.conn = None
    if ep.autobound:
        ep.stack.ports.release(ep, ep.lport)
        ep.lport = ep.laddr = 0
        ep.autobound = False
