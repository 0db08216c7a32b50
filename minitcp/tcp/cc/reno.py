"""Reno (Linux tcp_cong.c `tcp_reno_*`, RFC 5681): slow start, one segment per window in
congestion avoidance, half the window after a loss."""

from __future__ import annotations

from .base import CongestionControl


class Reno(CongestionControl):
    __slots__ = ()

    name = "reno"

    def cong_avoid(self, acked: int, now: float, cwnd_limited: bool) -> None:
        """Linux tcp_reno_cong_avoid."""
        if not cwnd_limited:
            return
        if self.in_slow_start:  # the "safe" area: grow by what was ACKed
            acked = self.slow_start(acked)
            if not acked:
                return
        self.cong_avoid_ai(self.cwnd, acked)  # the "dangerous" area: grow slowly

    def ssthresh_on_loss(self) -> int:
        """Linux tcp_reno_ssthresh (RFC 5681 eq. 4, of cwnd rather than FlightSize)."""
        return max(self.cwnd >> 1, 2)
