"""Tail loss probes (RFC 8985 section 7; Linux tcp_output.c tcp_schedule_loss_probe and
tcp_send_loss_probe, tcp_early_retrans=3).

When the tail of a flight is lost no ACK comes to show it, and only the RTO would repair
it. A probe timeout (PTO) of 2*SRTT after the last transmission sends one segment, new
data if the window allows or else the last one again, so that the ACK it elicits lets
SACK and RACK find the loss. With one packet in flight the PTO also allows for the
peer's delayed ACK (tcp_rto_min); the PTO never goes past the RTO. So a FIN sent alone
(one packet) is probed at the time its RTO would fire: the timer is the probe's, which
resends the FIN (TCPLossProbes), and the RTO then starts over from the probe.

Functions over a `Connection`; the state (tlp_high_seq, tlp_retrans) is `conn.recovery`'s,
which also owns the one transmission timer this arms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import output
from .cc import CaState
from .seq import seq_diff
from .timers import TCP_TIMEOUT_MIN_US, TIME_LOSS_PROBE, jiffies

if TYPE_CHECKING:
    from .connection import Connection



def schedule(conn: Connection, advancing_rto: bool) -> bool:
    """Linux tcp_schedule_loss_probe: arm the probe for SACK connections in Open or CWR with
    something in flight. `advancing_rto`: the RTO would restart now (on an ACK) rather than
    keep the head's deadline."""
    rec = conn.recovery
    knobs = conn.engine.knobs
    board = rec.board
    if knobs.tcp_early_retrans not in (3, 4) or not board.packets_out or not conn.sack_ok \
            or rec.cc.ca_state not in (CaState.OPEN, CaState.CWR):
        return False
    if rec.srtt is not None:
        # 2*SRTT, plus rto_min for one packet (the delayed ACK it may wait for), else 2 ms.
        extra = knobs.tcp_rto_min if board.packets_out == 1 else TCP_TIMEOUT_MIN_US
        timeout = jiffies(2 * rec.srtt + extra)
    else:
        timeout = knobs.tcp_rto_initial  # no RTT sample: TCP_TIMEOUT_INIT
    # If the RTO formula yields an earlier time, then use that time.
    now = conn.engine.now
    deadline = now + timeout
    rto_at = now + rec.rto if advancing_rto else rec.rto_deadline(conn)
    if rto_at > now:
        deadline = min(deadline, rto_at)
    rec.set_xmit_deadline(conn, TIME_LOSS_PROBE, deadline)
    return True


def send(conn: Connection) -> None:
    """Linux tcp_send_loss_probe (RFC 8985 section 7.3): one segment, new data if the window
    allows, else the last segment sent again; at most one probe outstanding."""
    rec = conn.recovery
    board = rec.board
    eng = conn.engine
    if rec.tlp_high_seq is None:
        rec.tlp_retrans = False
        sent = False
        unsent = conn.send_queued - seq_diff(conn.snd_nxt, conn.sndbuf_seq)
        wnd_left = conn.snd_wnd - seq_diff(conn.snd_nxt, conn.snd_una)
        if unsent > 0 and wnd_left >= min(unsent, conn.mss):
            before = board.packets_out
            output.transmit(conn, nagle_off=True, probe=True)
            sent = board.packets_out > before
        elif board.recs:
            i = len(board.recs) - 1
            last = board.recs[i]
            mss = conn.mss
            if last.pcount > 1 and last.data_len > (last.pcount - 1) * mss:
                board.split(i, (last.pcount - 1) * mss)
                i += 1
                last = board.recs[i]
            if rec.resend(conn, i, 1, "TLP"):
                last = board.recs[i]
                board.resent(last, eng.now, counted=False, delivered=rec.delivered)
                rec.tlp_retrans = True
                sent = True
        else:
            rec.pending = 0
            return
        if sent:
            rec.tlp_high_seq = conn.snd_nxt
            eng.counters["TCPLossProbes"] += 1
            rec.pending = 0  # so that the RTO restarts from now
    rec.rearm_rto(conn)
