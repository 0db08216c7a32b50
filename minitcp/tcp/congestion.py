"""NewReno's congestion window: RFC 5681 slow start and congestion avoidance, the window
changes of RFC 6582 fast recovery, RFC 6928 initial window. All amounts in bytes.

Only the arithmetic of the window lives here; when a loss is detected and recovery ends is
`recovery.Recovery`'s business, which tells this part what happened. A different congestion
control (CUBIC, RFC 9438) would replace this class behind the same calls.
"""

from __future__ import annotations


class NewReno:
    __slots__ = ("cwnd", "last_send", "ssthresh")

    def __init__(self, mss: int, init_cwnd_segments: int) -> None:
        self.cwnd = init_cwnd_segments * mss  # RFC 6928 section 2
        self.ssthresh = 0x7FFFFFFF  # RFC 5681 section 3.1: "arbitrarily high"
        self.last_send = 0.0

    def on_ack(self, acked: int, mss: int) -> None:
        """New data acknowledged outside recovery: grow the window."""
        if self.cwnd < self.ssthresh:
            # Slow start counts the bytes acknowledged (RFC 3465), up to ssthresh and without an
            # L limit, as Linux's tcp_slow_start: one ACK for a 64 KB super-segment (GRO, delayed
            # ACKs) must grow the window as much as 44 ACKs of one segment would.
            grown = min(self.cwnd + acked, self.ssthresh)
            acked -= grown - self.cwnd
            self.cwnd = grown
            if acked <= 0:
                return
        # Congestion avoidance: one MSS per window of bytes acknowledged (RFC 5681 eq. (3) by
        # bytes, RFC 3465 section 2.1; Linux tcp_cong_avoid_ai).
        self.cwnd += max(mss * acked // self.cwnd, 1)

    def enter_recovery(self, flight: int, mss: int, threshold: int) -> None:
        """Fast retransmit (RFC 6582 section 3.2 step 2 / RFC 5681 eq. (4)): halve, then inflate
        by the segments the duplicate ACKs say have left the network."""
        self.ssthresh = max(flight // 2, 2 * mss)
        self.cwnd = self.ssthresh + threshold * mss

    def inflate(self, mss: int) -> None:
        """Another duplicate ACK in recovery (RFC 6582 section 3.2 step 3)."""
        self.cwnd += mss

    def partial_ack(self, acked: int, mss: int) -> None:
        """RFC 6582 section 3.2 step 4: deflate by the amount acked, add back one MSS."""
        self.cwnd = max(self.cwnd - acked + mss, mss)

    def full_ack(self, acked: int, flight_before: int, mss: int) -> None:
        """Recovery ends (RFC 6582 section 3.2 step 3, "full acknowledgment"): deflate the window."""
        self.cwnd = max(min(self.ssthresh, flight_before - acked + mss), mss)

    def on_timeout(self, flight: int, mss: int) -> None:
        """RFC 5681 section 3.1 eq. (4) and loss window of one segment."""
        self.ssthresh = max(flight // 2, 2 * mss)
        self.cwnd = mss

    def restart_after_idle(self, now: float, rto: float, mss: int, init_segments: int) -> None:
        """RFC 5681 section 4.1: after an idle RTO, start again from the restart window."""
        if now - self.last_send > rto:
            self.cwnd = min(self.cwnd, init_segments * mss)
