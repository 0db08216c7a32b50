"""Socket options on a connection: the application's settings (Linux do_tcp_setsockopt,
sk_setsockopt) and the values they stand for when unset (the sysctls' defaults).

A mixin of `Connection` (it owns no slots): everything here reads and writes
the transmission control block that `connection.py` defines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .states import State
from .timers import TimerKind

if TYPE_CHECKING:
    from .connection import Connection


class SocketOptions:
    __slots__ = ()

    def apply_option(self: Connection, name: str, value: Any, now: float) -> None:
        """Set a socket option by name at time `now` (nodelay may send, keepalive arms a timer):
        nodelay, keepalive, rcvbuf, sndbuf, maxseg, linger, keepidle, keepintvl, keepcnt, tos,
        ttl (the socket layer has checked the ranges)."""
        self.engine.begin_call(now)
        if name == "nodelay":
            self.nodelay = bool(value)
            self._flush()
        elif name == "keepalive":
            self.set_keepalive(bool(value))
        elif name == "rcvbuf":
            self.set_rcvbuf(int(value))
        elif name == "sndbuf":
            self.set_sndbuf(int(value))
        elif name == "maxseg":
            self.user_mss = int(value)
            if self.state == State.CLOSED and self.user_mss:
                # Linux tcp_mss_clamp: TCP_MAXSEG set before the SYN also lowers the MSS we advertise.
                self.advmss = min(self.engine.mss, self.user_mss)
                self.rcv_mss = min(self.rcv_mss, self.advmss)
        elif name == "linger":
            self.linger = value
        elif name == "keepidle":
            self.keepidle = float(value)
            if self.keepalive:
                self.set_keepalive(True)  # Linux tcp_sock_set_keepidle_locked re-arms the timer
        elif name == "keepintvl":
            self.keepintvl = float(value)
        elif name == "keepcnt":
            self.keepcnt = int(value)
        elif name == "tos":
            self.tos = int(value) & 0xFF
        elif name == "ttl":
            self.ttl = int(value)
        else:
            raise ValueError(f"unknown option {name!r}")

    def quickack(self: Connection, now: float) -> None:
        """TCP_QUICKACK=1: send any pending ACK now and leave ping-pong mode (not sticky)."""
        self.engine.begin_call(now)
        self.pingpong = False
        if self.ack_pending:
            self._send_ack()
        self._flush()

    def set_rcvbuf(self: Connection, size: int) -> None:
        """SO_RCVBUF: Linux doubles the value for bookkeeping and reports the doubled size.

        It also fixes the size (SOCK_RCVBUF_LOCK): no autotuning, and when set before the SYN
        it bounds the window (window_clamp; a buffer beyond tcp_rmem[2] also sets the window
        scale). Set later, it can shrink the window but not open it past the clamp chosen with
        the SYN (Linux __sock_set_rcvbuf sets no more than sk_rcvbuf and the lock).
        """
        lo, _, _ = self.engine.knobs.tcp_rmem
        self.rcvbuf_size = max(2 * size, 2 * lo // 2)
        self.rcvbuf_locked = True

    def set_sndbuf(self: Connection, size: int) -> None:
        """SO_SNDBUF: doubled like Linux; fixes the size (no growth with cwnd)."""
        lo, _, _ = self.engine.knobs.tcp_wmem
        self.sndbuf_size = max(2 * size, lo)
        self.sndbuf_locked = True

    def set_keepalive(self: Connection, on: bool) -> None:
        """SO_KEEPALIVE: the first probe goes keepalive_time after the last segment received
        (RFC 1122 section 4.2.3.6), at once if that is past (Linux keepalive_time_elapsed)."""
        self.keepalive = on
        if on and self.state in (State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_2):
            self._set_timer(TimerKind.KEEPALIVE, max(self.last_recv + self.keepalive_time, self.engine.now))
        elif not on:
            self._cancel_timer(TimerKind.KEEPALIVE)

    @property
    def keepalive_time(self: Connection) -> float:
        """Idle time before the first probe: TCP_KEEPIDLE, else tcp_keepalive_time (keepalive_time_when)."""
        return self.keepidle or self.engine.knobs.tcp_keepalive_time

    @property
    def keepalive_intvl(self: Connection) -> float:
        """Time between probes: TCP_KEEPINTVL, else tcp_keepalive_intvl (keepalive_intvl_when)."""
        return self.keepintvl or self.engine.knobs.tcp_keepalive_intvl

    @property
    def keepalive_probes(self: Connection) -> int:
        """Unanswered probes before giving up: TCP_KEEPCNT, else tcp_keepalive_probes (keepalive_probes)."""
        return self.keepcnt or self.engine.knobs.tcp_keepalive_probes

    @property
    def ip_ttl(self: Connection) -> int:
        """The TTL of our segments: IP_TTL, else ip_default_ttl (Linux ip_select_ttl)."""
        return self.ttl if self.ttl >= 0 else self.engine.knobs.ip_default_ttl
