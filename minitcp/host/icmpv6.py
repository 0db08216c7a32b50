"""ICMPv6 for an IPv6 host: echo requests answered, errors about our segments handed to TCP,
neighbour and router discovery counted and ignored, and the errors the host itself sends.

The host hands every ICMPv6 message addressed to it here (RFC 4443). The
counters follow Linux's Icmp6 MIB names (`nstat`, /proc/net/snmp6): Icmp6InMsgs,
Icmp6OutMsgs, Icmp6InEchos, Icmp6OutEchoReplies and Icmp6In<type> for each
error and discovery message. On TUN there is no link layer: no address needs
resolving and no router is looked for, so neighbour discovery (RFC 4861) and
multicast listener messages (RFC 3810), which the kernel sends to groups every
node joins, are counted under `neighbour_discovery` and dropped. `send_error` sends the
errors the host owes (port unreachable, parameter problem, reassembly time exceeded)
under Linux's rules and limits (icmp6_send, host/icmp_ratelimit.py): Icmp6OutDestUnreachs,
Icmp6OutParmProblems, Icmp6OutTimeExcds. An echo reply larger than the MTU is sent in
fragments, as the source must (RFC 8200 section 4.5): Ip6FragOKs, Ip6FragCreates.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Callable

from minitcp.host.icmp_ratelimit import IcmpRateLimit
from minitcp.tcp.engine import TcpEngine
from minitcp.wire.fragment import fragment_ipv6
from minitcp.wire.icmpv6 import (
    ICMPV6_DEST_UNREACH,
    ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST,
    ICMPV6_PACKET_TOO_BIG,
    ICMPV6_PARAMETER_PROBLEM,
    ICMPV6_TIME_EXCEEDED,
    PARAM_UNKNOWN_OPTION,
    echo_reply6_for,
    icmpv6_error,
    is_error,
    parse_icmpv6,
    quoted_tcp6,
)
from minitcp.wire.ipv6 import IPV6_HEADER_LEN, PROTO_ICMPV6, IPv6Packet, build_ipv6

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

_OUT_COUNTERS = {
    ICMPV6_DEST_UNREACH: "Icmp6OutDestUnreachs",
    ICMPV6_PACKET_TOO_BIG: "Icmp6OutPktTooBigs",
    ICMPV6_TIME_EXCEEDED: "Icmp6OutTimeExcds",
    ICMPV6_PARAMETER_PROBLEM: "Icmp6OutParmProblems",
}

HOP_LIMIT = 64  # Linux's ipv6 hop_limit default (net.ipv6.conf.*.hop_limit)


class Icmpv6:
    """The host's ICMPv6: counts into the host's `counters` and `drops` (`icmp6_other`: a type
    the host does not act on, or an error that quotes no segment of ours); `emit(packet, now)`
    is how the host sends an IPv6 packet, `ratelimit` the limits it sends under;
    `prefix_len(addr)` is the length of the route's prefix to `addr` (64 on the link, else 128)."""

    __slots__ = ("_rng", "addr", "counters", "drops", "emit", "engine", "prefix_len", "ratelimit")

    def __init__(self, addr: int, engine: TcpEngine, counters: collections.Counter[str],
                 drops: collections.Counter[str], emit: Callable[[bytes, float], None],
                 ratelimit: IcmpRateLimit, prefix_len: Callable[[int], int]) -> None:
        self.addr = addr
        self.engine = engine
        self.counters = counters
        self.drops = drops
        self.emit = emit
        self.ratelimit = ratelimit
        self.prefix_len = prefix_len
        self._rng = random.Random()  # fragment identifications, unpredictable as RFC 7739 asks

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
        if not self.ratelimit.allow6(ICMPV6_ECHO_REPLY, ip.src, self.prefix_len(ip.src), now):
            return  # icmpv6_echo_reply: not limited by default
        reply = echo_reply6_for(msg, self.addr, ip.src)
        self._send(reply, ip.src, ip.traffic_class, now)
        self.counters["Icmp6OutMsgs"] += 1
        self.counters["Icmp6OutEchoReplies"] += 1

    def send_error(self, offending: bytes | memoryview, ip: IPv6Packet, type: int, code: int,
                   now: float, rest_of_header: int = 0) -> None:
        """Answer the packet `offending` (parsed as `ip`) with an error, unless RFC 4443 section
        2.4 (e) forbids it or the rate limits refuse it (Linux icmp6_send): never to a
        multicast destination but packet too big and an unknown option whose type asks for it
        (e.3), never about an ICMPv6 error (e.1, Linux is_ineligible)."""
        if ip.dst != self.addr and not (type == ICMPV6_PACKET_TOO_BIG or
                                        (type == ICMPV6_PARAMETER_PROBLEM and code == PARAM_UNKNOWN_OPTION)):
            return
        if ip.next_header == PROTO_ICMPV6 and not ip.is_fragment and (
                not ip.payload or is_error(ip.payload[0])):
            return
        if not self.ratelimit.allow6(type, ip.src, self.prefix_len(ip.src), now):
            return
        message = icmpv6_error(self.addr, ip.src, type, code, rest_of_header, offending)
        self._send(message, ip.src, 0, now)
        self.counters["Icmp6OutMsgs"] += 1
        self.counters[_OUT_COUNTERS[type]] += 1

    def _send(self, message: bytes, dst: int, traffic_class: int, now: float) -> None:
        if IPV6_HEADER_LEN + len(message) <= self.engine.mtu:
            self.emit(build_ipv6(self.addr, dst, PROTO_ICMPV6, message, hop_limit=HOP_LIMIT,
                                 traffic_class=traffic_class), now)
            return
        packets = fragment_ipv6(self.addr, dst, PROTO_ICMPV6, message, self.engine.mtu,
                                ident=self._rng.getrandbits(32), hop_limit=HOP_LIMIT,
                                traffic_class=traffic_class)
        self.counters["Ip6FragOKs"] += 1
        self.counters["Ip6FragCreates"] += len(packets)
        for packet in packets:
            self.emit(packet, now)

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
