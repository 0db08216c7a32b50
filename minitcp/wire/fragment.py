"""Fragmentation on the way out: a datagram too large for the link cut into fragments.

IPv4 (RFC 791 section 3.2, Linux ip_fragment): every fragment repeats the header, carries a
multiple of 8 data bytes but the last, and all share the datagram's identification; DF is
clear. IPv6 (RFC 8200 section 4.5, Linux ip6_fragment): only the source fragments, each
fragment is the (extension-free) header, a fragment header and a piece of the fragmentable
part. Used for the ICMP echo replies larger than the link's MTU (Linux fragments those);
TCP never needs it, its MSS keeps each segment whole. Not a hot path: pure Python only.
"""

from __future__ import annotations

import struct

from minitcp.wire.checksum import BytesLike
from minitcp.wire.ipv4 import IPV4_HEADER_LEN, build_ipv4
from minitcp.wire.ipv6 import FRAGMENT_HEADER_LEN, IPV6_HEADER_LEN, PROTO_FRAGMENT, ipv6_header

_FRAGMENT = struct.Struct("!BxHI")


def fragment_header(next_header: int, offset: int, more: bool, ident: int) -> bytes:
    """An IPv6 fragment header (RFC 8200 section 4.5); `offset` in bytes, a multiple of 8."""
    if offset % 8 or not 0 <= offset <= 0xFFF8:
        raise ValueError(f"fragment offset {offset} is not a multiple of 8 within 65528")
    try:
        return _FRAGMENT.pack(next_header, offset | more, ident)
    except struct.error as exc:
        raise ValueError(f"fragment header field out of range: {exc}") from None


def fragment_ipv4(src: int, dst: int, proto: int, payload: BytesLike, mtu: int, *, ident: int,
                  ttl: int = 64, tos: int = 0) -> list[bytes]:
    """The datagram as one packet when it fits in `mtu`, else its fragments (DF clear)."""
    if IPV4_HEADER_LEN + len(payload) <= mtu:
        return [build_ipv4(src, dst, proto, payload, ident=ident, ttl=ttl, tos=tos, df=False)]
    step = (mtu - IPV4_HEADER_LEN) // 8 * 8
    if step <= 0:
        raise ValueError(f"an MTU of {mtu} leaves no room for fragment data")
    view = memoryview(payload)
    return [
        build_ipv4(src, dst, proto, view[offset : offset + step], ident=ident, ttl=ttl, tos=tos,
                   df=False, frag_offset=offset, more_fragments=offset + step < len(view))
        for offset in range(0, len(view), step)
    ]


def fragment_ipv6(src: int, dst: int, next_header: int, payload: BytesLike, mtu: int, *, ident: int,
                  hop_limit: int = 64, traffic_class: int = 0) -> list[bytes]:
    """The fragments of an IPv6 datagram without extension headers whose upper layer
    (`next_header`, `payload`) does not fit in `mtu` (RFC 8200 section 4.5)."""
    step = (mtu - IPV6_HEADER_LEN - FRAGMENT_HEADER_LEN) // 8 * 8
    if step <= 0:
        raise ValueError(f"an MTU of {mtu} leaves no room for fragment data")
    view = memoryview(payload)
    packets = []
    for offset in range(0, len(view), step):
        piece = view[offset : offset + step]
        header = fragment_header(next_header, offset, offset + step < len(view), ident)
        packets.append(b"".join((
            ipv6_header(src, dst, PROTO_FRAGMENT, FRAGMENT_HEADER_LEN + len(piece), hop_limit=hop_limit,
                        traffic_class=traffic_class),
            header, piece,
        )))  # fmt: skip
    return packets
