"""ICMP for an IPv4 host: echo requests answered, errors about our segments handed to TCP.

The host hands every ICMP message addressed to it here (RFC 792; RFC 1122
section 3.2.2 says what a host must do with each type). The counters follow
Linux's ICMP MIB names (`nstat`): InMsgs, InEchos, OutMsgs, OutEchoReps,
InDestUnreachs, InTimeExcds, InParmProbs.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from minitcp.tcp.engine import TcpEngine
from minitcp.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_ECHO_REQUEST,
    ICMP_PARAMETERPROB,
    ICMP_TIME_EXCEEDED,
    IcmpMessage,
    echo_reply_for,
    parse_icmp,
    quoted_tcp,
)
from minitcp.wire.ipv4 import PROTO_ICMP, IPv4Packet, build_ipv4

# The ICMP errors that quote a datagram of ours (RFC 792; source quench is obsolete, RFC 6633),
# by Linux's ICMP MIB name.
_ERROR_COUNTERS = {ICMP_DEST_UNREACH: "InDestUnreachs", ICMP_TIME_EXCEEDED: "InTimeExcds",
                   ICMP_PARAMETERPROB: "InParmProbs"}


class Icmp:
    """The host's ICMP: counts into the host's `counters` and `drops` (`icmp_other`: a type the
    host does not act on, or an error that quotes no segment of ours); `emit(packet, now)` is
    how the host sends an IPv4 packet."""

    __slots__ = ("_ident", "addr", "counters", "drops", "emit", "engine")

    def __init__(self, addr: int, engine: TcpEngine, counters: collections.Counter[str],
                 drops: collections.Counter[str], emit: Callable[[bytes, float], None]) -> None:
        self.addr = addr
        self.engine = engine
        self.counters = counters
        self.drops = drops
        self.emit = emit
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
        reply = echo_reply_for(msg)
        self._ident = (self._ident + 1) & 0xFFFF
        # Linux sends ICMP replies with DF clear (its ICMP socket does not do
        # path MTU discovery), so each needs its own IP ID; TOS is the request's.
        self.emit(
            build_ipv4(self.addr, ip.src, PROTO_ICMP, reply, ident=self._ident, tos=ip.tos, df=False), now
        )
        self.counters["OutMsgs"] += 1
        self.counters["OutEchoReps"] += 1

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
