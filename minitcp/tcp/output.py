"""The sending half of a connection: segments out, windows, ACK policy, retransmission.

A mixin of `Connection` (it owns no slots): everything here reads and writes
the transmission control block that `connection.py` defines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..wire import tso
from ..wire.segment import ACK, CWR, ECE, FIN, PSH, RST, SYN, Segment
from .seq import MASK, seq_diff, seq_gt, seq_lt
from .states import State
from .timers import INF, TimerKind

if TYPE_CHECKING:
    from .connection import Connection

_DATA_STATES = frozenset(
    {State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_1, State.CLOSING, State.LAST_ACK}
)


class Sender:
    __slots__ = ()

    # ------------------------------------------------------------------ building segments

    def _segment(self: Connection, seq: int, flags: int, payload: bytes | memoryview = b"") -> Segment:
        """A segment from this connection carrying our current ACK, window and options."""
        win = self._select_window()  # what an ACK offers, and records (even a SYN-ACK's)
        if flags & SYN:
            # RFC 7323 section 2.2: the window in a SYN is never scaled. Linux
            # (tcp_select_initial_window) rounds the space down to a multiple of the MSS, less
            # the timestamp option once the SYN-ACK knows it is in use (tcp_openreq_init_rwin),
            # but only when the space exceeds the MSS (a larger MSS would round it to a zero
            # window), then caps it at 65535: 64240 in a SYN, 65160 in a SYN-ACK with timestamps.
            window = self._window_space()
            mss = self.advmss - (12 if flags & ACK and self.ts_ok else 0)
            if window > mss:
                window -= window % mss
            window = min(window, 0xFFFF)
        else:
            window = win >> self.rcv_wscale
        seg = Segment(
            self.laddr, self.raddr, self.lport, self.rport, seq,
            self.rcv_nxt if flags & ACK else 0, flags, window, payload,
            tos=self.tos, ttl=self.ip_ttl,  # IP_TOS, IP_TTL (Linux ip_queue_xmit: inet->tos, ip_select_ttl)
        )
        if self.ts_ok:
            seg.ts_val = (int(self.engine.now * 1000) + self.ts_offset) & MASK
            seg.ts_ecr = self.ts_recent if flags & ACK else 0
        if self.ecn_demand_cwr and not flags & SYN:
            flags |= ECE  # RFC 3168 section 6.1.3: echo CE until the peer's CWR (Linux tcp_ecn_send)
            seg.flags = flags
        if flags & ACK:
            self._ack_sent(win)
            rcvbuf = self.rcvbuf
            if self.sack_ok and rcvbuf is not None and (rcvbuf.ooo or rcvbuf.dsack is not None
                                                          or self._fin_beyond_hole()):
                # RFC 2018 section 3: at most 3 blocks beside timestamps, 4 without; a D-SACK
                # block goes first and counts against them (RFC 2883 section 4).
                seg.sack = rcvbuf.sack_blocks(self.rcv_nxt, 3 if self.ts_ok else 4, self.rcv_fin_seq)
        return seg

    def _syn_segment(self: Connection, retransmit: bool = False) -> Segment:
        flags = SYN | ACK if self.state == State.SYN_RECEIVED else SYN
        if self.ecn_ok:
            if flags & ACK:
                flags |= ECE  # RFC 3168 section 6.1.1: an ECN-setup SYN-ACK (Linux tcp_ecn_make_synack)
            elif not (retransmit and self.engine.knobs.tcp_ecn_fallback):
                # An ECN-setup SYN; a retransmission goes without, in case a middlebox drops
                # them (RFC 3168 section 6.1.1.1, Linux tcp_ecn_clear_syn).
                flags |= ECE | CWR
        seg = self._segment(self.iss, flags)
        seg.mss = self.advmss
        if self.wscale_ok:
            seg.wscale = self.rcv_wscale
        seg.sack_permitted = self.sack_ok
        return seg

    def _emit(self: Connection, seg: Segment, retransmit: bool = False) -> None:
        eng = self.engine
        eng.out.append(seg)
        eng.counters["OutSegs"] += tso.wire_count(seg)
        if retransmit:
            eng.counters["RetransSegs"] += 1
        if eng.observer is not None:
            # An observer sees the segments the wire will carry, a TSO segment's one by one.
            for piece in tso.split(seg) if seg.gso else (seg,):
                eng.observer.on_segment(self, "out", piece, eng.now)
                if retransmit:
                    eng.observer.on_retransmit(self, piece, eng.now)
        if seg.flags & RST:
            eng.counters["OutRsts"] += 1

    # ------------------------------------------------------------------ receive window

    def _window_space(self: Connection) -> int:
        """Receive space (Linux tcp_full_space): half the buffer, as Linux with tcp_adv_win_scale=1
        leaves the rest for overhead."""
        return self.rcvbuf_size // 2

    def _select_window(self: Connection) -> int:
        """The window to advertise, in bytes (Linux __tcp_select_window, simplified).

        Receiver silly-window avoidance (RFC 9293 section 3.8.6.2.2): offer 0 rather
        than a sliver. At most rcv_ssthresh, which autotuning opens as data comes in
        (tcp_grow_window). Never move the right edge left (RFC 9293 section 3.8.6.2.2,
        RFC 7323 section 2.4).
        """
        space = self._window_space()
        free = space - (self.rcvbuf.buffered if self.rcvbuf is not None else 0)
        full = min(self.window_clamp, space)  # Linux full_space
        if free < min(full // 2, self.advmss):
            free = 0
        else:
            if free > self.rcv_ssthresh:
                free = self.rcv_ssthresh
            if self.rcv_wscale:
                free &= ~((1 << self.rcv_wscale) - 1)
            elif free > self.advmss:
                free -= free % self.advmss
        promised = seq_diff(self.rcv_adv, self.rcv_nxt)
        win = max(free, promised, 0)
        if self.rcv_wscale:
            # Round up to the scale unit so the shifted field never pulls the right edge back
            # (Linux __tcp_select_window: ALIGN(window, 1 << rcv_wscale)).
            win = -(-win >> self.rcv_wscale) << self.rcv_wscale
        return min(win, 0xFFFF << self.rcv_wscale)

    def _ack_sent(self: Connection, win: int) -> None:
        """Bookkeeping for any segment that carries our ACK, which offers `win` bytes
        (Linux tcp_event_ack_sent)."""
        if seq_gt(self.rcv_nxt + win & MASK, self.rcv_adv):
            self.rcv_adv = (self.rcv_nxt + win) & MASK
        self.rcv_wup = self.rcv_nxt
        self.last_ack_sent = self.rcv_nxt
        if self.ack_pending:
            self.ack_pending = False
            if self.quick:
                self.quick -= 1
        self.ack_now = False
        self.ack_pushed = 0
        if self.t_delack != INF:
            self._cancel_timer(TimerKind.DELACK)

    # ------------------------------------------------------------------ control segments

    def _send_ack(self: Connection) -> None:
        # A bare ACK carries the highest sequence number sent, not snd_nxt: after a timeout
        # snd_nxt goes back to snd_una, and an ACK numbered below what the peer has already
        # received would fail its acceptability test (BSD tcp_output; Linux's snd_nxt never
        # goes back, tcp_acceptable_seq).
        self._emit(self._segment(self.snd_max, ACK))

    def _send_challenge_ack(self: Connection, counter: str = "TCPChallengeACK") -> None:
        """RFC 5961 section 3.2 / 4.2 challenge ACK, rate-limited like Linux (tcp_send_challenge_ack)."""
        eng = self.engine
        if eng.now - self.last_oow_ack < eng.knobs.tcp_invalid_ratelimit:
            eng.counters["TCPACKSkippedChallenge"] += 1
            return
        if not eng.challenge_ack_allowed():
            return
        self.last_oow_ack = eng.now
        eng.counters[counter] += 1
        self._send_ack()

    def _send_dupack(self: Connection, seg: Segment, skipped: str = "TCPACKSkippedSeq") -> None:
        """An immediate ACK for an unacceptable segment (RFC 9293 section 3.10.7.4).

        Rate-limited per tcp_invalid_ratelimit only for segments without data (or with SYN),
        which could be part of an ACK loop; data always gets its answer (Linux
        tcp_oow_rate_limited), or a sender whose ACKs were lost would wait for nothing.
        """
        eng = self.engine
        if not (len(seg.payload) or seg.flags & FIN) or seg.flags & SYN:
            if eng.now - self.last_oow_ack < eng.knobs.tcp_invalid_ratelimit:
                eng.counters[skipped] += 1
                return
            self.last_oow_ack = eng.now
        else:
            # Linux tcp_send_dupack: an old segment with data (or FIN) is reported in a D-SACK
            # block, clipped to rcv_nxt (RFC 2883 section 4).
            self._dsack_old(seg.seq, (seg.seq + seg.seg_len) & MASK)
        self._send_ack()

    def _send_active_rst(self: Connection) -> None:
        """RST|ACK at the highest sequence sent, as Linux's tcp_send_active_reset (abort, linger 0,
        unread data, keepalive failure)."""
        seg = Segment(self.laddr, self.raddr, self.lport, self.rport, self.snd_max, self.rcv_nxt,
                      RST | ACK, 0, tos=self.tos, ttl=self.ip_ttl)
        self._emit(seg)

    # ------------------------------------------------------------------ data transmission

    def _send_room(self: Connection) -> int:
        """Bytes the application may still queue (sndbuf grows with cwnd like Linux's tcp_sndbuf_expand)."""
        cap = self.sndbuf_size
        if not self.sndbuf_locked:
            cap = min(max(cap, 2 * self.cc.cwnd), self.engine.knobs.tcp_wmem[2])
        return cap - (len(self.sndbuf) if self.sndbuf is not None else 0)

    def _transmit(self: Connection) -> None:
        """Send what the windows, Nagle and silly-window avoidance allow (RFC 9293 section 3.8.6.2.1)."""
        if self.state not in _DATA_STATES:
            return
        now = self.engine.now
        mss = self.mss
        tso_max = self.engine.tso_max
        buf = self.sndbuf
        buflen = len(buf) if buf is not None else 0
        end = (self.sndbuf_seq + buflen) & MASK
        sent_any = False
        while True:
            unsent = seq_diff(end, self.snd_nxt)
            in_flight = seq_diff(self.snd_nxt, self.snd_una)
            usable = min(self.cc.cwnd, self.snd_wnd) - in_flight
            if unsent > 0:
                n = min(unsent, mss, usable)
                if n <= 0:
                    break
                if n < mss and not self._small_segment_ok(n, unsent, in_flight):
                    break
                if not sent_any and in_flight == 0 and self.engine.knobs.tcp_slow_start_after_idle:
                    self.cc.restart_after_idle(now, self.rtt.rto, mss, self.engine.knobs.tcp_init_cwnd)
                    usable = min(self.cc.cwnd, self.snd_wnd)
                    n = min(n, usable)
                if n == mss and tso_max:
                    # As many full segments as may go now, in one TSO segment: the ones this
                    # loop would have sent one by one (the sub-MSS rest still takes the test above).
                    n = min(unsent, usable, tso_max) // mss * mss
                off = seq_diff(self.snd_nxt, self.sndbuf_seq)
                flags = ACK
                if n == unsent:
                    flags |= PSH
                    if self.fin_queued:
                        flags |= FIN  # the FIN rides on the last data segment, as in tcp_send_fin
                self._send_data(self.snd_nxt, flags, buf.view(off, n))
                sent_any = True
            elif self.fin_queued and self.snd_nxt == self.fin_seq:
                self._send_data(self.snd_nxt, FIN | ACK, b"")
                sent_any = True
            else:
                break
        if not sent_any and seq_diff(end, self.snd_nxt) > 0 \
                and self.snd_nxt == self.snd_una and self.t_persist == INF:
            # Linux tcp_check_probe_timer: data waits and nothing in flight will bring an ACK
            # (the window is shut, or too small to be worth a segment): probe it.
            self._set_timer(TimerKind.PERSIST, now + max(self.rtt.rto, self.engine.knobs.tcp_rto_min))

    def _small_segment_ok(self: Connection, n: int, unsent: int, in_flight: int) -> bool:
        """Sender SWS avoidance and Nagle (RFC 9293 section 3.8.6.2.1, RFC 1122 section 4.2.3.4).

        Nagle in Minshall's form, as Linux (tcp_nagle_check, tcp_minshall_check): a small
        segment waits only while an earlier *small* segment is unacknowledged, so a
        2000-byte write leaves at once as 1460 + 540, and a second small write waits.
        """
        if n < unsent:
            # Window-limited: send only a worthwhile part of the largest window seen.
            return n >= self.max_snd_wnd // 2 and self.max_snd_wnd > 0
        if self.nodelay or in_flight == 0 or self.fin_queued:
            return True
        small_in_flight = seq_gt(self.snd_sml, self.snd_una) and not seq_gt(self.snd_sml, self.snd_nxt)
        return not small_in_flight

    def _send_data(self: Connection, seq: int, flags: int, payload: bytes | memoryview) -> None:
        """Send (or resend) bytes starting at `seq`; advances snd_nxt and arms the RTO."""
        eng = self.engine
        retransmit = seq_lt(seq, self.snd_max)
        seg = self._segment(seq, flags, payload)
        if len(payload) > self.mss:
            seg.gso = self.mss
        self._emit(seg, retransmit)
        end = (seq + len(payload) + (flags & FIN)) & MASK
        if len(payload) < self.mss and not retransmit:
            self.snd_sml = end  # Linux tcp_minshall_update
        if seq_gt(end, self.snd_nxt):
            self.snd_nxt = end
        if seq_gt(end, self.snd_max):
            if self.rtt_time is None and not retransmit:
                self.rtt_seq = seq
                self.rtt_time = eng.now
            self.snd_max = end
        if retransmit:
            self.rtt_time = None  # Karn's rule: no RTT sample from a retransmitted segment
        self.cc.last_send = eng.now
        if self.t_rto == INF:
            self._set_timer(TimerKind.RTO, eng.now + self.rtt.rto)
        if self.t_persist != INF:
            self._cancel_timer(TimerKind.PERSIST)
        self._data_sent()

    def _data_sent(self: Connection) -> None:
        """Linux tcp_event_data_sent: a reply soon after a request means an interactive flow."""
        if self.engine.now - self.lrcvtime < self.ato:
            self.pingpong = True

    def _retransmit_head(self: Connection) -> None:
        """Resend the first unacknowledged segment (timeout, fast retransmit, partial ACK)."""
        if self.state in (State.SYN_SENT, State.SYN_RECEIVED):
            self._emit(self._syn_segment(retransmit=True), retransmit=True)
            return
        buf = self.sndbuf
        buflen = len(buf) if buf is not None else 0
        off = seq_diff(self.snd_una, self.sndbuf_seq)
        # Resend what was sent, not new bytes beyond the peer's window (Linux resends the head
        # skb as it went out; RFC 9293 section 3.8.6.2.1 forbids sending past the window).
        limit = max(seq_diff(self.snd_max, self.snd_una), self.snd_wnd)
        n = min(self.mss, buflen - off, limit) if buflen > off else 0
        flags = ACK
        if n:
            payload: bytes | memoryview = buf.view(off, n)
            if off + n == buflen:
                flags |= PSH
                if self.fin_queued and seq_lt(self.fin_seq, self.snd_max):
                    flags |= FIN
        else:
            payload = b""
            flags |= FIN
        self._send_data(self.snd_una, flags, payload)

    # ------------------------------------------------------------------ ACK policy

    def _schedule_ack(self: Connection) -> None:
        """Decide now-or-later for a pending ACK (Linux __tcp_ack_snd_check, tcp_send_delayed_ack)."""
        if not self.ack_pending:
            return
        if self.ack_now or self._ack_due():
            self._send_ack()
            return
        knobs = self.engine.knobs
        ato = max(self.ato, knobs.tcp_delack_min)
        max_ato = knobs.tcp_delack_max
        if self.rtt.srtt is not None:
            max_ato = min(max_ato, max(self.rtt.srtt, knobs.tcp_delack_min))
        deadline = self.engine.now + min(ato, max_ato)
        if deadline < self.t_delack:
            self._set_timer(TimerKind.DELACK, deadline)

    def _ack_due(self: Connection) -> bool:
        """ACK at once: more than one full segment unacknowledged with the window not shrinking,
        quick-ACK mode, or out-of-order data waiting (Linux __tcp_ack_snd_check)."""
        if seq_diff(self.rcv_nxt, self.rcv_wup) > self.rcv_mss and \
                self._select_window() >= seq_diff(self.rcv_adv, self.rcv_wup):
            return True
        if self.quick and not self.pingpong:
            return True
        return self.rcvbuf is not None and bool(self.rcvbuf.ooo)

    def _data_received(self: Connection, length: int) -> None:
        """Linux tcp_measure_rcv_mss and tcp_event_data_recv: the ATO estimate and quick-ACK entry."""
        if length > self.rcv_mss:
            self.rcv_mss = min(length, self.advmss)
        elif length < self.rcv_mss:
            # A small segment: the sender pushed what it had (ICSK_ACK_PUSHED, then PUSHED2).
            self.ack_pushed = min(self.ack_pushed + 1, 2)
        knobs = self.engine.knobs
        now = self.engine.now
        if self.ato == 0:
            self._enter_quickack()
        else:
            m = now - self.lrcvtime
            if m <= knobs.tcp_delack_min / 2:
                self.ato = self.ato / 2 + knobs.tcp_delack_min / 2
            elif m < self.ato:
                self.ato = min(self.ato / 2 + m, self.rtt.rto)
            elif m > self.rtt.rto:
                self._enter_quickack()
        self.lrcvtime = now

    def _enter_quickack(self: Connection) -> None:
        """Linux tcp_incr_quickack: ACK the next few segments at once (rcv_wnd / 2 MSS, 2..16)."""
        quickacks = self._window_space() // (2 * self.rcv_mss) or 2
        self.quick = max(self.quick, min(quickacks, self.engine.knobs.tcp_max_quickacks))
        self.ato = self.engine.knobs.tcp_delack_min
