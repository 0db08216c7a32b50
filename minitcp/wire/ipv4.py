"""IPv4 headers (RFC 791 section 3.1): parse with validation, build with checksum.

No options are ever sent and received options are skipped. A fragment parses
like any packet, its `frag_offset` and `more_fragments` set, for the host's
reassembly (minitcp/host/reassembly.py); the one-call TCP parsers refuse it.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import TypedDict, Unpack

from minitcp.wire.checksum import BytesLike, checksum, csum_add
from minitcp.wire.errors import DropReason, WireError

# RFC 790 / IANA protocol numbers.
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17

IPV4_HEADER_LEN = 20  # RFC 791 section 3.1, without options
MAX_PACKET = 0xFFFF  # the total length field is 16 bits
_DF = 0x4000  # RFC 791 section 3.1 flags: bit 1 "don't fragment"
_MF = 0x2000  # bit 2 "more fragments"
_OFFSET = 0x1FFF  # the fragment offset, in 8-byte units
_MF_AND_OFFSET = _MF | _OFFSET

_HEADER = struct.Struct("!BBHHHBBH4s4s")
_HEADER_NO_CSUM = struct.Struct("!BBHHHBB2xII")


def ip_int(text: str) -> int:
    """Dotted quad to a 32-bit integer: `ip_int("198.18.0.1") == 0xC6120001`."""
    return int(ipaddress.IPv4Address(text))


def ip_str(addr: int) -> str:
    """32-bit integer to a dotted quad."""
    return str(ipaddress.IPv4Address(addr))


class IPv4Packet:
    """A validated IPv4 header; `payload` is a view of the input up to the total length."""

    __slots__ = (
        "df", "dst", "frag_offset", "header_length", "ident", "more_fragments", "payload", "proto", "src",
        "tos", "total_length", "ttl",
    )  # fmt: skip

    def __init__(
        self,
        *,
        tos: int,
        total_length: int,
        ident: int,
        df: bool,
        ttl: int,
        proto: int,
        src: int,
        dst: int,
        header_length: int,
        payload: memoryview,
        frag_offset: int = 0,
        more_fragments: bool = False,
    ) -> None:
        self.tos = tos
        self.total_length = total_length
        self.ident = ident
        self.df = df
        self.ttl = ttl
        self.proto = proto
        self.src = src
        self.dst = dst
        self.header_length = header_length
        self.payload = payload
        self.frag_offset = frag_offset  # in bytes
        self.more_fragments = more_fragments

    @property
    def is_fragment(self) -> bool:
        """Whether this is one piece of a larger datagram (RFC 791 section 3.2)."""
        return self.more_fragments or self.frag_offset != 0

    def __repr__(self) -> str:
        return (
            f"IPv4Packet({ip_str(self.src)}>{ip_str(self.dst)} proto={self.proto} "
            f"len={self.total_length} ttl={self.ttl})"
        )


def parse_ipv4(buf: BytesLike) -> IPv4Packet:
    """Validate an IPv4 header and return it; malformed input raises WireError only.

    The checks run in the same order as the C parser's, so both report the
    same reason for the same bytes.
    """
    view = memoryview(buf)
    size = len(view)
    if size < IPV4_HEADER_LEN:
        raise WireError(DropReason.TRUNCATED, f"{size} bytes, an IPv4 header needs 20")
    version_ihl = view[0]
    if version_ihl >> 4 != 4:
        raise WireError(DropReason.BAD_VERSION, f"version {version_ihl >> 4}")
    header_length = (version_ihl & 0x0F) * 4
    if header_length < IPV4_HEADER_LEN:
        raise WireError(DropReason.BAD_IHL, f"IHL {header_length // 4} words")
    if header_length > size:
        raise WireError(DropReason.TRUNCATED, f"IHL {header_length} bytes, {size} received")
    _, tos, total_length, ident, frag, ttl, proto, _, src, dst = _HEADER.unpack_from(view)
    # Bytes past the total length are link-layer padding and ignored.
    if not header_length <= total_length <= size:
        raise WireError(DropReason.BAD_TOTAL_LENGTH, f"total length {total_length}, {size} received")
    if csum_add(view[:header_length]) != 0xFFFF:
        raise WireError(DropReason.BAD_IP_CHECKSUM)
    return IPv4Packet(
        tos=tos,
        total_length=total_length,
        ident=ident,
        df=bool(frag & _DF),
        ttl=ttl,
        proto=proto,
        src=int.from_bytes(src, "big"),
        dst=int.from_bytes(dst, "big"),
        header_length=header_length,
        payload=view[header_length:total_length],
        frag_offset=(frag & _OFFSET) * 8,
        more_fragments=bool(frag & _MF),
    )


def ipv4_header(
    src: int,
    dst: int,
    proto: int,
    payload_length: int,
    *,
    ttl: int = 64,
    ident: int = 0,
    tos: int = 0,
    df: bool = True,
    frag_offset: int = 0,
    more_fragments: bool = False,
) -> bytes:
    """A 20-byte IPv4 header with its checksum, for a payload of `payload_length` bytes;
    `frag_offset` (bytes, a multiple of 8) and `more_fragments` for a fragment (RFC 791 section 3.2)."""
    total_length = IPV4_HEADER_LEN + payload_length
    if total_length > MAX_PACKET:
        raise ValueError(f"IPv4 packet of {total_length} bytes exceeds {MAX_PACKET}")
    if frag_offset % 8 or not 0 <= frag_offset <= _OFFSET * 8:
        raise ValueError(f"fragment offset {frag_offset} is not a multiple of 8 within 65528")
    flags = (_DF if df else 0) | (_MF if more_fragments else 0) | frag_offset // 8
    try:
        header = _HEADER_NO_CSUM.pack(0x45, tos, total_length, ident, flags, ttl, proto, src, dst)
    except struct.error as exc:
        raise ValueError(f"IPv4 header field out of range: {exc}") from None
    csum = checksum(header)
    return header[:10] + csum.to_bytes(2, "big") + header[12:]


class HeaderFields(TypedDict, total=False):
    """`ipv4_header`'s optional fields, as `build_ipv4` passes them on (defaults there)."""

    ttl: int
    ident: int
    tos: int
    df: bool
    frag_offset: int
    more_fragments: bool


def build_ipv4(src: int, dst: int, proto: int, payload: BytesLike, **fields: Unpack[HeaderFields]) -> bytes:
    """A whole IPv4 packet (or fragment): version 4, IHL 5, no options, header checksum set."""
    return b"".join((ipv4_header(src, dst, proto, len(payload), **fields), payload))
