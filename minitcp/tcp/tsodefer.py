"""Linux 6.12 tcp_tso_should_defer (tcp_output.c, John Heffner's "TSO Nagle"): hold back a
send head of more than one segment, which cwnd or the peer's window would cut short now, when
the next ACK will soon let a larger packet go instead.

A sender clocked by an ACK every other segment would otherwise answer each ACK with a packet
of the two or three segments that ACK freed, and draw an ACK for each of them; deferring lets
the room of a few ACKs go out as one packet. Linux asks it in tcp_write_xmit for every send
head skb of more than one segment (tso_segs > 1: Linux always has GSO, in software where the
device lacks it), but not for tcp_push_one's packet or a loss probe (push_one != 0); there is
no timer: the next ACK, or the next write, calls tcp_write_xmit again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cc import CaState

if TYPE_CHECKING:
    from .connection import Connection

# What `should_defer` decided; a deferral also says what held the packet back, which
# tcp_write_xmit's end takes as the windows' limit (is_cwnd_limited, is_rwnd_limited).
SEND = 0
DEFER = 1  # application-limited: the send head may still grow
DEFER_CWND = 2
DEFER_RWND = 3

# Linux tcp_tso_should_defer: defer only if the last transmission was at most 1 ms ago
# (tcp_clock_cache - tcp_wstamp_ns - NSEC_PER_MSEC > 0: send now).
RECENT_SEND = 0.001
# Linux tcp_max_tso_deferred_mss: with tcp_tso_win_divisor 0, never defer past room for more
# than 3 segments (the receiver ACKs every other full-sized one).
MAX_TSO_DEFERRED_MSS = 3


def should_defer(conn: Connection, seq: int, skb_len: int, tail: bool, closes: bool, max_segs: int) -> int:
    """Linux tcp_tso_should_defer for the send head skb of `skb_len` bytes at `seq` (more than
    one MSS, with room in cwnd for at least a segment): SEND, or why it waits. `tail`: it is
    the write queue's tail (more data may join it); `closes`: it carries the FIN or ends a
    MSG_EOR record (nothing will join it); `max_segs`: tcp_tso_segs' autosized segments."""
    rec = conn.recovery
    cc = rec.cc
    if cc.ca_state >= CaState.RECOVERY:
        return SEND
    eng = conn.engine
    now = eng.now
    # Avoid bursts: defer only right after a transmission (Linux: tcp_wstamp_ns, the last
    # packet's departure; here the last data sent, cc.last_send, tcp_event_data_sent's lsndtime:
    # a sender sends few pure ACKs).
    if now - cc.last_send > RECENT_SEND:
        return SEND
    mss = conn.mss
    board = rec.board
    # tcp_wnd_end - seq, and what cwnd leaves (cwnd > in flight, as tcp_cwnd_test found).
    send_win = (conn.snd_una + conn.snd_wnd - seq) & 0xFFFFFFFF
    cong_win = (cc.cwnd - board.in_flight) * mss
    limit = min(send_win, cong_win)
    # A full-sized TSO packet can go: send it.
    if limit >= max_segs * mss:
        return SEND
    # An skb in the middle of the queue gets no more data: all of it may go now.
    if not tail and limit >= skb_len:
        return SEND
    divisor = eng.knobs.tcp_tso_win_divisor
    if divisor:
        # At least 1/divisor of the window is available: use it.
        if limit >= min(conn.snd_wnd, cc.cwnd * mss) // divisor:
            return SEND
    elif limit > MAX_TSO_DEFERRED_MSS * mss:
        return SEND
    # The next ACK would come too late: the retransmission queue's head left less than half
    # an srtt ago (delta - srtt_us >> 4 < 0, srtt_us being srtt << 3), or nothing is in flight.
    head = board.head()
    if head is None or now - head.sent < (rec.srtt or 0.0) / 2:
        return SEND
    if cong_win < send_win:
        if cong_win <= skb_len:
            return DEFER_CWND
    elif send_win <= skb_len:
        return DEFER_RWND
    # This packet gets no more data: do not wait.
    if closes:
        return SEND
    return DEFER
