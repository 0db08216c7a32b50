"""When each packet of new data left, for the RTT of the newest segment an ACK covers.

Linux stamps every skb with its transmit time and, on each ACK, hands the congestion control
the RTT of the last segment it acknowledged (tcp_clean_rtx_queue's ca_rtt_us, from
last_ackt, including an skb acknowledged only in part), unless the ACK covered retransmitted
data (FLAG_RETRANS_DATA_ACKED: Karn's ambiguity). CUBIC's HyStart (cc/cubic.py) reads one
such sample per ACK; the RFC 6298 estimate (recovery.py) times one segment per round trip.

minitcp resends only from snd_una onwards (the head, or everything after a timeout), so what
was retransmitted is always the stretch from snd_una up to `resent_end`.
"""

from __future__ import annotations

from collections import deque

from .seq import seq_gt, seq_le, seq_lt


class SendTimes:
    __slots__ = ("packets", "resent_end")

    def __init__(self) -> None:
        self.packets: deque[tuple[int, float]] = deque()  # (end sequence number, time sent)
        self.resent_end: int | None = None  # end of the retransmitted stretch, None if none

    def sent(self, end: int, now: float) -> None:
        """New data (or a FIN) up to `end` left at `now`."""
        self.packets.append((end, now))

    def resent(self, end: int) -> None:
        """Data from snd_una up to `end` was sent again."""
        if self.resent_end is None or seq_gt(end, self.resent_end):
            self.resent_end = end

    def acked(self, snd_una: int, ack: int, now: float) -> float | None:
        """The ACK moved snd_una to `ack`: the RTT of the newest segment it covers, or None
        when it covered retransmitted data."""
        packets = self.packets
        sent_at = None
        start = snd_una
        while packets and seq_le(packets[0][0], ack):
            start, sent_at = packets.popleft()
        if packets and seq_gt(ack, start):
            # It ends inside the next packet, a TSO packet acknowledged in part: Linux trims
            # the skb (tcp_tso_acked) and takes its time.
            sent_at = packets[0][1]
        resent = self.resent_end
        if resent is not None:
            if seq_le(resent, ack):
                self.resent_end = None
            if seq_lt(snd_una, resent):
                return None  # Karn: it acknowledged data that was sent twice
        return None if sent_at is None else now - sent_at
