"""Loss recovery as Linux 6.12 does it (tcp_input.c tcp_ack, tcp_fastretrans_alert and friends).

The owned part `conn.recovery` keeps the RTT estimate and the retransmission timeout
(RFC 6298; Linux floors the variance term at rto_min rather than the RTO, tcp_set_rto, so
the RTO on a fast link is srtt + 200 ms), the retransmission queue with its SACK
scoreboard (`scoreboard.Scoreboard`, RFC 6675), RACK (`rack.Rack`, RFC 8985) and the
congestion state machine over them:

- Open, Disorder (SACKs or duplicate ACKs seen), Recovery (fast recovery, PRR RFC 6937
  shaping the window, Linux tcp_cwnd_reduction), Loss (after an RTO, F-RTO RFC 5682),
  CWR (a window reduction without loss: ECE, a repaired loss probe; `enter_cwr`);
- loss marking by RACK (tcp_recovery=1) with SACK, by the duplicate threshold
  (tcp_reordering, adapted up to tcp_max_reordering) without it (tcp_newreno_mark_lost);
- undo of a reduction proven spurious by D-SACKs or timestamps (tcp_try_undo_*: the owned
  part `undo.Undo` and its functions, asked at the points Linux asks them);
- one transmission timer for the RTO, the loss probe and RACK's reordering timeout
  (Linux icsk_pending: ICSK_TIME_RETRANS, ICSK_TIME_LOSS_PROBE, ICSK_TIME_REO_TIMEOUT),
  kept in the connection's RTO slot (`ss -o` shows all three as "on", as Linux's).

The congestion window itself is the `cc` part's (in segments); this part tells it when a
reduction starts and ends and asks it to grow outside one. `ack` feeds `on_ack`,
`output` feeds `on_sent`/`after_write`, `timeouts` calls `on_xmit_timer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..wire.segment import ECE, SYN
from . import lossprobe, output, pushmarks
from .cc import CaState, CongestionControl
from .cc.base import TCP_INFINITE_SSTHRESH
from .prr import Prr
from .rack import RACK_LOSS_DETECTION, Rack
from .scoreboard import (
    EVER_RETRANS,
    FLAG_ACKED,
    FLAG_CA_ALERT,
    FLAG_DATA_ACKED,
    FLAG_DATA_SACKED,
    FLAG_DSACK_TLP,
    FLAG_DSACKING_ACK,
    FLAG_ECE,
    FLAG_FORWARD_PROGRESS,
    FLAG_LOST_RETRANS,
    FLAG_NOT_DUP,
    FLAG_ORIG_SACK_ACKED,
    FLAG_RETRANS_DATA_ACKED,
    FLAG_SACK_RENEGING,
    FLAG_SET_XMIT_TIMER,
    FLAG_SND_UNA_ADVANCED,
    LOST,
    SACKED_ACKED,
    SACKED_RETRANS,
    AckState,
    Scoreboard,
)
from .seq import MASK, seq_diff, seq_ge, seq_gt, seq_lt
from .states import State
from .timers import (
    INF,
    TCP_TIMEOUT_MIN_US,
    TIME_LOSS_PROBE,
    TIME_REO_TIMEOUT,
    TIME_RETRANS,
    TimerKind,
    jiffies,
)
from .undo import Undo, try_undo_dsack, try_undo_loss, try_undo_partial, try_undo_recovery

if TYPE_CHECKING:
    from ..wire.segment import Segment
    from .connection import Connection
    from .knobs import Knobs

# What tcp_fastretrans_alert asks tcp_xmit_recovery to send (Linux REXMIT_*).
REXMIT_NONE, REXMIT_LOST, REXMIT_NEW = 0, 1, 2
_IN_REDUCTION = (CaState.CWR, CaState.RECOVERY)


class Recovery:
    __slots__ = (
        "backoff", "board", "cc", "delivered", "dsack_dups", "frto", "high_seq", "is_sack_reneg",
        "min_rtt", "pending", "prr", "rack", "reord_seen",
        "reordering", "retransmits", "rto", "rtt_seq", "rtt_time", "rttvar", "srtt",
        "tlp_high_seq", "tlp_retrans", "undo",
    )

    def __init__(self, cc: CongestionControl, iss: int, knobs: Knobs, mss: int = 536) -> None:
        self.cc = cc
        # The RTT estimate (RFC 6298 section 2) and the timeout from it, doubled per expiry.
        self.srtt: float | None = None
        self.rttvar = 0.0
        # The smallest sample, for TCP_INFO's min_rtt and RACK (Linux keeps a windowed minimum
        # over tcp_min_rtt_wlen, 300 s, in tcp_update_rtt_min; here over the whole connection).
        self.min_rtt: float | None = None
        self.rto = knobs.tcp_rto_initial  # RFC 6298 section 2.1
        self.backoff = 0
        # The SYN being timed (data is timed by the scoreboard's records).
        self.rtt_seq = 0
        self.rtt_time: float | None = None
        # Retransmissions of the segment at snd_una since it was last acknowledged: the timers'
        # give-up limits count these (Linux icsk_retransmits).
        self.retransmits = 0
        self.board = Scoreboard(mss)
        self.rack = Rack()
        self.pending = 0  # what the transmission timer is armed for (Linux icsk_pending)
        self.high_seq = iss  # snd_nxt when the current reduction or Loss began (tp->high_seq)
        self.undo = Undo()  # undo_marker, undo_retrans, prior_ssthresh, retrans_stamp
        self.prr = Prr()  # RFC 6937's counts during a reduction
        self.reordering = knobs.tcp_reordering  # tp->reordering, the duplicate threshold
        self.reord_seen = 0  # reordering events (TCP_INFO tcpi_reord_seen)
        self.dsack_dups = 0  # segments reported by D-SACK (tcpi_dsack_dups)
        self.delivered = 0  # segments delivered (tp->delivered)
        self.tlp_high_seq: int | None = None  # snd_nxt when the loss probe left
        self.tlp_retrans = False  # the probe was a retransmission
        self.frto = False  # F-RTO under way (tp->frto)
        self.is_sack_reneg = False

    @property
    def ca_state(self) -> CaState:
        """The congestion state (Linux icsk_ca_state, TCP_INFO tcpi_ca_state)."""
        return self.cc.ca_state

    # ------------------------------------------------------------------ the RTT estimate

    def sample_rtt(self, r: float, knobs: Knobs, ca_rtt: float | None = None) -> None:
        """Fold in one measurement (RFC 6298 sections 2.2 and 2.3, alpha 1/8, beta 1/4). The
        minimum takes `ca_rtt`, the RTT of the newest packet (s)acked, when there is one:
        Linux tcp_ack_update_rtt feeds tcp_update_rtt_min with ca_rtt_us, not seq_rtt_us (the
        oldest's, which a stretch ACK inflates)."""
        r = max(r, 0.0)
        low = r if ca_rtt is None else max(ca_rtt, 0.0)
        if self.min_rtt is None or low < self.min_rtt:
            self.min_rtt = low
            self.rack.min_rtt = low
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

    # ------------------------------------------------------------------ state changes

    def set_ca_state(self, state: CaState, now: float) -> None:
        """Linux tcp_set_ca_state: the algorithm hears of it first."""
        self.cc.set_ca_state(state, now)

    def _init_cwnd_reduction(self, conn: Connection) -> None:
        """Linux tcp_init_cwnd_reduction (RFC 6937 initialisation)."""
        cc = self.cc
        self.high_seq = conn.snd_nxt
        self.tlp_high_seq = None
        cc.cwnd_cnt = 0
        cc.prior_cwnd = cc.cwnd
        self.prr.start()
        cc.ssthresh = cc.ssthresh_on_loss()
        conn.queue_cwr()  # tcp_ecn_queue_cwr: CWR on the next new data (RFC 3168 section 6.1.2)

    def _cwnd_reduction(self, newly_acked_sacked: int, newly_lost: int, flag: int) -> None:
        """Linux tcp_cwnd_reduction: Proportional Rate Reduction (RFC 6937, `prr.Prr`)."""
        cc = self.cc
        if newly_acked_sacked <= 0 or not cc.prior_cwnd:
            return
        cc.cwnd = self.prr.cwnd(cc.ssthresh, cc.prior_cwnd, self.board.in_flight, newly_acked_sacked,
                                newly_lost, bool(flag & FLAG_SND_UNA_ADVANCED))

    def _end_cwnd_reduction(self) -> None:
        """Linux tcp_end_cwnd_reduction: cwnd = ssthresh after CWR or a recovery not undone."""
        cc = self.cc
        if cc.ssthresh < TCP_INFINITE_SSTHRESH and \
                (cc.ca_state == CaState.CWR or self.undo.marker is not None):
            cc.cwnd = cc.ssthresh

    def enter_cwr(self, conn: Connection) -> None:
        """Linux tcp_enter_cwr: reduce the window without a loss (ECE, RFC 3168 section 6.1.2)."""
        self.undo.prior_ssthresh = 0
        if self.cc.ca_state < CaState.CWR:
            self.undo.marker = None
            self._init_cwnd_reduction(conn)
            self.set_ca_state(CaState.CWR, conn.engine.now)

    def _enter_recovery(self, conn: Connection, ece_ack: bool) -> None:
        """Linux tcp_enter_recovery."""
        eng = conn.engine
        eng.counters["TCPSackRecovery" if conn.sack_ok else "TCPRenoRecovery"] += 1
        undo = self.undo
        undo.prior_ssthresh = 0
        undo.start(conn.snd_una, self._retrans_in_flight())
        if self.cc.ca_state not in _IN_REDUCTION:
            if not ece_ack:
                undo.prior_ssthresh = self.cc.current_ssthresh()
            self._init_cwnd_reduction(conn)
        self.set_ca_state(CaState.RECOVERY, eng.now)

    def _retrans_in_flight(self) -> int:
        """Retransmissions that may yet be D-SACKed: those in flight and a resent loss probe
        (what Linux tcp_init_undo counts)."""
        return self.board.retrans_out + (1 if self.tlp_high_seq is not None and self.tlp_retrans else 0)

    def try_keep_open(self, conn: Connection) -> None:
        """Linux tcp_try_keep_open: Disorder while anything is SACKed, lost or resent."""
        state = CaState.DISORDER if self.board.left_out or self.any_retrans_done() else CaState.OPEN
        if self.cc.ca_state != state:
            self.set_ca_state(state, conn.engine.now)
            self.high_seq = conn.snd_nxt

    def _try_to_open(self, conn: Connection, flag: int) -> None:
        """Linux tcp_try_to_open."""
        if not self.any_retrans_done():
            self.undo.retrans_stamp = None
        if flag & FLAG_ECE:
            self.enter_cwr(conn)
        if self.cc.ca_state != CaState.CWR:
            self.try_keep_open(conn)

    def any_retrans_done(self) -> bool:
        """Linux tcp_any_retrans_done."""
        if self.board.retrans_out:
            return True
        head = self.board.head()
        return head is not None and bool(head.sacked & EVER_RETRANS)

    # ------------------------------------------------------------------ reordering

    def check_sack_reordering(self, conn: Connection, low_seq: int, ts: bool) -> None:
        """Linux tcp_check_sack_reordering: a hole filled below the highest SACK; the
        duplicate threshold grows to the distance seen, up to tcp_max_reordering."""
        fack = self.board.fack_or(conn.snd_una)
        if not seq_lt(low_seq, fack):
            return
        mss = conn.mss
        metric = seq_diff(fack, low_seq)
        if metric > self.reordering * mss:
            self.reordering = min(-(-metric // mss), conn.engine.knobs.tcp_max_reordering)
        self.reord_seen += 1
        conn.engine.counters["TCPTSReorder" if ts else "TCPSACKReorder"] += 1

    def _check_reno_reordering(self, conn: Connection, addend: int) -> None:
        """Linux tcp_check_reno_reordering with tcp_limit_reno_sacked: more duplicate ACKs
        than could be (segments out, less the holes) mean reordering."""
        board = self.board
        holes = min(max(board.lost_out, 1), board.packets_out)
        if board.sacked_out + holes <= board.packets_out:
            return
        board.sacked_out = board.packets_out - holes
        self.reordering = min(board.packets_out + addend, conn.engine.knobs.tcp_max_reordering)
        self.reord_seen += 1
        conn.engine.counters["TCPRenoReorder"] += 1

    def _add_reno_sack(self, conn: Connection, num_dupack: int) -> None:
        """Linux tcp_add_reno_sack: without SACK each duplicate ACK counts as one segment SACKed."""
        if num_dupack:
            board = self.board
            prior = board.sacked_out
            board.sacked_out += num_dupack
            self._check_reno_reordering(conn, 0)
            if board.sacked_out > prior:
                self.delivered += board.sacked_out - prior

    def _remove_reno_sacks(self, conn: Connection, acked: int) -> None:
        """Linux tcp_remove_reno_sacks: the cumulative ACK ate the duplicate ACKs' count."""
        board = self.board
        if acked > 0:
            self.delivered += max(acked - board.sacked_out, 1)
            board.sacked_out = 0 if acked - 1 >= board.sacked_out else board.sacked_out - (acked - 1)
        self._check_reno_reordering(conn, acked)

    # ------------------------------------------------------------------ one ACK (tcp_ack)

    def on_ack(self, conn: Connection, seg: Segment, prior_snd_una: int, flag: int) -> None:
        """The loss-recovery half of Linux tcp_ack, after the window update: SACK tagging,
        the cumulative ACK, the loss probe's fate, the state machine, the window, and the
        retransmissions it asks for. `flag`: FLAG_DATA, FLAG_WIN_UPDATE, FLAG_SND_UNA_ADVANCED."""
        eng = conn.engine
        board = self.board
        ack = seg.ack
        sack_ok = conn.sack_ok
        prior_fack = board.fack_or(prior_snd_una) if sack_ok else prior_snd_una
        prior_packets = board.packets_out
        prior_delivered = self.delivered
        prior_lost = board.lost
        st = AckState(conn.snd_nxt, self.high_seq, self.undo.marker, self.undo.retrans)
        if conn.ts_ok and seg.ts_ecr:
            st.tsecr = (seg.ts_ecr - conn.ts_offset) & MASK  # Linux rx_opt.rcv_tsecr
        if seg.sack and sack_ok:
            self._sacktag(conn, seg, prior_snd_una, st)
        if seg.flags & (ECE | SYN) == ECE and conn.ecn_ok:
            flag |= FLAG_ECE  # Linux tcp_ecn_rcv_ecn_echo
        flag |= st.flag
        rexmit = REXMIT_NONE
        if not prior_packets:
            # Nothing was in flight: a D-SACK may still undo a reduction (tcp_ack's no_queue).
            if flag & FLAG_DSACKING_ACK:
                rexmit = self._fastretrans_alert(conn, seg, prior_snd_una, 0, flag)[1]
            if self.tlp_high_seq is not None:
                self._process_tlp_ack(conn, ack, flag)
            return
        flag |= self._clean_rtx_queue(conn, seg, prior_fack, prior_snd_una, st, flag)
        self.rack.update_reo_wnd(st.prior_delivered, self.delivered, eng.knobs.tcp_recovery)
        if self.tlp_high_seq is not None:
            self._process_tlp_ack(conn, ack, flag)
        if not flag & FLAG_NOT_DUP or flag & FLAG_CA_ALERT or self.cc.ca_state != CaState.OPEN:
            num_dupack = 0
            if not flag & (FLAG_SND_UNA_ADVANCED | FLAG_NOT_DUP | FLAG_DSACKING_ACK):
                num_dupack = 1
            flag, rexmit = self._fastretrans_alert(conn, seg, prior_snd_una, num_dupack, flag)
        if flag & FLAG_SET_XMIT_TIMER:
            self.set_xmit_timer(conn)
        delivered = self.delivered - prior_delivered
        self._cong_control(conn, delivered, board.lost - prior_lost, flag)
        self._xmit_recovery(conn, rexmit)

    def old_ack(self, conn: Connection, seg: Segment) -> None:
        """An ACK below snd_una with SACK blocks (Linux tcp_ack's old_ack): tag them, and see
        whether a D-SACK undoes a reduction or more may be sent."""
        if not (seg.sack and conn.sack_ok):
            return
        st = AckState(conn.snd_nxt, self.high_seq, self.undo.marker, self.undo.retrans)
        self._sacktag(conn, seg, conn.snd_una, st)
        rexmit = self._fastretrans_alert(conn, seg, conn.snd_una, 0, st.flag)[1]
        self._xmit_recovery(conn, rexmit)

    def _sacktag(self, conn: Connection, seg: Segment, prior_snd_una: int, st: AckState) -> None:
        """Linux tcp_sacktag_write_queue: D-SACK first (tcp_check_dsack), each valid block
        tagged, reordering noted, then the undo count the blocks proved."""
        eng = conn.engine
        blocks = seg.sack
        board = self.board
        dup_sack = self._check_dsack(conn, seg, prior_snd_una, st)
        if dup_sack:
            st.flag |= FLAG_DSACKING_ACK
        now = eng.now
        for i, (start, end) in enumerate(blocks):
            is_dsack = dup_sack and i == 0
            if not self._sack_block_valid(conn, is_dsack, start, end):
                if is_dsack:
                    ignored = "TCPDSACKIgnoredNoUndo" if self.undo.marker is None else "TCPDSACKIgnoredOld"
                    eng.counters[ignored] += 1
                elif seq_gt(end, prior_snd_una) or i:
                    eng.counters["TCPSACKDiscard"] += 1
                continue
            if not seq_gt(end, prior_snd_una):
                continue  # Ignore very old stuff early.
            board.sacktag(start, end, is_dsack, conn.snd_una, st, self.rack, now)
        self.undo.retrans = st.undo_retrans
        if seq_lt(st.reord, conn.snd_nxt):
            self.check_sack_reordering(conn, st.reord, False)
        self.delivered += st.sack_delivered

    def _check_dsack(self, conn: Connection, seg: Segment, prior_snd_una: int, st: AckState) -> bool:
        """Linux tcp_check_dsack and tcp_dsack_seen (RFC 2883 section 4): the first block is
        a D-SACK if below the ACK or inside the second block."""
        eng = conn.engine
        blocks = seg.sack
        start0, end0 = blocks[0]
        if seq_lt(start0, seg.ack):
            eng.counters["TCPDSACKRecv"] += 1
        elif len(blocks) > 1:
            start1, end1 = blocks[1]
            if seq_gt(end0, end1) or seq_lt(start0, start1):
                return False
            eng.counters["TCPDSACKOfoRecv"] += 1
        else:
            return False
        # tcp_dsack_seen: how many segments the receiver got twice.
        if not seq_lt(start0, end0):
            eng.counters["TCPDSACKIgnoredDubious"] += 1
            return False
        seq_len = seq_diff(end0, start0)
        if seq_len > conn.max_snd_wnd:
            eng.counters["TCPDSACKIgnoredDubious"] += 1
            return False
        dup_segs = 1
        if seq_len > conn.mss:
            dup_segs = -(-seq_len // conn.mss)
        elif self.tlp_high_seq is not None and self.tlp_high_seq == end0:
            st.flag |= FLAG_DSACK_TLP
        self.dsack_dups += dup_segs
        if self.dsack_dups > conn.total_retrans:
            eng.counters["TCPDSACKIgnoredDubious"] += 1
            return False  # the sender never resent that much: not a D-SACK for us
        if self.reord_seen and not st.flag & FLAG_DSACK_TLP:
            self.rack.dsack_seen = True
        st.flag |= FLAG_DSACKING_ACK
        st.sack_delivered += dup_segs  # a spurious retransmission is delivered
        eng.counters["TCPDSACKRecvSegs"] += dup_segs
        # D-SACK for already forgotten data: count it against the undo.
        if self.undo.marker is not None and st.undo_retrans > 0 and not seq_gt(end0, prior_snd_una) \
                and seq_gt(end0, self.undo.marker):
            st.undo_retrans = max(st.undo_retrans - dup_segs, 0)
        return True

    def _sack_block_valid(self, conn: Connection, is_dsack: bool, start: int, end: int) -> bool:
        """Linux tcp_is_sackblock_valid (RFC 2018 section 4, RFC 2883)."""
        snd_nxt, snd_una = conn.snd_nxt, conn.snd_una
        if seq_gt(end, snd_nxt) or not seq_lt(start, end):
            return False  # too far in the future, or reversed
        if not seq_lt(start, snd_nxt):
            return False  # start_seq wrapped around
        if seq_gt(start, snd_una):
            return True  # in the outstanding window
        if not is_dsack or self.undo.marker is None:
            return False
        if seq_gt(end, snd_una):
            return False  # a D-SACK must lie below snd_una entirely
        if seq_ge(start, self.undo.marker):
            return True
        if not seq_gt(end, self.undo.marker):
            return False  # too old
        return seq_ge(start, (end - conn.max_snd_wnd) & MASK)

    def _clean_rtx_queue(self, conn: Connection, seg: Segment, prior_fack: int, prior_snd_una: int,
                         st: AckState, flag: int) -> int:
        """Linux tcp_clean_rtx_queue: remove what is acknowledged, take the RTT sample
        (tcp_ack_update_rtt, Karn's rule by the records' bits) and note reordering."""
        eng = conn.engine
        now = eng.now
        board = self.board
        sack_ok = conn.sack_ok
        board.clean(conn.snd_una, sack_ok, st, self.rack, now)
        self.delivered += st.acked_sacked
        out = st.flag & (FLAG_DATA_ACKED | FLAG_RETRANS_DATA_ACKED | FLAG_ORIG_SACK_ACKED
                         | FLAG_SACK_RENEGING)
        seq_rtt = None
        if st.first_ackt is not None and not out & FLAG_RETRANS_DATA_ACKED:
            seq_rtt = now - st.first_ackt
        sack_rtt = None if st.first_sackt is None else now - st.first_sackt
        # The RTT of the newest segment (s)acked, for the congestion control (ca_rtt_us).
        ca_rtt = None
        if seq_rtt is not None and st.last_ackt is not None:
            ca_rtt = now - st.last_ackt
        if st.last_sackt is not None:
            ca_rtt = now - st.last_sackt
        rtt_update = self._ack_update_rtt(conn, seg, out | flag, seq_rtt, sack_rtt, ca_rtt, st.pkts_acked)
        if out & FLAG_ACKED:
            out |= FLAG_SET_XMIT_TIMER
            if not sack_ok:
                self._remove_reno_sacks(conn, st.pkts_acked)
                if out & FLAG_RETRANS_DATA_ACKED:
                    out &= ~FLAG_ORIG_SACK_ACKED
            elif seq_lt(st.reord, prior_fack):
                self.check_sack_reordering(conn, st.reord, False)  # a never-resent hole filled
        elif board.recs and rtt_update and sack_rtt is not None and sack_rtt > now - board.recs[0].sent:
            out |= FLAG_SET_XMIT_TIMER  # do not re-arm from a SACK of data sent after the head
        return out

    def _ack_update_rtt(self, conn: Connection, seg: Segment, flag: int, seq_rtt: float | None,
                        sack_rtt: float | None, ca_rtt: float | None, pkts_acked: int) -> bool:
        """Linux tcp_ack_update_rtt: the ACK's timing, else a SACK's, else the echoed timestamp
        (RFC 7323 section 4.1, only for an ACK of new data)."""
        eng = conn.engine
        if seq_rtt is None:
            seq_rtt = sack_rtt
        if seq_rtt is None and conn.ts_ok and seg.ts_ecr and flag & FLAG_ACKED:
            sent_ms = (seg.ts_ecr - conn.ts_offset) & MASK
            delta = (int(eng.now * 1000) - sent_ms) & MASK
            if delta < 0x7FFFFFFF // 1000:
                seq_rtt = ca_rtt = max(delta, 1) / 1000
        if seq_rtt is None:
            return False
        self.sample_rtt(seq_rtt, eng.knobs, ca_rtt)
        if ca_rtt is not None:
            self.cc.on_rtt_sample(ca_rtt, pkts_acked, eng.now)  # ca_ops->pkts_acked (HyStart)
        return True

    def _process_tlp_ack(self, conn: Connection, ack: int, flag: int) -> None:
        """Linux tcp_process_tlp_ack (RFC 8985 section 7.4): did the probe repair a loss?"""
        high = self.tlp_high_seq
        assert high is not None
        if seq_lt(ack, high):
            return
        if not self.tlp_retrans or flag & FLAG_DSACK_TLP:
            self.tlp_high_seq = None  # new data probed, or the original and the probe both came
        elif seq_gt(ack, high):
            # The probe repaired a loss: reduce the window once (CWR), now over.
            self._init_cwnd_reduction(conn)
            self.set_ca_state(CaState.CWR, conn.engine.now)
            self._end_cwnd_reduction()
            self.try_keep_open(conn)
            conn.engine.counters["TCPLossProbeRecovery"] += 1
        elif not flag & (FLAG_SND_UNA_ADVANCED | FLAG_NOT_DUP | FLAG_DATA_SACKED):
            self.tlp_high_seq = None  # a pure duplicate: the original and the probe both came

    # ------------------------------------------------------------------ the state machine

    def _fastretrans_alert(self, conn: Connection, seg: Segment, prior_snd_una: int, num_dupack: int,
                           flag: int) -> tuple[int, int]:
        """Linux tcp_fastretrans_alert: the congestion state machine on a dubious ACK.
        Returns the flags (FLAG_SET_XMIT_TIMER may be dropped, FLAG_LOST_RETRANS added) and
        what to resend."""
        board = self.board
        cc = self.cc
        eng = conn.engine
        now = eng.now
        ece_ack = bool(flag & FLAG_ECE)
        if not board.packets_out and board.sacked_out:
            board.sacked_out = 0
        # A. ECE: the reduction must not be undone.
        if ece_ack:
            self.undo.prior_ssthresh = 0
        # B. A receiver that drops what it SACKed (tcp_check_sack_reneging).
        if flag & FLAG_SACK_RENEGING and flag & FLAG_SND_UNA_ADVANCED:
            delay = max(jiffies((self.srtt or 0.0) / 2), 0.010)
            self.reset_xmit_timer(conn, TIME_RETRANS, delay)
            return flag & ~FLAG_SET_XMIT_TIMER, REXMIT_NONE
        # D. The end of a state once high_seq is acknowledged.
        state = cc.ca_state
        if state == CaState.OPEN:
            self.undo.retrans_stamp = None
        elif not seq_lt(conn.snd_una, self.high_seq):
            if state == CaState.CWR:
                # CWR is held until something above high_seq is ACKed, so the CWR flag arrived.
                if conn.snd_una != self.high_seq:
                    self._end_cwnd_reduction()
                    self.set_ca_state(CaState.OPEN, now)
            elif state == CaState.RECOVERY:
                if not conn.sack_ok:
                    board.sacked_out = 0  # tcp_reset_reno_sack
                if try_undo_recovery(self, conn, seg):
                    return flag, REXMIT_NONE
                self._end_cwnd_reduction()
        # E. Process the state.
        state = cc.ca_state
        if state == CaState.RECOVERY:
            if not flag & FLAG_SND_UNA_ADVANCED:
                if not conn.sack_ok:
                    self._add_reno_sack(conn, num_dupack)
            elif try_undo_partial(self, conn, seg, prior_snd_una):
                return flag, REXMIT_NONE
            if try_undo_dsack(self, conn):
                self._try_to_open(conn, flag)
            flag = self._identify_packet_loss(conn, flag)
            if cc.ca_state != CaState.RECOVERY:
                if not self._time_to_recover(conn):
                    return flag, REXMIT_NONE
                # Undo reverted the recovery; loss is evident: a new recovery.
                self._enter_recovery(conn, ece_ack)
            return flag, REXMIT_LOST
        if state == CaState.LOSS:
            rexmit = self._process_loss(conn, seg, flag, num_dupack)
            flag = self._identify_packet_loss(conn, flag)
            if not (cc.ca_state == CaState.OPEN or flag & FLAG_LOST_RETRANS):
                return flag, rexmit
            # Change state if cwnd is undone or retransmits are lost.
        if not conn.sack_ok:
            if flag & FLAG_SND_UNA_ADVANCED:
                board.sacked_out = 0
            self._add_reno_sack(conn, num_dupack)
        if cc.ca_state <= CaState.DISORDER:
            try_undo_dsack(self, conn)
        flag = self._identify_packet_loss(conn, flag)
        if not self._time_to_recover(conn):
            self._try_to_open(conn, flag)
            return flag, REXMIT_NONE
        self._enter_recovery(conn, ece_ack)
        return flag, REXMIT_LOST

    def _time_to_recover(self, conn: Connection) -> bool:
        """Linux tcp_time_to_recover: a loss is proven (RACK), or the duplicate count says so."""
        if self.board.lost_out:
            return True
        return not self._rack_on(conn) and self.board.sacked_out + 1 > self.reordering

    def _rack_on(self, conn: Connection) -> bool:
        return bool(conn.engine.knobs.tcp_recovery & RACK_LOSS_DETECTION)

    def _identify_packet_loss(self, conn: Connection, flag: int) -> int:
        """Linux tcp_identify_packet_loss: RACK with SACK, the duplicate threshold without."""
        board = self.board
        if not board.recs:
            return flag
        if not conn.sack_ok:
            self._newreno_mark_lost(conn, bool(flag & FLAG_SND_UNA_ADVANCED))
        elif self._rack_on(conn):
            prior_retrans = board.retrans_out
            if self.rack_mark_lost(conn):
                flag &= ~FLAG_SET_XMIT_TIMER
            if prior_retrans > board.retrans_out:
                flag |= FLAG_LOST_RETRANS
        return flag

    def _newreno_mark_lost(self, conn: Connection, snd_una_advanced: bool) -> None:
        """Linux tcp_newreno_mark_lost: the head is lost at the duplicate threshold, and after
        each partial ACK in Recovery (RFC 6582 section 3.2 step 5)."""
        board = self.board
        state = self.cc.ca_state
        if (state < CaState.RECOVERY and board.sacked_out >= self.reordering) or \
                (state == CaState.RECOVERY and snd_una_advanced):
            head = board.recs[0]
            if head.sacked & LOST:
                return
            if head.pcount > 1 and head.data_len > conn.mss:
                board.split(0, conn.mss)
            board.mark_lost(board.recs[0])

    def _reo_wnd(self, conn: Connection) -> float:
        knobs = conn.engine.knobs
        return self.rack.reo_wnd(self.reord_seen, self.cc.ca_state >= CaState.RECOVERY,
                                 self.board.sacked_out, self.reordering, knobs.tcp_recovery,
                                 self.srtt_or_zero)

    @staticmethod
    def _count_lost_retrans(conn: Connection, segs: int) -> None:
        """Linux tcp_mark_skb_lost: TCPLostRetransmit counts the segments of retransmissions
        marked lost again (by RACK's clock, an RTO, a smaller path MTU)."""
        if segs:
            conn.engine.counters["TCPLostRetransmit"] += segs

    def rack_mark_lost(self, conn: Connection) -> bool:
        """Linux tcp_rack_mark_lost: a RACK pass when it advanced; arms the reordering timer
        for what may still be reordered. Returns True when it did."""
        rack = self.rack
        if not rack.advanced:
            return False
        rack.advanced = False
        timeout, lost_retrans = rack.detect_loss(self.board, self._reo_wnd(conn), conn.engine.now)
        self._count_lost_retrans(conn, lost_retrans)
        if timeout:
            # Linux: usecs_to_jiffies(timeout) + TCP_TIMEOUT_MIN (2 jiffies); the 6.18 kernel this
            # is checked against fires it about 31 ms after a 25 ms window is set (+.027 in
            # sack/sack-shift-sacked-7-3-4-8-9-fack.pkt passes, .0318 measured in
            # fast_retransmit/fr-4pkt-fack-last-mss.pkt): the window in jiffies + 2 ms.
            self.reset_xmit_timer(conn, TIME_REO_TIMEOUT, jiffies(timeout) + TCP_TIMEOUT_MIN_US)
            return True
        return False

    def _process_loss(self, conn: Connection, seg: Segment, flag: int, num_dupack: int) -> int:
        """Linux tcp_process_loss: Loss after an RTO, with F-RTO (RFC 5682 section 3.1, the
        SACK-enhanced version when SACK is on). Returns what to resend."""
        recovered = not seq_lt(conn.snd_una, self.high_seq)
        if flag & FLAG_SND_UNA_ADVANCED and try_undo_loss(self, conn, seg, False):
            return REXMIT_NONE
        if self.frto:
            # Step 3.b: the timeout was spurious if never-resent data is (s)acked.
            if flag & FLAG_ORIG_SACK_ACKED and try_undo_loss(self, conn, seg, True):
                return REXMIT_NONE
            if seq_gt(conn.snd_nxt, self.high_seq):
                if flag & FLAG_DATA_SACKED or num_dupack:
                    self.frto = False  # step 3.a: the loss was real
            elif flag & FLAG_SND_UNA_ADVANCED and not recovered:
                self.high_seq = conn.snd_nxt
                # Step 2.b: send new data (once the window is updated) or fall back.
                if conn.send_queued > seq_diff(conn.snd_nxt, conn.sndbuf_seq) and \
                        seq_gt((conn.snd_una + conn.snd_wnd) & MASK, conn.snd_nxt):
                    return REXMIT_NEW
                self.frto = False
        if recovered:
            # Step 2.a and the first part of step 3.a.
            try_undo_recovery(self, conn, seg)
            return REXMIT_NONE
        if not conn.sack_ok:
            # A Reno duplicate ACK means the new data of step 2.b arrived.
            if seq_gt(conn.snd_nxt, self.high_seq) and num_dupack:
                self._add_reno_sack(conn, num_dupack)
            elif flag & FLAG_SND_UNA_ADVANCED:
                self.board.sacked_out = 0
        return REXMIT_LOST

    def _cong_control(self, conn: Connection, acked_sacked: int, newly_lost: int, flag: int) -> None:
        """Linux tcp_cong_control: PRR in a reduction, else growth when it may (tcp_may_raise_cwnd)."""
        cc = self.cc
        if cc.ca_state in _IN_REDUCTION:
            self._cwnd_reduction(acked_sacked, newly_lost, flag)
            return
        knobs = conn.engine.knobs
        if self.reordering > knobs.tcp_reordering:
            may_raise = bool(flag & FLAG_FORWARD_PROGRESS)
        else:
            may_raise = bool(flag & FLAG_DATA_ACKED)
        if may_raise:
            cc.cong_avoid(acked_sacked, conn.engine.now, cc.cwnd_limited())
            cc.cwnd_stamp = conn.engine.now  # Linux tcp_cong_avoid: snd_cwnd_stamp

    def _xmit_recovery(self, conn: Connection, rexmit: int) -> None:
        """Linux tcp_xmit_recovery."""
        if rexmit == REXMIT_NONE or conn.state == State.SYN_SENT:
            return
        if rexmit == REXMIT_NEW:
            output.transmit(conn, nagle_off=True)
            if seq_gt(conn.snd_nxt, self.high_seq):
                return
            self.frto = False
        self.xmit_retransmit_queue(conn)

    # ------------------------------------------------------------------ retransmission

    def xmit_retransmit_queue(self, conn: Connection) -> None:
        """Linux tcp_xmit_retransmit_queue: resend what is marked lost, as cwnd allows."""
        board = self.board
        if not board.packets_out:
            return
        cc = self.cc
        counters = conn.engine.counters
        recs = board.recs
        rearm = False
        i = 0
        while i < len(recs):
            segs = cc.cwnd - board.in_flight
            if segs <= 0 or board.retrans_out >= board.lost_out:
                break
            rec = recs[i]
            sacked = rec.sacked
            if not sacked & LOST or sacked & (SACKED_ACKED | SACKED_RETRANS):
                i += 1
                continue
            mib = "TCPSlowStartRetrans" if cc.ca_state == CaState.LOSS else "TCPFastRetrans"
            reason = "RTO" if cc.ca_state == CaState.LOSS else (
                "RACK" if conn.sack_ok and self._rack_on(conn) else "fast retransmit")
            if not self.retransmit(conn, i, segs, reason):
                break
            counters[mib] += rec.pcount
            if cc.ca_state in _IN_REDUCTION:
                self.prr.sent(rec.pcount)
            if i == 0 and self.pending != TIME_REO_TIMEOUT:
                rearm = True
            i += 1
        if rearm:
            self.reset_xmit_timer(conn, TIME_RETRANS, self.rto)

    def retransmit(self, conn: Connection, i: int, segs: int, reason: str) -> bool:
        """Linux tcp_retransmit_skb: resend record `i`, cut to `segs` segments; False when the
        peer's window does not reach it or the local device dropped it. Only a retransmission
        that left is in flight (RETRANS, retrans_out); an attempted one still starts the
        episode's clock (retrans_stamp: the record's last send) and counts against the undo."""
        board = self.board
        rec = board.recs[i]
        sent = self.resend(conn, i, segs, reason)
        if sent:
            board.resent(rec, conn.engine.now, delivered=self.delivered)
        self.undo.retransmitted(rec.pcount, rec.sent)  # tcp_skb_timestamp_ts(skb): now if it left
        return sent

    def resend(self, conn: Connection, i: int, segs: int, reason: str) -> bool:
        """Linux __tcp_retransmit_skb: the bytes of record `i` go out again (cut to `segs`
        segments of the current MSS). False when they did not: the peer shrank its window below
        them (-EAGAIN), or the local device dropped them (tcp_transmit_skb's error), which
        TCPRetransFail counts and which marks the record EVER_RETRANS all the same, so that no
        RTT sample is taken from a send that never happened."""
        board = self.board
        rec = board.recs[i]
        if seq_lt(rec.seq, conn.snd_una):
            # Partly acknowledged since it was sent, yet kept whole (one segment: tcp_clean_rtx_queue
            # trims only TSO records), e.g. data and the FIN after it: its acknowledged head goes
            # before it is resent (__tcp_retransmit_skb's tcp_trim_head).
            board.trim_acked_head(i, conn.snd_una)
        wnd_end = (conn.snd_una + conn.snd_wnd) & MASK
        if not seq_lt(rec.seq, wnd_end) and rec.seq != conn.snd_una:
            return False
        mss = conn.mss
        limit = segs * mss
        if rec.data_len > limit:
            board.split(i, limit)
        board.recount(i)  # in segments of the current MSS (tcp_set_skb_tso_segs)
        # Less than an MSS (so not cut): collapse what follows into it, within the window
        # (a zero window still lets the head go, as a probe: avail_wnd = cur_mss).
        space = min(seq_diff(wnd_end, rec.seq) if seq_lt(rec.seq, wnd_end) else mss, mss)
        if rec.data_len < space:
            self._retrans_try_collapse(conn, i, space)
        if output.resend_range(conn, rec.seq, rec.data_len, rec.fin, reason):
            return True
        conn.engine.counters["TCPRetransFail"] += rec.pcount
        rec.sacked |= EVER_RETRANS
        return False

    def _retrans_try_collapse(self, conn: Connection, i: int, space: int) -> None:
        """Linux tcp_retrans_try_collapse: the short records after record `i` join it, while
        each is one segment not SACKed, the record it joins ends no MSG_EOR record, they fit
        in `space` bytes (the MSS, or less of the peer's window) and end inside the window;
        fewer packets on the wire for the same bytes."""
        if not conn.engine.knobs.tcp_retrans_collapse:
            return
        board = self.board
        recs = board.recs
        to = recs[i]
        if to.pcount > 1 or to.sacked & SACKED_ACKED:  # tcp_can_collapse(to)
            return
        space -= to.data_len
        wnd_end = (conn.snd_una + conn.snd_wnd) & MASK
        while i + 1 < len(recs):
            nxt = recs[i + 1]
            if nxt.pcount > 1 or nxt.sacked & SACKED_ACKED or pushmarks.ends_record(conn, to.end):
                break
            space -= nxt.data_len
            if space < 0 or seq_gt(nxt.end, wnd_end):
                break
            end = nxt.end
            board.collapse(i)
            pushmarks.collapse(conn, to.seq, end)

    def simple_retransmit(self, conn: Connection, old_mss: int) -> None:
        """Linux tcp_simple_retransmit (the path MTU fell): records sent in segments longer
        than the new MSS are lost; Loss without a window reduction; resend them now."""
        board = self.board
        mss = conn.mss
        for rec in board.recs:
            if min(rec.data_len, old_mss) > mss:
                self._count_lost_retrans(conn, board.mark_lost(rec))
        if not board.lost_out:
            return
        if not conn.sack_ok:
            self._check_reno_reordering(conn, 0)
        cc = self.cc
        if cc.ca_state != CaState.LOSS:
            self.high_seq = conn.snd_nxt
            cc.ssthresh = cc.current_ssthresh()
            self.undo.prior_ssthresh = 0
            self.undo.marker = None
            self.set_ca_state(CaState.LOSS, conn.engine.now)
        self.xmit_retransmit_queue(conn)

    # ------------------------------------------------------------------ sending and timers

    def on_sent(self, conn: Connection, seq: int, end: int, fin: bool) -> None:
        """New data left (Linux tcp_event_new_data_sent): onto the queue; the RTO is armed
        when nothing was in flight or a loss probe was pending."""
        board = self.board
        prior_packets = board.packets_out
        board.add(seq, end, conn.engine.now, fin, self.delivered)
        if not prior_packets or self.pending == TIME_LOSS_PROBE:
            self.rearm_rto(conn)

    def after_write(self, conn: Connection, sent_pkts: int, probe: bool = False) -> None:
        """The end of Linux tcp_write_xmit: PRR counts what left, and a loss probe is
        scheduled for the new tail (one per tail-loss episode: not for the probe itself)."""
        if not sent_pkts:
            return
        if self.cc.ca_state in _IN_REDUCTION:
            self.prr.sent(sent_pkts)
        if not probe:
            lossprobe.schedule(conn, False)

    def reset_xmit_timer(self, conn: Connection, what: int, delay: float) -> None:
        """Linux inet_csk_reset_xmit_timer: the one transmission timer, for `what`."""
        self.set_xmit_deadline(conn, what, conn.engine.now + min(delay, conn.engine.knobs.tcp_rto_max))

    def set_xmit_deadline(self, conn: Connection, what: int, deadline: float) -> None:
        self.pending = what
        conn.set_timer(TimerKind.RTO, deadline)

    def rto_deadline(self, conn: Connection) -> float:
        """When the RTO of the head falls due (Linux tcp_rto_delta_us, from now)."""
        head = self.board.head()
        sent = head.sent if head is not None else conn.engine.now
        return sent + self.rto

    def rearm_rto(self, conn: Connection) -> None:
        """Linux tcp_rearm_rto: the RTO from now, or what is left of it from the head's send
        when the timer was a probe or the reordering timeout."""
        if not self.board.packets_out:
            self.pending = 0
            if conn.t_rto != INF:
                conn.cancel_timer(TimerKind.RTO)
            return
        if self.pending in (TIME_REO_TIMEOUT, TIME_LOSS_PROBE):
            # What is left of the head's RTO (at least a microsecond, as Linux's one jiffy).
            now = conn.engine.now
            self.set_xmit_deadline(conn, TIME_RETRANS, max(self.rto_deadline(conn), now + 1e-6))
        else:
            self.reset_xmit_timer(conn, TIME_RETRANS, self.rto)

    def set_xmit_timer(self, conn: Connection) -> None:
        """Linux tcp_set_xmit_timer: the loss probe if one may be scheduled, else the RTO."""
        if not lossprobe.schedule(conn, True):
            self.rearm_rto(conn)

    def on_xmit_timer(self, conn: Connection) -> bool:
        """The transmission timer fired (Linux tcp_write_timer_handler). Returns True when
        it was the RTO, for the caller's tcp_retransmit_timer."""
        what = self.pending
        if what == TIME_REO_TIMEOUT:
            self._reo_timeout(conn)
            return False
        if what == TIME_LOSS_PROBE:
            lossprobe.send(conn)
            return False
        self.pending = 0
        return True

    def _reo_timeout(self, conn: Connection) -> None:
        """Linux tcp_rack_reo_timeout: the reordering window passed; what is overdue is lost."""
        board = self.board
        prior_inflight = board.in_flight
        prior_lost = board.lost
        _, lost_retrans = self.rack.detect_loss(board, self._reo_wnd(conn), conn.engine.now)
        self._count_lost_retrans(conn, lost_retrans)
        if prior_inflight != board.in_flight:
            if self.cc.ca_state != CaState.RECOVERY:
                self._enter_recovery(conn, False)
                self._cwnd_reduction(1, board.lost - prior_lost, 0)
            self.xmit_retransmit_queue(conn)
        if self.pending != TIME_RETRANS:
            self.rearm_rto(conn)

    def enter_loss(self, conn: Connection) -> None:
        """Linux tcp_enter_loss (RFC 6298 section 5.5, RFC 5681 section 3.1): after an RTO,
        everything not SACKed and not sent within the last RACK.rtt is lost; cwnd is what is
        still in flight plus one; ssthresh reduced once per episode; F-RTO armed."""
        eng = conn.engine
        knobs = eng.knobs
        cc = self.cc
        board = self.board
        state = cc.ca_state
        new_recovery = state < CaState.RECOVERY
        self._timeout_mark_lost(conn)
        if state <= CaState.DISORDER or not seq_gt(self.high_seq, conn.snd_una) or \
                (state == CaState.LOSS and not self.retransmits):
            self.undo.prior_ssthresh = cc.current_ssthresh()
            cc.prior_cwnd = cc.cwnd
            cc.ssthresh = cc.ssthresh_on_loss()
            self.undo.start(conn.snd_una, self._retrans_in_flight())
        cc.cwnd = board.in_flight + 1
        cc.cwnd_cnt = 0
        # A timeout after many duplicate ACKs: the reordering degree was overestimated.
        if state <= CaState.DISORDER and board.sacked_out >= knobs.tcp_reordering:
            self.reordering = min(self.reordering, knobs.tcp_reordering)
        self.set_ca_state(CaState.LOSS, eng.now)
        self.high_seq = conn.snd_nxt
        self.tlp_high_seq = None
        conn.queue_cwr()  # tcp_ecn_queue_cwr
        # F-RTO (RFC 5682 section 3.1 step 1) unless a recovery was under way, except for
        # repeated timeouts of the same segment (section 3.2).
        self.frto = bool(knobs.tcp_frto) and (new_recovery or bool(self.retransmits))

    def _timeout_mark_lost(self, conn: Connection) -> None:
        """Linux tcp_timeout_mark_lost: mark lost all but the SACKed and the recently sent
        (a head SACKed means the receiver reneged: forget the SACKs)."""
        board = self.board
        head = board.head()
        if head is None:
            return
        is_reneg = bool(head.sacked & SACKED_ACKED)
        if is_reneg:
            conn.engine.counters["TCPSackReneging"] += 1
            board.renege()
            self.is_sack_reneg = True
        elif not conn.sack_ok:
            board.sacked_out = 0
        now = conn.engine.now
        rack = self.rack
        for rec in board.recs:
            if not is_reneg and rec is not head and rack.skb_timeout(rec.sent, 0.0, now) > 0:
                continue  # don't mark recently sent ones lost yet
            self._count_lost_retrans(conn, board.mark_lost(rec))
