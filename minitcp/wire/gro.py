"""Generic receive offload for TCP: consecutive segments of one flow joined into one, as Linux's GRO.

A Linux host does not hand its TCP a batch of wire segments one by one: the
driver's poll joins the ones that continue each other into one large packet
(tcp_gro_receive), so TCP makes one decision, and sends one ACK, per packet
instead of per segment. The stack does the same with each batch its link
hands over. A segment joins the held one when nothing but its payload tells
them apart: same flow, the next sequence number, the same ACK, window, options
and IP header fields, flags ACK (PSH allowed on the last), and no more payload
than the first segment carried. A shorter segment or a PSH ends the packet.
The joined segment carries `gso`, the first segment's payload length, from
which the receiver measures the sender's MSS (Linux tcp_measure_rcv_mss).
"""

from __future__ import annotations

from .segment import ACK, PSH, Segment

MASK = 0xFFFFFFFF
GRO_MAX = 65536 - 80  # payload of one joined segment: 64 KB less the largest headers (GRO_LEGACY_MAX_SIZE)


def _same(seg: Segment) -> tuple:
    """What every segment of a joined one has in common: flow, ACK, window, options, IP fields."""
    return (seg.sport, seg.dport, seg.src, seg.dst, seg.ack, seg.window, seg.ts_val, seg.ts_ecr,
            seg.sack, seg.tos, seg.ttl, seg.df)


def _plain(seg: Segment) -> bool:
    """Whether `seg` carries nothing a joined segment could not repeat: data, ACK, common options."""
    return (
        seg.flags & ~PSH == ACK
        and seg.mss is None
        and seg.wscale is None
        and not seg.sack_permitted
        and not seg.urgent
        and len(seg.payload) > 0
    )


class Gro:
    """The segment held while the batch may still continue it (at most one: the flow in progress)."""

    __slots__ = ("_open", "_parts", "_same", "_seg", "_size", "_total")

    def __init__(self) -> None:
        self._seg: Segment | None = None
        self._same: tuple = ()
        self._parts: list[bytes | memoryview] = []
        self._size = self._total = 0
        self._open = False  # whether the held segment may still grow

    def hold(self, seg: Segment) -> bool:
        """Take `seg` if it could start a joined segment (nothing may be held)."""
        if not _plain(seg):
            return False
        self._seg = seg
        self._same = _same(seg)
        self._parts = [seg.payload]
        self._size = self._total = len(seg.payload)
        self._open = seg.flags == ACK
        return True

    def join(self, seg: Segment) -> bool:
        """Append `seg` to the held segment if it continues it; False leaves both as they are."""
        held = self._seg
        n = len(seg.payload)
        if not (
            held is not None
            and self._open
            and seg.seq == (held.seq + self._total) & MASK
            and n <= self._size
            and self._total + n <= GRO_MAX
            and _plain(seg)
            and _same(seg) == self._same
        ):
            return False
        self._parts.append(seg.payload)
        self._total += n
        self._open = n == self._size and seg.flags == ACK
        if seg.flags & PSH:
            held.flags |= PSH
        return True

    @property
    def holding(self) -> bool:
        return self._seg is not None

    def take(self) -> Segment:
        """The held segment, joined, and nothing held any more."""
        seg, parts = self._seg, self._parts
        assert seg is not None
        if len(parts) > 1:
            seg.payload = b"".join(parts)
            seg.gso = self._size
        self._seg = None
        self._parts = []
        return seg
