"""ICMP and ICMPv6 errors about our own segments, as Linux's tcp_v4_err and tcp_v6_err handle them.

An ICMP error quotes the start of the datagram that caused it: enough to find
the connection (the four-tuple) and the sequence number of the segment. RFC 5927
section 4.1: act only on an error whose quoted sequence number lies in the
data we have sent and not yet seen acknowledged (Linux: snd_una..snd_nxt, both
ends included). RFC 1122 section 4.2.3.9: while the connection opens, Linux
aborts it on any such error (the user learns at once that the host or net is
unreachable); once it is synchronized an error is "soft": it is only
remembered, and reported instead of ETIMEDOUT if the connection later times out.
An IPv6 connection's errors are ICMPv6 types and codes (RFC 4443), told apart by
the connection's addresses (family.py): the engine's one entry point serves both.
"""

from __future__ import annotations

import errno

from ..wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_PARAMETERPROB,
    ICMP_TIME_EXCEEDED,
    UNREACH_FRAG_NEEDED,
    UNREACH_HOST,
    UNREACH_NET,
)
from ..wire.icmpv6 import (
    ICMPV6_DEST_UNREACH,
    ICMPV6_PACKET_TOO_BIG,
    ICMPV6_PARAMETER_PROBLEM,
    ICMPV6_TIME_EXCEEDED,
)

# Linux icmp_err_convert (net/ipv4/icmp.c): the errno of each destination-unreachable code
# (RFC 792, RFC 1122 section 3.2.2.1, RFC 1812 section 5.2.7.1) and whether it is "fatal".
_UNREACH_ERRNO = (
    errno.ENETUNREACH,  # 0 net unreachable
    errno.EHOSTUNREACH,  # 1 host unreachable
    errno.ENOPROTOOPT,  # 2 protocol unreachable
    errno.ECONNREFUSED,  # 3 port unreachable
    errno.EMSGSIZE,  # 4 fragmentation needed (path MTU discovery, not an error here)
    errno.EOPNOTSUPP,  # 5 source route failed
    errno.ENETUNREACH,  # 6 destination net unknown
    errno.EHOSTDOWN,  # 7 destination host unknown
    errno.ENONET,  # 8 source host isolated
    errno.ENETUNREACH,  # 9 net administratively prohibited
    errno.EHOSTUNREACH,  # 10 host administratively prohibited
    errno.ENETUNREACH,  # 11 net unreachable for TOS
    errno.EHOSTUNREACH,  # 12 host unreachable for TOS
    errno.EHOSTUNREACH,  # 13 communication administratively prohibited (RFC 1812)
    errno.EHOSTUNREACH,  # 14 host precedence violation
    errno.EHOSTUNREACH,  # 15 precedence cutoff in effect
)


# Linux icmpv6_err_convert's tab_unreach (net/ipv6/icmp.c): the errno of each ICMPv6
# destination-unreachable code (RFC 4443 section 3.1) and whether it is fatal.
_UNREACH6 = (
    (errno.ENETUNREACH, False),  # 0 no route to destination
    (errno.EACCES, True),  # 1 administratively prohibited
    (errno.EHOSTUNREACH, False),  # 2 beyond scope of source address
    (errno.EHOSTUNREACH, False),  # 3 address unreachable
    (errno.ECONNREFUSED, True),  # 4 port unreachable
    (errno.EACCES, True),  # 5 source address failed ingress/egress policy
    (errno.EACCES, True),  # 6 reject route to destination
)


def is_packet_too_big(v6: bool, icmp_type: int, code: int) -> bool:
    """Path MTU discovery's signal: "fragmentation needed" (RFC 1191) or "packet too big"
    (RFC 8201)."""
    if v6:
        return icmp_type == ICMPV6_PACKET_TOO_BIG
    return icmp_type == ICMP_DEST_UNREACH and code == UNREACH_FRAG_NEEDED


def icmpv6_error(icmp_type: int, code: int) -> tuple[int, bool] | None:
    """(errno, fatal) of an ICMPv6 error as Linux's icmpv6_err_convert, or None when TCP
    ignores it (packet too big is path MTU discovery's; unknown types and codes)."""
    if icmp_type == ICMPV6_DEST_UNREACH:
        return _UNREACH6[code] if code < len(_UNREACH6) else (errno.EPROTO, False)
    if icmp_type == ICMPV6_PARAMETER_PROBLEM:
        return errno.EPROTO, True
    if icmp_type == ICMPV6_TIME_EXCEEDED:
        return errno.EHOSTUNREACH, False
    return None


def icmp_errno(icmp_type: int, code: int) -> int | None:
    """The error an ICMP message means for TCP, or None when TCP ignores it.

    Ignored, as by Linux: source quench (RFC 6633), redirects (routing, not the
    connection), unknown types and codes, and "fragmentation needed", which is
    path MTU discovery's signal (RFC 1191) rather than an error.
    """
    if icmp_type == ICMP_DEST_UNREACH:
        if code >= len(_UNREACH_ERRNO) or code == UNREACH_FRAG_NEEDED:
            return None
        return _UNREACH_ERRNO[code]
    if icmp_type == ICMP_TIME_EXCEEDED:
        return errno.EHOSTUNREACH
    if icmp_type == ICMP_PARAMETERPROB:
        return errno.EPROTO
    return None


def drops_request(icmp_type: int, code: int) -> bool:
    """Whether an error about our SYN-ACK ends a half-open connection (Linux tcp_v4_err's
    call of tcp_req_err): parameter problem, time exceeded, net or host unreachable."""
    return icmp_type in (ICMP_PARAMETERPROB, ICMP_TIME_EXCEEDED) or (
        icmp_type == ICMP_DEST_UNREACH and code in (UNREACH_NET, UNREACH_HOST))
