"""ICMP for an IPv4 host: echo requests answered, errors about our segments handed to TCP,
and the errors the host itself sends.

The host hands every ICMP message addressed to it here (RFC 792; RFC 1122
section 3.2.2 says what a host must do with each type), and asks `send_error` for
the errors it owes (protocol and port unreachable, reassembly time exceeded), which
go out under Linux's rate limits (host/icmp_ratelimit.py). The counters follow
Linux's ICMP MIB names (`nstat`): InMsgs, InEchos, OutMsgs, OutEchoReps,
InDestUnreachs, InTimeExcds, InParmProbs, OutDestUnreachs, OutTimeExcds,
OutParmProbs; an echo reply larger than the MTU is fragmented (FragOKs, FragCreates).
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from minitcp.host.icmp_ratelimit import IcmpRateLimit
from minitcp.tcp.engine import TcpEngine
from minitcp.wire.fragment import fragment_ipv4
from minitcp.wire.icmp import (
    ERROR_TYPES,
    ICMP_DEST_UNREACH,
    ICMP_ECHO_REPLY,
    ICMP_ECHO_REQUEST,
    ICMP_PARAMETERPROB,
    ICMP_TIME_EXCEEDED,
    NR_ICMP_TYPES,
    IcmpMessage,
    echo_reply_for,
    icmp_error,
    parse_icmp,
    quoted_tcp,
)
from minitcp.wire.ipv4 import PROTO_ICMP, IPv4Packet

# The ICMP errors that quote a datagram of ours (RFC 792; source quench is obsolete, RFC 6633),
# by Linux's ICMP MIB name.
_ERROR_COUNTERS = {ICMP_DEST_UNREACH: "InDestUnreachs", ICMP_TIME_EXCEEDED: "InTimeExcds",
                   ICMP_PARAMETERPROB: "InParmProbs"}
_OUT_COUNTERS = {ICMP_DEST_UNREACH: "OutDestUnreachs", ICMP_TIME_EXCEEDED: "OutTimeExcds",
                 ICMP_PARAMETERPROB: "OutParmProbs"}
# __icmp_send: errors go with the offending packet's TOS bits and precedence "internetwork
# control" (IPTOS_TOS_MASK, IPTOS_PREC_INTERNETCONTROL).
_TOS_MASK = 0x1E
_PREC_INTERNETCONTROL = 0xC0


class Icmp:
    """The host's ICMP: counts into the host's `counters` and `drops` (`icmp_other`: a type the
    host does not act on, or an error that quotes no segment of ours); `emit(packet, now)` is
    how the host sends an IPv4 packet, `ratelimit` the limits it sends under."""

    __slots__ = ("_ident", "addr", "counters", "drops", "emit", "engine", "ratelimit")

    def __init__(self, addr: int, engine: TcpEngine, counters: collections.Counter[str],
                 drops: collections.Counter[str], emit: Callable[[bytes, float], None],
                 ratelimit: IcmpRateLimit) -> None:
        self.addr = addr
        self.engine = engine
        self.counters = counters
        self.drops = drops
        self.emit = emit
        self.ratelimit = ratelimit
        self._ident = 0  # the IP ID of the last reply

    def input(self, ip: IPv4Packet, now: float) -> None:
        """Take the ICMP message `ip` carries, and answer it if it asks for an answer.
        A malformed message raises WireError, for the host to count as a drop."""
        msg = parse_icmp(ip.payload)
        self.counters["InMsgs"] += 1
        counter = _ERROR_COUNTERS.get(msg.type)
        if counter is not None:
            self.counters[counter] += 1
            self._error(msg, now)
            return
        if msg.type != ICMP_ECHO_REQUEST:
            self.drops["icmp_other"] += 1
            return
        # RFC 1122 section 3.2.2.6: every host answers echo requests, with the
        # same identifier, sequence number and data.
        self.counters["InEchos"] += 1
        if not self.ratelimit.allow(ICMP_ECHO_REPLY, 0, ip.src, now):  # icmp_reply: not by default
            return
        reply = echo_reply_for(msg)
        # Linux sends ICMP replies with DF clear (its ICMP socket does not do
        # path MTU discovery), so each needs its own IP ID; TOS is the request's.
        # One larger than the link's MTU goes in fragments (ip_fragment).
        self._send(reply, ip.src, ip.tos, now)
        self.counters["OutMsgs"] += 1
        self.counters["OutEchoReps"] += 1

    def send_error(self, offending: bytes | memoryview, ip: IPv4Packet, type: int, code: int,
                   now: float, rest_of_header: int = 0) -> None:
        """Answer the datagram `offending` (parsed as `ip`, addressed to us) with an error, unless
        RFC 1122 section 3.2.2 forbids it or the rate limits refuse it (Linux __icmp_send): never
        about a fragment other than the first, nor about an ICMP error (or a type Linux does
        not know, which it takes for one). The host only asks about datagrams sent to its own
        unicast address from a host's (martian sources, broadcasts and multicasts it drops)."""
        if ip.frag_offset:
            return
        if ip.proto == PROTO_ICMP:
            inner = ip.payload[0] if len(ip.payload) else None
            if inner is None or inner > NR_ICMP_TYPES or inner in ERROR_TYPES:
                return
        if not self.ratelimit.allow(type, code, ip.src, now):
            return
        message = icmp_error(type, code, offending, rest_of_header)
        self._send(message, ip.src, ip.tos & _TOS_MASK | _PREC_INTERNETCONTROL, now)
        self.counters["OutMsgs"] += 1
        self.counters[_OUT_COUNTERS[type]] += 1

    def _send(self, message: bytes, dst: int, tos: int, now: float) -> None:
        self._ident = (self._ident + 1) & 0xFFFF
        packets = fragment_ipv4(self.addr, dst, PROTO_ICMP, message, self.engine.mtu, ident=self._ident,
                                tos=tos)
        if len(packets) > 1:
            self.counters["FragOKs"] += 1
            self.counters["FragCreates"] += len(packets)
        for packet in packets:
            self.emit(packet, now)

    def _error(self, msg: IcmpMessage, now: float) -> None:
        """An error about a datagram of ours: the TCP engine decides (RFC 5927, Linux tcp_v4_err)."""
        quoted = quoted_tcp(msg)  # WireError for a short quote: counted as a drop by the host
        if quoted is None or quoted[0] != self.addr:
            self.drops["icmp_other"] += 1
            return
        src, dst, sport, dport, seq = quoted
        # RFC 1191 section 4: "fragmentation needed" carries the next-hop MTU in the low 16 bits
        # of the word after the checksum (Linux icmp_unreach: ntohs(icmph->un.frag.mtu)).
        mtu = msg.rest_of_header & 0xFFFF if msg.type == ICMP_DEST_UNREACH else 0
        self.engine.icmp_error(src, sport, dst, dport, seq, msg.type, msg.code, now, mtu)
