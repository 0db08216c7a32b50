"""Round-trip time estimation and the retransmission timeout (RFC 6298).

Linux floors the variance term at rto_min instead of flooring the RTO
(tcp_input.c tcp_rtt_estimator / tcp_set_rto), so on a fast link the RTO is
srtt + 200 ms rather than exactly 200 ms; we follow Linux.
"""

from __future__ import annotations

from .knobs import Knobs


class RttEstimator:
    __slots__ = ("backoff", "rto", "rttvar", "srtt")

    def __init__(self, knobs: Knobs) -> None:
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = knobs.tcp_rto_initial  # RFC 6298 section 2.1
        self.backoff = 0

    def sample(self, r: float, knobs: Knobs) -> None:
        """Fold in one measurement (RFC 6298 sections 2.2 and 2.3, alpha 1/8, beta 1/4)."""
        r = max(r, 0.0)
        if self.srtt is None:
            self.srtt = r
            self.rttvar = r / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        self.backoff = 0
        self.rto = min(self.srtt + max(4 * self.rttvar, knobs.tcp_rto_min), knobs.tcp_rto_max)

    def back_off(self, knobs: Knobs) -> None:
        """Double the timer after an expiry (RFC 6298 section 5.5), capped at rto_max."""
        self.backoff += 1
        self.rto = min(self.rto * 2, knobs.tcp_rto_max)

    @property
    def srtt_or_zero(self) -> float:
        return self.srtt or 0.0
