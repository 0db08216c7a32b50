"""Undo of a window reduction proven unneeded (RFC 3708, RFC 2883 section 5; Linux 6.12
tcp_input.c tcp_try_undo_* and friends).

A reduction (fast recovery, an RTO's Loss) may be undone when every retransmission it made
turns out spurious: D-SACKed (the receiver had the original: `retrans` falls to 0), or the
echoed timestamp predates the first retransmission (the original was only delayed,
tcp_packet_delayed, RFC 3522's Eifel detection). Then cwnd and ssthresh go back
(tcp_undo_cwnd_reduction: ca_ops->undo_cwnd, prior_ssthresh) and TCPFullUndo,
TCPPartialUndo, TCPDSACKUndo or TCPLossUndo count it.

An owned part of `Recovery` (`recovery.undo`): recovery starts it with each reduction
(`start`, Linux tcp_init_undo and undo_marker), tells it of each retransmission
(`retransmitted`) and asks the `try_*` functions below when the state machine may undo.
The D-SACK bookkeeping that lowers `retrans` is the scoreboard's (tcp_sacktag_one) and
recovery's (tcp_check_dsack): they carry it in their AckState.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cc import CaState
from .rack import RACK_RECOVERY_THRESH
from .seq import MASK, seq_lt
from .states import State

if TYPE_CHECKING:
    from ..wire.segment import Segment
    from .cc import CongestionControl
    from .connection import Connection
    from .rack import Rack
    from .recovery import Recovery
    from .scoreboard import Scoreboard


class Undo:
    __slots__ = ("marker", "prior_ssthresh", "retrans", "retrans_stamp")

    def __init__(self) -> None:
        self.marker: int | None = None  # snd_una at the start of a reduction that may be undone
        self.retrans = 0  # its retransmissions not yet proven spurious (-1: none made)
        self.prior_ssthresh = 0  # ssthresh before the reduction (0: may not be undone)
        self.retrans_stamp: float | None = None  # the episode's first retransmission (tp->retrans_stamp)

    def start(self, snd_una: int, retrans_out: int) -> None:
        """Linux tcp_init_undo with undo_marker = snd_una: retransmissions in flight (a loss
        probe's too, counted by the caller in `retrans_out`) may yet be D-SACKed; -1 says
        there were none."""
        self.marker = snd_una
        self.retrans = retrans_out or -1

    def retransmitted(self, pcount: int, stamp: float) -> None:
        """Linux tcp_retransmit_skb: an attempted retransmission of `pcount` segments, the
        record last sent at `stamp`, starts the episode's clock and must be proven spurious
        before an undo."""
        if self.retrans_stamp is None:
            self.retrans_stamp = stamp
        if self.retrans < 0:
            self.retrans = 0
        self.retrans += pcount

    def packet_delayed(self, conn: Connection, seg: Segment | None, high_seq: int) -> bool:
        """Linux tcp_packet_delayed: the echoed timestamp predates the first retransmission."""
        if self.retrans_stamp is not None:
            if seg is None or not conn.ts_ok or not seg.ts_ecr:
                return False
            stamp = (int(self.retrans_stamp * 1000) + conn.ts_offset) & MASK
            return seq_lt(seg.ts_ecr, stamp)
        if not conn.sack_ok and not seq_lt(conn.snd_una, high_seq):
            return False
        return conn.state != State.SYN_SENT

    def may_undo(self, conn: Connection, seg: Segment | None, high_seq: int) -> bool:
        """Linux tcp_may_undo: nothing resent, or every retransmission proven unneeded."""
        return self.marker is not None and (not self.retrans or self.packet_delayed(conn, seg, high_seq))

    def cwnd_reduction(self, cc: CongestionControl, board: Scoreboard, rack: Rack, unmark_loss: bool) -> None:
        """Linux tcp_undo_cwnd_reduction: cwnd back (ca_ops->undo_cwnd), ssthresh back."""
        if unmark_loss:
            board.unmark_lost()
        if self.prior_ssthresh:
            cc.cwnd = cc.undo_cwnd()
            if self.prior_ssthresh > cc.ssthresh:
                cc.ssthresh = self.prior_ssthresh
        self.marker = None
        rack.advanced = True  # force RACK to look at the losses again


def _non_sack_preventing_reopen(rec: Recovery, conn: Connection) -> bool:
    """Linux tcp_is_non_sack_preventing_reopen: without SACK, hold the state until data
    above high_seq is ACKed (RFC 6582), or a duplicate could start a false recovery."""
    if conn.snd_una == rec.high_seq and not conn.sack_ok:
        if not rec.any_retrans_done():
            rec.undo.retrans_stamp = None
        return True
    return False


def try_undo_recovery(rec: Recovery, conn: Connection, seg: Segment | None) -> bool:
    """Linux tcp_try_undo_recovery: at the end of a recovery or Loss. True when the state is
    held (a Reno sender waits for data above high_seq)."""
    eng = conn.engine
    undo = rec.undo
    if undo.may_undo(conn, seg, rec.high_seq):
        undo.cwnd_reduction(rec.cc, rec.board, rec.rack, False)
        eng.counters["TCPLossUndo" if rec.cc.ca_state == CaState.LOSS else "TCPFullUndo"] += 1
    elif rec.rack.reo_wnd_persist:
        rec.rack.reo_wnd_persist -= 1
    if _non_sack_preventing_reopen(rec, conn):
        return True
    rec.set_ca_state(CaState.OPEN, eng.now)
    rec.is_sack_reneg = False
    return False


def try_undo_dsack(rec: Recovery, conn: Connection) -> bool:
    """Linux tcp_try_undo_dsack: every retransmission was D-SACKed; RACK keeps its widened
    reordering window one recovery longer."""
    undo = rec.undo
    if undo.marker is not None and not undo.retrans:
        rec.rack.reo_wnd_persist = min(rec.rack.reo_wnd_persist + 1, RACK_RECOVERY_THRESH)
        undo.cwnd_reduction(rec.cc, rec.board, rec.rack, False)
        conn.engine.counters["TCPDSACKUndo"] += 1
        return True
    return False


def try_undo_loss(rec: Recovery, conn: Connection, seg: Segment | None, frto_undo: bool) -> bool:
    """Linux tcp_try_undo_loss: the RTO was spurious (F-RTO, RFC 5682, when `frto_undo`)."""
    undo = rec.undo
    if not (frto_undo or undo.may_undo(conn, seg, rec.high_seq)):
        return False
    eng = conn.engine
    undo.cwnd_reduction(rec.cc, rec.board, rec.rack, True)
    eng.counters["TCPLossUndo"] += 1
    if frto_undo:
        eng.counters["TCPSpuriousRTOs"] += 1
    rec.retransmits = 0
    if _non_sack_preventing_reopen(rec, conn):
        return True
    if frto_undo or conn.sack_ok:
        rec.set_ca_state(CaState.OPEN, eng.now)
        rec.is_sack_reneg = False
    return True


def try_undo_partial(rec: Recovery, conn: Connection, seg: Segment | None, prior_snd_una: int) -> bool:
    """Linux tcp_try_undo_partial: a partial ACK in Recovery filled a hole with the
    original. Returns True to stop (retransmissions still out)."""
    undo = rec.undo
    if undo.marker is not None and undo.packet_delayed(conn, seg, rec.high_seq):
        rec.check_sack_reordering(conn, prior_snd_una, True)
        if rec.board.retrans_out:
            return True
        if not rec.any_retrans_done():
            undo.retrans_stamp = None
        undo.cwnd_reduction(rec.cc, rec.board, rec.rack, True)
        conn.engine.counters["TCPPartialUndo"] += 1
        rec.try_keep_open(conn)
    return False
