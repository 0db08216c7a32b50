"""Loss recovery: noticing that a segment was lost and deciding what to resend.

Today that is RFC 5681 fast retransmit on the third duplicate ACK and RFC 6582
NewReno fast recovery (partial ACKs resend the next hole, `recover` marks the
end), plus the count of retransmissions the timers' give-up limits read. The
congestion window's arithmetic is the owned `cc` part (`congestion.NewReno`).

An owned part of `Connection` (`conn.recovery`), fed what the ACK processing
sees and answering what to do: `on_ack` (new data acknowledged), `on_dupack`,
`on_rto`. This is where the coming loss-recovery work slots in: a SACK
scoreboard (RFC 6675) beside `dupacks`, RACK-TLP (RFC 8985) timers, PRR (RFC
6937) for the window during recovery, CUBIC (RFC 9438) as another `cc`.
"""

from __future__ import annotations

from .congestion import NewReno
from .seq import seq_ge, seq_gt


class Recovery:
    __slots__ = ("cc", "dupacks", "in_recovery", "recover", "retransmits")

    def __init__(self, cc: NewReno, iss: int) -> None:
        self.cc = cc
        self.dupacks = 0
        self.in_recovery = False
        self.recover = iss  # RFC 6582 section 3.2 step 1: "recover" starts at the ISS
        # Retransmissions of the segment at snd_una since it was last acknowledged: the timers'
        # give-up limits count these (Linux icsk_retransmits).
        self.retransmits = 0

    def on_ack(self, acked: int, ack: int, flight_before: int, mss: int) -> bool:
        """New data acknowledged. Returns True for a partial ACK in recovery (resend the next hole)."""
        self.dupacks = 0
        if self.in_recovery:
            if seq_ge(ack, self.recover):
                self.cc.full_ack(acked, flight_before, mss)
                self.in_recovery = False
                return False
            self.cc.partial_ack(acked, mss)
            return True
        self.cc.on_ack(acked, mss)
        return False

    def on_dupack(self, flight: int, snd_max: int, mss: int, threshold: int) -> bool:
        """A duplicate ACK. Returns True when it is time to fast-retransmit."""
        self.dupacks += 1
        if self.in_recovery:
            self.cc.inflate(mss)
            return False
        if self.dupacks == threshold and seq_gt(snd_max, self.recover):
            # RFC 6582 section 3.2 step 2: only when the loss is beyond the last recovery.
            self.cc.enter_recovery(flight, mss, threshold)
            self.in_recovery = True
            self.recover = snd_max
            return True
        return False

    def on_rto(self, flight: int, snd_max: int, mss: int) -> None:
        """A retransmission timeout on data (RFC 5681 section 3.1; RFC 6582 section 4 `recover`)."""
        self.cc.on_timeout(flight, mss)
        self.dupacks = 0
        self.in_recovery = False
        self.recover = snd_max
