"""What the send queue costs and when a writer may go on, as Linux counts it (sk_wmem_queued).

Linux charges each skb of the write and retransmission queues its truesize, not its payload:
the bytes it holds plus the fixed cost of an empty one (tcp_stream_alloc_skb: the sk_buff, its
shared info and its small head, SKB_TRUESIZE(skb_end_offset(skb))). The skbs are those of
pushmarks.py: one per size_goal of a write, one more each time a packet takes only the front of
one (tso_fragment), one less once all of it is acknowledged (tcp_clean_rtx_queue); a partial
acknowledgement trims only bytes (tcp_trim_head).

Three rules use the sum, `sk_wmem_queued`, against `sk_sndbuf`:
- tcp_sendmsg_locked makes a new skb only while sk_stream_memory_free (queued below sndbuf, and
  the unsent bytes below TCP_NOTSENT_LOWAT: tcp_stream_memory_free), and fills the unsent tail
  skb up to size_goal without that check;
- a writer that found no room sleeps in sk_stream_wait_memory until sk_stream_write_space wakes
  it (tcp_check_space -> tcp_new_space, after an ACK): only once the free space,
  sk_stream_wspace = sndbuf - queued, is at least sk_stream_min_wspace = queued / 2
  (__sk_stream_is_writeable), and, with wake set, twice the unsent bytes below the mark;
- tcp_poll reports POLLOUT on the same test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import pushmarks
from .seq import MASK, seq_diff
from .sockopts import options

if TYPE_CHECKING:
    from .connection import Connection

# The truesize of an skb holding no data, as Linux 6.18 on x86-64 charges it: a 1000-byte write
# on an idle connection shows `skmem:(...,w1832,...)` in `ss -tm` (sk_wmem_queued), 832 for the
# sk_buff, skb_shared_info and MAX_TCP_HEADER head that tcp_stream_alloc_skb allocates.
SKB_TRUESIZE_EMPTY = 832
NOTSENT_LOWAT_OFF = 0xFFFFFFFF  # tcp_notsent_lowat's default (UINT_MAX): no mark
# tcp_sndbuf_expand's sizes on x86-64 Linux 6.18: MAX_TCP_HEADER and skb_shared_info (192 + 320),
# and struct sk_buff (256). With tcp_wmem[1] at 4096 a new connection's sk_sndbuf is 46080
# (`ss -tm`: tb46080) for an MSS of 1000 and of 1460 alike: 2 * 10 * (2048 + 256).
SKB_HEAD_EXTRA = 512
SKB_STRUCT = 256
TCP_INIT_CWND = 10  # include/net/tcp.h


def sndbuf(conn: Connection) -> int:
    """sk_sndbuf: SO_SNDBUF (doubled by sock_setsockopt), else tcp_wmem[1] grown with cwnd as
    Linux's tcp_sndbuf_expand grows it, up to tcp_wmem[2]: room for twice max(TCP_INIT_CWND,
    cwnd) segments, each charged as a worst-case non-TSO skb (`per_mss`)."""
    cap = options(conn).sndbuf
    if cap is None:
        wmem = conn.engine.knobs.tcp_wmem
        segs = max(TCP_INIT_CWND, conn.recovery.cc.cwnd)
        cap = min(max(wmem[1], 2 * segs * per_mss(conn.mss)), wmem[2])
    return cap


def per_mss(mss: int) -> int:
    """Linux tcp_sndbuf_expand's per_mss: roundup_pow_of_two(mss + MAX_TCP_HEADER +
    SKB_DATA_ALIGN(sizeof(struct skb_shared_info))) + SKB_DATA_ALIGN(sizeof(struct sk_buff))."""
    head = mss + SKB_HEAD_EXTRA
    return (1 << (head - 1).bit_length()) + SKB_STRUCT


def queued(conn: Connection) -> int:
    """sk_wmem_queued: the bytes not yet acknowledged, plus an empty skb's truesize per skb."""
    return conn.send_queued + SKB_TRUESIZE_EMPTY * pushmarks.skb_count(conn)


def notsent_lowat(conn: Connection) -> int:
    """TCP_NOTSENT_LOWAT, else the sysctl tcp_notsent_lowat (Linux tcp_notsent_lowat)."""
    return options(conn).notsent_lowat or conn.engine.knobs.tcp_notsent_lowat


def notsent(conn: Connection) -> int:
    """Bytes written and not yet sent (Linux write_seq - snd_nxt, without the FIN)."""
    return max(seq_diff((conn.sndbuf_seq + conn.send_queued) & MASK, conn.snd_nxt), 0)


def memory_free(conn: Connection, wake: int = 0) -> bool:
    """Linux __sk_stream_memory_free(sk, wake): queued below sndbuf, and the unsent bytes
    (doubled when `wake`) below the mark (tcp_stream_memory_free)."""
    return queued(conn) < sndbuf(conn) and _below_lowat(conn, wake)


def _below_lowat(conn: Connection, wake: int) -> bool:
    """tcp_stream_memory_free's test: the unsent bytes (doubled when `wake`) below the mark."""
    lowat = notsent_lowat(conn)
    return lowat >= NOTSENT_LOWAT_OFF or notsent(conn) << wake < lowat


def writeable(conn: Connection) -> bool:
    """Linux __sk_stream_is_writeable(sk, 1): what wakes a waiting writer and makes POLLOUT
    (sk_stream_wspace at least sk_stream_min_wspace, and __sk_stream_memory_free(sk, 1))."""
    used = queued(conn)
    free = sndbuf(conn) - used
    return free >= used >> 1 and free > 0 and _below_lowat(conn, 1)


def copy_room(conn: Connection) -> int:
    """Bytes the next step of a write may copy (tcp_sendmsg_locked's loop): the room left in the
    unsent tail skb, else a new skb's size_goal when sk_stream_memory_free allows one, else 0."""
    goal = pushmarks.size_goal(conn)
    tail = pushmarks.tail_room(conn, goal)
    if tail > 0:
        return tail
    return goal if memory_free(conn) else 0
