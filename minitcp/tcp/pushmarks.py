"""Where Linux's write queue puts PSH: the skb boundaries a write leaves and the ones marked.

Linux never decides PSH per segment. tcp_sendmsg_locked copies a write into skbs of up to
`size_goal` bytes (tcp_xmit_size_goal: half the largest window the peer offered, at most
64 KB, a multiple of the MSS), appending to the queue's unsent tail while it has room, and
clears the tail's PSH when a write starts appending to it. tcp_mark_push sets PSH on an skb
(and pushed_seq to write_seq): on the tail when the write ends without MSG_MORE (tcp_push),
and on each skb a write fills once write_seq is more than half the largest window past
pushed_seq (forced_push). tcp_write_xmit sends one skb or a piece of it per packet: first the
send head takes from the next skb what it lacks of the packet cwnd allows (tcp_grow_skb, Linux
6.10+; the next one's marks come too when it is eaten whole), then a piece cut from its front
leaves PSH to the rest (tso_fragment) and becomes an skb of its own, so a packet has PSH from
its skb only when it ends a marked one. output.transmit adds the other rule: __tcp_transmit_skb
forces PSH on every packet of more than one segment (`tcp_skb_pcount(skb) > 1`, since Linux
5.4), which is why Linux 6.18 under packetdrill sends `P. 1:2001(2000)` ... `P. 8001:10001(2000)`
from the middle of a write (packets of tcp_tso_autosize's 2 segments at a low pacing rate) but
`. 16001:17001(1000)` at the end of fast_recovery/prr-ss-30pkt-lost1_4's 7-segment burst and
`. 10001:11001(1000)` (limited_transmit), one segment each.

minitcp keeps the bytes in one ByteQueue and only the boundaries here: [start, end, marks] for
each skb not yet acknowledged, oldest first, made with the first write (`Connection.pushq`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .seq import MASK, seq_diff, seq_gt

if TYPE_CHECKING:
    from .connection import Connection

GSO_MAX_SIZE = 65536  # Linux sk_gso_max_size of a TSO device (GSO_LEGACY_MAX_SIZE)
TCP_MSS_DEFAULT = 536  # include/net/tcp.h: below this a window is not halved (tcp_bound_to_half_wnd)
MARK_PSH = 1  # TCPHDR_PSH in TCP_SKB_CB(skb)->tcp_flags
MARK_EOR = 2  # TCP_SKB_CB(skb)->eor: nothing is appended to it (tcp_skb_can_collapse_to)


class PushMarks:
    """The skbs of one connection's send queue (see the module docstring)."""

    __slots__ = ("skbs", "pushed_seq")

    def __init__(self, pushed_seq: int) -> None:
        self.skbs: list[list[int]] = []  # [start, end, MARK_* bits]
        # Linux tcp_connect / tcp_create_openreq_child: pushed_seq = write_seq = ISN + 1.
        self.pushed_seq = pushed_seq


def size_goal(conn: Connection) -> int:
    """Linux tcp_xmit_size_goal: the largest skb a write builds."""
    mss = conn.mss
    cutoff = conn.max_snd_wnd >> 1 if conn.max_snd_wnd > TCP_MSS_DEFAULT else conn.max_snd_wnd
    goal = cutoff if cutoff and cutoff < GSO_MAX_SIZE else GSO_MAX_SIZE  # tcp_bound_to_half_wnd
    return max(goal // mss * mss, mss)


def _forced_push(conn: Connection, marks: PushMarks, write_seq: int) -> bool:
    """Linux forced_push: more than half the largest window written since the last PSH."""
    return seq_gt(write_seq, (marks.pushed_seq + (conn.max_snd_wnd >> 1)) & MASK)


def queued(conn: Connection, start: int, length: int, first: bool) -> None:
    """A write copied `length` bytes from `start` into the queue (Linux tcp_sendmsg_locked's copy
    loop; `first`: nothing of this write was copied before, `copied` is 0)."""
    marks = conn.pushq
    if marks is None:
        marks = conn.pushq = PushMarks(conn.sndbuf_seq)
    skbs = marks.skbs
    goal = size_goal(conn)
    seq = start
    left = length
    room = tail_room(conn, goal)  # then what each skb made here has left
    while left:
        if room <= 0:
            skbs.append([seq, seq, 0])
            room = goal
        tail = skbs[-1]
        copy = min(room, left)
        if first:
            tail[2] &= ~MARK_PSH  # a write appending to the tail takes its PSH away
            first = False
        seq = (seq + copy) & MASK
        tail[1] = seq
        left -= copy
        room -= copy
        if seq_diff(tail[1], tail[0]) >= goal and _forced_push(conn, marks, seq):
            tail[2] |= MARK_PSH
            marks.pushed_seq = seq


def push(conn: Connection, more: bool, eor: bool) -> None:
    """Linux tcp_push, at the end of a write (`more`: MSG_MORE; `eor`: MSG_EOR, the tail skb
    takes no more) or when it waits for room (wait_for_space: never with MSG_MORE): the tail
    skb is marked PSH, unless MSG_MORE holds it back and no forced push is due."""
    marks = conn.pushq
    if marks is None or not marks.skbs:
        return
    tail = marks.skbs[-1]
    if eor:
        tail[2] |= MARK_EOR
    write_seq = tail[1]
    if not more or _forced_push(conn, marks, write_seq):
        tail[2] |= MARK_PSH
        marks.pushed_seq = write_seq


def _live(conn: Connection) -> list[list[int]]:
    """The skbs not yet all acknowledged (Linux tcp_clean_rtx_queue frees the others)."""
    marks = conn.pushq
    if marks is None:
        return []
    skbs = marks.skbs
    while skbs and not seq_gt(skbs[0][1], conn.snd_una):
        del skbs[0]
    return skbs


def index(conn: Connection, seq: int) -> int:
    """The index of the skb holding the byte at `seq`, or -1 (for `grow`, `left` and `sent`,
    which a packet at the send head calls in turn: one search for the three)."""
    skbs = _live(conn)
    if not skbs:
        return -1
    base = skbs[0][0]
    # The skbs are in sequence order and span less than 2**31 bytes, so offsets from the first
    # start order them across the wrap: the last one starting at or before `seq`, by halving
    # (inline, as this runs for every packet sent).
    off = (seq - base) & MASK
    lo, hi = 0, len(skbs)
    while lo < hi:
        mid = (lo + hi) >> 1
        if (skbs[mid][0] - base) & MASK <= off:
            lo = mid + 1
        else:
            hi = mid
    i = lo - 1
    if i >= 0 and (skbs[i][1] - base) & MASK > off:
        return i
    return -1


def skb_at(conn: Connection, seq: int) -> list[int] | None:
    """The skb holding the byte at `seq` (the acknowledged ones are forgotten), or None."""
    i = index(conn, seq)
    return conn.pushq.skbs[i] if i >= 0 and conn.pushq is not None else None


def skb_count(conn: Connection) -> int:
    """How many skbs the send queue holds (each costs Linux an empty skb's truesize: wmem.py)."""
    return len(_live(conn))


def tail_room(conn: Connection, goal: int) -> int:
    """Bytes a write may still add to the queue's unsent tail skb before it needs a new one
    (tcp_sendmsg_locked: size_goal less its length; none after MSG_EOR, tcp_skb_can_collapse_to)."""
    skbs = _live(conn)
    if not skbs:
        return 0
    tail = skbs[-1]
    if tail[2] & MARK_EOR or not seq_gt(tail[1], conn.snd_nxt):
        return 0
    return max(goal - seq_diff(tail[1], tail[0] if seq_gt(tail[0], conn.snd_nxt) else conn.snd_nxt), 0)


def grow(conn: Connection, i: int, seq: int, want: int) -> None:
    """Linux tcp_grow_skb (tcp_write_xmit, since 6.10): a send head at `seq` (in skb `i`)
    holding fewer than the `want` bytes the packet may carry takes the missing ones from the
    next skb, unless it ends a MSG_EOR record (tcp_skb_can_collapse) or is the queue's last;
    when that empties the next skb, it takes its marks and the next is freed (tcp_eat_one_skb)."""
    if i < 0 or conn.pushq is None:
        return
    skbs = conn.pushq.skbs
    if i + 1 >= len(skbs) or skbs[i][2] & MARK_EOR:
        return
    skb, nxt = skbs[i], skbs[i + 1]
    take = min(want - seq_diff(skb[1], seq), seq_diff(nxt[1], nxt[0]))
    if take <= 0:
        return
    skb[1] = nxt[0] = (skb[1] + take) & MASK
    if nxt[0] == nxt[1]:
        skb[2] |= nxt[2]
        del skbs[i + 1]


def sent(conn: Connection, i: int, seq: int, length: int) -> None:
    """A packet took `length` new bytes from `seq` (in skb `i`). When they are only the front
    of their skb, Linux's tso_fragment cuts it in two: PSH and the EOR mark go with the second
    part (which keeps the write queue's place), the first, now sent, has neither."""
    if i < 0 or conn.pushq is None:
        return
    skbs = conn.pushq.skbs
    skb = skbs[i]
    end = (seq + length) & MASK
    if not seq_gt(skb[1], end):
        return
    if seq_gt(seq, skb[0]):
        # Linux's send head always starts an skb; bytes before it were sent from this one
        # before the split was recorded.
        skbs.insert(i, [skb[0], seq, 0])
        i += 1
        skb[0] = seq
    skbs.insert(i + 1, [end, skb[1], skb[2]])
    skb[1] = end
    skb[2] = 0


def ends_record(conn: Connection, end: int) -> bool:
    """Whether a MSG_EOR record ends at `end`: nothing may be joined to it there (Linux
    tcp_skb_can_collapse_to)."""
    skb = skb_at(conn, (end - 1) & MASK)
    return skb is not None and skb[1] == end and bool(skb[2] & MARK_EOR)


def collapse(conn: Connection, seq: int, end: int) -> None:
    """Linux tcp_collapse_retrans, the write queue's side: the bytes [seq, end) of sent skbs
    become one skb, which takes the marks (PSH, EOR) of those it ate."""
    i = index(conn, seq)
    if i < 0 or conn.pushq is None:
        return
    skbs = conn.pushq.skbs
    skb = skbs[i]
    while i + 1 < len(skbs) and seq_gt(end, skb[1]):
        nxt = skbs.pop(i + 1)
        skb[1] = nxt[1]
        skb[2] |= nxt[2]


def left(conn: Connection, i: int, seq: int, unsent: int) -> tuple[int, bool]:
    """(bytes from `seq` to the end of its skb `i`, at most `unsent`; whether that end is marked
    PSH).

    A segment ends there at the latest: Linux sends one skb, or a piece of it, per packet.
    Bytes queued before any write was recorded here count as one unmarked skb.
    """
    if i < 0 or conn.pushq is None:
        return unsent, False
    skb = conn.pushq.skbs[i]
    n = seq_diff(skb[1], seq)
    return n if n < unsent else unsent, bool(skb[2] & MARK_PSH)


def skb_left(conn: Connection, seq: int, unsent: int) -> tuple[int, bool]:
    """`left` for the skb holding `seq`."""
    return left(conn, index(conn, seq), seq, unsent)
