"""NewReno congestion control: RFC 5681 slow start and congestion avoidance,
RFC 6582 fast recovery, RFC 6928 initial window. All amounts in bytes.
"""

from __future__ import annotations

from .seq import seq_ge, seq_gt


class NewReno:
    __slots__ = ("cwnd", "dupacks", "in_recovery", "last_send", "recover", "ssthresh")

    def __init__(self, mss: int, init_cwnd_segments: int) -> None:
        self.cwnd = init_cwnd_segments * mss  # RFC 6928 section 2
        self.ssthresh = 0x7FFFFFFF  # RFC 5681 section 3.1: "arbitrarily high"
        self.dupacks = 0
        self.in_recovery = False
        self.recover = 0
        self.last_send = 0.0

    def on_ack(self, acked: int, ack: int, flight_before: int, mss: int) -> bool:
        """New data acknowledged. Returns True for a partial ACK in recovery (resend the next hole)."""
        self.dupacks = 0
        if self.in_recovery:
            if seq_ge(ack, self.recover):
                # Full ACK, RFC 6582 section 3.2 step 3: deflate the window.
                self.cwnd = max(min(self.ssthresh, flight_before - acked + mss), mss)
                self.in_recovery = False
                return False
            # Partial ACK, RFC 6582 section 3.2 step 4: deflate by the amount acked, add back one MSS.
            self.cwnd = max(self.cwnd - acked + mss, mss)
            return True
        if self.cwnd < self.ssthresh:
            # Slow start counts the bytes acknowledged (RFC 3465), up to ssthresh and without an
            # L limit, as Linux's tcp_slow_start: one ACK for a 64 KB super-segment (GRO, delayed
            # ACKs) must grow the window as much as 44 ACKs of one segment would.
            grown = min(self.cwnd + acked, self.ssthresh)
            acked -= grown - self.cwnd
            self.cwnd = grown
            if acked <= 0:
                return False
        # Congestion avoidance: one MSS per window of bytes acknowledged (RFC 5681 eq. (3) by
        # bytes, RFC 3465 section 2.1; Linux tcp_cong_avoid_ai).
        self.cwnd += max(mss * acked // self.cwnd, 1)
        return False

    def on_dupack(self, flight: int, snd_max: int, mss: int, threshold: int) -> bool:
        """A duplicate ACK. Returns True when it is time to fast-retransmit."""
        self.dupacks += 1
        if self.in_recovery:
            self.cwnd += mss  # RFC 6582 section 3.2 step 3 (inflation)
            return False
        if self.dupacks == threshold and seq_gt(snd_max, self.recover):
            # RFC 6582 section 3.2 step 2 / RFC 5681 eq. (4).
            self.ssthresh = max(flight // 2, 2 * mss)
            self.cwnd = self.ssthresh + threshold * mss
            self.in_recovery = True
            self.recover = snd_max
            return True
        return False

    def on_timeout(self, flight: int, snd_max: int, mss: int) -> None:
        """RFC 5681 section 3.1 eq. (4) and loss window of one segment; RFC 6582 section 4 `recover`."""
        self.ssthresh = max(flight // 2, 2 * mss)
        self.cwnd = mss
        self.dupacks = 0
        self.in_recovery = False
        self.recover = snd_max

    def restart_after_idle(self, now: float, rto: float, mss: int, init_segments: int) -> None:
        """RFC 5681 section 4.1: after an idle RTO, start again from the restart window."""
        if now - self.last_send > rto:
            self.cwnd = min(self.cwnd, init_segments * mss)
