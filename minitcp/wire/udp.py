"""UDP (RFC 768) headers, parsed with their checksum: only so that the host can answer a
datagram with "port unreachable", as a host without UDP sockets must (RFC 1122 section
4.1.3.1). Built too, for the tests. Not a hot path: pure Python only.
"""

from __future__ import annotations

import struct

from minitcp.wire.accel import checksum, csum_add, pseudo_header_sum, pseudo_header_sum6
from minitcp.wire.checksum import BytesLike
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.ipv4 import PROTO_UDP

UDP_HEADER_LEN = 8
_HEADER = struct.Struct("!HHHH")


def parse_udp(buf: BytesLike, src: int, dst: int) -> tuple[int, int, memoryview]:
    """(source port, destination port, data) of a UDP datagram from `src` to `dst` (IPv6 when
    either address is wider than 32 bits). Malformed input raises WireError, as Linux's
    __udp4_lib_rcv and __udp6_lib_rcv drop it: shorter than its header, a length field below 8
    or beyond the bytes received, a wrong checksum, or (IPv6, RFC 8200 section 8.1) none."""
    view = memoryview(buf)
    if len(view) < UDP_HEADER_LEN:
        raise WireError(DropReason.BAD_UDP, f"{len(view)} bytes, a UDP header needs 8")
    sport, dport, length, csum = _HEADER.unpack_from(view)
    if not UDP_HEADER_LEN <= length <= len(view):
        raise WireError(DropReason.BAD_UDP, f"length {length}, {len(view)} received")
    view = view[:length]  # bytes past the length are padding (Linux pskb_trim_rcsum)
    v6 = src > 0xFFFFFFFF or dst > 0xFFFFFFFF
    if csum == 0 and not v6:
        return sport, dport, view[UDP_HEADER_LEN:]  # RFC 768: no checksum was computed
    if csum == 0:
        raise WireError(DropReason.BAD_UDP_CHECKSUM, "IPv6 requires a UDP checksum")
    pseudo = (pseudo_header_sum6(src, dst, PROTO_UDP, length) if v6
              else pseudo_header_sum(src, dst, PROTO_UDP, length))
    if csum_add(view, pseudo) != 0xFFFF:
        raise WireError(DropReason.BAD_UDP_CHECKSUM)
    return sport, dport, view[UDP_HEADER_LEN:]


def build_udp(src: int, dst: int, sport: int, dport: int, data: BytesLike) -> bytes:
    """A UDP datagram with its checksum (a computed 0 is sent as 0xFFFF, RFC 768)."""
    length = UDP_HEADER_LEN + len(data)
    try:
        header = _HEADER.pack(sport, dport, length, 0)
    except struct.error as exc:
        raise ValueError(f"UDP header field out of range: {exc}") from None
    v6 = src > 0xFFFFFFFF or dst > 0xFFFFFFFF
    pseudo = (pseudo_header_sum6(src, dst, PROTO_UDP, length) if v6
              else pseudo_header_sum(src, dst, PROTO_UDP, length))
    datagram = bytearray().join((header, data))
    datagram[6:8] = (checksum(datagram, pseudo) or 0xFFFF).to_bytes(2, "big")
    return bytes(datagram)
