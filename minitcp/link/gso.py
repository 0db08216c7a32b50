"""Outgoing TCP segments joined into super-segments, as a TSO-capable host hands them to its NIC.

The engine still cuts the stream into MSS-sized segments (sequence numbers,
congestion window and retransmissions stay per segment); here, between the
engine and an offloading link, a run of them that the device could have cut
itself travels as one packet, so the kernel takes ~44 segments in one write.
A run is what Linux's tcp_gso_segment would turn back into the same
segments: one connection, contiguous sequence numbers, the same ACK, window
and options, every segment but the last exactly `gso_size` bytes, flags ACK
only, except PSH on the last (GSO keeps PSH and FIN for the last segment; a
FIN goes on its own, so that a run's segments differ in nothing but data).
"""

from __future__ import annotations

from minitcp.link.vnet import TCP_CSUM_OFFSET, partial_tcp_csum
from minitcp.wire.accel import checksum
from minitcp.wire.segment import ACK, PSH, Segment
from minitcp.wire.tcp import build_tcp_packet

MASK = 0xFFFFFFFF
# The IPv4 total length is 16 bits: room for the largest IPv4 and TCP headers (20 + 60).
MAX_PAYLOAD = 0xFFFF - 80


def gso_runs(segs: list[Segment]) -> list[list[Segment]]:
    """`segs` in order, cut into runs that may travel as one super-segment each (many of one)."""
    runs: list[list[Segment]] = []
    run: list[Segment] = []
    size = total = 0
    open_run = False  # whether the run's last segment is a full-size one with flags ACK only
    for seg in segs:
        n = len(seg.payload)
        if open_run and 0 < n <= size and total + n <= MAX_PAYLOAD and _continues(run[0], run[-1], size, seg):
            run.append(seg)
            total += n
            open_run = n == size and seg.flags == ACK
            continue
        run = [seg]
        runs.append(run)
        size = total = n
        open_run = n > 0 and seg.flags == ACK
    return runs


def _continues(first: Segment, last: Segment, size: int, seg: Segment) -> bool:
    """Whether `seg` follows `last` in the run `first` opened, differing in nothing but data."""
    return (
        seg.seq == (last.seq + size) & MASK
        and seg.flags & ~PSH == ACK
        and seg.ack == first.ack
        and seg.window == first.window
        and seg.dport == first.dport
        and seg.sport == first.sport
        and seg.dst == first.dst
        and seg.src == first.src
        and seg.ts_val == first.ts_val
        and seg.ts_ecr == first.ts_ecr
        and seg.sack == first.sack
        and seg.tos == first.tos
        and seg.ttl == first.ttl
        and seg.df == first.df
    )


def super_segment(run: list[Segment]) -> list[bytes | memoryview]:
    """One packet for a run of two or more segments: its IPv4 + TCP header, then the payloads.

    The header is the first segment's with the run's total length, the last segment's flags
    and the TCP checksum left partial, for the device (the kernel) to complete or not need.
    """
    first = run[0]
    packet = build_tcp_packet(first)
    header = bytearray(packet[: len(packet) - len(first.payload)])
    ihl = (header[0] & 0x0F) * 4
    total = len(header) + sum(len(seg.payload) for seg in run)
    header[2:4] = total.to_bytes(2, "big")
    header[10:12] = b"\0\0"
    header[10:12] = checksum(header[:ihl]).to_bytes(2, "big")
    header[ihl + 13] = run[-1].flags
    field = ihl + TCP_CSUM_OFFSET
    header[field : field + 2] = partial_tcp_csum(first.src, first.dst, total - ihl).to_bytes(2, "big")
    return [bytes(header), *(seg.payload for seg in run)]
