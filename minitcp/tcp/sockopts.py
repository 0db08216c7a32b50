"""Socket options on a connection: the application's settings (Linux do_tcp_setsockopt,
sk_setsockopt) and the values they stand for when unset (the sysctls' defaults).

Most connections never set one, so the settings live in a `SockOpts` made on the
first option (`conn.opts`, None until then): an idle connection does not pay a
slot for each. `options(conn)` reads them, defaults included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cc import make_cc
from .family import ip_tcp_headers
from .states import State
from .timers import TimerKind

if TYPE_CHECKING:
    from .connection import Connection


class SockOpts:
    __slots__ = ("cork", "defer_accept", "defer_acked", "eor", "keepalive", "keepcnt",
                 "keepidle", "keepintvl", "linger", "nodelay", "notsent_lowat", "pmtudisc", "push",
                 "retrans_stamp", "sndbuf", "tos", "ttl", "user_mss", "user_timeout")

    def __init__(self) -> None:
        self.nodelay = False  # TCP_NODELAY
        self.keepalive = False  # SO_KEEPALIVE
        self.linger: int | None = None  # SO_LINGER's seconds, None when off
        self.user_mss = 0  # TCP_MAXSEG, 0 when unset
        # Linux tp->keepalive_time/intvl/probes: 0 until set, meaning the sysctl (keepalive_time_when).
        self.keepidle = 0.0
        self.keepintvl = 0.0
        self.keepcnt = 0
        # IP_TOS (Linux inet->tos, 0) and IP_TTL (inet->uc_ttl, -1 meaning ip_default_ttl).
        self.tos = 0
        self.ttl = -1
        # IP_MTU_DISCOVER (Linux inet->pmtudisc): -1 until set, meaning the sysctl's
        # (ip_no_pmtu_disc: IP_PMTUDISC_DONT, else IP_PMTUDISC_WANT; inet_create).
        self.pmtudisc = -1
        # SO_SNDBUF's size (doubled, as Linux keeps it), which also fixes it (SOCK_SNDBUF_LOCK):
        # None while unset, the send buffer then starting at tcp_wmem[1] and growing with cwnd.
        self.sndbuf: int | None = None
        self.cork = False  # TCP_CORK: hold sub-MSS segments back (Linux TCP_NAGLE_CORK)
        # Linux TCP_NAGLE_PUSH: turning TCP_NODELAY on (or TCP_CORK off with TCP_NODELAY on)
        # sends what is queued even past a cork, until a write starts a new segment
        # (__tcp_sock_set_nodelay and __tcp_sock_set_cork set it, skb_entail clears it).
        self.push = False
        self.notsent_lowat = 0  # TCP_NOTSENT_LOWAT in bytes, 0 meaning the sysctl tcp_notsent_lowat
        self.user_timeout = 0.0  # TCP_USER_TIMEOUT in seconds, 0 when unset (Linux icsk_user_timeout)
        # When the head segment's retransmissions (or the window probes) began: the user timeout
        # counts from there (Linux tp->retrans_stamp, icsk_probes_tstamp).
        self.retrans_stamp = 0.0
        # Where the MSG_EOR records not yet acknowledged end (sequence numbers, in order): no
        # segment crosses one (Linux TCP_SKB_CB(skb)->eor, tcp_skb_can_collapse_to).
        self.eor: tuple[int, ...] = ()
        # TCP_DEFER_ACCEPT, as Linux keeps it: SYN-ACK retransmissions to wait for data after a
        # bare ACK (rskq_defer_accept), and whether that ACK came (inet_rsk(req)->acked).
        self.defer_accept = 0
        self.defer_acked = False


# The settings of a connection that set none, shared and never written.
DEFAULTS = SockOpts()


def options(conn: Connection) -> SockOpts:
    """The connection's settings, or the defaults when it set none (read only)."""
    opts = conn.opts
    return DEFAULTS if opts is None else opts


def _own(conn: Connection) -> SockOpts:
    """The connection's own settings, made on the first option set."""
    opts = conn.opts
    if opts is None:
        opts = conn.opts = SockOpts()
    return opts


def apply_option(conn: Connection, name: str, value: Any) -> None:
    """Set a socket option by name: nodelay, keepalive, rcvbuf, sndbuf, maxseg, linger,
    keepidle, keepintvl, keepcnt, tos, ttl, pmtudisc, cork, notsent_lowat, user_timeout (ms), congestion,
    defer_accept (in retransmissions) (the socket layer has checked the ranges)."""
    if name == "rcvbuf":
        set_rcvbuf(conn, int(value))  # a size and a lock that the receive window keeps
        return
    if name == "congestion":
        set_congestion(conn, str(value))  # the congestion-control part itself
        return
    opts = _own(conn)
    if name == "nodelay":
        opts.nodelay = bool(value)
        opts.push = opts.push or opts.nodelay
    elif name == "keepalive":
        set_keepalive(conn, bool(value))
    elif name == "sndbuf":
        set_sndbuf(conn, int(value))
    elif name == "maxseg":
        opts.user_mss = int(value)
        if conn.state == State.CLOSED and opts.user_mss:
            # Linux tcp_mss_clamp: TCP_MAXSEG set before the SYN also lowers the MSS we advertise.
            conn.advmss = min(conn.engine.mtu - ip_tcp_headers(conn.laddr), opts.user_mss)
            conn.rcv_mss = min(conn.rcv_mss, conn.advmss)
    elif name == "linger":
        opts.linger = value
    elif name == "keepidle":
        opts.keepidle = float(value)
        if opts.keepalive:
            set_keepalive(conn, True)  # Linux tcp_sock_set_keepidle_locked re-arms the timer
    elif name == "keepintvl":
        opts.keepintvl = float(value)
    elif name == "keepcnt":
        opts.keepcnt = int(value)
    elif name == "tos":
        opts.tos = int(value) & 0xFF
    elif name == "ttl":
        opts.ttl = int(value)
    elif name == "pmtudisc":
        opts.pmtudisc = int(value)
    elif name == "cork":
        opts.cork = bool(value)
        opts.push = opts.push or (opts.nodelay and not opts.cork)
    elif name == "notsent_lowat":
        opts.notsent_lowat = int(value)
    elif name == "user_timeout":
        opts.user_timeout = int(value) / 1000  # given in ms, as TCP_USER_TIMEOUT
    elif name == "defer_accept":
        opts.defer_accept = int(value)
    else:
        raise ValueError(f"unknown option {name!r}")


def set_congestion(conn: Connection, name: str) -> None:
    """TCP_CONGESTION (Linux tcp_set_congestion_control): the same algorithm is left alone;
    another takes over the window and state (they are tcp_sock's in Linux) with fresh private
    state, initialised at once unless the socket is closed (tcp_reinit_congestion_control)."""
    rec = conn.recovery
    if name == rec.cc.name:
        return
    cc = make_cc(name, conn.engine.knobs.tcp_init_cwnd, conn)
    cc.take_over(rec.cc)
    rec.cc = cc
    if conn.state != State.CLOSED:
        cc.init(conn.engine.now)


def end_record(conn: Connection, seq: int) -> None:
    """MSG_EOR: a record ends at `seq` (see SockOpts.eor)."""
    opts = _own(conn)
    opts.eor = (*opts.eor, seq)


def set_rcvbuf(conn: Connection, size: int) -> None:
    """SO_RCVBUF: Linux doubles the value for bookkeeping and reports the doubled size.

    It also fixes the size (SOCK_RCVBUF_LOCK): no autotuning, and when set before the SYN
    it bounds the window (window_clamp; a buffer beyond tcp_rmem[2] also sets the window
    scale). Set later, it can shrink the window but not open it past the clamp chosen with
    the SYN (Linux __sock_set_rcvbuf sets no more than sk_rcvbuf and the lock).
    """
    lo, _, _ = conn.engine.knobs.tcp_rmem
    conn.rcvbuf_size = max(2 * size, 2 * lo // 2)
    conn.rwin.rcvbuf_locked = True


def set_sndbuf(conn: Connection, size: int) -> None:
    """SO_SNDBUF: doubled like Linux; fixes the size (no growth with cwnd)."""
    lo, _, _ = conn.engine.knobs.tcp_wmem
    _own(conn).sndbuf = max(2 * size, lo)


def set_keepalive(conn: Connection, on: bool) -> None:
    """SO_KEEPALIVE: the first probe goes keepalive_time after the last segment received
    (RFC 1122 section 4.2.3.6), at once if that is past (Linux keepalive_time_elapsed)."""
    _own(conn).keepalive = on
    if on and conn.state in (State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_2):
        conn.set_timer(TimerKind.KEEPALIVE, max(conn.last_recv + keepalive_time(conn), conn.engine.now))
    elif not on:
        conn.cancel_timer(TimerKind.KEEPALIVE)


def keepalive_time(conn: Connection) -> float:
    """Idle time before the first probe: TCP_KEEPIDLE, else tcp_keepalive_time (keepalive_time_when)."""
    return options(conn).keepidle or conn.engine.knobs.tcp_keepalive_time


def keepalive_intvl(conn: Connection) -> float:
    """Time between probes: TCP_KEEPINTVL, else tcp_keepalive_intvl (keepalive_intvl_when)."""
    return options(conn).keepintvl or conn.engine.knobs.tcp_keepalive_intvl


def keepalive_probes(conn: Connection) -> int:
    """Unanswered probes before giving up: TCP_KEEPCNT, else tcp_keepalive_probes (keepalive_probes)."""
    return options(conn).keepcnt or conn.engine.knobs.tcp_keepalive_probes


IP_PMTUDISC_DONT, IP_PMTUDISC_WANT, IP_PMTUDISC_DO = 0, 1, 2  # include/uapi/linux/in.h


def pmtudisc(conn: Connection) -> int:
    """IP_MTU_DISCOVER's mode: the socket's, else the one ip_no_pmtu_disc gives (inet_create)."""
    mode = options(conn).pmtudisc
    if mode < 0:
        return IP_PMTUDISC_DONT if conn.engine.knobs.ip_no_pmtu_disc else IP_PMTUDISC_WANT
    return mode


def dont_fragment(conn: Connection) -> bool:
    """Linux ip_dont_fragment: DF with IP_PMTUDISC_DO, or WANT (the route's MTU is never locked
    here); DONT, PROBE, INTERFACE and OMIT send without it."""
    return pmtudisc(conn) in (IP_PMTUDISC_DO, IP_PMTUDISC_WANT)


def ip_ttl(conn: Connection) -> int:
    """The TTL of our segments: IP_TTL, else ip_default_ttl (Linux ip_select_ttl)."""
    ttl = options(conn).ttl
    return ttl if ttl >= 0 else conn.engine.knobs.ip_default_ttl
