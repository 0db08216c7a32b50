"""ICMP (RFC 792): echo request/reply and destination unreachable, parsed and built.

Functions here handle the ICMP message only (an IPv4 payload); wrap it with
`minitcp.wire.ipv4.build_ipv4(..., PROTO_ICMP, ...)`. Not a hot path, so pure
Python only.
"""

from __future__ import annotations

import struct

from minitcp.wire.accel import checksum, csum_add
from minitcp.wire.checksum import BytesLike
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.ipv4 import IPV4_HEADER_LEN, PROTO_TCP

# Message types, RFC 792.
ICMP_ECHO_REPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_SOURCE_QUENCH = 4
ICMP_REDIRECT = 5
ICMP_ECHO_REQUEST = 8
ICMP_TIME_EXCEEDED = 11
ICMP_PARAMETERPROB = 12

# Destination unreachable codes, RFC 792.
UNREACH_NET = 0
UNREACH_HOST = 1
UNREACH_PROTOCOL = 2
UNREACH_PORT = 3
UNREACH_FRAG_NEEDED = 4

# Time exceeded codes, RFC 792.
TIME_EXCEEDED_TTL = 0
TIME_EXCEEDED_REASSEMBLY = 1

# The types that are errors (Linux icmp_pointers[].error), never answered with an error
# (RFC 1122 section 3.2.2); Linux takes any type above 18 (NR_ICMP_TYPES) for one too.
ERROR_TYPES = frozenset((ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH, ICMP_REDIRECT, ICMP_TIME_EXCEEDED,
                         ICMP_PARAMETERPROB))
NR_ICMP_TYPES = 18

ICMP_HEADER_LEN = 8  # type, code, checksum, 4 bytes "rest of header"
# RFC 1812 section 4.3.2.3: an error quotes as much of the offending datagram
# as keeps the whole ICMP datagram within 576 bytes.
MAX_ERROR_DATAGRAM = 576

_HEADER = struct.Struct("!BBHI")


class IcmpMessage:
    """One ICMP message; `payload` is a view of the input past the 8-byte header.

    `rest_of_header` is the 32-bit word after the checksum; for echo messages
    it holds the identifier and sequence number (`ident`, `seq`).
    """

    __slots__ = ("code", "payload", "rest_of_header", "type")

    def __init__(self, type: int, code: int, rest_of_header: int, payload: BytesLike = b"") -> None:
        self.type = type
        self.code = code
        self.rest_of_header = rest_of_header
        self.payload = payload

    @property
    def ident(self) -> int:
        """Echo identifier (RFC 792 echo message)."""
        return self.rest_of_header >> 16

    @property
    def seq(self) -> int:
        """Echo sequence number (RFC 792 echo message)."""
        return self.rest_of_header & 0xFFFF

    def __repr__(self) -> str:
        return (
            f"IcmpMessage(type={self.type} code={self.code} rest={self.rest_of_header:#010x} "
            f"len={len(self.payload)})"
        )


def parse_icmp(buf: BytesLike) -> IcmpMessage:
    """Validate an ICMP message's length and checksum; malformed input raises WireError only."""
    view = memoryview(buf)
    if len(view) < ICMP_HEADER_LEN:
        raise WireError(DropReason.BAD_ICMP, f"{len(view)} bytes, an ICMP header needs 8")
    if csum_add(view) != 0xFFFF:
        raise WireError(DropReason.BAD_ICMP_CHECKSUM)
    type_, code, _, rest = _HEADER.unpack_from(view)
    return IcmpMessage(type_, code, rest, view[ICMP_HEADER_LEN:])


_QUOTED_PORTS_SEQ = struct.Struct("!HHI")


def quoted_tcp(msg: IcmpMessage) -> tuple[int, int, int, int, int] | None:
    """What an ICMP error quotes of a TCP segment (RFC 792: the IP header and the first 8 bytes
    of the data): (source, destination, source port, destination port, sequence number), or
    None when it quotes something else. Too short a quote raises WireError."""
    view = msg.payload
    if len(view) < IPV4_HEADER_LEN:
        raise WireError(DropReason.BAD_ICMP, "the quoted IP header is cut short")
    ihl = (view[0] & 0x0F) * 4
    if view[0] >> 4 != 4 or ihl < IPV4_HEADER_LEN or len(view) < ihl + _QUOTED_PORTS_SEQ.size:
        raise WireError(DropReason.BAD_ICMP, "the quote lacks an IPv4 header and 8 bytes of data")
    if view[9] != PROTO_TCP:
        return None
    src = int.from_bytes(view[12:16], "big")
    dst = int.from_bytes(view[16:20], "big")
    sport, dport, seq = _QUOTED_PORTS_SEQ.unpack_from(view, ihl)
    return src, dst, sport, dport, seq


def build_icmp(type: int, code: int, rest_of_header: int, payload: BytesLike = b"") -> bytes:
    """An ICMP message with its checksum over header and payload (RFC 792)."""
    try:
        header = _HEADER.pack(type, code, 0, rest_of_header)
    except struct.error as exc:
        raise ValueError(f"ICMP header field out of range: {exc}") from None
    message = bytearray().join((header, payload))
    message[2:4] = checksum(message).to_bytes(2, "big")
    return bytes(message)


def echo_reply_for(request: IcmpMessage) -> bytes:
    """The echo reply answering `request`: same identifier, sequence number and data (RFC 792)."""
    if request.type != ICMP_ECHO_REQUEST:
        raise ValueError(f"ICMP type {request.type} is not an echo request")
    return build_icmp(ICMP_ECHO_REPLY, 0, request.rest_of_header, request.payload)


def icmp_error(type: int, code: int, original_ip_packet: BytesLike, rest_of_header: int = 0) -> bytes:
    """An error message (destination unreachable, time exceeded, parameter problem) quoting the
    offending packet.

    RFC 792 asks for the IP header plus the first 8 data bytes; RFC 1812
    section 4.3.2.3 allows as much as fits in a 576-byte datagram, which is
    what Linux sends (__icmp_send) and what is quoted here.
    """
    room = MAX_ERROR_DATAGRAM - IPV4_HEADER_LEN - ICMP_HEADER_LEN
    return build_icmp(type, code, rest_of_header, memoryview(original_ip_packet)[:room])


def dest_unreachable(code: int, original_ip_packet: BytesLike) -> bytes:
    """A destination unreachable message quoting the offending packet (`icmp_error`)."""
    return icmp_error(ICMP_DEST_UNREACH, code, original_ip_packet)
