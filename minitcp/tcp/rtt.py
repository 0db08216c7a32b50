"""Round-trip time estimation: the sender's, for the retransmission timeout (RFC 6298),
and the receiver's, for receive-buffer autotuning.

Linux floors the variance term at rto_min instead of flooring the RTO
(tcp_input.c tcp_rtt_estimator / tcp_set_rto), so on a fast link the RTO is
srtt + 200 ms rather than exactly 200 ms; we follow Linux.
"""

from __future__ import annotations

from .knobs import Knobs
from .seq import MASK, seq_lt


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


class RcvRtt:
    """The receiver's RTT estimate (Linux tp->rcv_rtt_est; Dynamic Right-Sizing, Feng and Fisk).

    A receiver that sends no data cannot time its own segments, so it times the peer's
    windows: how long until one window's worth more has arrived (an upper bound, so only
    smaller samples are taken), and with timestamps the echo of its own clock.
    """

    __slots__ = ("last_tsecr", "rtt", "seq", "time")

    def __init__(self) -> None:
        self.rtt = 0.0  # seconds; 0 until the first sample
        self.seq = 0  # the window measurement ends when rcv_nxt reaches this
        self.time: float | None = None  # when that measurement started
        self.last_tsecr = 0

    def update(self, sample: float, win_dep: bool) -> None:
        """Linux tcp_rcv_rtt_update: a per-window sample only ever lowers the estimate (it
        overstates the RTT whenever the sender is not window-limited); a timestamp sample
        is averaged in with gain 1/8."""
        if self.rtt == 0.0:
            self.rtt = sample
        elif win_dep:
            if sample < self.rtt:
                self.rtt = sample
        else:
            self.rtt += (sample - self.rtt) / 8

    def measure(self, rcv_nxt: int, rcv_wnd: int, now: float) -> None:
        """Linux tcp_rcv_rtt_measure, on in-order data: the time for one advertised window."""
        if self.time is not None:
            if seq_lt(rcv_nxt, self.seq):
                return
            self.update(max(now - self.time, 1e-6), True)  # at least 1 us, as Linux
        self.seq = (rcv_nxt + rcv_wnd) & MASK
        self.time = now

    def measure_ts(self, tsecr: int, ts_now: int, seg_len: int, rcv_mss: int) -> None:
        """Linux tcp_rcv_rtt_measure_ts: one sample per new echoed timestamp, from a full-sized
        segment. Our timestamp clock ticks in ms; a 0 ms difference is no sample (6.12.y, Linux
        commit d59fc95be9d0 "tcp: remove zero TCP TS samples for autotuning"), which leaves a
        sub-millisecond path to the per-window samples."""
        if tsecr == self.last_tsecr:
            return
        self.last_tsecr = tsecr
        if seg_len >= rcv_mss:
            delta = (ts_now - tsecr) & MASK
            if 0 < delta < 0x7FFFFFFF // 1000:  # tcp_rtt_tsopt_us: else a bogus echo
                self.update(delta / 1000, False)
