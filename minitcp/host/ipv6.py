"""The host's IPv6 address: which sources are no host's, which destinations are ours.

On TUN there is no link layer, so no neighbour discovery is needed to reach the
kernel (RFC 4861 section 1: a link without addresses has nothing to resolve):
the host answers neighbour-free, and the multicast groups it hears are only
those every IPv6 node is in (RFC 4291 section 2.8), whose messages it counts
and ignores (host/icmpv6.py).
"""

from __future__ import annotations

from minitcp.tcp.family import IPV4_MAX
from minitcp.wire.ipv6 import ip6_int

_V4_MAPPED = 0xFFFF << 32  # ::ffff:0:0/96, RFC 4291 section 2.5.5.2
ALL_NODES = 0xFF02 << 112 | 1  # ff02::1, RFC 4291 section 2.7.1
_SOLICITED_NODE = 0xFF02 << 112 | 1 << 32 | 0xFF << 24  # ff02::1:ff00:0/104, RFC 4291 section 2.7.1


def is_multicast6(addr: int) -> bool:
    return addr >> 120 == 0xFF


def is_martian_source6(addr: int) -> bool:
    """A source no host has, dropped as Linux's ipv6_rcv does: multicast (RFC 4291 section 2.7),
    an IPv4-mapped address (RFC 4291 section 2.5.5.2; RFC 6890), and the ::/96 block below 2**32
    holding the unspecified address, loopback (RFC 4291 sections 2.5.2, 2.5.3: never on a
    wire) and the deprecated IPv4-compatible ones (2.5.5.1)."""
    return addr <= IPV4_MAX or addr >> 120 == 0xFF or addr >> 32 == _V4_MAPPED >> 32


class Ipv6Address:
    """One IPv6 address (`text`) on one link's prefix of `prefix_len` bits (64 as a rule,
    RFC 4291 section 2.5.4)."""

    __slots__ = ("addr", "mask", "prefix_len", "solicited_node")

    def __init__(self, text: str, prefix_len: int) -> None:
        self.addr = ip6_int(text)
        if self.addr <= IPV4_MAX or is_multicast6(self.addr):
            # family.py tells families apart by width: such an address is not a host's anyway.
            raise ValueError(f"{text} is not a unicast IPv6 address a host may have")
        self.prefix_len = prefix_len
        self.mask = ((1 << prefix_len) - 1) << (128 - prefix_len)
        self.solicited_node = _SOLICITED_NODE | self.addr & 0xFFFFFF

    def on_link(self, addr: int) -> bool:
        """Whether `addr` is on the link's prefix: the only place the host can reach."""
        return (addr ^ self.addr) & self.mask == 0 and addr != self.addr

    def hears(self, dst: int) -> bool:
        """Whether a packet to the multicast `dst` reaches this host: all-nodes, or the
        solicited-node group of its address (RFC 4861 section 7.2.1)."""
        return dst in (ALL_NODES, self.solicited_node)
