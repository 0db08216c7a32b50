"""One line per packet in tcpdump's default format, so traces read like captures.

The layout follows tcpdump's print-ip.c, print-tcp.c and print-icmp.c without
-v. Sequence numbers are absolute (as with `tcpdump -S`): a line is made from
one packet, with no memory of the connection's first sequence number; give
a `RelativeSeq` to number them as plain tcpdump does. TCP options are listed
in the order Linux lays them out (`tcp_options_write`), which is the order
the stack's builder uses.
"""

from __future__ import annotations

import datetime
import ipaddress
import struct
import sys
import time
from collections.abc import Callable
from typing import TextIO

from minitcp.wire.errors import WireError
from minitcp.wire.icmp import ICMP_DEST_UNREACH, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, IcmpMessage, parse_icmp
from minitcp.wire.ipv4 import PROTO_ICMP, PROTO_TCP, ip_str, parse_ipv4
from minitcp.wire.ipv6 import ip6_str
from minitcp.wire.segment import ACK, FIN, RST, SYN, URG, Segment, flag_str
from minitcp.wire.tcp import parse_tcp6_packet, parse_tcp_packet

PROTO_UDP = 17
_PROTO_NAMES = {PROTO_ICMP: "icmp", PROTO_TCP: "tcp", PROTO_UDP: "udp"}


def clock(ts: float) -> str:
    """tcpdump's timestamp: local wall-clock time to the microsecond."""
    return datetime.datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")


class RelativeSeq:
    """tcpdump's memory of each conversation's first sequence numbers (print-tcp.c, tcp_seq_hash).

    Exactly tcpdump's rule: only segments with ACK are made relative; the
    first one seen of a conversation (or any SYN-ACK) is printed absolute and
    sets the bases (its seq, and its ack - 1 for the other side); later ones
    print seq and ack minus those bases, SACK edges minus the acked side's.
    """

    def __init__(self) -> None:
        # (lower endpoint, higher endpoint) -> (base of the lower side's seq, base of the higher's)
        self._bases: dict[tuple[tuple[int, int], tuple[int, int]], tuple[int, int]] = {}

    def apply(self, seg: Segment) -> tuple[int, int, int, bool]:
        """(seq, ack, base of the acked side, absolute?) as tcpdump would print `seg`."""
        if not seg.flags & ACK:
            return seg.seq, seg.ack, 0, True
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        # tcpdump's collating order: by port, then by address.
        rev = seg.sport > seg.dport or (seg.sport == seg.dport and seg.src > seg.dst)
        key = (b, a) if rev else (a, b)
        known = self._bases.get(key)
        if known is None or seg.flags & SYN:
            mine, theirs = seg.seq, (seg.ack - 1) & 0xFFFFFFFF
            self._bases[key] = (theirs, mine) if rev else (mine, theirs)
            return seg.seq, seg.ack, theirs, True
        mine, theirs = (known[1], known[0]) if rev else known
        return (seg.seq - mine) & 0xFFFFFFFF, (seg.ack - theirs) & 0xFFFFFFFF, theirs, False


def format_line(pkt: bytes | memoryview, ts: float, relative: RelativeSeq | None = None) -> str:
    """The whole tcpdump line for `pkt` captured at wall-clock time `ts`."""
    return f"{clock(ts)} {describe_packet(pkt, relative)}"


def describe_packet(pkt: bytes | memoryview, relative: RelativeSeq | None = None) -> str:
    """A packet as tcpdump describes it after the timestamp. Never raises."""
    if pkt and pkt[0] >> 4 == 6:
        return _describe_ipv6(pkt, relative)
    try:
        if len(pkt) >= 20 and pkt[0] >> 4 == 4 and pkt[9] == PROTO_TCP:
            return describe_segment(parse_tcp_packet(pkt), relative)
        ip = parse_ipv4(pkt)
    except WireError as e:
        return _describe_invalid(pkt, e)
    head = f"IP {ip_str(ip.src)} > {ip_str(ip.dst)}:"
    if ip.proto == PROTO_ICMP:
        try:
            return f"{head} ICMP {_describe_icmp(parse_icmp(ip.payload))}, length {len(ip.payload)}"
        except WireError as e:
            return f"{head} [{e.reason.label}], length {len(ip.payload)}"
    if ip.proto == PROTO_UDP and len(ip.payload) >= 8:
        sport, dport, ulen = struct.unpack_from("!HHH", ip.payload)
        return f"IP {ip_str(ip.src)}.{sport} > {ip_str(ip.dst)}.{dport}: UDP, length {max(ulen - 8, 0)}"
    return f"{head} ip-proto-{ip.proto} {len(ip.payload)}"


def describe_segment(seg: Segment, relative: RelativeSeq | None = None) -> str:
    """A TCP segment, e.g. `IP 198.18.0.1.43210 > 198.18.0.2.80: Flags [S], seq 1, win 64240, length 0`.

    With `relative` (one per capture), sequence numbers are relative as in tcpdump without -S.
    """
    if seg.ip_version == 6:
        head = f"IP6 {ip6_str(seg.src)}.{seg.sport} > {ip6_str(seg.dst)}.{seg.dport}"
    else:
        head = f"IP {ip_str(seg.src)}.{seg.sport} > {ip_str(seg.dst)}.{seg.dport}"
    parts = [f"{head}: Flags [{flag_str(seg.flags)}]"]
    seq, ack, sack_base = seg.seq, seg.ack, 0
    if relative is not None:
        seq, ack, sack_base, _ = relative.apply(seg)
    length = len(seg.payload)
    # print-tcp.c shows seq only when the segment occupies sequence space or is a reset.
    if length:
        parts.append(f"seq {seq}:{(seq + length) & 0xFFFFFFFF}")
    elif seg.flags & (SYN | FIN | RST):
        parts.append(f"seq {seq}")
    if seg.flags & ACK:
        parts.append(f"ack {ack}")
    parts.append(f"win {seg.window}")
    if seg.flags & URG:
        parts.append(f"urg {seg.urgent}")
    options = _options(seg, sack_base)
    if options:
        parts.append(f"options [{','.join(options)}]")
    parts.append(f"length {length}")
    return ", ".join(parts)


def printer(file: TextIO = sys.stdout, prefix: str = "", relative: bool = False
            ) -> Callable[[str, bytes | memoryview, float], None]:
    """An `on_packet` hook for `Stack` that prints each packet as a tcpdump line after `prefix`.

    The stack passes Trio time, which is not the time of day; tcpdump shows
    the wall clock, so the hook reads it. `relative=True` numbers sequences
    as tcpdump does without -S.
    """
    rel = RelativeSeq() if relative else None

    def on_packet(direction: str, pkt: bytes | memoryview, now: float) -> None:
        print(prefix + format_line(pkt, time.time(), rel), file=file, flush=True)

    return on_packet


def _options(seg: Segment, sack_base: int = 0) -> list[str]:
    out = []
    if seg.mss is not None:
        out.append(f"mss {seg.mss}")
    if seg.ts_val is not None:
        # Linux packs sackOK into the two bytes that would otherwise be NOP padding before TS.
        out.extend(["sackOK"] if seg.sack_permitted else ["nop", "nop"])
        out.append(f"TS val {seg.ts_val} ecr {seg.ts_ecr or 0}")
    elif seg.sack_permitted:
        out.extend(["nop", "nop", "sackOK"])
    if seg.wscale is not None:
        out.extend(["nop", f"wscale {seg.wscale}"])
    if seg.sack:
        blocks = "".join(f"{{{(left - sack_base) & 0xFFFFFFFF}:{(right - sack_base) & 0xFFFFFFFF}}}"
                         for left, right in seg.sack)
        out.extend(["nop", "nop", f"sack {len(seg.sack)} {blocks}"])
    return out


def _describe_icmp(msg: IcmpMessage) -> str:
    if msg.type == ICMP_ECHO_REQUEST:
        return f"echo request, id {msg.ident}, seq {msg.seq}"
    if msg.type == ICMP_ECHO_REPLY:
        return f"echo reply, id {msg.ident}, seq {msg.seq}"
    if msg.type == ICMP_DEST_UNREACH:
        return _describe_unreachable(msg)
    return f"type-#{msg.type}"


def _describe_unreachable(msg: IcmpMessage) -> str:
    # The payload quotes the offending packet's IP header and its first 8 bytes.
    quoted = bytes(msg.payload)
    if len(quoted) < 20 or quoted[0] >> 4 != 4:
        return f"unreachable - #{msg.code}"
    ihl = (quoted[0] & 0x0F) * 4
    proto = quoted[9]
    dst = ip_str(int.from_bytes(quoted[16:20], "big"))
    if msg.code == 0:
        return f"net {dst} unreachable"
    if msg.code == 1:
        return f"host {dst} unreachable"
    if msg.code == 2:
        return f"{dst} protocol {proto} unreachable"
    if msg.code == 3 and len(quoted) >= ihl + 4:
        dport = int.from_bytes(quoted[ihl + 2 : ihl + 4], "big")
        return f"{dst} {_PROTO_NAMES.get(proto, f'ip-proto-{proto}')} port {dport} unreachable"
    if msg.code == 4:
        return f"{dst} unreachable - need to frag (mtu {msg.rest_of_header & 0xFFFF})"
    return f"{dst} unreachable - #{msg.code}"


_PROTO_ICMPV6 = 58
_ICMPV6_ECHO = {128: "echo request", 129: "echo reply"}  # RFC 4443 section 4, as print-icmp6.c says


def _describe_ipv6(pkt: bytes | memoryview, relative: RelativeSeq | None = None) -> str:
    if len(pkt) < 40:
        return f"IP6 [truncated], length {len(pkt)}"
    if pkt[6] == PROTO_TCP:
        try:
            return describe_segment(parse_tcp6_packet(pkt), relative)
        except WireError:
            pass  # described by its header below
    src = ipaddress.IPv6Address(bytes(pkt[8:24]))
    dst = ipaddress.IPv6Address(bytes(pkt[24:40]))
    payload_length, next_header = struct.unpack_from("!HB", pkt, 4)
    if next_header == _PROTO_ICMPV6 and len(pkt) >= 48 and pkt[40] in _ICMPV6_ECHO:
        ident, seq = struct.unpack_from("!HH", pkt, 44)
        return (f"IP6 {src} > {dst}: ICMP6, {_ICMPV6_ECHO[pkt[40]]}, id {ident}, seq {seq}, "
                f"length {payload_length}")
    return f"IP6 {src} > {dst}: ip-proto-{next_header} {payload_length}"


def _describe_invalid(pkt: bytes | memoryview, e: WireError) -> str:
    what = e.reason.label.replace("_", " ")
    if len(pkt) >= 20 and pkt[0] >> 4 == 4:
        src, dst = (ip_str(int.from_bytes(pkt[i : i + 4], "big")) for i in (12, 16))
        return f"IP {src} > {dst}: [{what}], length {len(pkt)}"
    return f"IP [{what}], length {len(pkt)}"

