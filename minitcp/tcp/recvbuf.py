"""The receive side's bytes: the in-order queue and out-of-order reassembly.

In-order bytes wait in a `ByteQueue` for the application, each payload as it
arrived, copied once when the application reads it. Out-of-order
bytes wait in a sorted list of disjoint blocks; overlaps are trimmed on the
way in (RFC 9293 section 3.10.7.4, "seventh"). SACK blocks are reported per
RFC 2018 section 4: the block holding the latest segment first, then the
most recently reported ones. A duplicate segment is reported once in a D-SACK
block ahead of them (RFC 2883), computed as Linux does (tcp_dsack_set,
tcp_dsack_extend in tcp_data_queue, tcp_data_queue_ofo and tcp_ofo_queue), and counted
as Linux counts each report set: TCPDSACKOldSent below rcv_nxt, TCPDSACKOfoSent above.

`RcvSpace` is the measure that sizes the buffer: what the application read in
the last receiver RTT (Linux tp->rcvq_space, for tcp_rcv_space_adjust).
"""

from __future__ import annotations

from collections.abc import MutableMapping

from .bytequeue import ByteQueue
from .seq import seq_add, seq_diff, seq_gt, seq_lt


class RcvSpace:
    """Linux tp->rcvq_space: bytes the application read since `time`, and the most it read
    in one receiver RTT so far (`space`), which the receive buffer is sized from."""

    __slots__ = ("copied", "space", "time")

    def __init__(self, space: int, now: float) -> None:
        self.space = space
        self.copied = 0
        self.time = now


class RecvBuffer:
    __slots__ = ("counters", "data", "dsack", "ooo", "ooo_bytes", "recent")

    def __init__(self, counters: MutableMapping[str, int]) -> None:
        self.counters = counters  # the engine's MIB counters: the D-SACK reports set
        self.data = ByteQueue()
        # [start_seq, bytearray] blocks, sorted, neither overlapping nor touching.
        self.ooo: list[list] = []
        self.ooo_bytes = 0
        self.recent: list[int] = []  # sequence numbers of recent out-of-order arrivals, newest first
        # The duplicate range to report in the next ACK (RFC 2883 section 4; Linux
        # tp->duplicate_sack[0] while rx_opt.dsack is set), None when there is none.
        self.dsack: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.data)

    @property
    def buffered(self) -> int:
        return len(self.data) + self.ooo_bytes

    # ------------------------------------------------------------------ D-SACK (RFC 2883)

    def dsack_set(self, seq: int, end: int, rcv_nxt: int) -> None:
        """Report [seq, end) as duplicated, replacing any unsent report (Linux tcp_dsack_set),
        and count it: TCPDSACKOldSent when it starts below rcv_nxt, else TCPDSACKOfoSent (a
        duplicate of out-of-order data)."""
        self.counters["TCPDSACKOldSent" if seq_lt(seq, rcv_nxt) else "TCPDSACKOfoSent"] += 1
        self.dsack = (seq, end)

    def dsack_extend(self, seq: int, end: int, rcv_nxt: int) -> None:
        """Grow the unsent report by [seq, end) when the two touch or overlap, else keep it
        (Linux tcp_dsack_extend, tcp_sack_extend): one D-SACK block reports one range. With
        no report pending it is a new one, set and counted (tcp_dsack_set)."""
        if self.dsack is None:
            self.dsack_set(seq, end, rcv_nxt)
            return
        left, right = self.dsack
        if not seq_gt(seq, right) and not seq_gt(left, end):
            self.dsack = (seq if seq_lt(seq, left) else left, end if seq_gt(end, right) else right)

    # ------------------------------------------------------------------ queueing

    def add(self, rcv_nxt: int, seq: int, payload: bytes | memoryview, dsack: bool = False) -> int:
        """Take a segment's payload; returns how many bytes became in-order (rcv_nxt advance).

        The caller has trimmed the payload to the receive window and handled a
        segment wholly below rcv_nxt. With `dsack`, bytes that were here already
        are recorded for a D-SACK block (RFC 2883 section 4).
        """
        off = seq_diff(seq, rcv_nxt)
        if off < 0:
            if dsack:
                # Linux tcp_data_queue: a segment starting below rcv_nxt reports its old part.
                self.dsack_set(seq, rcv_nxt, rcv_nxt)
            payload = payload[-off:]
            seq = rcv_nxt
            off = 0
        if not payload:
            return 0
        if off > 0:
            self._add_ooo(rcv_nxt, seq, payload, dsack)
            return 0
        before = len(self.data)
        self.data.append(payload)
        end = seq_add(rcv_nxt, len(payload))
        # Pull in out-of-order blocks that the new bytes reach (RFC 9293 section 3.10.7.4).
        # Linux tcp_ofo_queue (rcv_nxt already at the end of the new bytes): every queued
        # block that starts below that end was received twice up to it (clipped to the block
        # since Linux commit a041f70e, "tcp: fix tcp_ofo_queue() to avoid including too much
        # DUP SACK range").
        high = end
        ooo = self.ooo
        while ooo:
            start, block = ooo[0]
            over = seq_diff(end, start)
            if over < 0:
                break
            if dsack and seq_lt(start, high):
                block_end = seq_add(start, len(block))
                self.dsack_extend(start, block_end if seq_lt(block_end, high) else high, high)
            ooo.pop(0)
            self.ooo_bytes -= len(block)
            if over < len(block):
                end = seq_add(start, len(block))
                del block[:over]
                self.data.append_owned(block)
        if not ooo:
            self.recent.clear()
        return len(self.data) - before

    def _add_ooo(self, rcv_nxt: int, seq: int, payload: bytes | memoryview, dsack: bool = False) -> None:
        start = seq_diff(seq, rcv_nxt)
        end = start + len(payload)
        if dsack:
            self._ooo_dsack(rcv_nxt, start, end)
        ooo = self.ooo
        if ooo:
            last_seq, last = ooo[-1]
            if seq_diff(last_seq, rcv_nxt) + len(last) == start:
                # After a hole every later segment lands here: extend in place, or with a large
                # window each one would copy the whole block (quadratic in the window).
                last += payload
                self.ooo_bytes += len(payload)
                self._note_recent(seq)
                return
        merged = bytearray(payload)
        keep = []
        for bstart_seq, block in ooo:
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
        self._note_recent(seq)

    def note_fin(self, fin_seq: int) -> None:
        """A FIN arrived beyond rcv_nxt: the latest out-of-order arrival, for the SACK order."""
        self._note_recent(fin_seq)

    def _note_recent(self, seq: int) -> None:
        self.recent = [seq, *(s for s in self.recent if s != seq)][:4]

    def _ooo_dsack(self, rcv_nxt: int, start: int, end: int) -> None:
        """D-SACK for an out-of-order segment [start, end) (offsets from rcv_nxt), as Linux's
        tcp_data_queue_ofo: the part of the first queued block it overlaps.

        A segment that begins exactly where a queued block ends is coalesced into that
        block (tcp_ooo_try_coalesce) before any overlap is looked at, so Linux reports
        nothing for it even when it runs over the next block.
        """
        for bstart_seq, block in self.ooo:
            bstart = seq_diff(bstart_seq, rcv_nxt)
            bend = bstart + len(block)
            if bend == start:
                return
            if bend <= start or bstart >= end:
                continue
            left, right = max(start, bstart), min(end, bend)
            if bstart <= start:  # it starts inside the block: "all bits present" or partial
                self.dsack_set(seq_add(rcv_nxt, left), seq_add(rcv_nxt, right), rcv_nxt)
            else:  # it starts in a hole and runs into the block: merge_right
                self.dsack_extend(seq_add(rcv_nxt, left), seq_add(rcv_nxt, right), rcv_nxt)
            return

    def sack_blocks(self, rcv_nxt: int, limit: int,
                    fin_seq: int | None = None) -> tuple[tuple[int, int], ...]:
        """SACK blocks in RFC 2018 section 4 order, at most `limit`, a pending D-SACK block first.

        The D-SACK block counts against the limit and is reported once (RFC 2883
        section 4; Linux tcp_established_options, tcp_options_write clear rx_opt.dsack).
        An out-of-order FIN (`fin_seq`, beyond rcv_nxt) is in a block as Linux's queued segment
        is (its end_seq counts the FIN): the one that ends where it sits, or one of its own for a
        FIN that came alone (tcp_data_queue_ofo queues the bare FIN too).
        """
        dsack, self.dsack = self.dsack, None
        if limit <= 0:
            return ()
        out: list[tuple[int, int]] = [dsack] if dsack is not None else []
        blocks = [(s, seq_add(s, len(b))) for s, b in self.ooo]
        if fin_seq is not None and fin_seq != rcv_nxt:
            if any(right == fin_seq for _, right in blocks):
                blocks = [(left, seq_add(right, 1) if right == fin_seq else right) for left, right in blocks]
            else:
                blocks.append((fin_seq, seq_add(fin_seq, 1)))  # beyond every data block
        if not blocks:
            return tuple(out)
        first = len(out)  # a SACK block may repeat the D-SACK range (RFC 2883 section 4.1.2)
        for seq in self.recent:
            for left, right in blocks:
                if 0 <= seq_diff(seq, left) < seq_diff(right, left) and (left, right) not in out[first:]:
                    out.append((left, right))
        out.extend(b for b in blocks if b not in out[first:])
        return tuple(out[:limit])

    def read(self, n: int, peek: bool = False) -> bytes:
        return self.data.read(n, peek)

    def fin_reached(self) -> None:
        """The peer's FIN is in order: what is still out of order lies beyond the end of the
        stream and is dropped, and no SACK or D-SACK block is reported any more (Linux tcp_fin:
        skb_rbtree_purge of the out-of-order queue, then tcp_sack_reset), so the ACK of the
        FIN carries none, even for a FIN that came on a partly duplicate segment."""
        self.ooo = []
        self.ooo_bytes = 0
        self.recent = []
        self.dsack = None

    def clear(self) -> None:
        self.data = ByteQueue()
        self.ooo = []
        self.ooo_bytes = 0
        self.recent = []
        self.dsack = None
