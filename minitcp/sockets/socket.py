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
from ..tcp.cc import AVAILABLE
from ..tcp.connection import SHUT_RD, SHUT_RDWR, SHUT_WR
from ..tcp.family import ANY6, IPV4_MAX
from ..tcp.states import State
from . import readiness
from .addresses import AF_INET, AF_INET6, FAMILIES, parse, sockaddr
from .endpoint import Endpoint

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
# Linux include/uapi/linux/tcp.h: TCP_INQ, and the cmsg type that carries its value.
TCP_INQ = 36
TCP_CM_INQ = TCP_INQ
TCP_NOTSENT_LOWAT = 25
TCP_USER_TIMEOUT = 18
TCP_CONGESTION = 13
TCP_INFO = 11
TCP_CORK = 3
TCP_DEFER_ACCEPT = 9
SO_REUSEPORT = 15
# include/uapi/linux/in.h: IP_MTU_DISCOVER and its values, IP_PMTUDISC_DONT (0) to _OMIT (5).
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT, IP_PMTUDISC_WANT, IP_PMTUDISC_OMIT = 0, 1, 5
# The congestion controls minitcp has (TCP_CONGESTION); Linux names, TCP_CA_NAME_MAX 16.
CONGESTION_CONTROLS = AVAILABLE
_CA_NAME_MAX = 16
__all__ = ["MSG_DONTWAIT", "MSG_PEEK", "SHUT_RD", "SHUT_RDWR", "SHUT_WR", "Socket"]

_INT_OPTIONS = {
    (_s.SOL_SOCKET, _s.SO_REUSEADDR): "reuseaddr",
    (_s.SOL_SOCKET, _s.SO_KEEPALIVE): "keepalive",
    (_s.SOL_SOCKET, _s.SO_RCVBUF): "rcvbuf",
    (_s.SOL_SOCKET, _s.SO_SNDBUF): "sndbuf",
    (_s.IPPROTO_TCP, _s.TCP_NODELAY): "nodelay",
    (_s.IPPROTO_TCP, _s.TCP_MAXSEG): "maxseg",
    (_s.IPPROTO_TCP, _s.TCP_QUICKACK): "quickack",
    (_s.IPPROTO_TCP, _s.TCP_KEEPIDLE): "keepidle",
    (_s.IPPROTO_TCP, _s.TCP_KEEPINTVL): "keepintvl",
    (_s.IPPROTO_TCP, _s.TCP_KEEPCNT): "keepcnt",
    (_s.IPPROTO_IP, _s.IP_TOS): "tos",
    (_s.IPPROTO_IP, _s.IP_TTL): "ttl",
    (_s.IPPROTO_IP, IP_MTU_DISCOVER): "pmtudisc",
    (_s.IPPROTO_TCP, TCP_CORK): "cork",
    (_s.IPPROTO_TCP, TCP_NOTSENT_LOWAT): "notsent_lowat",
    (_s.IPPROTO_TCP, TCP_USER_TIMEOUT): "user_timeout",
    (_s.IPPROTO_TCP, TCP_INQ): "inq",
    (_s.SOL_SOCKET, SO_REUSEPORT): "reuseport",
}
# Linux's accepted ranges (include/net/tcp.h MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT;
# do_tcp_setsockopt answers EINVAL outside them).
_RANGES = {"keepidle": (1, 32767), "keepintvl": (1, 32767), "keepcnt": (1, 127), "maxseg": (88, 32767),
           # do_tcp_setsockopt: TCP_USER_TIMEOUT "Cap the max time in ms", EINVAL below 0.
           "user_timeout": (0, 2**31 - 1),
           # do_ip_setsockopt: IP_MTU_DISCOVER "if (val < IP_PMTUDISC_DONT || val > IP_PMTUDISC_OMIT)
           # goto e_inval".
           "pmtudisc": (IP_PMTUDISC_DONT, IP_PMTUDISC_OMIT)}
_INET_ECN_MASK = 0x03
_LINGER = struct.Struct("ii")
_SOCKET_ONLY = frozenset({"linger", "inq", "reuseport", "v6only"})


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
        ep.listener.options = _tcp_options(ep)

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
                                    **_tcp_options(ep))
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
        ep = self._live()
        if (level, option) == (_s.IPPROTO_TCP, TCP_CONGESTION):
            ca_name = (value if isinstance(value, bytes) else str(value).encode()).split(b"\0")[0].decode()
            if ca_name not in CONGESTION_CONTROLS:
                # Linux tcp_set_congestion_control: an algorithm that is not loaded is ENOENT.
                raise OSError(errno.ENOENT, f"No such file or directory (congestion control {ca_name!r}; "
                              f"minitcp has {', '.join(CONGESTION_CONTROLS)})")
            ep.set_option("congestion", ca_name)
            if ep.conn is not None:
                ep.conn.apply_option("congestion", ca_name, ep.stack.now())
            return
        if (level, option) == (_s.IPPROTO_TCP, TCP_DEFER_ACCEPT):
            seconds = int.from_bytes(value[:4], "little", signed=True) if isinstance(value, bytes) else value
            # Linux keeps the number of SYN-ACK retransmissions that cover the time asked for.
            ep.set_option("defer_accept", secs_to_retrans(seconds))
            if ep.listener is not None:
                ep.listener.options = _tcp_options(ep)
            return
        if (level, option) == (_s.IPPROTO_TCP, TCP_INFO):
            raise OSError(errno.ENOPROTOOPT, "Protocol not available (TCP_INFO is read only)")
        if (level, option) == (_s.IPPROTO_IPV6, _s.IPV6_V6ONLY) and ep.family == AF_INET6:
            if ep.lport:
                # Linux do_ipv6_setsockopt: IPV6_V6ONLY only before the socket has a port.
                raise OSError(errno.EINVAL, "Invalid argument (IPV6_V6ONLY after bind)")
            on = int.from_bytes(value[:4], "little", signed=True) if isinstance(value, bytes) else value
            ep.set_option("v6only", int(bool(on)))
            return
        if (level, option) == (_s.SOL_SOCKET, _s.SO_LINGER):
            if isinstance(value, bytes) and len(value) < _LINGER.size:
                # Linux sk_setsockopt: optlen < sizeof(struct linger) is EINVAL.
                raise OSError(errno.EINVAL, "Invalid argument (struct linger too short)")
            onoff, seconds = _LINGER.unpack(value[:_LINGER.size]) if isinstance(value, bytes) else (1, value)
            ep.set_option("linger", seconds if onoff else None)
            if ep.conn is not None:
                ep.conn.apply_option("linger", ep.options["linger"], ep.stack.now())
            return
        name = _INT_OPTIONS.get((level, option))
        if name is None:
            raise OSError(errno.ENOPROTOOPT, "Protocol not available")
        if isinstance(value, bytes):
            value = int.from_bytes(value[:4], "little", signed=True)
        if name == "reuseaddr":
            ep.reuseaddr = bool(value)
        elif name in ("inq", "reuseport"):
            ep.set_option(name, int(bool(value)))  # socket-level: read by recvmsg() and bind()
        elif name == "quickack":
            if ep.conn is not None and value:
                ep.conn.quickack(ep.stack.now())
                ep.stack.kick()
            elif ep.conn is not None:
                ep.conn.delack.pingpong = True
        else:
            if name in _RANGES and not _RANGES[name][0] <= value <= _RANGES[name][1]:
                raise OSError(errno.EINVAL, f"Invalid argument ({name} out of range)")
            if name == "ttl" and not (value == -1 or 1 <= value <= 255):
                # Linux do_ip_setsockopt: 1..255, or -1 for the default (ip_default_ttl).
                raise OSError(errno.EINVAL, "Invalid argument (IP_TTL out of range)")
            if name == "tos":
                # Linux __ip_sock_set_tos: a stream socket keeps the ECN bits to TCP (RFC 3168
                # section 6.1.1), so only the DSCP part of the value is taken.
                value &= 0xFF & ~_INET_ECN_MASK
            ep.set_option(name, value)
            if ep.conn is not None:
                ep.conn.apply_option(name, value, ep.stack.now())
                ep.stack.kick()
        if ep.listener is not None:
            ep.listener.options = _tcp_options(ep)

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> int | bytes:
        """The option's value: an int, or bytes for struct-valued options (SO_LINGER, TCP_INFO,
        TCP_CONGESTION); `buflen` cuts the bytes as a shorter optlen does on Linux."""
        value = self._getsockopt(level, option)
        if buflen is not None and isinstance(value, bytes):
            return value[:buflen]
        return value

    def _getsockopt(self, level: int, option: int) -> int | bytes:
        ep = self._live()
        conn = ep.conn
        knobs = ep.stack.engine.knobs
        if (level, option) == (_s.IPPROTO_TCP, TCP_INFO):
            return tcpinfo.pack(self.tcp_info())
        if (level, option) == (_s.IPPROTO_TCP, TCP_CONGESTION):
            # The connection's algorithm; before one exists, the one set or the sysctl's.
            name = conn.recovery.cc.name if conn is not None else \
                ep.options.get("congestion", knobs.tcp_congestion_control)
            return name.encode().ljust(_CA_NAME_MAX, b"\0")
        if (level, option) == (_s.IPPROTO_TCP, TCP_DEFER_ACCEPT):
            return retrans_to_secs(ep.options.get("defer_accept", 0))
        if (level, option) == (_s.SOL_SOCKET, _s.SO_ERROR):
            return conn.take_error() if conn is not None else 0
        if (level, option) == (_s.SOL_SOCKET, _s.SO_LINGER):
            linger = ep.options.get("linger")
            return _LINGER.pack(1 if linger is not None else 0, linger or 0)
        if (level, option) == (_s.IPPROTO_IPV6, _s.IPV6_V6ONLY) and ep.family == AF_INET6:
            return int(ep.options.get("v6only", 0))
        name = _INT_OPTIONS.get((level, option))
        if name is None:
            raise OSError(errno.ENOPROTOOPT, "Protocol not available")
        readers: dict[str, Callable[[], int]] = {
            "reuseaddr": lambda: int(ep.reuseaddr),
            "keepalive": lambda: int(bool(ep.options.get("keepalive"))),
            "nodelay": lambda: int(bool(ep.options.get("nodelay"))),
            # Linux: !inet_csk_in_pingpong_mode(sk), so 1 also before there is a connection.
            "quickack": lambda: int(conn is None or not conn.pingpong),
            "rcvbuf": lambda: conn.rcvbuf_size if conn is not None else
            2 * ep.options.get("rcvbuf", knobs.tcp_rmem[1] // 2),
            "sndbuf": lambda: conn.sndbuf_size if conn is not None else
            2 * ep.options.get("sndbuf", knobs.tcp_wmem[1] // 2),
            "maxseg": lambda: conn.mss if conn is not None and conn.state != State.SYN_SENT else
            ep.options.get("maxseg", 536),
            # Linux keepalive_time_when() and friends: the socket's value, else the knob's (whole s).
            "keepidle": lambda: int(ep.options.get("keepidle") or knobs.tcp_keepalive_time),
            "keepintvl": lambda: int(ep.options.get("keepintvl") or knobs.tcp_keepalive_intvl),
            "keepcnt": lambda: int(ep.options.get("keepcnt") or knobs.tcp_keepalive_probes),
            "tos": lambda: ep.options.get("tos", 0),
            "cork": lambda: int(bool(ep.options.get("cork"))),
            # Linux reads tp->notsent_lowat: 0 until set, even though the sysctl then applies.
            "notsent_lowat": lambda: ep.options.get("notsent_lowat", 0),
            "user_timeout": lambda: ep.options.get("user_timeout", 0),
            "inq": lambda: ep.options.get("inq", 0),
            "reuseport": lambda: ep.options.get("reuseport", 0),
            # Linux do_ip_getsockopt: uc_ttl, or ip_default_ttl while it is -1.
            "ttl": lambda: ep.options.get("ttl", -1) if ep.options.get("ttl", -1) != -1 else
            knobs.ip_default_ttl,
            # Linux inet_create: inet->pmtudisc starts as IP_PMTUDISC_DONT with ip_no_pmtu_disc,
            # else IP_PMTUDISC_WANT.
            "pmtudisc": lambda: ep.options.get(
                "pmtudisc", IP_PMTUDISC_DONT if knobs.ip_no_pmtu_disc else IP_PMTUDISC_WANT),
        }
        return readers[name]()

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


# TCP_DEFER_ACCEPT counts in SYN-ACK retransmissions, from TCP_TIMEOUT_INIT (1 s) doubling up to
# TCP_RTO_MAX (120 s): Linux's constants, not the knobs (net/ipv4/tcp.c).
_DEFER_TIMEOUT, _DEFER_RTO_MAX = 1, 120


def secs_to_retrans(seconds: int) -> int:
    """Linux secs_to_retrans: the retransmissions whose timeouts add up to `seconds` or more."""
    res = 0
    if seconds > 0:
        timeout = period = _DEFER_TIMEOUT
        res = 1
        while seconds > period and res < 255:
            res += 1
            timeout = min(timeout << 1, _DEFER_RTO_MAX)
            period += timeout
    return res


def retrans_to_secs(retrans: int) -> int:
    """Linux retrans_to_secs: the seconds those retransmissions take (what getsockopt reports)."""
    period = 0
    if retrans > 0:
        timeout = period = _DEFER_TIMEOUT
        for _ in range(retrans - 1):
            timeout = min(timeout << 1, _DEFER_RTO_MAX)
            period += timeout
    return period


def _tcp_options(ep: Endpoint) -> dict[str, Any]:
    """The options a connection takes (SO_LINGER, TCP_INQ, SO_REUSEPORT stay with the socket)."""
    return {k: v for k, v in ep.options.items() if k not in _SOCKET_ONLY}


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
