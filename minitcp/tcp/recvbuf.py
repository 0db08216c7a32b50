"""The receive side's bytes: the in-order queue and out-of-order reassembly.

In-order bytes wait in one bytearray for the application (CPython's bytearray
drops a prefix without copying the rest, so reads are cheap). Out-of-order
bytes wait in a sorted list of disjoint blocks; overlaps are trimmed on the
way in (RFC 9293 section 3.10.7.4, "seventh"). SACK blocks are reported per
RFC 2018 section 4: the block holding the latest segment first, then the
most recently reported ones.
"""

from __future__ import annotations

from .seq import seq_add, seq_diff


class RecvBuffer:
    __slots__ = ("data", "ooo", "ooo_bytes", "recent")

    def __init__(self) -> None:
        self.data = bytearray()
        # [start_seq, bytes] blocks, sorted, neither overlapping nor touching.
        self.ooo: list[list] = []
        self.ooo_bytes = 0
        self.recent: list[int] = []  # sequence numbers of recent out-of-order arrivals, newest first

    def __len__(self) -> int:
        return len(self.data)

    @property
    def buffered(self) -> int:
        return len(self.data) + self.ooo_bytes

    def add(self, rcv_nxt: int, seq: int, payload: bytes | memoryview) -> int:
        """Take a segment's payload; returns how many bytes became in-order (rcv_nxt advance).

        The caller has trimmed the payload to the receive window.
        """
        off = seq_diff(seq, rcv_nxt)
        if off < 0:
            payload = payload[-off:]
            seq = rcv_nxt
            off = 0
        if not payload:
            return 0
        if off > 0:
            self._add_ooo(rcv_nxt, seq, payload)
            return 0
        before = len(self.data)
        self.data += payload
        end = seq_add(rcv_nxt, len(payload))
        # Pull in out-of-order blocks that the new bytes reach (RFC 9293 section 3.10.7.4).
        ooo = self.ooo
        while ooo:
            start, block = ooo[0]
            over = seq_diff(end, start)
            if over < 0:
                break
            ooo.pop(0)
            self.ooo_bytes -= len(block)
            if over < len(block):
                self.data += block[over:]
                end = seq_add(start, len(block))
        if not ooo:
            self.recent.clear()
        return len(self.data) - before

    def _add_ooo(self, rcv_nxt: int, seq: int, payload: bytes | memoryview) -> None:
        start = seq_diff(seq, rcv_nxt)
        end = start + len(payload)
        merged = bytes(payload)
        keep = []
        for bstart_seq, block in self.ooo:
            bstart = seq_diff(bstart_seq, rcv_nxt)
            bend = bstart + len(block)
            if bend < start or bstart > end:
                keep.append([bstart_seq, block])
                continue
            # Overlapping or touching: keep the union (the bytes agree where both cover them).
            if bstart < start:
                merged = block[: start - bstart] + merged
                start = bstart
            if bend > end:
                merged = merged + block[len(block) - (bend - end):]
                end = bend
            self.ooo_bytes -= len(block)
        keep.append([seq_add(rcv_nxt, start), merged])
        keep.sort(key=lambda b: seq_diff(b[0], rcv_nxt))
        self.ooo = keep
        self.ooo_bytes += len(merged)
        self.recent = [seq, *(s for s in self.recent if s != seq)][:4]

    def sack_blocks(self, rcv_nxt: int, limit: int) -> tuple[tuple[int, int], ...]:
        """SACK blocks in RFC 2018 section 4 order, at most `limit`."""
        if not self.ooo or limit <= 0:
            return ()
        blocks = [(s, seq_add(s, len(b))) for s, b in self.ooo]
        out: list[tuple[int, int]] = []
        for seq in self.recent:
            for left, right in blocks:
                if 0 <= seq_diff(seq, left) < seq_diff(right, left) and (left, right) not in out:
                    out.append((left, right))
        out.extend(b for b in blocks if b not in out)
        return tuple(out[:limit])

    def read(self, n: int, peek: bool = False) -> bytes:
        chunk = bytes(self.data[:n])
        if not peek:
            del self.data[:n]
        return chunk

    def clear(self) -> None:
        self.data = bytearray()
        self.ooo = []
        self.ooo_bytes = 0
        self.recent = []
