"""The receiving half of a connection: SEGMENT ARRIVES (RFC 9293 section 3.10.7).

The order of checks is the RFC's (sequence, RST, SYN, ACK, data, FIN) with the
hardening of RFC 5961 and RFC 7323, and Linux's choices where the RFC leaves
room (tcp_input.c: tcp_validate_incoming, tcp_ack, tcp_data_queue, tcp_fin).
The receive window's bounds and their autotuning are in `rcvwindow`. A mixin of
`Connection`.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..wire.segment import ACK, CWR, ECE, FIN, RST, SYN, Segment
from .recvbuf import RecvBuffer
from .reset import reset_for
from .seq import MASK, seq_diff, seq_ge, seq_gt, seq_le, seq_lt
from .states import DONE, State
from .timers import INF, TimerKind

if TYPE_CHECKING:
    from .connection import Connection

# Linux tcp_reset(): the error the application sees when an RST ends the connection.
# Plain names for the states the per-segment path tests: `State.X` costs an Enum attribute
# lookup (~80 ns on 3.11) where a module global costs ~13 ns.
_SYN_SENT, _SYN_RECEIVED, _ESTABLISHED = State.SYN_SENT, State.SYN_RECEIVED, State.ESTABLISHED
_FIN_IN = frozenset({State.CLOSE_WAIT, State.CLOSING, State.LAST_ACK})  # the peer's FIN came already
_FIN_WAITS = frozenset({State.FIN_WAIT_1, State.FIN_WAIT_2})
_RESET_ERRNO = {State.SYN_SENT: errno.ECONNREFUSED, State.CLOSE_WAIT: errno.EPIPE}
# Linux TCP_TIMEOUT_MIN: 2 jiffies, 8 ms at HZ=250 (the Debian and Ubuntu kernels' HZ).
_TCP_TIMEOUT_MIN = 0.008


class Receiver:
    __slots__ = ()

    def input(self: Connection, seg: Segment) -> None:
        """Process one arriving segment, then send what it made due."""
        if self.state == _SYN_SENT:
            self._input_syn_sent(seg)
        else:
            self._input_synchronized(seg)
        if self.state not in DONE:
            self._transmit()
            self._schedule_ack()

    # ------------------------------------------------------------------ SYN-SENT (3.10.7.3)

    def _input_syn_sent(self: Connection, seg: Segment) -> None:
        flags = seg.flags
        if flags & ACK and (seq_le(seg.ack, self.iss) or seq_gt(seg.ack, self.snd_max)):
            if not flags & RST:
                self._emit(reset_for(seg))  # type: ignore[arg-type]
            if not self.retransmits:
                # Linux tcp_rcv_synsent_state_process: "previous FIN/ACK or RST/ACK might be
                # ignored", so the SYN goes out again soon instead of after the full RTO.
                self._set_timer(TimerKind.RTO, self.engine.now + _TCP_TIMEOUT_MIN)
            self._note_drop(seg, "unacceptable ACK in SYN-SENT")
            return
        if flags & RST:
            if flags & ACK:
                self._drop(errno.ECONNREFUSED, "connection refused")
            else:
                self._note_drop(seg, "RST without ACK in SYN-SENT")
            return
        if not flags & SYN:
            self._note_drop(seg, "no SYN in SYN-SENT")
            return
        self.irs = seg.seq
        self.rcv_nxt = self.rcv_wup = self.rcv_adv = self.last_ack_sent = (seg.seq + 1) & MASK
        self._negotiate(seg)
        # RFC 3168 section 6.1.1: ECN holds if the SYN-ACK has ECE without CWR (Linux
        # tcp_ecn_rcv_synack), or a crossing SYN has both (tcp_ecn_rcv_syn).
        ecn = seg.flags & (ECE | CWR)
        self.ecn_ok = self.ecn_ok and ecn == (ECE if flags & ACK else ECE | CWR)
        self.snd_wnd = seg.window  # RFC 7323 section 2.2: a SYN's window is never scaled
        self.max_snd_wnd = self.snd_wnd
        self.snd_wl1, self.snd_wl2 = seg.seq, seg.ack
        self.ack_pending = True
        if flags & ACK:
            self._syn_acked(seg.ack)
            self._set_state(State.ESTABLISHED)
            self.ack_now = True
            if self.keepalive:
                self.set_keepalive(True)
            if len(seg.payload) or flags & FIN:
                self._input_data(seg)
        else:
            # Simultaneous open (RFC 9293 figure 8): answer with SYN-ACK on our own ISN.
            self._set_state(State.SYN_RECEIVED)
            self.ack_pending = False
            self._emit(self._syn_segment(), retransmit=True)

    def _negotiate(self: Connection, syn: Segment) -> None:
        """Options from the peer's SYN or SYN-ACK (RFC 9293 section 3.7.1, RFC 7323, RFC 2018)."""
        knobs = self.engine.knobs
        self.ts_ok = self.ts_ok and syn.ts_val is not None
        if self.ts_ok:
            self.ts_recent = syn.ts_val or 0
        self.wscale_ok = self.wscale_ok and syn.wscale is not None
        if self.wscale_ok:
            self.snd_wscale = min(syn.wscale or 0, 14)  # RFC 7323 section 2.3
        else:
            self.snd_wscale = self.rcv_wscale = 0
            # Linux tcp_rcv_synsent_state_process: no scaling, no window beyond 64 KB.
            self.window_clamp = min(self.window_clamp, 0xFFFF)
            self.rcv_ssthresh = min(self.rcv_ssthresh, self.window_clamp)
        self.sack_ok = self.sack_ok and syn.sack_permitted
        peer_mss = syn.mss if syn.mss else 536  # RFC 9293 section 3.7.1
        mss = min(peer_mss, self.engine.mss)
        if self.user_mss:
            mss = min(mss, self.user_mss)
        if self.ts_ok:
            mss -= 12  # the timestamp option rides on every segment (RFC 7323 section 3)
        self.mss = max(mss, 64)
        self.rcv_mss = min(self.advmss, self.mss + (12 if self.ts_ok else 0), 536)
        self.cc.cwnd = knobs.tcp_init_cwnd * self.mss

    def _syn_acked(self: Connection, ack: int) -> None:
        """Our SYN is acknowledged: stop its timer, take an RTT sample unless it was resent (Karn)."""
        self.snd_una = ack
        if seq_lt(self.snd_nxt, ack):
            self.snd_nxt = ack
        if self.retransmits == 0 and self.rtt_time is not None:
            self.rtt.sample(self.engine.now - self.rtt_time, self.engine.knobs)
        self.rtt_time = None
        self.retransmits = 0
        self._cancel_timer(TimerKind.RTO)

    # ------------------------------------------------------------------ synchronized states (3.10.7.4)

    def _input_synchronized(self: Connection, seg: Segment) -> None:
        flags = seg.flags
        eng = self.engine
        # RFC 7323 section 5.3: PAWS rejects segments carrying an old timestamp.
        if self.ts_ok and seg.ts_val is not None and not flags & RST and self.ts_recent \
                and (seg.ts_val - self.ts_recent) & 0x80000000:
            eng.counters["PAWSEstabRejected"] += 1
            self._note_drop(seg, "PAWS: old timestamp")
            self._send_dupack(seg, "TCPACKSkippedPAWS")
            return
        # First: is the segment in the window?
        if not self._acceptable(seg):
            if flags & RST and self._reset_check(seg):
                # Linux tcp_validate_incoming -> tcp_reset_check: once the peer's FIN is in, its
                # RST may carry the sequence number of that FIN (RCV.NXT - 1), below the window.
                self._drop(_RESET_ERRNO.get(self.state, errno.ECONNRESET), "connection reset by peer")
                return
            self._note_drop(seg, "outside the receive window")
            if not flags & RST:
                if flags & SYN:
                    eng.counters["TCPSYNChallenge"] += 1
                    self._send_challenge_ack()
                else:
                    self._send_dupack(seg)
            return
        # Second: RST (RFC 5961 section 3.2).
        if flags & RST:
            self._input_rst(seg)
            return
        # Fourth: SYN.
        if flags & SYN:
            if self.state == State.SYN_RECEIVED and seg.seq == self.irs and not flags & ACK:
                self._resend_synack()
                return
            if self.state == State.SYN_RECEIVED and self.listener is not None and seg.seq != self.irs:
                # Linux tcp_check_req: a different SYN in the window resets the half-open
                # connection ("fourth, check the SYN bit" of RFC 793; no RFC 5961 challenge there).
                self._emit(reset_for(seg))  # type: ignore[arg-type]
                self._drop(reason="SYN in SYN-RECEIVED")
                return
            if not (self.state == State.SYN_RECEIVED and self.listener is None and flags & ACK
                    and seg.seq == self.irs and seg.ack == self.snd_nxt):
                if eng.knobs.tcp_insecure_syn and seq_ge(seg.seq, self.rcv_nxt):
                    # RFC 793 page 71, "fourth, check the SYN bit": a SYN in the window (its own
                    # sequence number, not just its end, as Linux's tcp_sequence takes it) is an
                    # error; send a reset, report "connection reset", enter CLOSED.
                    self._note_drop(seg, "SYN on a synchronized connection (insecure: reset)")
                    self._send_active_rst()
                    self._drop(errno.ECONNRESET, "SYN in the window (tcp_insecure_syn)")
                    return
                # RFC 5961 section 4.2: a SYN on a synchronized connection earns a challenge ACK.
                eng.counters["TCPSYNChallenge"] += 1
                self._note_drop(seg, "SYN on a synchronized connection")
                self._send_challenge_ack()
                return
            # Simultaneous open: the peer's SYN-ACK acknowledges our SYN. Linux lets it through
            # to the ACK processing below (tcp_validate_incoming) instead of challenging it, and
            # ACKs it at once as an old segment (its SYN is already counted in rcv_nxt).
            self._ack_at_once()
        # Fifth: ACK.
        if not flags & ACK:
            self._note_drop(seg, "no ACK")
            return
        self.last_recv = eng.now
        if self.state == _SYN_RECEIVED and not self._input_syn_received_ack(seg):
            return
        if not self._input_ack(seg):
            return
        if self.state in DONE:
            return
        if self.ts_ok and seg.ts_val is not None and seq_le(seg.seq, self.last_ack_sent):
            self.ts_recent = seg.ts_val  # RFC 7323 section 4.3
        if self.ts_ok and seg.ts_ecr is not None and self.state == _ESTABLISHED:
            self._rcv_rtt_measure_ts(seg)
        if self.ecn_ok:
            self._ecn_input(seg)
        # Seventh and eighth: data and FIN.
        if len(seg.payload) or flags & FIN:
            self._input_data(seg)

    def _resend_synack(self: Connection) -> None:
        """A duplicate SYN in SYN-RECEIVED: the peer did not hear our SYN-ACK (Linux tcp_check_req).

        Sent again at most once per tcp_invalid_ratelimit, and the SYN-ACK timer
        restarts from now, as after a fast retransmit.
        """
        eng = self.engine
        if eng.now - self.last_oow_ack < eng.knobs.tcp_invalid_ratelimit:
            eng.counters["TCPACKSkippedSynRecv"] += 1
            return
        self.last_oow_ack = eng.now
        self._emit(self._syn_segment(), retransmit=True)
        self._set_timer(TimerKind.RTO, eng.now + self.rtt.rto)

    def _acceptable(self: Connection, seg: Segment) -> bool:
        """RFC 9293 section 3.10.7.4 acceptability, in Linux's form (tcp_sequence):
        not wholly before what we last acknowledged, not starting beyond the window."""
        end = (seg.seq + seg.seg_len) & MASK
        if seq_lt(end, self.rcv_wup):
            return False
        window = max(seq_diff(self.rcv_adv, self.rcv_nxt), 0)
        return not seq_gt(seg.seq, (self.rcv_nxt + window) & MASK)

    def _input_rst(self: Connection, seg: Segment) -> None:
        """RFC 5961 section 3.2: reset only at exactly rcv_nxt, otherwise a challenge ACK.

        Linux also takes rcv_nxt - 1 once our side has consumed the peer's FIN (tcp_reset_check),
        and any in-window RST for a connection still in the SYN queue (tcp_check_req).
        """
        exact = seg.seq == self.rcv_nxt or self._reset_check(seg) or (
            # A listener's half-open connection is Linux's request sock: tcp_check_req takes any
            # RST in the window (RFC 5961 challenge ACKs are for full sockets only).
            self.state == State.SYN_RECEIVED and self.listener is not None
        )
        if not exact and not self.engine.knobs.tcp_insecure_rst:
            self._note_drop(seg, "RST not at rcv_nxt (RFC 5961)")
            self._send_challenge_ack()
            return
        if self.state == State.SYN_RECEIVED and self.listener is not None:
            self._drop(reason="RST in SYN-RECEIVED: back to LISTEN")
            return
        self._drop(_RESET_ERRNO.get(self.state, errno.ECONNRESET), "connection reset by peer")

    def _reset_check(self: Connection, seg: Segment) -> bool:
        """Linux tcp_reset_check: at RCV.NXT - 1, an RST after the peer's FIN still counts."""
        return self.state in _FIN_IN \
            and seg.seq == (self.rcv_nxt - 1) & MASK

    def _input_syn_received_ack(self: Connection, seg: Segment) -> bool:
        """The handshake's third segment (RFC 9293 section 3.10.7.4, fifth, SYN-RECEIVED)."""
        ack = seg.ack
        if not (seq_lt(self.snd_una, ack) and seq_le(ack, self.snd_max)):
            self._note_drop(seg, "unacceptable ACK in SYN-RECEIVED")
            self._emit(reset_for(seg))  # type: ignore[arg-type]
            return False
        listener = self.listener
        if listener is not None and listener.accept_queue_full():
            eng = self.engine
            eng.counters["ListenOverflows"] += 1
            eng.counters["ListenDrops"] += 1
            if eng.knobs.tcp_abort_on_overflow:
                self._emit(reset_for(seg))  # type: ignore[arg-type]
                self._drop(reason="accept queue full (tcp_abort_on_overflow)")
            else:
                # Linux: drop the ACK; our SYN-ACK timer will ask again later.
                self._note_drop(seg, "accept queue full")
            return False
        self._syn_acked(ack)
        self.snd_wnd = seg.window << self.snd_wscale
        self.max_snd_wnd = max(self.max_snd_wnd, self.snd_wnd)
        self.snd_wl1, self.snd_wl2 = seg.seq, ack
        self._set_state(State.ESTABLISHED)
        if listener is not None:
            self.engine.counters["PassiveOpens"] += 1
            listener.established(self)
        if self.keepalive:
            self.set_keepalive(True)
        return True

    def _input_ack(self: Connection, seg: Segment) -> bool:
        """ACK processing (RFC 9293 section 3.10.7.4, fifth). False means drop the segment."""
        ack = seg.ack
        eng = self.engine
        if seq_gt(ack, self.snd_max):
            # It acknowledges something not yet sent: ACK and drop (RFC 9293, RFC 5961 section 5.2).
            self._note_drop(seg, "ACK for data not yet sent")
            self._send_challenge_ack()
            return False
        if seq_lt(ack, self.snd_una):
            if seq_lt(ack, (self.snd_una - self.max_snd_wnd) & MASK):
                self._note_drop(seg, "ACK too old (RFC 5961 section 5.2)")
                self._send_challenge_ack()
                return False
            return True  # an old duplicate ACK: ignore it, keep the segment's data
        self.probes_out = 0
        window_changed = False
        if seq_lt(self.snd_wl1, seg.seq) or (self.snd_wl1 == seg.seq and seq_le(self.snd_wl2, ack)):
            wnd = seg.window << self.snd_wscale
            window_changed = wnd != self.snd_wnd
            self.snd_wnd = wnd
            self.snd_wl1, self.snd_wl2 = seg.seq, ack
            if wnd > self.max_snd_wnd:
                self.max_snd_wnd = wnd
            if self.t_persist != INF and self.snd_una == self.snd_max:
                # Linux tcp_ack_probe: the window opened, so the probe backoff ends; still shut,
                # so the next probe is timed from this answer, keeping its backoff.
                if wnd:
                    self.rtt.backoff = 0
                    self._cancel_timer(TimerKind.PERSIST)
                else:
                    self._set_timer(TimerKind.PERSIST, eng.now + self._probe_interval())
        if ack == self.snd_una:
            if self.snd_una != self.snd_max and not len(seg.payload) and not seg.flags & (SYN | FIN) \
                    and not window_changed and self.state != _SYN_RECEIVED:
                self._dupack()
            return True
        self._ack_new(ack, seg)
        return True

    def _dupack(self: Connection) -> None:
        """A duplicate ACK (RFC 5681 section 2): count it; the third starts fast retransmit."""
        flight = seq_diff(self.snd_max, self.snd_una)
        if self.cc.on_dupack(flight, self.snd_max, self.mss, self.engine.knobs.tcp_reordering):
            eng = self.engine
            eng.counters["TCPFastRetrans"] += 1
            eng.counters["TCPSackRecovery" if self.sack_ok else "TCPRenoRecovery"] += 1
            self._retransmit_head()

    def _ack_new(self: Connection, ack: int, seg: Segment | None = None) -> None:
        """New data acknowledged: trim the send buffer, sample RTT, restart or stop the RTO."""
        eng = self.engine
        acked = seq_diff(ack, self.snd_una)
        flight = seq_diff(self.snd_max, self.snd_una)
        buf = self.sndbuf
        if buf is not None:
            n = min(max(seq_diff(ack, self.sndbuf_seq), 0), len(buf))
            if n:
                buf.drop(n)
                self.sndbuf_seq = (self.sndbuf_seq + n) & MASK
                eng.wake(self)
        self.snd_una = ack
        if seq_lt(self.snd_nxt, ack):
            self.snd_nxt = ack
        if self.rtt_time is not None and seq_gt(ack, self.rtt_seq):
            self.rtt.sample(eng.now - self.rtt_time, eng.knobs)  # RFC 6298 section 3
            self.rtt_time = None
        elif self.retransmits and self.ts_ok and seg is not None and seg.ts_ecr:
            # A timed-out segment was acknowledged: Karn forbids timing it by sequence number,
            # but the echoed timestamp says which transmission arrived (RFC 7323 section 4;
            # Linux tcp_ack_update_rtt), so the backed-off RTO can come down again.
            sent_ms = (seg.ts_ecr - self.ts_offset) & MASK
            rtt_ms = (int(eng.now * 1000) - sent_ms) & MASK
            if rtt_ms < 0x80000000:
                self.rtt.sample(rtt_ms / 1000, eng.knobs)
        self.retransmits = 0
        if ack == self.snd_max:
            self._cancel_timer(TimerKind.RTO)  # RFC 6298 section 5.2
        else:
            self._set_timer(TimerKind.RTO, eng.now + self.rtt.rto)  # RFC 6298 section 5.3
        if self.cc.on_ack(acked, ack, flight, self.mss):
            self._retransmit_head()  # partial ACK in fast recovery: the next hole (RFC 6582)
        if self.fin_queued and ack == (self.fin_seq + 1) & MASK:
            self._fin_acked()

    # ------------------------------------------------------------------ data and FIN (seventh, eighth)

    def _input_data(self: Connection, seg: Segment) -> None:
        eng = self.engine
        state = self.state
        payload = seg.payload
        seq = seg.seq
        fin = seg.flags & FIN
        end = (seq + len(payload)) & MASK
        if state in _FIN_IN:
            # The peer's FIN came already: anything new is ignored, an old copy re-ACKed
            # with a D-SACK for it (Linux: tcp_rcv_state_process falls through to tcp_data_queue).
            if seq_lt(seq, self.rcv_nxt):
                self._dsack_old(seq, (end + (1 if fin else 0)) & MASK)
                self._ack_at_once()
            return
        if self.shut_rd and state in _FIN_WAITS and len(payload) \
                and seq_gt(end, self.rcv_nxt):
            # RFC 1122 section 4.2.2.13 / Linux: new data for a closed reader is answered with RST.
            eng.counters["TCPAbortOnData"] += 1
            self._emit(reset_for(seg))  # type: ignore[arg-type]
            self._drop(errno.ECONNRESET, "data after close")
            return
        window = max(seq_diff(self.rcv_adv, self.rcv_nxt), 0)
        start = seq_diff(seq, self.rcv_nxt)
        if len(payload):
            if seq_le(end, self.rcv_nxt) and not (fin and end == self.rcv_nxt):
                # A retransmission of what we already have: our ACK was probably lost. ACK at once
                # and leave ping-pong mode for quick-ACK mode (Linux tcp_data_queue ->
                # tcp_enter_quickack_mode), so the next segments are not held back either.
                eng.counters["DelayedACKLost"] += 1
                self._dsack_old(seq, (end + (1 if fin else 0)) & MASK)  # RFC 2883 section 4
                self._enter_quickack()
                self.pingpong = False
                self._ack_at_once()
                return
            if window == 0 and start >= 0:
                eng.counters["TCPZeroWindowDrop"] += 1
                self._note_drop(seg, "receive window is zero")
                self._ack_at_once()
                return
            excess = start + len(payload) - window
            if excess > 0:
                payload = payload[: len(payload) - excess]  # RFC 9293: trim to the window
                fin = 0
            if self.rcvbuf is None:
                self.rcvbuf = RecvBuffer()
            had_ooo = bool(self.rcvbuf.ooo) or self._fin_beyond_hole()
            ooo_bytes = self.rcvbuf.ooo_bytes
            advanced = self.rcvbuf.add(self.rcv_nxt, seq, payload, self._dsack_on())
            self.ack_pending = True
            if start > 0:
                eng.counters["TCPOFOQueue"] += 1
                self.ack_now = True  # RFC 5681 section 4.2: out-of-order data is ACKed at once
                if self.sack_ok and self.rcvbuf.ooo_bytes > ooo_bytes:
                    # Linux tcp_data_queue_ofo, for a segment that brought new bytes; without SACK
                    # the window stays put, so that the sender sees duplicate ACKs (a window
                    # change would not count as one).
                    self._grow_window(len(payload))
            if advanced:
                self.rcv_nxt = (self.rcv_nxt + advanced) & MASK
                self._data_received(seg.gso or len(payload))  # Linux: gso_size ?: skb->len
                self._rcv_autotune_data(len(payload))
                if had_ooo:
                    self.ack_now = True  # a hole filled (RFC 5681 section 4.2)
                eng.wake(self)
        if fin:
            fin_seq = (seq + len(payload)) & MASK
            if seq_ge(fin_seq, self.rcv_nxt):
                self.rcv_fin_seq = fin_seq
                if self._fin_beyond_hole() and self.sack_ok:
                    if self.rcvbuf is None:
                        self.rcvbuf = RecvBuffer()
                    self.rcvbuf.note_fin(fin_seq)
            else:
                self._dsack_old(fin_seq, (fin_seq + 1) & MASK)  # a FIN we had already
                self._ack_at_once()
        if self.rcv_fin_seq is not None:
            if self.rcv_fin_seq == self.rcv_nxt:
                self._fin_received()
            else:
                self.ack_pending = self.ack_now = True

    def _fin_beyond_hole(self: Connection) -> bool:
        """The peer's FIN came, out of order (Linux queues it with out-of-order data: it is
        SACKed, and the data that fills the hole is ACKed at once)."""
        return self.rcv_fin_seq is not None and self.rcv_fin_seq != self.rcv_nxt

    # ------------------------------------------------------------------ ECN and D-SACK

    def _ecn_input(self: Connection, seg: Segment) -> None:
        """The receiver's half of RFC 3168 section 6.1.3 (Linux tcp_ecn_accept_cwr, tcp_data_ecn_check).

        The peer's CWR ends our ECE echo; a Congestion Experienced mark on its data starts it,
        with an ACK at once. minitcp's own segments are sent not-ECT, so no CE mark can come
        back to it and it never has to reduce its window for ECE.
        """
        if seg.flags & CWR:
            self.ecn_demand_cwr = False
            if len(seg.payload):
                self.ack_now = True  # its cwnd may be one segment: do not hold the ACK back
        if len(seg.payload) and seg.tos & 0x03 == 0x03 and not self.ecn_demand_cwr:
            self.ecn_demand_cwr = True
            self.ack_now = True

    def _dsack_on(self: Connection) -> bool:
        """D-SACK (RFC 2883) is sent when SACK was negotiated and tcp_dsack is on (Linux tcp_dsack_set)."""
        return self.sack_ok and bool(self.engine.knobs.tcp_dsack)

    def _dsack_old(self: Connection, seq: int, end: int) -> None:
        """Report a duplicate below rcv_nxt, clipped to rcv_nxt (Linux tcp_data_queue, tcp_send_dupack)."""
        if not self._dsack_on() or not seq_lt(seq, self.rcv_nxt):
            return
        if self.rcvbuf is None:
            self.rcvbuf = RecvBuffer()
        self.engine.counters["TCPDSACKOldSent"] += 1
        self.rcvbuf.dsack_set(seq, end if seq_lt(end, self.rcv_nxt) else self.rcv_nxt)

    def _ack_at_once(self: Connection) -> None:
        self.ack_pending = self.ack_now = True

    def _fin_received(self: Connection) -> None:
        """The peer's FIN is in order (RFC 9293 section 3.10.7.4, eighth; Linux tcp_fin)."""
        self.rcv_fin_seq = None
        self.fin_rcvd = True
        self.rcv_nxt = (self.rcv_nxt + 1) & MASK
        self.ack_pending = True
        state = self.state
        if state in (State.ESTABLISHED, State.SYN_RECEIVED):
            self._set_state(State.CLOSE_WAIT)
            # Linux delays this ACK hoping the application closes soon and the FIN carries it:
            # that is why captures often show three segments for a close.
            self.pingpong = True
        elif state == State.FIN_WAIT_1:
            self.ack_now = True
            self._set_state(State.CLOSING)
        elif state == State.FIN_WAIT_2:
            self._send_ack()
            self.engine.enter_time_wait(self)
        self.engine.wake(self)

    def _note_drop(self: Connection, seg: Segment, reason: str) -> None:
        obs = self.engine.observer
        if obs is not None:
            obs.on_drop(self, reason, seg, self.engine.now)
