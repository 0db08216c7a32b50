"""ICMPv6 (RFC 4443): echo and the four error messages, parsed and built with their checksum.

An ICMPv6 message has ICMP's layout (type, code, checksum, four bytes that
depend on the type, then a body: RFC 4443 section 2.1), so it is the same
`IcmpMessage`; what differs is the checksum, which covers an IPv6
pseudo-header too (section 2.3), so parsing and building need the addresses.
Functions here handle the ICMPv6 message only; wrap it with
`minitcp.wire.ipv6.build_ipv6(..., PROTO_ICMPV6, ...)`. Not a hot path, so
pure Python only.
"""

from __future__ import annotations

import struct

from minitcp.wire.accel import checksum, csum_add, pseudo_header_sum6
from minitcp.wire.checksum import BytesLike
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.icmp import ICMP_HEADER_LEN, IcmpMessage
from minitcp.wire.ipv4 import PROTO_TCP
from minitcp.wire.ipv6 import (
    IPV6_HEADER_LEN,
    MIN_MTU,
    PROTO_DSTOPTS,
    PROTO_FRAGMENT,
    PROTO_HOPOPTS,
    PROTO_ICMPV6,
    PROTO_ROUTING,
)

# Message types, RFC 4443 section 2.1: below 128 errors, from 128 up informational.
ICMPV6_DEST_UNREACH = 1
ICMPV6_PACKET_TOO_BIG = 2
ICMPV6_TIME_EXCEEDED = 3
ICMPV6_PARAMETER_PROBLEM = 4
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129
_FIRST_INFORMATIONAL = 128

# Destination unreachable codes, RFC 4443 section 3.1.
UNREACH_NO_ROUTE = 0
UNREACH_ADMIN_PROHIBITED = 1
UNREACH_BEYOND_SCOPE = 2
UNREACH_ADDRESS = 3
UNREACH_PORT = 4
UNREACH_SOURCE_POLICY = 5
UNREACH_REJECT_ROUTE = 6

# Time exceeded codes, RFC 4443 section 3.3.
TIME_EXCEEDED_HOP_LIMIT = 0
TIME_EXCEEDED_REASSEMBLY = 1

# Parameter problem codes, RFC 4443 section 3.4; the four bytes are a pointer into the quote.
PARAM_HEADER_FIELD = 0
PARAM_UNKNOWN_NEXT_HEADER = 1
PARAM_UNKNOWN_OPTION = 2

# RFC 4443 section 2.4 (c): an error quotes as much of the offending packet as keeps
# the whole error packet within the minimum IPv6 MTU.
MAX_QUOTE = MIN_MTU - IPV6_HEADER_LEN - ICMP_HEADER_LEN

_HEADER = struct.Struct("!BBHI")
_QUOTED_PORTS_SEQ = struct.Struct("!HHI")
_SKIPPED = frozenset((PROTO_HOPOPTS, PROTO_ROUTING, PROTO_FRAGMENT, PROTO_DSTOPTS))


def is_error(type: int) -> bool:
    """Whether a message type is an error (RFC 4443 section 2.1), which is never answered with an
    error (section 2.4 (e))."""
    return type < _FIRST_INFORMATIONAL


def parse_icmpv6(buf: BytesLike, src: int, dst: int) -> IcmpMessage:
    """Validate an ICMPv6 message from `src` to `dst`: its length and its checksum over the
    pseudo-header (RFC 4443 section 2.3). Malformed input raises WireError only."""
    view = memoryview(buf)
    size = len(view)
    if size < ICMP_HEADER_LEN:
        raise WireError(DropReason.BAD_ICMP, f"{size} bytes, an ICMPv6 header needs 8")
    if csum_add(view, pseudo_header_sum6(src, dst, PROTO_ICMPV6, size)) != 0xFFFF:
        raise WireError(DropReason.BAD_ICMP_CHECKSUM)
    type_, code, _, rest = _HEADER.unpack_from(view)
    return IcmpMessage(type_, code, rest, view[ICMP_HEADER_LEN:])


def build_icmpv6(
    src: int, dst: int, type: int, code: int, rest_of_header: int, payload: BytesLike = b""
) -> bytes:
    """An ICMPv6 message from `src` to `dst` with its checksum (RFC 4443 section 2.3)."""
    try:
        header = _HEADER.pack(type, code, 0, rest_of_header)
    except struct.error as exc:
        raise ValueError(f"ICMPv6 header field out of range: {exc}") from None
    message = bytearray().join((header, payload))
    pseudo = pseudo_header_sum6(src, dst, PROTO_ICMPV6, len(message))
    message[2:4] = checksum(message, pseudo).to_bytes(2, "big")
    return bytes(message)


def echo_reply6_for(request: IcmpMessage, src: int, dst: int) -> bytes:
    """The echo reply from `src` to `dst` answering `request`: same identifier, sequence number
    and data (RFC 4443 section 4.2)."""
    if request.type != ICMPV6_ECHO_REQUEST:
        raise ValueError(f"ICMPv6 type {request.type} is not an echo request")
    return build_icmpv6(src, dst, ICMPV6_ECHO_REPLY, 0, request.rest_of_header, request.payload)


def icmpv6_error(src: int, dst: int, type: int, code: int, rest_of_header: int, original: BytesLike) -> bytes:
    """An error message from `src` to `dst` quoting the offending packet as far as fits in 1280
    bytes (RFC 4443 section 2.4 (c)). `rest_of_header` is 0 for destination unreachable and
    time exceeded, the next-hop MTU for packet too big, the pointer for parameter problem."""
    if not is_error(type):
        raise ValueError(f"ICMPv6 type {type} is not an error")
    return build_icmpv6(src, dst, type, code, rest_of_header, memoryview(original)[:MAX_QUOTE])


def quoted_tcp6(msg: IcmpMessage) -> tuple[int, int, int, int, int] | None:
    """What an ICMPv6 error quotes of a TCP segment: (source, destination, source port,
    destination port, sequence number), or None when it quotes something else (or a fragment
    other than the first, which holds no TCP header). Extension headers are skipped as Linux's
    ipv6_skip_exthdr does, without judging them. Too short a quote raises WireError."""
    view = msg.payload
    if len(view) < IPV6_HEADER_LEN or view[0] >> 4 != 6:
        raise WireError(DropReason.BAD_ICMP, "the quote lacks an IPv6 header")
    next_header = view[6]
    offset = IPV6_HEADER_LEN
    while next_header in _SKIPPED:
        if len(view) < offset + 8:
            raise WireError(DropReason.BAD_ICMP, f"the quoted extension header {next_header} is cut short")
        if next_header == PROTO_FRAGMENT:
            if int.from_bytes(view[offset + 2 : offset + 4], "big") & 0xFFF8:
                return None
            length = 8
        else:
            length = (view[offset + 1] + 1) * 8
        next_header = view[offset]
        offset += length
    if next_header != PROTO_TCP:
        return None
    if len(view) < offset + _QUOTED_PORTS_SEQ.size:
        raise WireError(DropReason.BAD_ICMP, "the quote lacks 8 bytes of TCP header")
    src = int.from_bytes(view[8:24], "big")
    dst = int.from_bytes(view[24:40], "big")
    sport, dport, seq = _QUOTED_PORTS_SEQ.unpack_from(view, offset)
    return src, dst, sport, dport, seq
