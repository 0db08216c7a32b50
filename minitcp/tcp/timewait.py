"""TIME_WAIT as a compact table, not as connections (Linux inet_timewait_sock).

An entry keeps only what TIME_WAIT needs to answer segments: the sequence
numbers, the timestamp state and the window it advertises, in a few slots and
no buffers. All entries last the same time, so one FIFO queue orders their
deadlines; an entry whose timer restarts is queued again and its older place
is skipped (`copies` counts its places).

The rules are Linux's tcp_timewait_state_process (RFC 9293 section 3.10.7.4,
RFC 1122 section 4.2.2.13, RFC 1337, RFC 7323 section 5).
"""

from __future__ import annotations

import collections
import enum
from typing import TYPE_CHECKING

from ..wire.segment import ACK, RST, SYN, Segment
from .seq import MASK, seq_gt

if TYPE_CHECKING:
    from .connection import Connection
    from .knobs import Knobs


class TwVerdict(enum.Enum):
    DONE = 0  # nothing more to do
    ACK = 1  # answer with our ACK
    SYN_REUSE = 2  # a new SYN may take the pair over: hand it to the listener
    KILLED = 3  # the entry was ended (RST without RFC 1337 protection)


class TimeWait:
    __slots__ = ("copies", "expires", "key", "rcv_nxt", "snd_nxt", "ts_offset", "ts_recent", "window")

    def __init__(self, conn: Connection, expires: float) -> None:
        self.key = conn.key
        self.snd_nxt = conn.snd_max  # the highest sequence sent, FIN included
        self.rcv_nxt = conn.rcv_nxt
        self.ts_recent = conn.ts_recent
        self.ts_offset = conn.ts_offset if conn.ts_ok else None
        self.window = conn._select_window() >> conn.rcv_wscale
        self.expires = expires
        self.copies = 0

    @property
    def four_tuple(self) -> tuple[int, int, int, int]:
        key = self.key
        return key >> 80, (key >> 64) & 0xFFFF, (key >> 16) & 0xFFFFFFFF, key & 0xFFFF

    def ack_segment(self, now: float) -> Segment:
        laddr, lport, raddr, rport = self.four_tuple
        seg = Segment(laddr, raddr, lport, rport, self.snd_nxt, self.rcv_nxt, ACK, self.window)
        if self.ts_offset is not None:
            seg.ts_val = (int(now * 1000) + self.ts_offset) & MASK
            seg.ts_ecr = self.ts_recent
        return seg

    def reuse_isn(self) -> int:
        """The ISN for a new incarnation: above anything this one sent (Linux: snd_nxt + 65535 + 2)."""
        return (self.snd_nxt + 65537) & MASK or 1


class TimeWaitTable:
    __slots__ = ("entries", "queue")

    def __init__(self) -> None:
        self.entries: dict[int, TimeWait] = {}
        self.queue: collections.deque[TimeWait] = collections.deque()

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: int) -> TimeWait | None:
        return self.entries.get(key)

    def add(self, conn: Connection, now: float, length: float) -> TimeWait:
        tw = TimeWait(conn, now + length)
        self.entries[tw.key] = tw
        tw.copies = 1
        self.queue.append(tw)
        return tw

    def restart(self, tw: TimeWait, now: float, length: float) -> None:
        tw.expires = now + length
        tw.copies += 1
        self.queue.append(tw)

    def remove(self, tw: TimeWait) -> None:
        if self.entries.get(tw.key) is tw:
            del self.entries[tw.key]

    def expire(self, now: float) -> list[TimeWait]:
        """Entries whose time is up, removed from the table."""
        gone = []
        queue = self.queue
        while queue:
            tw = queue[0]
            if tw.copies > 1 or self.entries.get(tw.key) is not tw:
                queue.popleft()
                tw.copies -= 1
                continue
            if tw.expires > now:
                break
            queue.popleft()
            tw.copies = 0
            del self.entries[tw.key]
            gone.append(tw)
        return gone

    def next_deadline(self) -> float | None:
        queue = self.queue
        while queue and (queue[0].copies > 1 or self.entries.get(queue[0].key) is not queue[0]):
            queue.popleft().copies -= 1
        return queue[0].expires if queue else None

    def process(self, tw: TimeWait, seg: Segment, knobs: Knobs, now: float) -> TwVerdict:
        """One segment for a TIME_WAIT pair (Linux tcp_timewait_state_process)."""
        flags = seg.flags
        paws_reject = (
            tw.ts_offset is not None and seg.ts_val is not None and not flags & RST
            and (seg.ts_val - tw.ts_recent) & 0x80000000 != 0
        )
        if not paws_reject and seg.seq == tw.rcv_nxt and (seg.seg_len == 0 or flags & RST):
            if flags & RST:
                if not knobs.tcp_rfc1337:
                    self.remove(tw)  # TIME_WAIT assassination (RFC 1337): Linux allows it by default
                    return TwVerdict.KILLED
                return TwVerdict.DONE
            self.restart(tw, now, knobs.tcp_timewait_len)
            return TwVerdict.DONE
        if flags & SYN and not flags & (RST | ACK) and not paws_reject and (
            seq_gt(seg.seq, tw.rcv_nxt)
            or (seg.ts_val is not None and tw.ts_offset is not None
                and (tw.ts_recent - seg.ts_val) & 0x80000000 != 0)
        ):
            # RFC 1122 section 4.2.2.13: a new SYN above the old sequence space may reopen the pair.
            return TwVerdict.SYN_REUSE
        if flags & RST:
            return TwVerdict.DONE
        if paws_reject or flags & ACK:
            self.restart(tw, now, knobs.tcp_timewait_len)
        # A retransmitted FIN, an old duplicate: ACK it so the peer can finish (its last ACK was lost).
        return TwVerdict.ACK
