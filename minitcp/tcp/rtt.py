"""The receiver's round-trip time estimate, for receive-buffer autotuning (the sender's,
for the retransmission timeout, is `recovery.Recovery`'s)."""

from __future__ import annotations

from .seq import MASK, seq_lt


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
