"""Loss recovery: noticing that a segment was lost, deciding what to resend and when.

Today that is the retransmission timeout from the RTT estimate (RFC 6298, with
Karn's rule: one segment timed at a time, none that was resent), RFC 5681 fast
retransmit on the third duplicate ACK and RFC 6582 NewReno fast recovery
(partial ACKs resend the next hole, `recover` marks the end), plus the count of
retransmissions the timers' give-up limits read. The congestion window is the
owned `cc` part (`cc.CongestionControl`, in segments), which this part tells
when a reduction starts (ca_ops->ssthresh) and the congestion state changes
(ca_ops->set_state), and asks to grow on ACKs outside a reduction
(ca_ops->cong_avoid). Like aioquic's QuicPacketRecovery, the RTT estimate lives
here, with the losses it times.

Linux floors the variance term at rto_min instead of flooring the RTO
(tcp_input.c tcp_rtt_estimator / tcp_set_rto), so on a fast link the RTO is
srtt + 200 ms rather than exactly 200 ms; we follow Linux.

An owned part of `Connection` (`conn.recovery`), fed what the ACK processing
sees and answering what to do: `on_ack` (new data acknowledged), `on_dupack`,
`on_rto`. This is where the coming loss-recovery work slots in: a SACK
scoreboard (RFC 6675) beside `dupacks`, RACK-TLP (RFC 8985) timers, PRR (RFC
6937) for the window during recovery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cc import CaState, CongestionControl
from .seq import seq_ge, seq_gt

if TYPE_CHECKING:
    from .knobs import Knobs


class Recovery:
    __slots__ = ("backoff", "cc", "cwr_end", "dupacks", "in_recovery", "min_rtt", "recover", "retransmits",
                 "rto", "rtt_seq", "rtt_time", "rttvar", "srtt")

    def __init__(self, cc: CongestionControl, iss: int, knobs: Knobs) -> None:
        self.cc = cc
        # The RTT estimate (RFC 6298 section 2) and the timeout from it, doubled per expiry.
        self.srtt: float | None = None
        self.rttvar = 0.0
        # The smallest sample, for TCP_INFO's min_rtt (Linux keeps a windowed minimum over
        # tcp_min_rtt_wlen, 300 s, in tcp_update_rtt_min; here over the whole connection).
        self.min_rtt: float | None = None
        self.rto = knobs.tcp_rto_initial  # RFC 6298 section 2.1
        self.backoff = 0
        # The segment being timed: the ACK beyond rtt_seq gives a sample of now - rtt_time
        # (None when no segment is timed).
        self.rtt_seq = 0
        self.rtt_time: float | None = None
        self.dupacks = 0
        self.in_recovery = False
        self.recover = iss  # RFC 6582 section 3.2 step 1: "recover" starts at the ISS
        self.cwr_end = iss  # the highest sequence sent when an ECE reduced the window (Linux high_seq)
        # Retransmissions of the segment at snd_una since it was last acknowledged: the timers'
        # give-up limits count these (Linux icsk_retransmits).
        self.retransmits = 0

    # ------------------------------------------------------------------ the RTT estimate

    def sample_rtt(self, r: float, knobs: Knobs) -> None:
        """Fold in one measurement (RFC 6298 sections 2.2 and 2.3, alpha 1/8, beta 1/4)."""
        r = max(r, 0.0)
        if self.min_rtt is None or r < self.min_rtt:
            self.min_rtt = r
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

    # ------------------------------------------------------------------ losses

    def on_ack(self, acked: int, ack: int, in_flight: int, now: float,
               ece_snd_max: int | None = None) -> bool:
        """New data acknowledged: `acked` segments, `in_flight` segments still out after it;
        `ece_snd_max`: the ACK carried ECE (ECN), and this is the highest sequence sent.
        Returns True for a partial ACK in recovery (resend the next hole)."""
        self.dupacks = 0
        cc = self.cc
        if self.in_recovery:
            if seq_ge(ack, self.recover):
                # RFC 6582 section 3.2 step 3, "full acknowledgment": deflate the window to
                # ssthresh, or to what is in flight plus one if that is less.
                cc.cwnd = max(min(cc.ssthresh, in_flight + 1), 1)
                self.in_recovery = False
                cc.set_ca_state(CaState.OPEN, now)
                return False
            # RFC 6582 section 3.2 step 4: deflate by the amount acked, add back one segment.
            cc.cwnd = max(cc.cwnd - acked + 1, 1)
            return True
        state = cc.ca_state
        if state == CaState.CWR and seq_gt(ack, self.cwr_end):
            # Linux tcp_fastretrans_alert: CWR holds until data above high_seq is ACKed (so the
            # CWR flag reached the receiver), then tcp_end_cwnd_reduction sets cwnd to ssthresh.
            cc.cwnd = cc.ssthresh
            cc.set_ca_state(CaState.OPEN, now)
        elif state == CaState.DISORDER or (state == CaState.LOSS and seq_ge(ack, self.recover)):
            # Linux tcp_fastretrans_alert / tcp_process_loss: Loss ends once what was sent
            # before the timeout is acknowledged (high_seq, our `recover`).
            cc.set_ca_state(CaState.OPEN, now)
        if ece_snd_max is not None:
            self.enter_cwr(ece_snd_max, now)
        if cc.ca_state == CaState.CWR:
            return False  # Linux tcp_cong_control: a window being reduced does not grow
        # Linux tcp_cong_control: outside a reduction the algorithm grows the window.
        cc.cong_avoid(acked, now, cc.cwnd_limited())
        return False

    def enter_cwr(self, snd_max: int, now: float) -> None:
        """An ECE (RFC 3168 section 6.1.2; Linux tcp_try_to_open -> tcp_enter_cwr): reduce once
        per window, from Open or Disorder only (never during recovery or after a timeout).

        Linux then brings cwnd down to ssthresh gradually with PRR (tcp_cwnd_reduction), in
        recovery's part; here the reduction is RFC 3168's, at once, and the window stays there
        until the CWR state ends."""
        cc = self.cc
        if cc.ca_state >= CaState.CWR:
            return
        # Linux tcp_init_cwnd_reduction: prior_cwnd for undo, ssthresh from the algorithm.
        cc.prior_cwnd = cc.cwnd
        cc.cwnd_cnt = 0
        cc.ssthresh = cc.ssthresh_on_loss()
        cc.cwnd = max(min(cc.cwnd, cc.ssthresh), 1)
        self.cwr_end = snd_max
        cc.set_ca_state(CaState.CWR, now)

    def on_dupack(self, snd_max: int, threshold: int, now: float, ece: bool = False) -> bool:
        """A duplicate ACK (`ece`: carrying ECE). Returns True when it is time to fast-retransmit."""
        self.dupacks += 1
        cc = self.cc
        if self.in_recovery:
            cc.cwnd += 1  # RFC 6582 section 3.2 step 3: inflate by the segment that left
            return False
        if self.dupacks == threshold and seq_gt(snd_max, self.recover):
            # RFC 6582 section 3.2 step 2 (only for a loss beyond the last recovery), with the
            # threshold from the algorithm (Linux tcp_enter_recovery: unless an ECE already
            # reduced it, tcp_init_cwnd_reduction keeps prior_cwnd for undo and takes
            # ca_ops->ssthresh), then inflated by the duplicate ACKs.
            if cc.ca_state < CaState.CWR:
                cc.prior_cwnd = cc.cwnd
                cc.ssthresh = cc.ssthresh_on_loss()
            cc.cwnd = cc.ssthresh + threshold
            cc.set_ca_state(CaState.RECOVERY, now)
            self.in_recovery = True
            self.recover = snd_max
            return True
        if ece:
            self.enter_cwr(snd_max, now)  # Linux tcp_try_to_open
        if cc.ca_state == CaState.OPEN:
            cc.set_ca_state(CaState.DISORDER, now)  # Linux tcp_try_keep_open
        return False

    def on_rto(self, snd_una: int, snd_max: int, now: float) -> None:
        """A retransmission timeout on data (Linux tcp_enter_loss; RFC 5681 section 3.1 and
        RFC 6582 section 4 `recover`)."""
        cc = self.cc
        high_seq = self.cwr_end if cc.ca_state == CaState.CWR else self.recover
        if cc.ca_state <= CaState.DISORDER or snd_una == high_seq \
                or (cc.ca_state == CaState.LOSS and not self.retransmits):
            # A new loss episode, not another backoff of the same one: reduce once.
            cc.prior_cwnd = cc.cwnd
            cc.ssthresh = cc.ssthresh_on_loss()
        cc.cwnd = 1  # the loss window (tcp_enter_loss: packets in flight, none, plus one)
        cc.cwnd_cnt = 0
        cc.set_ca_state(CaState.LOSS, now)
        self.dupacks = 0
        self.in_recovery = False
        self.recover = snd_max
