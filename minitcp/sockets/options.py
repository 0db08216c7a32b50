"""Socket options: setsockopt(2) and getsockopt(2) on an endpoint, with Linux's levels, names,
ranges and errors (net/core/sock.c sk_setsockopt, net/ipv4/tcp.c do_tcp_setsockopt and
do_tcp_getsockopt, net/ipv4/ip_sockglue.c, net/ipv6/ipv6_sockglue.c).

An option lives in the endpoint's `options` (what a listener's children and a new connection
inherit) and, once there is a connection, in the engine's connection too (apply_option).
"""

from __future__ import annotations

import errno
import socket as _s
import struct
from collections.abc import Callable
from typing import Any

from ..tcp import tcpinfo
from ..tcp.cc import AVAILABLE
from ..tcp.states import State
from .addresses import AF_INET6
from .endpoint import Endpoint

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


def set_option(ep: Endpoint, level: int, option: int, value: int | bytes) -> None:
    """setsockopt(2) on the endpoint: Linux's sk_setsockopt, do_tcp_setsockopt, do_ip_setsockopt
    and do_ipv6_setsockopt, for the options minitcp has, with their errors."""
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
            ep.listener.options = tcp_options(ep)
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
        ep.listener.options = tcp_options(ep)


def get_option(ep: Endpoint, level: int, option: int, tcp_info: Callable[[], dict[str, Any]]) -> int | bytes:
    """getsockopt(2) on the endpoint, the whole value (`tcp_info` gives TCP_INFO's fields)."""
    conn = ep.conn
    knobs = ep.stack.engine.knobs
    if (level, option) == (_s.IPPROTO_TCP, TCP_INFO):
        return tcpinfo.pack(tcp_info())
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


def tcp_options(ep: Endpoint) -> dict[str, Any]:
    """The options a connection takes (SO_LINGER, TCP_INQ, SO_REUSEPORT stay with the socket)."""
    return {k: v for k, v in ep.options.items() if k not in _SOCKET_ONLY}


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
