"""The host's IPv4 address: which sources are no host's, and which addresses the link reaches."""

from __future__ import annotations

from minitcp.wire.ipv4 import ip_int


def is_martian_source(addr: int) -> bool:
    """RFC 1122 section 3.2.1.3: silently discard a datagram whose source is not one host:
    "this network" 0/8, loopback 127/8, multicast 224/4, the reserved 240/4 and the limited
    broadcast 255.255.255.255."""
    first = addr >> 24
    return first in (0, 127) or first >= 224


class Ipv4Address:
    """One IPv4 address (`text`, dotted) on one link's subnet of `prefix_len` bits."""

    __slots__ = ("addr", "netmask")

    def __init__(self, text: str, prefix_len: int) -> None:
        self.addr = ip_int(text)
        self.netmask = (0xFFFFFFFF << (32 - prefix_len)) & 0xFFFFFFFF

    def on_link(self, addr: int) -> bool:
        """Whether `addr` is on the link's subnet: the only place the host can reach."""
        return (addr ^ self.addr) & self.netmask == 0 and addr != self.addr
