"""Names in system calls resolved to the values minitcp's socket API takes: Linux's.

minitcp keeps Linux's ABI (its Socket takes Python's `socket` constants and
raises Linux errnos), so a script is run as packetdrill on Linux would run
it: SOL_SOCKET is 1, O_NONBLOCK is 0o4000, EWOULDBLOCK is EAGAIN. Socket
options that Linux does not have (FreeBSD's TCP_KEEPINIT, TCP_NOOPT, the
TCP_RACK_* family) get numbers no Linux option uses, so minitcp answers them
as Linux would answer an unknown option: ENOPROTOOPT.
"""

from __future__ import annotations

import errno
import os
import socket

from .model import BitOr, Symbol

# The values minitcp's Socket API understands (Python's constants are Linux's here).
_NAMES: dict[str, int] = {
    "AF_INET": socket.AF_INET,
    "AF_INET6": socket.AF_INET6,
    "PF_INET": socket.AF_INET,
    "SOCK_STREAM": socket.SOCK_STREAM,
    "IPPROTO_TCP": socket.IPPROTO_TCP,
    "IPPROTO_IP": socket.IPPROTO_IP,
    "SOL_SOCKET": socket.SOL_SOCKET,
    "SOL_TCP": socket.IPPROTO_TCP,
    "SO_REUSEADDR": socket.SO_REUSEADDR,
    "SO_KEEPALIVE": socket.SO_KEEPALIVE,
    "SO_RCVBUF": socket.SO_RCVBUF,
    "SO_SNDBUF": socket.SO_SNDBUF,
    "SO_ERROR": socket.SO_ERROR,
    "SO_LINGER": socket.SO_LINGER,
    "TCP_NODELAY": socket.TCP_NODELAY,
    "TCP_MAXSEG": socket.TCP_MAXSEG,
    "TCP_KEEPIDLE": 4,  # Linux include/uapi/linux/tcp.h
    "TCP_KEEPINTVL": 5,
    "TCP_KEEPCNT": 6,
    "TCP_QUICKACK": 12,
    "TCP_INFO": 11,
    "IP_TOS": socket.IP_TOS,
    "IP_TTL": socket.IP_TTL,
    "IPTOS_DSCP_CS0": 0x00,
    "IPTOS_DSCP_CS1": 0x20,
    "IPTOS_DSCP_CS2": 0x40,
    "IPTOS_DSCP_CS3": 0x60,
    "IPTOS_DSCP_CS4": 0x80,
    "IPTOS_DSCP_CS5": 0xA0,
    "IPTOS_DSCP_CS6": 0xC0,
    "IPTOS_DSCP_CS7": 0xE0,
    "MSG_PEEK": socket.MSG_PEEK,
    "MSG_DONTWAIT": socket.MSG_DONTWAIT,
    "MSG_WAITALL": socket.MSG_WAITALL,
    "SHUT_RD": socket.SHUT_RD,
    "SHUT_WR": socket.SHUT_WR,
    "SHUT_RDWR": socket.SHUT_RDWR,
    "F_GETFL": 3,
    "F_SETFL": 4,
    "O_RDONLY": os.O_RDONLY,
    "O_WRONLY": os.O_WRONLY,
    "O_RDWR": os.O_RDWR,
    "O_NONBLOCK": os.O_NONBLOCK,
    "NULL": 0,
}

# What Linux's own scripts name besides (include/uapi/linux/*.h, asm-generic/socket.h, the
# values packetdrill's symbols_linux.c hands the kernel). A socket option minitcp does not
# know answers ENOPROTOOPT, which the runner reports as "minitcp does not support NAME".
LINUX_NAMES: dict[str, int] = {
    "AF_UNSPEC": 0,
    "SOL_IP": 0,
    "CMSG_LEVEL_IP": 0,  # packetdrill's IPv4 spelling of SOL_IP in a cmsg
    "CMSG_TYPE_RECVERR": 11,  # IP_RECVERR
    "IP_RECVERR": 11,  # <linux/in.h>; run_all.py gives CMSG_TYPE_RECVERR as this name
    "IP_MTU_DISCOVER": 10, "IP_FREEBIND": 15,
    "IP_PMTUDISC_DONT": 0, "IP_PMTUDISC_WANT": 1, "IP_PMTUDISC_DO": 2, "IP_PMTUDISC_PROBE": 3,
    "SO_REUSEPORT": 15, "SO_MARK": 36, "SO_TIMESTAMPING": 37, "SCM_TIMESTAMPING": 37,
    "SO_ZEROCOPY": 60,
    "TCP_CORK": 3, "TCP_SYNCNT": 7, "TCP_DEFER_ACCEPT": 9, "TCP_CONGESTION": 13,
    "TCP_USER_TIMEOUT": 18, "TCP_FASTOPEN": 23, "TCP_NOTSENT_LOWAT": 25, "TCP_FASTOPEN_CONNECT": 30,
    "TCP_FASTOPEN_KEY": 33, "TCP_INQ": 36, "TCP_CM_INQ": 36,
    "MSG_OOB": 0x1, "MSG_TRUNC": 0x20, "MSG_EOR": 0x80, "MSG_ERRQUEUE": 0x2000, "MSG_NOSIGNAL": 0x4000,
    "MSG_MORE": 0x8000, "MSG_ZEROCOPY": 0x4000000, "MSG_FASTOPEN": 0x20000000,
    # <poll.h>, and <sys/epoll.h>: EPOLL* share poll's bits.
    "POLLIN": 0x1, "POLLPRI": 0x2, "POLLOUT": 0x4, "POLLERR": 0x8, "POLLHUP": 0x10, "POLLNVAL": 0x20,
    "POLLRDHUP": 0x2000,
    "EPOLLIN": 0x1, "EPOLLPRI": 0x2, "EPOLLOUT": 0x4, "EPOLLERR": 0x8, "EPOLLHUP": 0x10,
    "EPOLLRDHUP": 0x2000, "EPOLLEXCLUSIVE": 1 << 28, "EPOLLONESHOT": 1 << 30, "EPOLLET": 1 << 31,
    "EPOLL_CTL_ADD": 1, "EPOLL_CTL_DEL": 2, "EPOLL_CTL_MOD": 3,
    # sockios.h: SIOCINQ is FIONREAD, SIOCOUTQ is TIOCOUTQ.
    "SIOCINQ": 0x541B, "SIOCOUTQ": 0x5411, "SIOCOUTQNSD": 0x894B,
    # linux/net_tstamp.h and linux/errqueue.h
    "SOF_TIMESTAMPING_TX_HARDWARE": 0x1, "SOF_TIMESTAMPING_TX_SOFTWARE": 0x2,
    "SOF_TIMESTAMPING_RX_HARDWARE": 0x4, "SOF_TIMESTAMPING_RX_SOFTWARE": 0x8,
    "SOF_TIMESTAMPING_SOFTWARE": 0x10, "SOF_TIMESTAMPING_OPT_ID": 0x80, "SOF_TIMESTAMPING_TX_SCHED": 0x100,
    "SOF_TIMESTAMPING_TX_ACK": 0x200, "SOF_TIMESTAMPING_OPT_TSONLY": 0x800,
    "SCM_TSTAMP_SND": 0, "SCM_TSTAMP_SCHED": 1, "SCM_TSTAMP_ACK": 2,
    "SO_EE_ORIGIN_TIMESTAMPING": 4, "SO_EE_ORIGIN_ZEROCOPY": 5, "SO_EE_CODE_ZEROCOPY_COPIED": 1,
}

# Options FreeBSD has and Linux does not: unknown to Linux, hence ENOPROTOOPT from minitcp.
FREEBSD_ONLY_OPTIONS = frozenset({
    "TCP_KEEPINIT", "TCP_NOOPT", "TCP_NOPUSH", "TCP_RACK_PACE_MAX_SEG", "TCP_RACK_PACE_RATE_SS",
    "TCP_RACK_PACE_ALWAYS", "TCP_FUNCTION_BLK", "TCP_LOG", "TCP_CCALGOOPT",
})
_UNKNOWN_OPTION_BASE = 0x7F000000


class UnknownSymbol(KeyError):
    pass


def resolve(value: object) -> object:
    """Symbols and `A | B` to integers; lists, dicts and `...` as they are."""
    if isinstance(value, Symbol):
        return symbol_value(value.name)
    if isinstance(value, BitOr):
        total = 0
        for term in value.terms:
            v = resolve(term)
            if not isinstance(v, int):
                raise UnknownSymbol(f"cannot OR {term!r}")
            total |= v
        return total
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    return value


def symbol_value(name: str) -> int:
    if name in _NAMES:
        return _NAMES[name]
    if name in LINUX_NAMES:
        return LINUX_NAMES[name]
    if name in FREEBSD_ONLY_OPTIONS:
        return _UNKNOWN_OPTION_BASE + sorted(FREEBSD_ONLY_OPTIONS).index(name)
    if name.startswith("E") and hasattr(errno, name):
        return int(getattr(errno, name))
    raise UnknownSymbol(name)


def errno_value(name: str) -> int:
    if not hasattr(errno, name):
        raise UnknownSymbol(name)
    return int(getattr(errno, name))


def errno_name(number: int) -> str:
    return errno.errorcode.get(number, str(number))
