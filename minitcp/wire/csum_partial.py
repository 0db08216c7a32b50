"""Partial TCP checksums: what a sender that leaves the checksum to the device puts in the field.

A host with checksum offload (Linux's CHECKSUM_PARTIAL, virtio-net's NEEDS_CSUM)
stores only the pseudo-header sum in the transport checksum field and lets the
device (or whoever receives the packet in memory) add the sum of the transport
header and payload. Both directions of a TUN device with offloads carry such
packets (`minitcp.link.vnet`); this module is the arithmetic, apart from any device.
"""

from __future__ import annotations

from minitcp.wire.accel import checksum, pseudo_header_sum
from minitcp.wire.ipv4 import PROTO_TCP

TCP_CSUM_OFFSET = 16  # the checksum field's place in the TCP header (RFC 9293 section 3.1)
PROTO_UDP = 17
_CSUM_OFFSETS = {PROTO_TCP: TCP_CSUM_OFFSET, PROTO_UDP: 6}  # the protocols Linux leaves partial


def partial_tcp_csum(src: int, dst: int, tcp_length: int) -> int:
    """What a sender leaving the TCP checksum to the device stores in the field: the folded
    pseudo-header sum, uninverted (Linux __tcp_v4_send_check with CHECKSUM_PARTIAL)."""
    return pseudo_header_sum(src, dst, PROTO_TCP, tcp_length)


def complete_csum(packet: bytes | memoryview) -> bytes:
    """A copy of an IPv4 packet whose TCP (or UDP) checksum is partial, completed as the device
    would: the sum from the transport header to the end, the partial field included."""
    out = bytearray(packet)
    offset = _CSUM_OFFSETS.get(out[9]) if len(out) >= 20 else None
    if offset is None:
        return bytes(out)
    start = (out[0] & 0x0F) * 4
    end = int.from_bytes(out[2:4], "big")
    csum = checksum(memoryview(out)[start:end])
    if offset != TCP_CSUM_OFFSET and csum == 0:
        csum = 0xFFFF  # RFC 768: a computed zero is sent as all ones (zero means "none")
    out[start + offset : start + offset + 2] = csum.to_bytes(2, "big")
    return bytes(out)
