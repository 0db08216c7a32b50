"""The host, sans-IO: IPv4 and IPv6 packets and the time in, TCP's segments and ICMP's answers out.

`Host` is what a Linux host does between its NIC driver and its sockets, for
one address of each family: it takes the IP packets a link received (`receive_batch`, with
`now`), tells the families apart by the version nibble (the same buffer goes to
the family's parser, never copied), drops what a host must not take, hands ICMP
to `Icmp`, ICMPv6 to `Icmpv6` and TCP of both families to the one engine
(joined by GRO first, as Linux's driver poll joins a NIC's packets),
and turns the engine's segments into packets (`transmit`), cutting TSO
segments into wire packets unless the link takes them whole. It never reads a
clock, waits, or touches a device: it is given the time at every call, and the
two functions that hand a packet to the link (`send`, and `send_gso` for a link
with offloads), which never block. `minitcp.stack.Stack` is the Trio shell that
feeds it. Its timers are TCP's, the engine's, and the fragment queues' (reassembly.py):
`poll_at()` says when `handle_timeout(now)` is due; `transmit(now)` after it.
Fragments of both families are reassembled (reassembly.py) and the datagram goes
through the input again whole; a datagram for a protocol or UDP port nobody takes is
answered with the error Linux sends, under its rate limits (icmp.py, icmpv6.py,
icmp_ratelimit.py). (Handing packets over as they are made, rather than in a list the
shell empties, keeps each one's place among the hooks' reports as in Linux's
ip_output, and costs nothing per packet.)

A SYN that finds its listener in cookie mode (a SYN flood) is answered from its bytes
before anything else is made of it (`_cookie_reply4`, `_cookie_reply6`; the engine and
the listener decide, `Engine.cookie_reply`), as Linux answers it in softirq.

Input never raises: a malformed packet is counted in `drops` under its reason
and otherwise ignored, as RFC 1122 section 1.2.2 asks of hosts ("be liberal in
what you accept").
"""

from __future__ import annotations

import collections
import logging
import struct
from collections.abc import Callable

from minitcp.host.cookie_batch import cookies_lately
from minitcp.host.icmp import Icmp
from minitcp.host.icmp_ratelimit import IcmpRateLimit
from minitcp.host.icmpv6 import Icmpv6
from minitcp.host.ipv4 import Ipv4Address, is_martian_source
from minitcp.host.ipv6 import Ipv6Address, is_martian_source6, is_multicast6
from minitcp.host.ports import PortTable
from minitcp.host.reassembly import Reassembly
from minitcp.link.base import Received
from minitcp.tcp.connection import conn_key
from minitcp.tcp.engine import TcpEngine
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.observer import Observer
from minitcp.wire.accel import checksum
from minitcp.wire.csum_partial import complete_csum
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.gro import Gro
from minitcp.wire.gso import SuperSegment, super_segment
from minitcp.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_TIME_EXCEEDED,
    TIME_EXCEEDED_REASSEMBLY,
    UNREACH_PROTOCOL,
)
from minitcp.wire.icmp import UNREACH_PORT as UNREACH_PORT4
from minitcp.wire.icmpv6 import (
    ICMPV6_DEST_UNREACH,
    ICMPV6_PARAMETER_PROBLEM,
    ICMPV6_TIME_EXCEEDED,
    PARAM_HEADER_FIELD,
    PARAM_UNKNOWN_NEXT_HEADER,
    UNREACH_PORT,
)
from minitcp.wire.icmpv6 import TIME_EXCEEDED_REASSEMBLY as TIME_EXCEEDED_REASSEMBLY6
from minitcp.wire.ipv4 import MAX_PACKET, PROTO_ICMP, PROTO_TCP, PROTO_UDP, IPv4Packet, parse_ipv4
from minitcp.wire.ipv6 import (
    IPV6_HEADER_LEN,
    MAX_PAYLOAD,
    PROTO_ICMPV6,
    PROTO_NONE,
    IPv6Packet,
    parse_ipv6,
)
from minitcp.wire.segment import ACK, FIN, RST, SYN, Segment
from minitcp.wire.tcp import build_tcp6_packet, build_tcp_packet, parse_tcp6_packet, parse_tcp_packet
from minitcp.wire.tso import TSO_MAX, build_packets
from minitcp.wire.udp import parse_udp

log = logging.getLogger("minitcp")

PacketHook = Callable[[str, bytes | memoryview, float], None]
"""`on_packet(direction, packet, now)`: direction is "in" or "out"; `now` is the time given."""

# A SYN without ACK, RST or FIN (their bits of the TCP flags byte): what may get a cookie at once.
_SYN_ONLY = SYN | ACK | RST | FIN
_ADDRS4 = struct.Struct("!12xII")
_TUPLE4 = struct.Struct("!12xIIHH")  # addresses and ports, after an IPv4 header without options
_PORTS = struct.Struct("!HH")
_NEXT_HEADER_FIELD = 6  # its offset in the IPv6 header (RFC 8200 section 3)
_PAYLOAD_LENGTH_FIELD = 4


class _Head:
    """What the host keeps of a datagram's first fragment: the packet (to rebuild the datagram
    and to quote in "reassembly time exceeded"), how long its unfragmentable part is (IPv4:
    its header; IPv6: up to the fragment header), and for IPv6 where the next-header field
    naming the fragment header is and the protocol the fragment header names."""

    __slots__ = ("next_header", "next_header_field", "packet", "unfragmentable")

    def __init__(self, packet: bytes, unfragmentable: int, next_header_field: int,
                 next_header: int = 0) -> None:
        self.packet = packet
        self.unfragmentable = unfragmentable
        self.next_header_field = next_header_field
        self.next_header = next_header


class Host:
    """An IPv4 host with one address on one link, and an IPv6 one with `address6`, fed packets
    and the time.

    `drops` counts discarded packets by reason: the `DropReason` labels of the
    wire parsers, plus `ipv6` (IPv6 without `address6`), `not_for_us` (another
    destination address), `martian_source`, `icmp_other` (an ICMP type the host
    does not act on), `icmp6_other` and `neighbour_discovery` (host/icmpv6.py).
    `counters` follows the names of Linux's SNMP counters (`nstat`):
    InReceives, InDelivers, OutRequests, InUnknownProtos, the Reasm* and Frag* ones,
    InMsgs/OutMsgs, InEchos/OutEchoReps, InDestUnreachs/InTimeExcds/InParmProbs,
    OutDestUnreachs/OutTimeExcds and the rate limits' OutRateLimit* for ICMP,
    UdpNoPorts/UdpInErrors/UdpInCsumErrors for UDP; Ip6InReceives, Ip6InDelivers,
    Ip6OutRequests, Ip6InUnknownProtos, Ip6Reasm*, Ip6Frag*, Udp6* and the Icmp6 ones
    (host/icmpv6.py) for IPv6. TCP's own counters (InSegs,
    OutSegs, ...) are `engine.counters`. `ports` are the local ports its sockets hold.

    With `tso` (the default) the engine sends runs of full-sized segments as one
    TSO segment (`minitcp.wire.tso`), which the host cuts into wire packets; the
    wire and the engine's observer see the same segments either way. With `gro`
    the segments of a batch that continue each other reach the engine joined
    (`minitcp.wire.gro`), as in a Linux host: one decision and one ACK per joined
    segment, which the engine's observer sees joined; `on_packet` and the IP
    counters see each packet.

    TCP packets whose checksum the sender left partial (`receive_batch` says which)
    skip that check. With `send_gso` (a link with offloads, `OffloadLink`), TSO
    segments go out whole as super-segments (`minitcp.wire.gso`); a super-segment
    counts as one packet here (as a GRO or TSO packet does in Linux's Ip counters),
    and `on_packet` sees it whole, its checksum completed.
    """

    def __init__(
        self,
        address: str,
        *,
        mtu: int,
        send: Callable[[bytes], None],
        send_gso: Callable[[SuperSegment], None] | None = None,
        prefix_len: int = 24,
        address6: str | None = None,
        prefix6_len: int = 64,
        knobs: Knobs | None = None,
        observer: Observer | None = None,
        on_packet: PacketHook | None = None,
        tso: bool = True,
        gro: bool = False,
    ) -> None:
        self.ipv4 = Ipv4Address(address, prefix_len)
        self.addr = self.ipv4.addr
        self.on_packet = on_packet
        self._send = send
        self._send_gso = send_gso
        self.drops: collections.Counter[str] = collections.Counter()
        self.counters: collections.Counter[str] = collections.Counter()
        self.engine = TcpEngine(knobs, mtu=mtu, observer=observer)
        if tso:
            self.engine.tso_max = TSO_MAX
        self._gro = Gro() if gro else None
        self.ports = PortTable(self.engine)
        self.icmp_limit = IcmpRateLimit(lambda: self.engine.knobs, self.counters)
        self.icmp = Icmp(self.addr, self.engine, self.counters, self.drops, self._emit, self.icmp_limit)
        self.ipv6 = Ipv6Address(address6, prefix6_len) if address6 is not None else None
        self.addr6 = self.ipv6.addr if self.ipv6 is not None else None
        self.icmpv6 = (Icmpv6(self.ipv6.addr, self.engine, self.counters, self.drops, self._emit6,
                              self.icmp_limit, self._route_prefix6)
                       if self.ipv6 is not None else None)
        engine = self.engine  # its knobs are read at each use, as sysctls are
        self.reassembly = Reassembly(self.counters, "",
                                     lambda: (engine.knobs.ipfrag_high_thresh, engine.knobs.ipfrag_time))
        self.reassembly6 = Reassembly(self.counters, "Ip6",
                                      lambda: (engine.knobs.ip6frag_high_thresh, engine.knobs.ip6frag_time))

    def _route_prefix6(self, addr: int) -> int:
        """The prefix length of the route to `addr`: the link's, else a host route's (128)."""
        return self.ipv6.prefix_len if self.ipv6 is not None and self.ipv6.on_link(addr) else 128

    # ------------------------------------------------------------------ time

    def poll_at(self) -> float | None:
        """When `handle_timeout` is next due: TCP's timers, or the oldest fragment queue's end."""
        at = self.engine.poll_at()
        if self.reassembly.queues or self.reassembly6.queues:  # rarely: not on the hot path's way
            for reassembly in (self.reassembly, self.reassembly6):
                expires = reassembly.poll_at()
                if expires is not None and (at is None or expires < at):
                    at = expires
        return at

    def handle_timeout(self, now: float) -> None:
        """Run what is due at `now`: TCP's timers, and fragment queues that waited too long,
        answered with "fragment reassembly time exceeded" when their first fragment came
        (Linux ip_expire, ip6frag_expire_frag_queue); then `transmit(now)`."""
        due = self.engine.poll_at()
        if due is not None and due <= now:
            self.engine.handle_timeout(now)
        for head in self.reassembly.expire(now):
            assert isinstance(head, _Head)
            self.icmp.send_error(head.packet, parse_ipv4(head.packet), ICMP_TIME_EXCEEDED,
                                 TIME_EXCEEDED_REASSEMBLY, now)
        for head in self.reassembly6.expire(now):
            assert isinstance(head, _Head) and self.icmpv6 is not None
            self.icmpv6.send_error(head.packet, parse_ipv6(head.packet), ICMPV6_TIME_EXCEEDED,
                                   TIME_EXCEEDED_REASSEMBLY6, now)

    def on_link(self, addr: int) -> bool:
        """Whether `addr` is on the link's subnet (or IPv6 prefix): the only place the host can
        reach."""
        if addr > 0xFFFFFFFF:
            return self.ipv6 is not None and self.ipv6.on_link(addr)
        return self.ipv4.on_link(addr)

    # ------------------------------------------------------------------ input

    def receive_batch(self, batch: list[Received], now: float) -> None:
        """The packets a link read at once, each with whether its TCP checksum is partial."""
        handle = self._input
        if len(batch) == 1:  # nothing to join it with: past GRO at once (a round trip's usual batch)
            pkt, csum_partial = batch[0]
            handle(pkt, now, csum_partial, gro=False)
            return
        for pkt, csum_partial in batch:
            handle(pkt, now, csum_partial)
        self._flush_gro(now)

    def receive(self, pkt: bytes | memoryview, now: float, csum_partial: bool = False) -> None:
        """One received IP packet on its own (no GRO)."""
        self._input(pkt, now, csum_partial, gro=False)

    def _input(self, pkt: bytes | memoryview, now: float, csum_partial: bool = False,
               gro: bool = True) -> None:
        if pkt and pkt[0] >> 4 == 6:
            self._input6(pkt, now, csum_partial, gro)
            return
        self.counters["InReceives"] += 1
        if self.on_packet is not None:
            self.on_packet("in", complete_csum(pkt) if csum_partial else pkt, now)
        try:
            self._ip_input(pkt, now, csum_partial, gro)
        except WireError as e:
            self.drops[e.reason.label] += 1

    def _ip_input(self, pkt: bytes | memoryview, now: float, csum_partial: bool = False,
                  gro: bool = True) -> None:
        if not pkt:
            self.drops[DropReason.TRUNCATED.label] += 1
            return
        version = pkt[0] >> 4
        if version == 4 and len(pkt) >= 20 and pkt[9] == PROTO_TCP and not (pkt[6] & 0x3F or pkt[7]):
            # TCP is the hot path: one call validates IPv4 and TCP together (not a fragment).
            ihl = (pkt[0] & 0x0F) << 2
            if len(pkt) >= ihl + 20 and pkt[ihl + 13] & _SYN_ONLY == SYN \
                    and self._cookie_reply4(pkt, ihl, now, csum_partial):
                return
            seg = parse_tcp_packet(pkt, csum_partial)
            if self._accept(seg.src, seg.dst):
                self.counters["InDelivers"] += 1
                self._through_gro(seg, now, gro)
            return
        self._flush_gro(now)  # what came before this packet is handled before it
        ip = parse_ipv4(pkt)
        if not self._accept(ip.src, ip.dst):
            return
        if ip.is_fragment:
            self._defrag(pkt, ip, now)
        elif ip.proto == PROTO_ICMP:
            self.counters["InDelivers"] += 1
            self.icmp.input(ip, now)
        elif ip.proto == PROTO_UDP:
            self.counters["InDelivers"] += 1
            if self._udp_input(ip.src, ip.dst, ip.payload, "Udp"):
                self.icmp.send_error(pkt, ip, ICMP_DEST_UNREACH, UNREACH_PORT4, now)
        else:
            # Linux ip_protocol_deliver_rcu: no handler, "protocol unreachable" (RFC 1122 3.2.2.1).
            self.counters["InUnknownProtos"] += 1
            self.drops[DropReason.UNSUPPORTED_PROTOCOL.label] += 1
            self.icmp.send_error(pkt, ip, ICMP_DEST_UNREACH, UNREACH_PROTOCOL, now)

    def _cookie_reply4(self, pkt: bytes | memoryview, ihl: int, now: float, csum_partial: bool) -> bool:
        """A SYN that a listener in cookie mode answers at once, never parsed into a Segment
        nor given a Connection (Linux answers it so in softirq, tcp_conn_request): True when it
        was (Engine.cookie_reply says when); False to take the usual path, which counts and
        drops what is wrong with it as ever."""
        if not cookies_lately(self.engine, now):
            return False  # no listener sent a cookie lately: the usual path (whose cookie turns this on)
        if ihl == 20:
            src, dst, sport, dport = _TUPLE4.unpack_from(pkt)
        else:
            src, dst = _ADDRS4.unpack_from(pkt)
            sport, dport = _PORTS.unpack_from(pkt, ihl)
        if dst != self.addr or src == dst or is_martian_source(src):
            return False
        self._flush_gro(now)  # what came before it goes first, as on the usual path
        key = (dst << 80) | (dport << 64) | (src << 16) | sport  # conn_key, inline
        synack = self.engine.cookie_reply(pkt, csum_partial, False, dst, dport, key, now)
        if synack is None:
            return False
        self.counters["InDelivers"] += 1
        self._emit(synack, now)
        return True

    def _cookie_reply6(self, pkt: bytes | memoryview, now: float, csum_partial: bool) -> bool:
        """`_cookie_reply4` for an IPv6 SYN without extension headers."""
        if not cookies_lately(self.engine, now):
            return False
        src = int.from_bytes(pkt[8:24], "big")
        dst = int.from_bytes(pkt[24:40], "big")
        if dst != self.addr6 or src <= 0xFFFFFFFF or src == dst or is_martian_source6(src):
            return False
        sport, dport = _PORTS.unpack_from(pkt, IPV6_HEADER_LEN)
        self._flush_gro(now)
        key = conn_key(dst, dport, src, sport)
        synack = self.engine.cookie_reply(pkt, csum_partial, True, dst, dport, key, now)
        if synack is None:
            return False
        self.counters["Ip6InDelivers"] += 1
        self._emit6(synack, now)
        return True

    def _defrag(self, pkt: bytes | memoryview, ip: IPv4Packet, now: float) -> None:
        """An IPv4 fragment to its queue (RFC 791 section 3.2); the datagram it completes goes
        through the input again, whole, with the first fragment's header (Linux ip_frag_reasm)."""
        first = ip.frag_offset == 0
        head = _Head(bytes(pkt[: ip.total_length]), ip.header_length, 0) if first else None
        done = self.reassembly.add((ip.src, ip.dst, ip.ident, ip.proto), ip.frag_offset, ip.payload,
                                   ip.more_fragments, head, MAX_PACKET - ip.header_length, now)
        if done is None:
            return
        got, data = done
        assert isinstance(got, _Head)
        ihl = got.unfragmentable
        header = bytearray(got.packet[:ihl])
        header[2:4] = (ihl + len(data)).to_bytes(2, "big")
        header[6:8] = (header[6] & 0x40).to_bytes(1, "big") + b"\0"  # DF kept, MF and offset cleared
        header[10:12] = b"\0\0"
        header[10:12] = checksum(header).to_bytes(2, "big")
        self._ip_input(bytes(header) + data, now, gro=False)

    def _udp_input(self, src: int, dst: int, datagram: memoryview, mib: str) -> bool:
        """A UDP datagram: no socket takes UDP, so a valid one is owed "port unreachable"
        (True; Linux __udp4_lib_rcv, __udp6_lib_rcv: NoPorts). A malformed one is counted
        (InErrors, InCsumErrors) and raises WireError, for the host to count as a drop."""
        try:
            parse_udp(datagram, src, dst)
        except WireError as e:
            self.counters[mib + "InErrors"] += 1
            if e.reason == DropReason.BAD_UDP_CHECKSUM:
                self.counters[mib + "InCsumErrors"] += 1
            raise
        self.counters[mib + "NoPorts"] += 1
        return True

    def _input6(self, pkt: bytes | memoryview, now: float, csum_partial: bool, gro: bool) -> None:
        """An IPv6 packet: its own counters (Linux's Ip6 MIB), the engine and GRO shared."""
        if self.ipv6 is None:
            self.drops["ipv6"] += 1
            return
        self.counters["Ip6InReceives"] += 1
        if self.on_packet is not None:
            self.on_packet("in", complete_csum(pkt) if csum_partial else pkt, now)
        try:
            self._ip6_input(pkt, now, csum_partial, gro)
        except WireError as e:
            self.drops[e.reason.label] += 1

    def _ip6_input(self, pkt: bytes | memoryview, now: float, csum_partial: bool, gro: bool) -> None:
        if len(pkt) > 6 and pkt[6] == PROTO_TCP:
            # No extension headers: the one-call parse validates IPv6 and TCP together.
            if len(pkt) >= IPV6_HEADER_LEN + 20 and pkt[IPV6_HEADER_LEN + 13] & _SYN_ONLY == SYN \
                    and self._cookie_reply6(pkt, now, csum_partial):
                return
            self._deliver(parse_tcp6_packet(pkt, csum_partial), now, gro, self._accept6)
            return
        self._flush_gro(now)  # what came before this packet is handled before it
        ip = parse_ipv6(pkt)
        if ip.is_fragment:
            if self._accept6(ip.src, ip.dst):
                self._defrag6(pkt, ip, now)
            return
        if ip.next_header == PROTO_TCP:
            self._deliver(parse_tcp6_packet(pkt, csum_partial), now, False, self._accept6)
            return
        assert self.icmpv6 is not None
        if ip.next_header == PROTO_ICMPV6 and self._hears(ip.dst):
            # The all-nodes and solicited-node groups carry discovery messages: counted there.
            if is_martian_source6(ip.src):
                self.drops["martian_source"] += 1
            else:
                self.counters["Ip6InDelivers"] += 1
                self.icmpv6.input(ip, now)
            return
        if not self._accept6(ip.src, ip.dst):
            return
        if ip.next_header == PROTO_ICMPV6:
            self.counters["Ip6InDelivers"] += 1
            self.icmpv6.input(ip, now)
        elif ip.next_header == PROTO_NONE:
            self.drops["no_next_header"] += 1  # RFC 8200 section 4.7: nothing to deliver
        elif ip.next_header == PROTO_UDP:
            self.counters["Ip6InDelivers"] += 1
            if self._udp_input(ip.src, ip.dst, ip.payload, "Udp6"):
                self.icmpv6.send_error(pkt, ip, ICMPV6_DEST_UNREACH, UNREACH_PORT, now)
        else:
            # RFC 8200 section 4: an unknown next header is answered with a parameter problem
            # pointing at the field that named it (Linux ip6_protocol_deliver_rcu).
            self.counters["Ip6InUnknownProtos"] += 1
            self.drops[DropReason.UNSUPPORTED_PROTOCOL.label] += 1
            pointer = ip.extensions[-1][1] if ip.extensions else _NEXT_HEADER_FIELD
            self.icmpv6.send_error(pkt, ip, ICMPV6_PARAMETER_PROBLEM, PARAM_UNKNOWN_NEXT_HEADER, now, pointer)

    def _defrag6(self, pkt: bytes | memoryview, ip: IPv6Packet, now: float) -> None:
        """An IPv6 fragment to its queue (RFC 8200 section 4.5); the packet it completes goes
        through the input again: the unfragmentable part of the first fragment, the fragment
        header taken out, then the fragmentable part (Linux ip6_frag_reasm)."""
        assert ip.fragment is not None and self.icmpv6 is not None
        frag_header = ip.extensions[-1][1]
        end = ip.fragment.offset + len(ip.payload)
        # ip6_frag_queue: too long a datagram, or a fragment but the last whose length is not a
        # multiple of 8, is a parameter problem pointing at the offset or payload length field.
        pointer = (frag_header + 2 if end > MAX_PAYLOAD
                   else _PAYLOAD_LENGTH_FIELD if ip.fragment.more and len(ip.payload) % 8 else None)
        if pointer is not None:
            self.counters["Ip6InHdrErrors"] += 1
            self.drops["bad_fragment"] += 1
            self.icmpv6.send_error(pkt, ip, ICMPV6_PARAMETER_PROBLEM, PARAM_HEADER_FIELD, now, pointer)
            return
        head = None
        if ip.fragment.offset == 0:
            # The next-header field naming the fragment header: the fixed header's, or the
            # extension header's before it.
            field = ip.extensions[-2][1] if len(ip.extensions) > 1 else _NEXT_HEADER_FIELD
            head = _Head(bytes(pkt[: IPV6_HEADER_LEN + ip.payload_length]), frag_header, field,
                         ip.next_header)
        room = MAX_PAYLOAD - (frag_header - IPV6_HEADER_LEN)
        done = self.reassembly6.add((ip.src, ip.dst, ip.fragment.ident), ip.fragment.offset, ip.payload,
                                    ip.fragment.more, head, room, now)
        if done is None:
            return
        got, data = done
        assert isinstance(got, _Head)
        unfragmentable = bytearray(got.packet[: got.unfragmentable])
        unfragmentable[got.next_header_field] = got.next_header
        unfragmentable[4:6] = (len(unfragmentable) - IPV6_HEADER_LEN + len(data)).to_bytes(2, "big")
        self._ip6_input(bytes(unfragmentable) + data, now, False, False)

    def _hears(self, dst: int) -> bool:
        return is_multicast6(dst) and self.ipv6 is not None and self.ipv6.hears(dst)

    def _accept6(self, src: int, dst: int) -> bool:
        if dst != self.addr6:
            self.drops["not_for_us"] += 1  # RFC 8200 section 1: a host does not forward
            return False
        if is_martian_source6(src) or src == dst:
            self.drops["martian_source"] += 1
            return False
        return True

    def _deliver(self, seg: Segment, now: float, gro: bool,
                 accept: Callable[[int, int], bool]) -> None:
        """A TCP segment of an IPv6 packet to the engine, through GRO as IPv4's go."""
        if not accept(seg.src, seg.dst):
            return
        self.counters["Ip6InDelivers"] += 1
        self._through_gro(seg, now, gro)

    def _through_gro(self, seg: Segment, now: float, gro: bool) -> None:
        """A TCP segment of either family to the engine: joined to the one GRO holds when it
        continues it, else what GRO held goes first and this one is held or handed on."""
        joiner = self._gro if gro else None
        if joiner is None:
            self._tcp_input(seg, now)
        elif not joiner.join(seg):
            if joiner.holding:
                self._tcp_input(joiner.take(), now)
            if not joiner.hold(seg):
                self._tcp_input(seg, now)

    def _accept(self, src: int, dst: int) -> bool:
        if dst != self.addr:
            # A host does not forward (RFC 1122 section 3.3.1) and never
            # answers for an address that is not its own.
            self.drops["not_for_us"] += 1
            return False
        if is_martian_source(src) or src == self.addr:
            self.drops["martian_source"] += 1
            return False
        return True

    def _flush_gro(self, now: float) -> None:
        gro = self._gro
        if gro is not None and gro.holding:
            self._tcp_input(gro.take(), now)

    def _tcp_input(self, seg: Segment, now: float) -> None:
        """Every TCP segment addressed to us enters the engine here.

        A bug that one segment trips must not stop the host: the connection it
        belongs to is reset, the error logged and counted, and the host goes on.
        """
        engine = self.engine
        try:
            engine.receive(seg, now)
        except Exception:
            key = conn_key(seg.dst, seg.dport, seg.src, seg.sport)
            conn = engine.conns.get(key) or engine.requests.get(key)  # (a listener's request too)
            if conn is not None:
                # The engine's own handler (its timers use it too): it logs and counts, resets
                # an orphaned connection as well (abort() is close(), a no-op once closed) and
                # tells a program still holding the socket ECONNABORTED, as Linux's tcp_abort.
                engine.connection_failed(conn)
            else:
                log.exception("TCP input failed before any connection was involved")
                engine.counters["TCPConnectionErrors"] += 1

    # ------------------------------------------------------------------ output

    def transmit(self, now: float) -> None:
        """Send the engine's segments as packets: TSO segments cut into wire packets, or whole
        to a link that takes super-segments."""
        emit, send_gso = self._emit, self._send_gso
        for seg in self.engine.take_output():
            if seg.ip_version == 6:
                self._transmit6(seg, now)
            elif not seg.gso:
                emit(build_tcp_packet(seg), now)
            elif send_gso is not None:
                self._emit_super_segment(send_gso, seg, now)
            else:
                for packet in build_packets(seg):
                    emit(packet, now)

    def _transmit6(self, seg: Segment, now: float) -> None:
        """An IPv6 segment: TSO segments are cut here (super-segments to the link are IPv4's)."""
        if not seg.gso:
            self._emit6(build_tcp6_packet(seg), now)
            return
        for packet in build_packets(seg):
            self._emit6(packet, now)

    def _emit_super_segment(self, send_gso: Callable[[SuperSegment], None], seg: Segment,
                            now: float) -> None:
        """A TSO segment to a device that cuts it itself: one packet (`minitcp.wire.gso`)."""
        packet = super_segment(seg)
        self.counters["OutRequests"] += 1
        if self.on_packet is not None:
            self.on_packet("out", complete_csum(b"".join(packet.parts)), now)
        send_gso(packet)

    def _emit(self, packet: bytes, now: float) -> None:
        self.counters["OutRequests"] += 1
        if self.on_packet is not None:
            self.on_packet("out", packet, now)
        self._send(packet)

    def _emit6(self, packet: bytes, now: float) -> None:
        self.counters["Ip6OutRequests"] += 1
        if self.on_packet is not None:
            self.on_packet("out", packet, now)
        self._send(packet)
