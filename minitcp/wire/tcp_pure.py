"""IPv4+TCP and IPv6+TCP packets in pure Python: the twin of the C parse and build in native/.

Used when `minitcp._native` cannot load or MINITCP_PURE is set; tests hold it
to results identical to the C code's, reason codes included. The TCP header
is the same in both families; only the IP header and the pseudo-header the
checksum covers differ (RFC 9293 section 3.1, RFC 8200 section 8.1).
"""

from __future__ import annotations

import struct
from typing import TypeVar

from minitcp.wire.checksum import BytesLike, checksum, csum_add, pseudo_header_sum, pseudo_header_sum6
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.ipv4 import PROTO_TCP, ipv4_header, parse_ipv4
from minitcp.wire.ipv6 import ipv6_header, parse_ipv6
from minitcp.wire.segment import Segment, Segment6
from minitcp.wire.tcp_options import encode_tcp_options, parse_tcp_options

TCP_HEADER_LEN = 20  # RFC 9293 section 3.1, without options
_TCP = struct.Struct("!HHIIBBHHH")
_CSUM_OFFSET = 16
S = TypeVar("S", bound=Segment)


def _parse_tcp(
    family: type[S], tcp: memoryview, src: int, dst: int, pseudo: int, csum_partial: bool,
    ttl: int, tos: int, ip_id: int, df: bool,
) -> S:
    """The segment (a `family` instance, with the IP fields given) of a TCP header and payload
    whose pseudo-header sums to `pseudo`."""
    size = len(tcp)
    if size < TCP_HEADER_LEN:
        raise WireError(DropReason.TRUNCATED, f"{size} bytes, a TCP header needs 20")
    sport, dport, seq, ack, offset, flags, window, _, urgent = _TCP.unpack_from(tcp)
    header_length = (offset >> 4) * 4
    if not TCP_HEADER_LEN <= header_length <= size:
        raise WireError(DropReason.BAD_DATA_OFFSET, f"data offset {header_length} bytes, segment {size}")
    # Checksum before options, as Linux does, so corruption counts as a bad checksum.
    if not csum_partial and csum_add(tcp, pseudo) != 0xFFFF:
        raise WireError(DropReason.BAD_TCP_CHECKSUM)
    mss, wscale, sack_permitted, sack, ts_val, ts_ecr = parse_tcp_options(tcp[TCP_HEADER_LEN:header_length])
    return family(
        src, dst, sport, dport, seq, ack, flags, window, tcp[header_length:], urgent=urgent, mss=mss,
        wscale=wscale, sack_permitted=sack_permitted, sack=sack, ts_val=ts_val, ts_ecr=ts_ecr, ttl=ttl,
        tos=tos, ip_id=ip_id, df=df,
    )  # fmt: skip


def parse_tcp_packet(buf: BytesLike, csum_partial: bool = False) -> Segment:
    """Validate an IPv4 packet carrying TCP and return its Segment (payload a view of `buf`).

    `csum_partial` says the TCP checksum field holds only the pseudo-header sum, left for
    the device to complete (a TUN device's virtio_net_hdr with NEEDS_CSUM: the kernel
    never checksummed bytes that only ever lived in its memory); that one check is skipped.
    """
    packet = parse_ipv4(buf)
    if packet.is_fragment:  # after the header checksum, as the C parser checks
        raise WireError(DropReason.FRAGMENT, "one piece of a larger datagram")
    if packet.proto != PROTO_TCP:
        raise WireError(DropReason.NOT_TCP, f"protocol {packet.proto}")
    tcp = packet.payload
    pseudo = pseudo_header_sum(packet.src, packet.dst, PROTO_TCP, len(tcp))
    return _parse_tcp(
        Segment, tcp, packet.src, packet.dst, pseudo, csum_partial, packet.ttl, packet.tos, packet.ident,
        packet.df,
    )  # fmt: skip


def parse_tcp6_packet(buf: BytesLike, csum_partial: bool = False) -> Segment6:
    """Validate an IPv6 packet carrying TCP, extension headers walked, and return its Segment6.

    A fragment is refused: only a whole datagram is a segment. `csum_partial` as
    for `parse_tcp_packet`.
    """
    packet = parse_ipv6(buf)
    if packet.is_fragment:
        raise WireError(DropReason.FRAGMENT, "one piece of a larger datagram")
    if packet.next_header != PROTO_TCP:
        raise WireError(DropReason.NOT_TCP, f"next header {packet.next_header}")
    tcp = packet.payload
    pseudo = pseudo_header_sum6(packet.src, packet.dst, PROTO_TCP, len(tcp))
    # No IPv4 ID and no DF in IPv6: 0 and True (routers never fragment it, RFC 8200 section 5).
    seg = _parse_tcp(
        Segment6, tcp, packet.src, packet.dst, pseudo, csum_partial, packet.hop_limit, packet.traffic_class,
        0, True,
    )  # fmt: skip
    seg.flow_label = packet.flow_label
    return seg


def _tcp_bytes(seg: Segment, options: bytes, pseudo: int) -> bytearray:
    """TCP header + options + payload of `seg`, its checksum over a pseudo-header summing to `pseudo`."""
    header_length = TCP_HEADER_LEN + len(options)
    try:
        header = _TCP.pack(
            seg.sport, seg.dport, seg.seq, seg.ack, header_length << 2, seg.flags, seg.window, 0, seg.urgent
        )
    except struct.error as exc:
        raise ValueError(f"TCP header field out of range: {exc}") from None
    segment = bytearray().join((header, options, seg.payload))
    segment[_CSUM_OFFSET : _CSUM_OFFSET + 2] = checksum(segment, pseudo).to_bytes(2, "big")
    return segment


def build_tcp_packet(seg: Segment) -> bytes:
    """IPv4 header + TCP header + options (Linux layout) + payload, both checksums set.

    Raises ValueError when a field does not fit its wire width or the packet
    would exceed 65535 bytes.
    """
    options = encode_tcp_options(seg)
    tcp_length = TCP_HEADER_LEN + len(options) + len(seg.payload)
    ip_header = ipv4_header(
        seg.src, seg.dst, PROTO_TCP, tcp_length, ttl=seg.ttl, ident=seg.ip_id, tos=seg.tos, df=seg.df
    )
    return ip_header + _tcp_bytes(seg, options, pseudo_header_sum(seg.src, seg.dst, PROTO_TCP, tcp_length))


def build_tcp6_packet(seg: Segment6) -> bytes:
    """IPv6 header (hop limit `ttl`, traffic class `tos`, `flow_label`) + TCP, checksum set.

    Raises ValueError when a field does not fit its wire width or the TCP
    segment would exceed the 65535-byte payload length.
    """
    options = encode_tcp_options(seg)
    tcp_length = TCP_HEADER_LEN + len(options) + len(seg.payload)
    ip_header = ipv6_header(
        seg.src, seg.dst, PROTO_TCP, tcp_length, hop_limit=seg.ttl, traffic_class=seg.tos,
        flow_label=seg.flow_label,
    )  # fmt: skip
    return ip_header + _tcp_bytes(seg, options, pseudo_header_sum6(seg.src, seg.dst, PROTO_TCP, tcp_length))
