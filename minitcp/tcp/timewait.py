"""TIME_WAIT as a compact table, not as connections (Linux inet_timewait_sock).

An entry keeps only what TIME_WAIT needs to answer segments: the four-tuple,
the sequence numbers, the timestamp state and the window it advertises,
packed into one immutable bytes record: 50 bytes for IPv4, a bytes object of
83 B. (An object with a slot per field held an int object per field too:
~300 B an entry; a server that closes first keeps one entry per connection
for 60 s.)

All entries last the same time, so one FIFO queue of records orders their
deadlines. A timer restart gives the pair a new record, queued at the back;
a record that is no longer its pair's current one (restarted, or ended early
by an RST or a new SYN) is skipped when it reaches the front, and until then
costs its 83 B and its place in the queue.

`TimeWait` is a view of one record, made when asked for: it does not follow
later changes to the entry.

The rules are Linux's tcp_timewait_state_process (RFC 9293 section 3.10.7.4,
RFC 1122 section 4.2.2.13, RFC 1337, RFC 7323 section 5).
"""

from __future__ import annotations

import collections
import enum
import struct
import sys
from collections.abc import Iterator, KeysView
from typing import TYPE_CHECKING, NamedTuple

from ..wire.segment import ACK, RST, SYN, Segment
from .connection import conn_key
from .family import IPV4_MAX, segment_class
from .seq import MASK, seq_diff, seq_gt

if TYPE_CHECKING:
    from .connection import Connection
    from .knobs import Knobs


class TwVerdict(enum.Enum):
    DONE = 0  # nothing more to do
    ACK = 1  # answer with our ACK
    SYN_REUSE = 2  # a new SYN may take the pair over: hand it to the listener
    KILLED = 3  # the entry was ended (RST without RFC 1337 protection)
    RESET = 4  # the entry was ended by an in-window SYN (tcp_insecure_syn): send our RST


class TimeWait(NamedTuple):
    laddr: int
    lport: int
    raddr: int
    rport: int
    snd_nxt: int  # the highest sequence sent, FIN included
    rcv_nxt: int
    ts_ok: bool  # timestamps were in use: our ACKs carry them and PAWS applies
    ts_recent: int
    ts_stamp: float  # when ts_recent was taken (Linux tw_ts_recent_stamp): tcp_tw_reuse's clock
    ts_offset: int
    window: int  # as advertised, already scaled down
    wscale: int  # our receive window scale: window << wscale is the window in bytes
    expires: float

    @property
    def key(self) -> int:
        return conn_key(self.laddr, self.lport, self.raddr, self.rport)

    @property
    def four_tuple(self) -> tuple[int, int, int, int]:
        return self.laddr, self.lport, self.raddr, self.rport

    def ack_segment(self, now: float) -> Segment:
        seg = segment_class(self.laddr)(self.laddr, self.raddr, self.lport, self.rport, self.snd_nxt,
                                        self.rcv_nxt, ACK, self.window)
        if self.ts_ok:
            seg.ts_val = (int(now * 1000) + self.ts_offset) & MASK
            seg.ts_ecr = self.ts_recent
        return seg

    def rst_segment(self) -> Segment:
        """The reset an ended pair sends: RST|ACK at what it sent and received (RFC 793 page 71)."""
        return segment_class(self.laddr)(self.laddr, self.raddr, self.lport, self.rport, self.snd_nxt,
                                         self.rcv_nxt, RST | ACK, 0)

    def reuse_isn(self) -> int:
        """The ISN for a new incarnation: above anything this one sent (Linux: snd_nxt + 65535 + 2)."""
        return (self.snd_nxt + 65537) & MASK or 1


_RECORD = struct.Struct("!IHIHII?IdIIBd")  # TimeWait's fields, in order
_FOUR_TUPLE = struct.Struct("!IHIH")
# An IPv6 pair's record: the same fields, its addresses 16 bytes each; told apart by its size.
_RECORD6 = struct.Struct("!16sH16sHII?IdIIBd")
_FOUR_TUPLE6 = struct.Struct("!16sH16sH")
_EXPIRES = struct.Struct("!d")


def _pack(tw: tuple) -> bytes:
    """A record of TimeWait's fields `tw`, in order."""
    laddr, lport, raddr, rport, *rest = tw
    if laddr <= IPV4_MAX:
        return _RECORD.pack(*tw)
    return _RECORD6.pack(laddr.to_bytes(16, "big"), lport, raddr.to_bytes(16, "big"), rport, *rest)


def _view(record: bytes) -> TimeWait:
    if len(record) == _RECORD.size:
        return TimeWait._make(_RECORD.unpack(record))
    laddr, lport, raddr, rport, *rest = _RECORD6.unpack(record)
    return TimeWait(int.from_bytes(laddr, "big"), lport, int.from_bytes(raddr, "big"), rport, *rest)


def _key(record: bytes) -> int:
    if len(record) == _RECORD.size:
        return conn_key(*_FOUR_TUPLE.unpack_from(record))
    laddr, lport, raddr, rport = _FOUR_TUPLE6.unpack_from(record)
    return conn_key(int.from_bytes(laddr, "big"), lport, int.from_bytes(raddr, "big"), rport)


def _expires(record: bytes) -> float:
    return _EXPIRES.unpack_from(record, len(record) - _EXPIRES.size)[0]


class TimeWaitTable:
    __slots__ = ("_queue", "_records")

    def __init__(self) -> None:
        self._records: dict[int, bytes] = {}  # four-tuple key -> the pair's current record
        self._queue: collections.deque[bytes] = collections.deque()

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: int) -> bool:
        return key in self._records

    def keys(self) -> KeysView[int]:
        """The four-tuple keys held, as a set-like view (to intersect with a batch's keys)."""
        return self._records.keys()

    def get(self, key: int) -> TimeWait | None:
        record = self._records.get(key)
        return None if record is None else _view(record)

    @property
    def entries(self) -> dict[int, TimeWait]:
        """Every entry by key, as views (for looking: ss, tests, the conformance runner)."""
        return {key: _view(record) for key, record in self._records.items()}

    def __iter__(self) -> Iterator[int]:
        """The keys of the pairs in TIME_WAIT."""
        return iter(self._records)

    def add(self, conn: Connection, now: float, length: float) -> None:
        self._put(conn.key, _pack((
            conn.laddr, conn.lport, conn.raddr, conn.rport, conn.snd_max, conn.rcv_nxt, conn.ts_ok,
            conn.ts_recent, now, conn.ts_offset, conn.rwin.select(conn) >> conn.rcv_wscale, conn.rcv_wscale,
            now + length)))

    def restart(self, tw: TimeWait, now: float, length: float) -> None:
        self._put(tw.key, _pack(tw._replace(expires=now + length)))

    def _put(self, key: int, record: bytes) -> None:
        self._records[key] = record
        self._queue.append(record)

    def remove(self, tw: TimeWait) -> None:
        self._records.pop(tw.key, None)

    def expire(self, now: float) -> list[TimeWait]:
        """Entries whose time is up, removed from the table."""
        gone = []
        queue, records = self._queue, self._records
        while queue:
            record = queue[0]
            key = _key(record)
            if records.get(key) is not record:
                queue.popleft()  # restarted or ended early: the pair's current record is elsewhere
                continue
            if _expires(record) > now:
                break
            queue.popleft()
            del records[key]
            gone.append(_view(record))
        return gone

    def footprint(self) -> int:
        """The bytes the table holds, by a sys.getsizeof walk: its dict and queue themselves, each
        pair's record and key, and the records only the queue still holds (restarted or ended
        early): what the time-wait-memory lab divides by the number of entries."""
        records = self._records
        size = sys.getsizeof(records) + sys.getsizeof(self._queue)
        size += sum(sys.getsizeof(key) + sys.getsizeof(record) for key, record in records.items())
        return size + sum(sys.getsizeof(r) for r in self._queue if records.get(_key(r)) is not r)

    def next_deadline(self) -> float | None:
        queue, records = self._queue, self._records
        while queue and records.get(_key(queue[0])) is not queue[0]:
            queue.popleft()
        return _expires(queue[0]) if queue else None

    def process(self, tw: TimeWait, seg: Segment, knobs: Knobs, now: float) -> TwVerdict:
        """One segment for a TIME_WAIT pair (Linux tcp_timewait_state_process)."""
        flags = seg.flags
        paws_reject = (
            tw.ts_ok and seg.ts_val is not None and not flags & RST
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
            or (seg.ts_val is not None and tw.ts_ok and (tw.ts_recent - seg.ts_val) & 0x80000000 != 0)
        ):
            # RFC 1122 section 4.2.2.13: a new SYN above the old sequence space may reopen the pair.
            return TwVerdict.SYN_REUSE
        if flags & RST:
            return TwVerdict.DONE
        if knobs.tcp_insecure_syn and flags & SYN and not paws_reject \
                and 0 <= seq_diff(seg.seq, tw.rcv_nxt) < max(tw.window << tw.wscale, 1):
            # RFC 793 page 71, "fourth, check the SYN bit" (RFC 5961 section 4 off): a SYN in
            # the window is an error in TIME-WAIT too; reset, and the pair is CLOSED.
            self.remove(tw)
            return TwVerdict.RESET
        if paws_reject or flags & ACK:
            self.restart(tw, now, knobs.tcp_timewait_len)
        # A retransmitted FIN, an old duplicate: ACK it so the peer can finish (its last ACK was lost).
        return TwVerdict.ACK
