"""A TSO segment cut into the wire segments it stands for, as a NIC or Linux's tcp_gso_segment cuts it.

The engine may hand over one segment whose payload spans several MSS (TCP
segmentation offload, `Segment.gso`): one decision, one header and one call
per 64 KB instead of per segment. Cut here, the wire segments are the ones the
engine would have sent one by one: `gso` payload bytes each (the last may be
shorter), consecutive sequence numbers, and the same header otherwise, except
that PSH and FIN ride on the last segment only and CWR on the first only
(Linux tcp_gso_segment; RFC 3168 section 6.1.2 sets CWR once).
"""

from __future__ import annotations

import copy

from .segment import CWR, FIN, PSH, Segment, Segment6
from .tcp import build_tcp6_packet, build_tcp_packet

MASK = 0xFFFFFFFF
TSO_MAX = 65536 - 80  # payload of one TSO segment: 64 KB (Linux GSO_MAX_SIZE) less the largest headers


def wire_count(seg: Segment) -> int:
    """How many wire segments `seg` stands for (Linux tcp_skb_pcount)."""
    return -(-len(seg.payload) // seg.gso) if seg.gso else 1


def pieces(seg: Segment) -> list[tuple[int, int, int]]:
    """(offset into the payload, length, flags) of each wire segment of `seg`."""
    return cuts(len(seg.payload), seg.gso, seg.flags)


def cuts(total: int, size: int, flags: int) -> list[tuple[int, int, int]]:
    """(offset, length, flags) of the wire segments of a `total`-byte payload cut every `size`
    bytes (0: not cut) from a segment with `flags`."""
    if not size or total <= size:
        return [(0, total, flags)]
    middle = flags & ~(PSH | FIN | CWR)
    out = [(off, size, middle) for off in range(0, total, size)]
    out[0] = (0, size, flags & ~(PSH | FIN))
    last = out[-1][0]
    out[-1] = (last, total - last, flags & ~CWR)
    return out


def split(seg: Segment) -> list[Segment]:
    """The wire segments of `seg`, as new segments (for whoever watches them one by one)."""
    out = []
    payload = memoryview(seg.payload)
    for off, n, flags in pieces(seg):
        piece = type(seg)(
            seg.src, seg.dst, seg.sport, seg.dport, (seg.seq + off) & MASK, seg.ack, flags, seg.window,
            payload[off : off + n], urgent=seg.urgent, mss=seg.mss, wscale=seg.wscale,
            sack_permitted=seg.sack_permitted, sack=seg.sack, ts_val=seg.ts_val, ts_ecr=seg.ts_ecr,
            ttl=seg.ttl, tos=seg.tos, ip_id=seg.ip_id, df=seg.df,
        )  # fmt: skip
        if isinstance(seg, Segment6) and isinstance(piece, Segment6):
            piece.flow_label = seg.flow_label
        out.append(piece)
    return out


def build_packets(seg: Segment) -> list[bytes]:
    """The packets (IPv4 or IPv6, as `seg`) of the wire segments of `seg`, built in turn from `seg`
    itself (its sequence number, payload and flags changed for each, then restored): no segment
    objects."""
    seq, payload, flags = seg.seq, seg.payload, seg.flags
    view = memoryview(payload)
    build = build_tcp6_packet if seg.ip_version == 6 else build_tcp_packet
    out = []
    try:
        for off, n, piece_flags in pieces(seg):
            seg.seq = (seq + off) & MASK
            seg.payload = view[off : off + n]
            seg.flags = piece_flags
            out.append(build(seg))
    finally:
        seg.seq, seg.payload, seg.flags = seq, payload, flags
    return out


def run(seg: Segment, first: int, last: int) -> Segment:
    """Wire segments `first` to `last - 1` of `seg` (as `pieces` numbers them) as one new segment,
    a TSO segment of its own when it holds more than one: cut in turn, it gives those very wire
    segments (CWR stays only on `seg`'s first, PSH and FIN only on its last)."""
    count = wire_count(seg)
    start = first * seg.gso if seg.gso else 0
    end = min(last * seg.gso, len(seg.payload)) if seg.gso else len(seg.payload)
    piece = copy.copy(seg)
    piece.seq = (seg.seq + start) & MASK
    piece.payload = memoryview(seg.payload)[start:end]
    piece.flags = seg.flags & ~(CWR if first else 0) & ~(PSH | FIN if last < count else 0)
    piece.gso = seg.gso if last - first > 1 else 0
    return piece
