"""The delayed-ACK policy: when an ACK we owe goes at once and when it waits (Linux's
inet_connection_sock icsk_ack, tcp_event_data_recv, __tcp_ack_snd_check,
tcp_send_delayed_ack, tcp_delack_timer_handler, tcp_cleanup_rbuf).

RFC 1122 section 4.2.3.2 and RFC 9293 section 3.8.6.3 allow an ACK to wait
(at most 500 ms), and RFC 5681 section 4.2 asks for one at least every second
full segment. Linux adds an adaptive delay (`ato`, the ACK timeout estimated
from the gaps between arriving segments), quick-ACK mode (the first segments
of a connection, or after a pause, are ACKed at once so that slow start is not
held back) and ping-pong mode (an interactive flow, whose ACKs ride on the
replies).

An owned part of `Connection`: it keeps its own state and decides; the
connection sends the ACK and runs the DELACK timer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .knobs import HZ

if TYPE_CHECKING:
    from .knobs import Knobs

# One jiffy. An ACK owed while ato is still 0 (no data has come: Linux inet_csk_delack_init
# zeroes icsk_ack, and only tcp_event_data_recv sets ato) is timed for `jiffies + 0` by
# tcp_send_delayed_ack, so the timer wheel runs it at the next tick: within 1/HZ, 4 ms at
# HZ=250 (measured on a 6.18 kernel: a bare FIN on a connection without data is ACKed 0-4 ms
# later, 40-44 ms once data came). minitcp takes the whole tick.
_TICK = 1 / HZ


class DelayedAck:
    __slots__ = ("at_once", "ato", "lrcvtime", "pending", "pingpong", "pushed", "quick")

    def __init__(self, now: float) -> None:
        self.pending = False  # we owe the peer an ACK (Linux ICSK_ACK_SCHED)
        self.at_once = False  # ... and it may not wait (ICSK_ACK_NOW)
        self.pushed = 0  # small segments since our last ACK, up to 2 (ICSK_ACK_PUSHED/PUSHED2)
        self.quick = 0  # segments still to ACK at once (quick-ACK mode, icsk_ack.quick)
        self.ato = 0.0  # the delayed-ACK timeout; 0 until the first data
        self.pingpong = False  # an interactive flow: ACKs wait for the reply
        self.lrcvtime = now  # when data last came in

    def owe_at_once(self) -> None:
        """An ACK is due now (out-of-order data, a duplicate, a hole filled: RFC 5681 section 4.2)."""
        self.pending = self.at_once = True

    def sent(self) -> None:
        """A segment carried our ACK (Linux tcp_event_ack_sent -> inet_csk_clear_xmit_timer)."""
        if self.pending:
            self.pending = False
            if self.quick:
                self.quick -= 1
        self.at_once = False
        self.pushed = 0

    @property
    def in_quickack_mode(self) -> bool:
        """Linux tcp_in_quickack_mode: quick ACKs left and not an interactive flow."""
        return bool(self.quick) and not self.pingpong

    def delay(self, knobs: Knobs, srtt: float | None) -> float:
        """How long a pending ACK may wait (Linux tcp_send_delayed_ack): ato, at least
        tcp_delack_min, at most tcp_delack_max and (once known) the RTT; one tick while
        ato is 0 (a FIN on a connection that has received no data)."""
        if not self.ato:
            return _TICK
        ato = max(self.ato, knobs.tcp_delack_min)
        max_ato = knobs.tcp_delack_max
        if srtt is not None:
            max_ato = min(max_ato, max(srtt, knobs.tcp_delack_min))
        return min(ato, max_ato)

    def on_data(self, small: bool, now: float, knobs: Knobs, rto: float) -> bool:
        """In-order data arrived (Linux tcp_event_data_recv): the ATO estimate. True when the
        connection should enter quick-ACK mode (the first data, or data after a pause longer
        than the RTO), which needs its window (see enter_quickack).

        `small`: shorter than the segments seen so far, so the sender pushed what it had.
        """
        if small:
            self.pushed = min(self.pushed + 1, 2)
        ato = self.ato
        quickack = False
        if ato == 0:
            quickack = True
        else:
            m = now - self.lrcvtime
            if m <= knobs.tcp_delack_min / 2:
                self.ato = ato / 2 + knobs.tcp_delack_min / 2
            elif m < ato:
                self.ato = min(ato / 2 + m, rto)
            elif m > rto:
                quickack = True
        self.lrcvtime = now
        return quickack

    def enter_quickack(self, quickacks: int, knobs: Knobs) -> None:
        """Linux tcp_incr_quickack: ACK the next `quickacks` segments at once (at most
        tcp_max_quickacks; the caller gives rcv_wnd / 2 MSS, 2..16) and reset ATO."""
        self.quick = max(self.quick, min(quickacks, knobs.tcp_max_quickacks))
        self.ato = knobs.tcp_delack_min

    def data_sent(self, now: float) -> None:
        """Linux tcp_event_data_sent: a reply soon after a request means an interactive flow."""
        if now - self.lrcvtime < self.ato:
            self.pingpong = True

    def on_timer(self, knobs: Knobs, rto: float) -> bool:
        """The DELACK timer fired (Linux tcp_delack_timer_handler); whether to send the ACK now."""
        if not self.pending:
            return False
        if self.pingpong:
            # The reply we waited for did not come: leave ping-pong mode, deflate ATO.
            self.pingpong = False
            self.ato = knobs.tcp_delack_min
        else:
            self.ato = min(self.ato * 2, rto)
        return True

    def drained_small(self, queue_empty: bool) -> bool:
        """After a read emptied the queue, a pending ACK for small segments goes now rather than
        at the timer: for one (not in ping-pong mode, where the reply will carry it) or for two
        (Linux tcp_cleanup_rbuf, ICSK_ACK_PUSHED and ICSK_ACK_PUSHED2)."""
        return queue_empty and (self.pushed >= 2 or (self.pushed == 1 and not self.pingpong))
