"""IPv4 or IPv6: the engine tells a connection's family by its addresses' width.

Addresses are integers everywhere in the engine: 32 bits for IPv4, 128 for IPv6
(RFC 8200 section 3). An IPv6 address that fits in 32 bits is `::`, `::1` or an
"IPv4-compatible" one, none of which a host has or talks to (RFC 4291 sections
2.5.2, 2.5.3 and 2.5.5.1 deprecates the last), so the width alone says which
family a connection speaks: no field per connection, no argument per call. An
IPv4 peer of a dual-stack socket is an IPv4 connection here (its IPv4-mapped
form, ::ffff:a.b.c.d, exists only for the socket's user: RFC 4291 section 2.5.5.2).
"""

from __future__ import annotations

import ipaddress

from minitcp.wire.ipv4 import ip_str
from minitcp.wire.ipv6 import ip6_str
from minitcp.wire.segment import Segment, Segment6

IPV4_MAX = 0xFFFFFFFF

# Where an IPv6 wildcard listener waits in the engine's listener table: IPv4's is
# address 0, and `::` is 0 too, so IPv6's takes a value no address has.
ANY6 = 1 << 128

# The IP and TCP headers without options, what an MTU holds beside the MSS
# (RFC 9293 section 3.7.1 for IPv4; RFC 8200 section 8.3 for IPv6, Linux tcp_v6_connect).
IPV4_TCP_HEADERS = 40
IPV6_TCP_HEADERS = 60


def is_v6(addr: int) -> bool:
    """Whether `addr` is an IPv6 address (wider than 32 bits)."""
    return addr > IPV4_MAX


def is_loopback(addr: int) -> bool:
    """127.0.0.0/8, or 127/8 v4-mapped (Linux ipv4_is_loopback, ipv6_addr_v4mapped_loopback, as
    tcp_twsk_unique asks). IPv6's ::1 cannot occur: as an integer it would read as IPv4."""
    if addr <= IPV4_MAX:
        return addr >> 24 == 127
    return addr >> 24 == 0xFFFF7F


def ip_tcp_headers(addr: int) -> int:
    """The IP and TCP header bytes, without options, of a segment from or to `addr`."""
    return IPV6_TCP_HEADERS if addr > IPV4_MAX else IPV4_TCP_HEADERS


def segment_class(addr: int) -> type[Segment]:
    """`Segment6` for a segment from or to an IPv6 address, else `Segment`."""
    return Segment6 if addr > IPV4_MAX else Segment


def any_address(addr: int) -> int:
    """The wildcard listener key of `addr`'s family (0 for IPv4, `ANY6` for IPv6)."""
    return ANY6 if addr > IPV4_MAX else 0


def parse_addr(text: str) -> int:
    """An address of either family, as people write it, to its integer."""
    return int(ipaddress.ip_address(text))


def addr_str(addr: int) -> str:
    """An address of either family as people write it (`ANY6`, a listener's, as `::`)."""
    if addr == ANY6:
        return "::"
    return ip6_str(addr) if addr > IPV4_MAX else ip_str(addr)


def endpoint_str(addr: int, port: int) -> str:
    """`addr:port`, an IPv6 address in brackets (RFC 5952 section 6)."""
    return f"[{addr_str(addr)}]:{port}" if addr > IPV4_MAX else f"{ip_str(addr)}:{port}"
