"""How much of a write may be queued in one piece and pushed once, to the same packets and state
as Linux's skb-by-skb write.

tcp_sendmsg_locked fills one skb of `size_goal` bytes at a time (the first the rest of the
unsent tail skb) and pushes each as it is full (tcp_push_one, or __tcp_push_pending_frames on a
forced push); usercalls.send does the same, a transmit per skb. Where those pushes have nothing
to decide between them, the skbs that a write fills may be queued together and pushed once,
which sends the same packets in the same order, with the same skbs, marks and timers, at a
fraction of the cost (a 1 MiB write is 16 or 17 skbs, and a transmit costs as much as a
packet). At the write's `now`, with no TCP_NOTSENT_LOWAT (what leaves would decide the room)
and no local device drop, three cases are certain:

- cwnd is full: no push sends anything (tcp_cwnd_test), so the skbs are only queued, each new
  one while sk_wmem_queued is below sk_sndbuf;
- the receiver's window is shut (and cwnd is not): each push stops at tcp_snd_wnd_test after
  tcp_grow_skb, which must have nothing to do (the send head already as long as a packet);
- both windows take all of it, the quota staying above a packet's segments so that every
  packet has the same size: each skb, then the send head and the queue's tail, leaves whole.
  One transmit must then not let tcp_grow_skb join skbs (output.transmit's `grow`), which
  leaves the queue's tail alone; each new skb is made while sk_wmem_queued, counting the
  pieces each sent skb was cut into (tso_fragment), is below sk_sndbuf. Nothing must change
  cwnd as a push begins or ends (Open state, no restart after idle, tcp_cwnd_restart, no
  application-limited decay due, tcp_cwnd_application_limited), and the chronograph of
  sendlog.py must not be timing the receiver's window or a waiting writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..wire import tso
from . import pacing, pushmarks, sendlog, wmem
from .cc import CaState
from .pushmarks import MARK_EOR
from .seq import seq_diff
from .sockopts import options
from .states import State

if TYPE_CHECKING:
    from .connection import Connection

_PUSH_STATES = frozenset({State.ESTABLISHED, State.CLOSE_WAIT})
_SKB = wmem.SKB_TRUESIZE_EMPTY


def run_bytes(conn: Connection, n: int) -> int:
    """How many of a write's first `n` bytes may be queued together and pushed once: all `n`,
    or the unsent tail skb's room and whole skbs after it, or 0 (the write goes skb by skb)."""
    eng = conn.engine
    if eng.xmit_drop or conn.state not in _PUSH_STATES or wmem.notsent_lowat(conn) < wmem.NOTSENT_LOWAT_OFF:
        return 0
    goal = pushmarks.size_goal(conn)
    tail = pushmarks.tail_room(conn, goal)
    # sk_wmem_queued below sk_sndbuf for each new skb, after the tail skb is filled.
    free = wmem.sndbuf(conn) - wmem.queued(conn) - tail
    rec = conn.recovery
    cc = rec.cc
    quota = cc.cwnd - rec.board.in_flight
    if quota <= 0:
        return _queued_only(n, tail, free, goal)
    in_flight = seq_diff(conn.snd_nxt, conn.snd_una)
    mss = conn.mss
    if conn.snd_wnd <= in_flight:
        want = max(min(cc.cwnd >> 1 or 1, quota, pacing.tso_segs(conn)), 1) * mss
        unsent = wmem.notsent(conn)
        if unsent:
            head = pushmarks.skb_at(conn, conn.snd_nxt)
            if head is None:
                return 0
            eor = head[2] & MARK_EOR
            # The send head after this write: the tail skb filled to size_goal, or as it is.
            head_len = goal if tail and conn.pushq is not None and head is conn.pushq.skbs[-1] \
                else seq_diff(head[1], conn.snd_nxt)
            if want > head_len and not eor:
                return 0
        elif want > goal:
            return 0
        return _queued_only(n, tail, free, goal)
    return _sent_whole(conn, n, goal, tail, free, quota, conn.snd_wnd - in_flight)


def _queued_only(n: int, tail: int, free: int, goal: int) -> int:
    """No push sends or changes anything: the tail's room, then the skbs the memory allows."""
    skbs = (free - 1) // (goal + _SKB) + 1 if free > 0 else 0
    return min(n, tail + skbs * goal)


def _sent_whole(conn: Connection, n: int, goal: int, tail: int, free: int, quota: int, wnd: int) -> int:
    """Both windows open: the bytes of which each skb leaves whole when pushed."""
    eng = conn.engine
    rec = conn.recovery
    cc = rec.cc
    unsent = wmem.notsent(conn)
    # Nothing unsent, or only the tail skb, which this write fills: each skb starts at snd_nxt.
    if unsent and (not tail or unsent + tail != goal or options(conn).push):
        return 0
    if cc.ca_state != CaState.OPEN:
        return 0
    log = conn.sendlog
    if log is not None and (log.nospace or log.kind == sendlog.RWND_LIMITED):
        return 0
    now = eng.now
    if eng.knobs.tcp_slow_start_after_idle and (
            (conn.snd_nxt == conn.snd_una and now - cc.last_send > rec.rto) or cc.decay_due(now, rec.rto)):
        return 0
    mss = conn.mss
    # The segments of each packet while the quota is not the limit (output.transmit:
    # min(cwnd / 2, quota, max_segs), at most the device's TSO size), and the pieces
    # (tso_fragment) a pushed skb of size_goal bytes becomes.
    segs = min(cc.cwnd >> 1 or 1, pacing.tso_segs(conn)) or 1
    packet = min(segs * mss, eng.tso_max or tso.TSO_MAX) // mss * mss
    if not packet:
        return 0
    cuts = -(-goal // packet)
    sendable = min(wnd, (quota - segs) * mss) - unsent
    if unsent:
        free -= _SKB * (cuts - 1)  # the tail skb, pushed first, in pieces
    skbs = (free - 1) // (goal + _SKB * cuts) + 1 if free > 0 else 0
    if n <= sendable and n <= tail + skbs * goal:
        return n
    if sendable < tail:
        return 0
    return tail + min(skbs, (sendable - tail) // goal) * goal
