"""Socket addresses in the family a socket was made with: parsed and given back, Linux's errnos.

An AF_INET socket takes and gives `(host, port)`; an AF_INET6 one takes
`(host, port[, flowinfo[, scope_id]])` and gives 4-tuples, as Python's socket
module does. An AF_INET6 socket reaches IPv4 peers through IPv4-mapped
addresses, `::ffff:a.b.c.d` (RFC 4291 section 2.5.5.2, RFC 3493 section 3.7),
unless IPV6_V6ONLY is set; inside the stack such an address is the IPv4
address itself (minitcp.tcp.family). Names are not resolved: a host that is no
address literal is getaddrinfo's EAI_NONAME.

The wrong family gets Linux's errno: an IPv6 address for an AF_INET socket is
EAFNOSUPPORT (inet_bind, tcp_v4_connect check sin_family), an IPv4 one for an
AF_INET6 socket EINVAL (a sockaddr_in is shorter than inet6_bind and
tcp_v6_connect require).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket as _s

from ..tcp.family import IPV4_MAX
from ..wire.ipv4 import ip_str
from ..wire.ipv6 import ip6_str

AF_INET = int(_s.AF_INET)
AF_INET6 = int(_s.AF_INET6)
FAMILIES = (AF_INET, AF_INET6)


def parse(family: int, address: tuple, small_errno: int) -> tuple[int, int]:
    """(address as the stack's integer, port) of a socket address for a `family` socket: 0 for
    the wildcard ("", 0.0.0.0, ::), an IPv4-mapped address as its IPv4 address.

    An IPv6 address below 2**32 other than :: (loopback ::1, the deprecated IPv4-compatible
    ones) is none the stack can have or reach (no loopback device): `small_errno` says so,
    EADDRNOTAVAIL for bind and ENETUNREACH for connect.
    """
    size = len(address) if isinstance(address, tuple) else 0
    if not 2 <= size <= (4 if family == AF_INET6 else 2):
        name = "AF_INET6" if family == AF_INET6 else "AF_INET"
        raise TypeError(f"{name} address must be a tuple (host, port)")  # as Python's socket module
    host, port = address[0], address[1]
    if not host:
        return 0, port
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise _s.gaierror(_s.EAI_NONAME, f"Name or service not known ({host!r}: minitcp "
                                         "resolves no names)") from None
    if family == AF_INET:
        if ip.version == 6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        return int(ip), port
    if ip.version == 4:
        raise OSError(errno.EINVAL, "Invalid argument (an IPv4 address for an AF_INET6 socket: "
                      "write it ::ffff:a.b.c.d)")
    assert isinstance(ip, ipaddress.IPv6Address)
    mapped = ip.ipv4_mapped
    if mapped is not None:
        return int(mapped), port
    addr = int(ip)
    if 0 < addr <= IPV4_MAX:
        raise OSError(small_errno, os.strerror(small_errno))
    return addr, port


def sockaddr(family: int, addr: int, port: int) -> tuple:
    """The socket address a `family` socket reports for the stack's `addr`: (host, port), or
    (host, port, flowinfo, scope_id) with IPv4 addresses mapped, as Python gives them."""
    if family == AF_INET:
        return ip_str(addr), port
    if addr == 0:
        return "::", port, 0, 0
    text = ip6_str(addr) if addr > IPV4_MAX else f"::ffff:{ip_str(addr)}"
    return text, port, 0, 0
