"""Proportional Rate Reduction (RFC 6937; Linux tcp_input.c tcp_cwnd_reduction).

During a window reduction (fast recovery, CWR) the sender may send in proportion to what the
receiver reports delivered, so that by the end of the episode cwnd has come down to ssthresh
smoothly rather than in one step; when in flight has fallen below ssthresh, Linux's
slow-start reduction bound (SSRB) lets it grow back towards ssthresh by at most what was
delivered plus one segment.

An owned part of `Recovery` (`recovery.prr`): it keeps RFC 6937's two counts; recovery
starts it with each reduction, tells it what left, and asks it for the window.
"""

from __future__ import annotations


class Prr:
    __slots__ = ("delivered", "out")

    def __init__(self) -> None:
        self.delivered = 0  # RFC 6937 prr_delivered: delivered since the reduction began
        self.out = 0  # RFC 6937 prr_out: sent since the reduction began

    def start(self) -> None:
        """A reduction begins (Linux tcp_init_cwnd_reduction)."""
        self.delivered = self.out = 0

    def sent(self, pkts: int) -> None:
        """`pkts` segments left during the reduction (new data or retransmissions)."""
        self.out += pkts

    def cwnd(self, ssthresh: int, prior_cwnd: int, in_flight: int, newly_acked_sacked: int,
             newly_lost: int, snd_una_advanced: bool) -> int:
        """Linux tcp_cwnd_reduction: the window after an ACK that delivered
        `newly_acked_sacked` segments (> 0) and found `newly_lost` lost."""
        delta = ssthresh - in_flight
        self.delivered += newly_acked_sacked
        if delta < 0:
            # RFC 6937 section 3: proportional to the delivery, down to ssthresh.
            dividend = ssthresh * self.delivered + prior_cwnd - 1
            sndcnt = dividend // prior_cwnd - self.out
        else:
            # The slow-start reduction bound: what was delivered, one more on a cumulative ACK
            # without new losses, but no further than ssthresh.
            sndcnt = max(self.delivered - self.out, newly_acked_sacked)
            if snd_una_advanced and not newly_lost:
                sndcnt += 1
            sndcnt = min(delta, sndcnt)
        # Force a fast retransmit upon entering fast recovery.
        sndcnt = max(sndcnt, 0 if self.out else 1)
        return in_flight + sndcnt
