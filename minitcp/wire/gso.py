"""A TSO segment as one packet for an offloading device, as a TSO-capable host hands it to its NIC.

The engine sends a run of full-sized segments as one TSO segment (`Segment.gso`,
`minitcp.wire.tso`); on a plain link the host cuts it into wire packets itself,
but a device with TSO on (a TUN device with virtio-net offloads) takes it whole:
one IPv4 + TCP header with the total length, the TCP checksum left partial
(`minitcp.wire.csum_partial`), then the payload, for the device (here the kernel,
whose TCP receive path takes it as it takes a GRO packet) to cut at `gso` bytes
or take as it is.
"""

from __future__ import annotations

from typing import NamedTuple

from minitcp.wire.accel import checksum
from minitcp.wire.csum_partial import TCP_CSUM_OFFSET, partial_tcp_csum
from minitcp.wire.segment import Segment
from minitcp.wire.tcp import build_tcp_packet
from minitcp.wire.tso import wire_count


class SuperSegment(NamedTuple):
    """One super-segment for a device that cuts it (Linux: an skb with gso_size set): `parts[0]`
    is its IPv4 and TCP header, the payload follows in the other parts; it stands for `segments`
    wire segments of `gso_size` payload bytes (the last may be shorter)."""

    parts: list[bytes | memoryview]
    gso_size: int
    segments: int


def tso_packet(seg: Segment) -> list[bytes | memoryview]:
    """The IPv4 + TCP header of `seg` (partial checksum), then its payload, unjoined and uncopied."""
    payload = seg.payload
    seg.payload = b""
    try:
        header = bytearray(build_tcp_packet(seg))
    finally:
        seg.payload = payload
    ihl = (header[0] & 0x0F) * 4
    total = len(header) + len(payload)
    header[2:4] = total.to_bytes(2, "big")
    header[10:12] = b"\0\0"
    header[10:12] = checksum(header[:ihl]).to_bytes(2, "big")
    field = ihl + TCP_CSUM_OFFSET
    header[field : field + 2] = partial_tcp_csum(seg.src, seg.dst, total - ihl).to_bytes(2, "big")
    return [bytes(header), payload]


def super_segment(seg: Segment) -> SuperSegment:
    """`seg` (a TSO segment) as the one packet an offloading device takes."""
    return SuperSegment(tso_packet(seg), seg.gso, wire_count(seg))
