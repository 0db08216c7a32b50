"""RACK: loss detection by time (RFC 8985 section 6; Linux 6.12 tcp_recovery.c).

A packet is lost when a packet sent after it has been delivered (ACKed or SACKed) and it
has not been delivered within RACK.rtt plus a reordering window since it was sent. The
window is min_rtt/4 (tcp_rack_reo_wnd), widened in steps when D-SACKs show the losses
were reordering (tcp_rack_update_reo_wnd), and zero while no reordering has been seen
and the classic duplicate threshold is met or recovery is under way.

An owned part of `Recovery` (`recovery.rack`); the scoreboard feeds it the delivered
records (`advance`), recovery asks it which records are lost (`detect_loss`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .scoreboard import LOST, RETRANS, SACKED_ACKED, SACKED_RETRANS
from .seq import seq_gt

if TYPE_CHECKING:
    from .scoreboard import Scoreboard

# Linux TCP_RACK_RECOVERY_THRESH: recoveries a widened reordering window outlives.
RACK_RECOVERY_THRESH = 16
# Linux tcp_recovery bits (Documentation/networking/ip-sysctl.rst).
RACK_LOSS_DETECTION = 0x1
RACK_STATIC_REO_WND = 0x2
RACK_NO_DUPTHRESH = 0x4


def sent_after(t1: float, t2: float, order1: int, order2: int, seq1: int, seq2: int) -> bool:
    """Linux tcp_rack_sent_after: later by time, or at the same time later in sequence. Linux's
    stamps are nanoseconds, ours virtual time: at one instant the transmission order decides,
    then (parts of one packet) the sequence."""
    return t1 > t2 or (t1 == t2 and (order1 > order2 or (order1 == order2 and seq_gt(seq1, seq2))))


class Rack:
    __slots__ = ("advanced", "dsack_seen", "end_seq", "last_delivered", "min_rtt", "mstamp", "order",
                 "reo_wnd_persist", "reo_wnd_steps", "rtt")

    def __init__(self) -> None:
        self.mstamp: float | None = None  # send time of the most recently sent delivered packet
        self.end_seq = 0  # and its end
        self.order = 0  # and its transmission order (Record.order)
        self.rtt = 0.0  # the RTT of that packet (RACK.rtt)
        self.advanced = False  # mstamp moved: worth a look at the queue
        self.min_rtt = float("inf")  # kept by recovery (tcp_min_rtt)
        self.reo_wnd_steps = 1  # reordering window multiplier (tp->rack.reo_wnd_steps)
        self.reo_wnd_persist = 0  # recoveries to keep a widened window
        self.dsack_seen = False
        self.last_delivered = 0  # the delivered count when the window was last widened

    def advance(self, sacked: int, end: int, sent: float, order: int, now: float) -> None:
        """Linux 6.12 tcp_rack_advance (RFC 8985 section 6.2 step 2): a delivered packet. RACK.rtt
        is its RTT whatever its place; the send time it keeps is the most recent one."""
        rtt = now - sent
        # A resent packet delivered sooner than min_rtt after its retransmission: the original
        # was delivered (ambiguous), so it says nothing about time. Linux tests rtt < min_rtt
        # on a real path whose RTTs jitter; in virtual time a retransmission's RTT often equals
        # min_rtt exactly (to the microsecond, Linux's resolution), which is as ambiguous
        # (eor/no-coalesce-retrans.pkt needs it).
        if sacked & RETRANS and rtt < self.min_rtt + 1e-6:
            return
        self.advanced = True
        self.rtt = rtt
        if self.mstamp is None or sent_after(sent, self.mstamp, order, self.order, end, self.end_seq):
            self.mstamp = sent
            self.end_seq = end
            self.order = order

    def reo_wnd(self, reord_seen: int, in_recovery: bool, sacked_out: int, reordering: int,
                tcp_recovery: int, srtt: float) -> float:
        """Linux tcp_rack_reo_wnd (RFC 8985 section 6.2 step 4)."""
        if not reord_seen:
            # No reordering seen: be aggressive in recovery or once dupthresh is met.
            if in_recovery:
                return 0.0
            if sacked_out >= reordering and not tcp_recovery & RACK_NO_DUPTHRESH:
                return 0.0
        if self.min_rtt == float("inf"):
            return 0.0
        return min(self.min_rtt / 4 * self.reo_wnd_steps, srtt)

    def update_reo_wnd(self, prior_delivered: int, delivered: int, tcp_recovery: int) -> None:
        """Linux tcp_rack_update_reo_wnd (RFC 8985 section 6.2 step 4): one step wider per
        round trip with D-SACKs, back to one step after RACK_RECOVERY_THRESH recoveries.
        Round trips are counted by deliveries, as Linux's: `prior_delivered` is the delivered
        count when the newest packet this ACK delivered left (0: it delivered nothing),
        `delivered` the count now."""
        if tcp_recovery & RACK_STATIC_REO_WND or not prior_delivered:
            return
        if prior_delivered < self.last_delivered:
            self.dsack_seen = False  # sent before the last widening: no round trip since
        if self.dsack_seen:
            self.reo_wnd_steps = min(self.reo_wnd_steps + 1, 0xFF)
            self.dsack_seen = False
            self.last_delivered = delivered
            self.reo_wnd_persist = RACK_RECOVERY_THRESH
        elif not self.reo_wnd_persist:
            self.reo_wnd_steps = 1

    def detect_loss(self, board: Scoreboard, reo_wnd: float, now: float) -> tuple[float, int]:
        """Linux tcp_rack_detect_loss (RFC 8985 section 6.2 step 5): mark lost what was sent
        before the newest delivered packet and is overdue by RACK.rtt + reo_wnd, a
        retransmission too (lost again: its send time is the retransmission's). Returns the
        longest wait for the rest (0: none), and the segments of retransmissions found lost."""
        timeout = 0.0
        lost_retrans = 0
        if self.mstamp is None:
            return timeout, lost_retrans
        for rec in board.recs:
            sacked = rec.sacked
            if sacked & SACKED_ACKED:
                continue
            # Skip ones marked lost but not yet retransmitted.
            if sacked & LOST and not sacked & SACKED_RETRANS:
                continue
            if not sent_after(self.mstamp, rec.sent, self.order, rec.order, self.end_seq, rec.end):
                continue
            remaining = self.rtt + reo_wnd - (now - rec.sent)
            if remaining <= 0:
                lost_retrans += board.mark_lost(rec)
            else:
                timeout = max(timeout, remaining)
        return timeout, lost_retrans

    def skb_timeout(self, sent: float, reo_wnd: float, now: float) -> float:
        """Linux tcp_rack_skb_timeout: how long until a packet sent at `sent` is overdue."""
        return self.rtt + reo_wnd - (now - sent)
