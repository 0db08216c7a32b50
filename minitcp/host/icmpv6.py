"""ICMPv6 for an IPv6 host: echo requests answered, errors about our segments handed to TCP,
neighbour and router discovery counted and ignored.

The host hands every ICMPv6 message addressed to it here (RFC 4443). The
counters follow Linux's Icmp6 MIB names (`nstat`, /proc/net/snmp6): Icmp6InMsgs,
Icmp6OutMsgs, Icmp6InEchos, Icmp6OutEchoReplies and Icmp6In<type> for each
error and discovery message. On TUN there is no link layer: no address needs
resolving and no router is looked for, so neighbour discovery (RFC 4861) and
multicast listener messages (RFC 3810), which the kernel sends to groups every
node joins, are counted under `neighbour_discovery` and dropped.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from minitcp.tcp.engine import TcpEngine
from minitcp.wire.icmpv6 import (
    ICMPV6_DEST_UNREACH,
    ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST,
    ICMPV6_PACKET_TOO_BIG,
    ICMPV6_PARAMETER_PROBLEM,
    ICMPV6_TIME_EXCEEDED,
    echo_reply6_for,
    parse_icmpv6,
    quoted_tcp6,
)
from minitcp.wire.ipv6 import PROTO_ICMPV6, IPv6Packet, build_ipv6

# The errors that quote a datagram of ours (RFC 4443 section 3), by Linux's Icmp6 MIB name.
_ERROR_COUNTERS = {
    ICMPV6_DEST_UNREACH: "Icmp6InDestUnreachs",
    ICMPV6_PACKET_TOO_BIG: "Icmp6InPktTooBigs",
    ICMPV6_TIME_EXCEEDED: "Icmp6InTimeExcds",
    ICMPV6_PARAMETER_PROBLEM: "Icmp6InParmProblems",
}

# Multicast listener (RFC 2710, RFC 3810) and neighbour discovery (RFC 4861 section 4)
# messages, by Linux's Icmp6 MIB name: what a host on a link-layer-free TUN device ignores.
_DISCOVERY_COUNTERS = {
    130: "Icmp6InGroupMembQueries",
    131: "Icmp6InGroupMembResponses",
    132: "Icmp6InGroupMembReductions",
    133: "Icmp6InRouterSolicits",
    134: "Icmp6InRouterAdvertisements",
    135: "Icmp6InNeighborSolicits",
    136: "Icmp6InNeighborAdvertisements",
    137: "Icmp6InRedirects",
    143: "Icmp6InMLDv2Reports",
}

HOP_LIMIT = 64  # Linux's ipv6 hop_limit default (net.ipv6.conf.*.hop_limit)


class Icmpv6:
    """The host's ICMPv6: counts into the host's `counters` and `drops` (`icmp6_other`: a type
    the host does not act on, or an error that quotes no segment of ours); `emit(packet, now)`
    is how the host sends an IPv6 packet."""

    __slots__ = ("addr", "counters", "drops", "emit", "engine")

    def __init__(self, addr: int, engine: TcpEngine, counters: collections.Counter[str],
                 drops: collections.Counter[str], emit: Callable[[bytes, float], None]) -> None:
        self.addr = addr
        self.engine = engine
        self.counters = counters
        self.drops = drops
        self.emit = emit

    def input(self, ip: IPv6Packet, now: float) -> None:
        """Take the ICMPv6 message `ip` carries, and answer it if it asks for an answer.
        A malformed message raises WireError, for the host to count as a drop."""
        msg = parse_icmpv6(ip.payload, ip.src, ip.dst)
        self.counters["Icmp6InMsgs"] += 1
        counter = _ERROR_COUNTERS.get(msg.type)
        if counter is not None:
            self.counters[counter] += 1
            self._error(msg.type, msg.code, msg.rest_of_header, quoted_tcp6(msg), now)
            return
        counter = _DISCOVERY_COUNTERS.get(msg.type)
        if counter is not None:
            self.counters[counter] += 1
            self.drops["neighbour_discovery"] += 1
            return
        if msg.type == ICMPV6_ECHO_REPLY:
            self.counters["Icmp6InEchoReplies"] += 1
        if msg.type != ICMPV6_ECHO_REQUEST or ip.dst != self.addr:
            # A request to a multicast group is not answered (nothing here needs it answered).
            self.drops["icmp6_other"] += 1
            return
        # RFC 4443 section 4.2: every node answers, with the request's identifier, sequence
        # number and data; Linux's icmpv6_echo_reply keeps the request's traffic class.
        self.counters["Icmp6InEchos"] += 1
        reply = echo_reply6_for(msg, self.addr, ip.src)
        self.emit(build_ipv6(self.addr, ip.src, PROTO_ICMPV6, reply, hop_limit=HOP_LIMIT,
                             traffic_class=ip.traffic_class), now)
        self.counters["Icmp6OutMsgs"] += 1
        self.counters["Icmp6OutEchoReplies"] += 1

    def _error(self, type: int, code: int, rest: int,
               quoted: tuple[int, int, int, int, int] | None, now: float) -> None:
        """An error about a datagram of ours: the TCP engine decides (RFC 5927, Linux tcp_v6_err)."""
        if quoted is None or quoted[0] != self.addr:
            self.drops["icmp6_other"] += 1
            return
        src, dst, sport, dport, seq = quoted
        # RFC 8201 section 4 (RFC 4443 section 3.2): "packet too big" carries the next-hop MTU
        # in the 32-bit word after the checksum.
        mtu = rest if type == ICMPV6_PACKET_TOO_BIG else 0
        self.engine.icmp_error(src, sport, dst, dport, seq, type, code, now, mtu)
