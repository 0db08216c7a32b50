"""The undo part (tcp/undo.py; Linux tcp_init_undo, tcp_retransmit_skb's count,
tcp_may_undo, tcp_undo_cwnd_reduction) on its own, and once through a recovery that D-SACKs
prove spurious."""

from __future__ import annotations

from minitcp.tcp.cc import CaState
from minitcp.tcp.cc.reno import Reno
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.rack import Rack
from minitcp.tcp.scoreboard import LOST, Scoreboard
from minitcp.tcp.undo import Undo
from minitcp.wire.segment import ACK

from .peer import Peer

MSS = 1000


def test_a_reduction_with_no_retransmission_in_flight_may_be_undone_until_one_is_made() -> None:
    undo = Undo()
    undo.start(snd_una=5000, retrans_out=0)
    assert (undo.marker, undo.retrans) == (5000, -1)
    undo.retransmitted(2, stamp=1.5)
    undo.retransmitted(1, stamp=1.7)
    # Each attempt counts; the clock is the first one's.
    assert (undo.retrans, undo.retrans_stamp) == (3, 1.5)
    undo.retrans = 0  # every one D-SACKed (the scoreboard's count)
    p = Peer()
    conn = p.connect(at=0.0, rtt=0.01)
    assert undo.may_undo(conn, None, high_seq=9000)
    undo.marker = None
    assert not undo.may_undo(conn, None, high_seq=9000)


def test_undoing_restores_cwnd_and_ssthresh_and_unmarks_the_losses() -> None:
    cc = Reno(Knobs())
    cc.cwnd, cc.ssthresh = 20, 40
    cc.prior_cwnd = cc.cwnd
    undo = Undo()
    undo.prior_ssthresh = cc.current_ssthresh()
    undo.start(snd_una=1, retrans_out=0)
    cc.ssthresh = cc.ssthresh_on_loss()
    cc.cwnd = 10
    board = Scoreboard(MSS)
    rec = board.add(1, 1 + MSS, 0.0, False)
    board.mark_lost(rec)
    rack = Rack()
    undo.cwnd_reduction(cc, board, rack, unmark_loss=True)
    assert (cc.cwnd, cc.ssthresh) == (20, 40)
    assert not rec.sacked & LOST and board.lost_out == 0
    assert undo.marker is None and rack.advanced


def test_a_recovery_whose_retransmission_is_dsacked_is_undone() -> None:
    # Segment 1 of 10 is reported missing by SACKs: Recovery, cwnd cut, segment 1 resent. The
    # peer then ACKs everything and D-SACKs it (it had the original): every retransmission was
    # spurious, so the recovery ends undone (tcp_try_undo_recovery, TCPFullUndo), cwnd back.
    p = Peer()
    conn = p.connect(at=0.0, rtt=0.01, mss=MSS, wscale=None)
    conn.send(b"d" * 10 * MSS, 0.01)
    assert len(p.out()) == 10
    cwnd = conn.recovery.cc.cwnd
    sack = ((p.iss + 1 + MSS) & 0xFFFFFFFF, (p.iss + 1 + 10 * MSS) & 0xFFFFFFFF)
    out = p.feed(p.seg(ACK, ack=1, sack=(sack,)), at=0.02)
    assert conn.recovery.ca_state == CaState.RECOVERY
    assert [p.rel(s)[1] for s in out if s.payload][:1] == [1]
    assert conn.recovery.cc.cwnd < cwnd and conn.recovery.undo.retrans == 1
    dsack = ((p.iss + 1) & 0xFFFFFFFF, (p.iss + 1 + MSS) & 0xFFFFFFFF)
    p.feed(p.seg(ACK, ack=10 * MSS + 1, sack=(dsack,)), at=0.03)
    assert p.eng.counters["TCPDSACKRecv"] == 1 and conn.recovery.undo.marker is None
    assert p.eng.counters["TCPFullUndo"] == 1
    assert conn.recovery.ca_state == CaState.OPEN
    assert conn.recovery.cc.cwnd >= cwnd
