"""IPv4+TCP packets in pure Python: the twin of the C parse and build in native/.

Used when `minitcp._native` cannot load or MINITCP_PURE is set; tests hold it
to results identical to the C code's, reason codes included.
"""

from __future__ import annotations

import struct

from minitcp.wire.checksum import BytesLike, checksum, csum_add, pseudo_header_sum
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.ipv4 import PROTO_TCP, ipv4_header, parse_ipv4
from minitcp.wire.segment import Segment
from minitcp.wire.tcp_options import encode_tcp_options, parse_tcp_options

TCP_HEADER_LEN = 20  # RFC 9293 section 3.1, without options
_TCP = struct.Struct("!HHIIBBHHH")
_CSUM_OFFSET = 16


def parse_tcp_packet(buf: BytesLike, csum_partial: bool = False) -> Segment:
    """Validate an IPv4 packet carrying TCP and return its Segment (payload a view of `buf`).

    `csum_partial` says the TCP checksum field holds only the pseudo-header sum, left for
    the device to complete (a TUN device's virtio_net_hdr with NEEDS_CSUM: the kernel
    never checksummed bytes that only ever lived in its memory); that one check is skipped.
    """
    packet = parse_ipv4(buf)
    if packet.proto != PROTO_TCP:
        raise WireError(DropReason.NOT_TCP, f"protocol {packet.proto}")
    tcp = packet.payload
    size = len(tcp)
    if size < TCP_HEADER_LEN:
        raise WireError(DropReason.TRUNCATED, f"{size} bytes, a TCP header needs 20")
    sport, dport, seq, ack, offset, flags, window, _, urgent = _TCP.unpack_from(tcp)
    header_length = (offset >> 4) * 4
    if not TCP_HEADER_LEN <= header_length <= size:
        raise WireError(DropReason.BAD_DATA_OFFSET, f"data offset {header_length} bytes, segment {size}")
    # Checksum before options, as Linux does, so corruption counts as a bad checksum.
    pseudo = pseudo_header_sum(packet.src, packet.dst, PROTO_TCP, size)
    if not csum_partial and csum_add(tcp, pseudo) != 0xFFFF:
        raise WireError(DropReason.BAD_TCP_CHECKSUM)
    mss, wscale, sack_permitted, sack, ts_val, ts_ecr = parse_tcp_options(tcp[TCP_HEADER_LEN:header_length])
    return Segment(
        packet.src,
        packet.dst,
        sport,
        dport,
        seq,
        ack,
        flags,
        window,
        tcp[header_length:],
        urgent=urgent,
        mss=mss,
        wscale=wscale,
        sack_permitted=sack_permitted,
        sack=sack,
        ts_val=ts_val,
        ts_ecr=ts_ecr,
        ttl=packet.ttl,
        tos=packet.tos,
        ip_id=packet.ident,
        df=packet.df,
    )


def build_tcp_packet(seg: Segment) -> bytes:
    """IPv4 header + TCP header + options (Linux layout) + payload, both checksums set.

    Raises ValueError when a field does not fit its wire width or the packet
    would exceed 65535 bytes.
    """
    options = encode_tcp_options(seg)
    header_length = TCP_HEADER_LEN + len(options)
    tcp_length = header_length + len(seg.payload)
    ip_header = ipv4_header(
        seg.src, seg.dst, PROTO_TCP, tcp_length, ttl=seg.ttl, ident=seg.ip_id, tos=seg.tos, df=seg.df
    )
    try:
        header = _TCP.pack(
            seg.sport, seg.dport, seg.seq, seg.ack, header_length << 2, seg.flags, seg.window, 0, seg.urgent
        )
    except struct.error as exc:
        raise ValueError(f"TCP header field out of range: {exc}") from None
    segment = bytearray().join((header, options, seg.payload))
    csum = checksum(segment, pseudo_header_sum(seg.src, seg.dst, PROTO_TCP, tcp_length))
    segment[_CSUM_OFFSET : _CSUM_OFFSET + 2] = csum.to_bytes(2, "big")
    return ip_header + segment
