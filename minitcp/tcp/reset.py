"""The reply to a segment that reaches no connection: what a closed port says.

RFC 9293 section 3.10.7.1 (segment arrives, state CLOSED), as Linux does it in
`tcp_v4_send_reset` (net/ipv4/tcp_ipv4.c).
"""

from __future__ import annotations

from minitcp.tcp.family import segment_class
from minitcp.wire.segment import ACK, RST, Segment

_SEQ_MOD = 1 << 32
_ECN_MASK = 0x03


def reset_for(seg: Segment) -> Segment | None:
    """The RST answering `seg`, or None when nothing may be sent.

    - An incoming RST is never answered (RFC 9293 section 3.10.7.1: "an
      incoming segment containing a RST is discarded"), so two stacks can
      never trade resets forever.
    - If it carries ACK, the reset takes its sequence number from that ACK, so
      the sender will find it in window: `<SEQ=SEG.ACK><CTL=RST>`.
    - Otherwise the reset acknowledges everything the segment occupied:
      `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`, SEG.LEN counting SYN and FIN.

    The reply goes back the way it came (addresses and ports swapped), with
    window 0 and no options. Like Linux, it copies the TOS byte less its ECN
    bits (a reset is not ECN-capable), sets DF and uses IP ID 0 and TTL 64.
    """
    if seg.flags & RST:
        return None
    if seg.flags & ACK:
        seq, ack, flags = seg.ack, 0, RST
    else:
        seq, ack, flags = 0, (seg.seq + seg.seg_len) % _SEQ_MOD, RST | ACK
    return segment_class(seg.dst)(
        seg.dst, seg.src, seg.dport, seg.sport, seq, ack, flags, 0,
        ttl=64, tos=seg.tos & ~_ECN_MASK, ip_id=0, df=True,
    )
