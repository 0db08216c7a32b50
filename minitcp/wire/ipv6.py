"""IPv6 headers (RFC 8200): parse with validation and the extension-header walk, build.

The fixed header is 40 bytes with no checksum (RFC 8200 section 3). After it
comes a chain of extension headers, each naming the next, up to the upper
layer (TCP, ICMPv6, ...). `parse_ipv6` walks that chain as Linux's ip6_input
does: hop-by-hop options only first, options judged by the top two bits of
their type, a routing header with segments left refused (this host routes
nothing), and a fragment header stops the walk, unless it is an atomic
fragment (offset 0, no more fragments), which is read through (RFC 6946).
No extension header is ever sent. The C parser in native/ walks the same
chain rule for rule (`tcp_native.parse_tcp6_packet`).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

from minitcp.wire.checksum import BytesLike
from minitcp.wire.errors import DropReason, WireError

# IANA "Assigned Internet Protocol Numbers", as IPv6 next-header values (RFC 8200 section 4).
PROTO_HOPOPTS = 0
PROTO_ROUTING = 43
PROTO_FRAGMENT = 44
PROTO_ICMPV6 = 58
PROTO_NONE = 59  # RFC 8200 section 4.7: nothing follows
PROTO_DSTOPTS = 60

IPV6_HEADER_LEN = 40  # RFC 8200 section 3
MAX_PAYLOAD = 0xFFFF  # the payload length field is 16 bits (jumbograms, RFC 2675, are not spoken)
MIN_MTU = 1280  # RFC 8200 section 5: every link carries packets this large
FRAGMENT_HEADER_LEN = 8  # RFC 8200 section 4.5

# Options inside hop-by-hop and destination options headers (RFC 8200 section 4.2).
OPT_PAD1 = 0
OPT_PADN = 1
MAX_PADDING = 7  # Linux ip6_parse_tlv: padding only aligns to 8 bytes (RFC 4942 section 2.1.9.5)
MAX_OPTIONS = 8  # Linux's max_hbh_opts_number and max_dst_opts_number defaults

_OPTION_HEADERS = (PROTO_HOPOPTS, PROTO_DSTOPTS)
_EXTENSIONS = frozenset((PROTO_HOPOPTS, PROTO_ROUTING, PROTO_FRAGMENT, PROTO_DSTOPTS))
_HEADER = struct.Struct("!IHBB16s16s")
_FRAGMENT = struct.Struct("!BxHI")


def ip6_int(text: str) -> int:
    """IPv6 text to a 128-bit integer: `ip6_int("2001:2::2") == 0x2001_0002 << 96 | 2`."""
    return int(ipaddress.IPv6Address(text))


def ip6_str(addr: int) -> str:
    """128-bit integer to IPv6 text, compressed as RFC 5952 asks."""
    return str(ipaddress.IPv6Address(addr))


class Fragment(NamedTuple):
    """The fields of a fragment header (RFC 8200 section 4.5); `offset` is in bytes."""

    offset: int
    more: bool
    ident: int


class IPv6Packet:
    """A validated IPv6 header and its extension headers, walked to the upper layer.

    `next_header` is the upper layer's protocol (or 59, "no next header") and
    `payload` a view of the input from there to the end of the payload length.
    `extensions` holds (header type, offset in the packet) for each extension
    header walked; `header_length` is where the upper layer starts. `fragment`
    is the fragment header's fields when there was one: unless atomic, the walk
    stopped there and `payload` is the fragment's data.
    """

    __slots__ = (
        "dst", "extensions", "flow_label", "fragment", "header_length", "hop_limit", "next_header",
        "payload", "payload_length", "src", "traffic_class",
    )  # fmt: skip

    def __init__(
        self,
        *,
        traffic_class: int,
        flow_label: int,
        payload_length: int,
        next_header: int,
        hop_limit: int,
        src: int,
        dst: int,
        header_length: int,
        extensions: tuple[tuple[int, int], ...],
        fragment: Fragment | None,
        payload: memoryview,
    ) -> None:
        self.traffic_class = traffic_class
        self.flow_label = flow_label
        self.payload_length = payload_length
        self.next_header = next_header
        self.hop_limit = hop_limit
        self.src = src
        self.dst = dst
        self.header_length = header_length
        self.extensions = extensions
        self.fragment = fragment
        self.payload = payload

    @property
    def is_fragment(self) -> bool:
        """Whether this is one piece of a larger datagram (an atomic fragment is whole)."""
        return self.fragment is not None and (self.fragment.offset != 0 or self.fragment.more)

    def __repr__(self) -> str:
        return (
            f"IPv6Packet({ip6_str(self.src)}>{ip6_str(self.dst)} next={self.next_header} "
            f"len={self.payload_length} hlim={self.hop_limit})"
        )


def check_options(options: memoryview) -> None:
    """Judge the options of a hop-by-hop or destination options header, as Linux's ip6_parse_tlv.

    Padding (Pad1, PadN) is skipped, but more than 7 bytes of it in a row, or a
    PadN with nonzero content, is malformed. No other option is known here: the
    top two bits of its type say what to do with an unknown one (RFC 8200
    section 4.2): 00 skip it, anything else discard the packet. An option
    running past the header, or more than 8 that are not padding, is malformed.
    """
    end = len(options)
    i = padding = count = 0
    while i < end:
        kind = options[i]
        if kind == OPT_PAD1:
            padding += 1
            if padding > MAX_PADDING:
                raise WireError(DropReason.BAD_EXT_HEADER, "more than 7 bytes of padding")
            i += 1
            continue
        if end - i < 2:
            raise WireError(DropReason.BAD_EXT_HEADER, f"option {kind} has no length byte")
        length = options[i + 1] + 2
        if length > end - i:
            raise WireError(DropReason.BAD_EXT_HEADER, f"option {kind} of {length} bytes, {end - i} left")
        if kind == OPT_PADN:
            padding += length
            if padding > MAX_PADDING or any(options[i + 2 : i + length]):
                raise WireError(DropReason.BAD_EXT_HEADER, "PadN too long or not zero")
        else:
            count += 1
            if count > MAX_OPTIONS:
                raise WireError(DropReason.BAD_EXT_HEADER, f"more than {MAX_OPTIONS} options")
            if kind >> 6:
                raise WireError(DropReason.UNKNOWN_OPTION, f"option type {kind:#04x}")
            padding = 0
        i += length


def parse_ipv6(buf: BytesLike) -> IPv6Packet:
    """Validate an IPv6 header, walk its extension headers; malformed input raises WireError only.

    The checks run in the same order as the C parser's, so both report the
    same reason for the same bytes.
    """
    view = memoryview(buf)
    size = len(view)
    if size < IPV6_HEADER_LEN:
        raise WireError(DropReason.TRUNCATED, f"{size} bytes, an IPv6 header needs 40")
    first, payload_length, next_header, hop_limit, src, dst = _HEADER.unpack_from(view)
    if first >> 28 != 6:
        raise WireError(DropReason.BAD_VERSION, f"version {first >> 28}")
    # Bytes past the payload length are link-layer padding and ignored.
    end = IPV6_HEADER_LEN + payload_length
    if end > size:
        raise WireError(DropReason.BAD_TOTAL_LENGTH, f"payload length {payload_length}, {size - 40} received")
    offset = IPV6_HEADER_LEN
    extensions: list[tuple[int, int]] = []
    fragment = None
    while next_header in _EXTENSIONS:
        # RFC 8200 section 4.3: hop-by-hop options come right after the IPv6 header or not at all.
        if next_header == PROTO_HOPOPTS and offset != IPV6_HEADER_LEN:
            raise WireError(DropReason.BAD_EXT_HEADER, "hop-by-hop options not first")
        left = end - offset
        if next_header == PROTO_FRAGMENT:
            length = FRAGMENT_HEADER_LEN
        else:
            # Every other extension header gives its length in 8-byte units, not counting the first 8.
            length = (view[offset + 1] + 1) * 8 if left >= 2 else 8
        if length > left:
            raise WireError(DropReason.BAD_EXT_HEADER, f"header {next_header} of {length} bytes, {left} left")
        extensions.append((next_header, offset))
        if next_header in _OPTION_HEADERS:
            check_options(view[offset + 2 : offset + length])
        elif next_header == PROTO_ROUTING:
            segments_left = view[offset + 3]
            if segments_left:
                raise WireError(DropReason.ROUTING_HEADER, f"type {view[offset + 2]}, {segments_left} left")
        else:
            _, word, ident = _FRAGMENT.unpack_from(view, offset)
            fragment = Fragment(word & 0xFFF8, bool(word & 1), ident)
        next_header = view[offset]
        offset += length
        if fragment is not None and (fragment.offset or fragment.more):
            break  # what follows is a piece of the fragmentable part, for reassembly
    return IPv6Packet(
        traffic_class=first >> 20 & 0xFF,
        flow_label=first & 0xFFFFF,
        payload_length=payload_length,
        next_header=next_header,
        hop_limit=hop_limit,
        src=int.from_bytes(src, "big"),
        dst=int.from_bytes(dst, "big"),
        header_length=offset,
        extensions=tuple(extensions),
        fragment=fragment,
        payload=view[offset:end],
    )


def ipv6_header(
    src: int,
    dst: int,
    next_header: int,
    payload_length: int,
    *,
    hop_limit: int = 64,
    traffic_class: int = 0,
    flow_label: int = 0,
) -> bytes:
    """A 40-byte IPv6 header for a payload of `payload_length` bytes."""
    if payload_length > MAX_PAYLOAD:
        raise ValueError(f"IPv6 payload of {payload_length} bytes exceeds {MAX_PAYLOAD}")
    if not 0 <= flow_label <= 0xFFFFF or not 0 <= traffic_class <= 0xFF:
        raise ValueError(f"traffic class {traffic_class} or flow label {flow_label} out of range")
    try:
        return _HEADER.pack(
            6 << 28 | traffic_class << 20 | flow_label, payload_length, next_header, hop_limit,
            src.to_bytes(16, "big"), dst.to_bytes(16, "big"),
        )  # fmt: skip
    except (struct.error, OverflowError) as exc:
        raise ValueError(f"IPv6 header field out of range: {exc}") from None


def build_ipv6(
    src: int,
    dst: int,
    next_header: int,
    payload: BytesLike,
    *,
    hop_limit: int = 64,
    traffic_class: int = 0,
    flow_label: int = 0,
) -> bytes:
    """A whole IPv6 packet: the fixed header, no extension headers, then `payload`."""
    header = ipv6_header(
        src, dst, next_header, len(payload), hop_limit=hop_limit, traffic_class=traffic_class,
        flow_label=flow_label,
    )  # fmt: skip
    return b"".join((header, payload))
