"""ACK processing: what an acceptable segment's acknowledgment field does to the sender
(RFC 9293 section 3.10.7.4, "fifth, check the ACK field"; Linux tcp_input.c tcp_ack).

`tcp_ack` rejects an ACK of data not yet sent and, with a challenge ACK, one older than the
peer's largest window (RFC 5961 section 5.2); takes the send window from the segment when it
is newer (RFC 9293 SND.WL1/SND.WL2, Linux tcp_ack_update_window), ending a zero-window probe
backoff (tcp_ack_probe); advances snd_una, trimming the send buffer (tcp_snd_una_update);
then hands the ACK to the `recovery` part (`Recovery.on_ack`: SACK tagging,
tcp_clean_rtx_queue, tcp_ack_update_rtt, the congestion state machine) and wakes a waiting
writer. `input.tcp_input` calls it for each acceptable segment of a synchronized state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import output, sendlog, wmem
from .observer import note_drop
from .scoreboard import FLAG_DATA, FLAG_SND_UNA_ADVANCED, FLAG_WIN_UPDATE
from .seq import MASK, seq_diff, seq_gt, seq_le, seq_lt
from .states import State
from .timeouts import probe_interval
from .timers import INF, TimerKind

if TYPE_CHECKING:
    from ..wire.segment import Segment
    from .connection import Connection

# Plain names for the states the per-ACK path tests: `State.X` costs an Enum attribute
# lookup (~80 ns on 3.11) where a module global costs ~13 ns.
_SYN_RECEIVED, _ESTABLISHED = State.SYN_RECEIVED, State.ESTABLISHED


def tcp_ack(conn: Connection, seg: Segment) -> bool:
    """ACK processing (RFC 9293 section 3.10.7.4, fifth; Linux tcp_ack). False means drop the
    segment. What the ACK means for loss recovery is `recovery.on_ack`'s."""
    ack = seg.ack
    eng = conn.engine
    if seq_gt(ack, conn.snd_max):
        # It acknowledges something not yet sent: drop it (RFC 9293), with a challenge ACK
        # (RFC 5961 section 5.2) except in ESTABLISHED, where Linux's tcp_rcv_established
        # drops it silently (tcp_ack: TCP_ACK_UNSENT_DATA); the other states answer it
        # (tcp_rcv_state_process: tcp_send_challenge_ack).
        note_drop(conn, seg, "ACK for data not yet sent")
        if conn.state != _ESTABLISHED:
            output.send_challenge_ack(conn)
        return False
    if seq_lt(ack, conn.snd_una):
        if seq_lt(ack, (conn.snd_una - conn.max_snd_wnd) & MASK):
            note_drop(conn, seg, "ACK too old (RFC 5961 section 5.2)")
            output.send_challenge_ack(conn)
            return False
        conn.recovery.old_ack(conn, seg)  # its SACK blocks still count (tcp_ack's old_ack)
        return True  # an old duplicate ACK: keep the segment's data
    conn.probes_out = 0
    # Linux tcp_ack's flags: the segment carries data (or SYN, FIN), it may update the window
    # (tcp_may_update_window), it acknowledges new data.
    flag = FLAG_DATA if seg.seg_len else 0
    wnd = seg.window << conn.snd_wscale
    if seq_gt(ack, conn.snd_una) or seq_gt(seg.seq, conn.snd_wl1) or \
            (seg.seq == conn.snd_wl1 and (wnd > conn.snd_wnd or not wnd)):
        flag |= FLAG_WIN_UPDATE
    if seq_lt(conn.snd_wl1, seg.seq) or (conn.snd_wl1 == seg.seq and seq_le(conn.snd_wl2, ack)):
        conn.snd_wnd = wnd
        conn.snd_wl1, conn.snd_wl2 = seg.seq, ack
        if wnd > conn.max_snd_wnd:
            conn.max_snd_wnd = wnd
        if conn.t_persist != INF and conn.snd_una == conn.snd_max:
            # Linux tcp_ack_probe: the window opened, so the probe backoff ends; still shut,
            # so the next probe is timed from this answer, keeping its backoff.
            if wnd:
                conn.recovery.backoff = 0
                conn.cancel_timer(TimerKind.PERSIST)
            else:
                conn.set_timer(TimerKind.PERSIST, eng.now + probe_interval(conn))
    prior_snd_una = conn.snd_una
    if ack != prior_snd_una:
        flag |= FLAG_SND_UNA_ADVANCED
        _snd_una_advance(conn, ack)
    if conn.state != _SYN_RECEIVED:
        prior_packets = conn.packets_out
        conn.recovery.on_ack(conn, seg, prior_snd_una, flag)
        if prior_packets:
            # Linux tcp_ack: tcp_cong_control ends with tcp_update_pacing_rate, unless nothing
            # was in flight (no_queue).
            conn.pacing.update(conn)
    if ack != prior_snd_una:
        log = conn.sendlog
        if log is not None:
            # Whether a waiting writer has room again matters only to one that waits (nospace):
            # not worked out for every ACK of a bulk sender.
            sendlog.acked(conn, log.nospace and wmem.writeable(conn))
        if conn.fin_queued and ack == (conn.fin_seq + 1) & MASK:
            conn.fin_acked()
    return True


def _snd_una_advance(conn: Connection, ack: int) -> None:
    """New data acknowledged: trim the send buffer (Linux tcp_snd_una_update); the
    retransmission count of the head starts over (icsk_retransmits)."""
    buf = conn.sndbuf
    if buf is not None:
        n = min(max(seq_diff(ack, conn.sndbuf_seq), 0), len(buf))
        if n:
            buf.drop(n)
            conn.sndbuf_seq = (conn.sndbuf_seq + n) & MASK
            conn.engine.wake(conn)
    conn.snd_una = ack
    if seq_lt(conn.snd_nxt, ack):
        conn.snd_nxt = ack
    conn.recovery.retransmits = 0
