"""What a connection does when one of its timers expires (Linux tcp_timer.c).

A mixin of `Connection`. Retry limits count retransmissions of one segment:
tcp_syn_retries for SYN, tcp_synack_retries for SYN-ACK, tcp_orphan_retries
(0 means 8) once the application has closed, tcp_retries2 otherwise. Giving
up never sends an RST, except keepalive (Linux tcp_keepalive_timer).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..wire.segment import ACK, FIN, PSH
from .seq import MASK, seq_diff
from .states import State
from .timers import TimerKind

if TYPE_CHECKING:
    from .connection import Connection

_KEEPALIVE_STATES = frozenset({State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_2})


class Timeouts:
    __slots__ = ()

    def _fire(self: Connection, kind: TimerKind) -> None:
        if kind is TimerKind.RTO:
            self._on_rto()
        elif kind is TimerKind.DELACK:
            self._on_delack()
        elif kind is TimerKind.PERSIST:
            self._on_persist()
        elif kind is TimerKind.KEEPALIVE:
            self._on_keepalive()
        elif kind is TimerKind.FIN_WAIT2:
            # Linux: an orphan's FIN_WAIT_2 ends after tcp_fin_timeout, silently.
            self._drop(reason="tcp_fin_timeout in FIN-WAIT-2")

    def _retry_limit(self: Connection) -> int:
        knobs = self.engine.knobs
        if self.state == State.SYN_SENT:
            return knobs.tcp_syn_retries
        if self.state == State.SYN_RECEIVED:
            return knobs.tcp_synack_retries if self.listener is not None else knobs.tcp_syn_retries
        if self.orphan:
            return knobs.orphan_retries
        return knobs.tcp_retries2

    def _on_rto(self: Connection) -> None:
        """Retransmission timeout (RFC 6298 section 5.4 to 5.6, RFC 5681 section 3.1)."""
        eng = self.engine
        knobs = eng.knobs
        if self.retransmits >= self._retry_limit():
            if not (self.state == State.SYN_RECEIVED and self.listener is not None):
                # Linux tcp_write_err counts every write timeout, SYN-SENT included; only a
                # listener's half-open request dies without it (reqsk_timer_handler).
                eng.counters["TCPAbortOnTimeout"] += 1
            # Linux tcp_write_err: a remembered ICMP error (soft_error) says more than ETIMEDOUT.
            self._drop(self.soft_error or errno.ETIMEDOUT,
                       f"gave up after {self.retransmits} retransmissions")
            return
        syn = self.state in (State.SYN_SENT, State.SYN_RECEIVED)
        if not (self.state == State.SYN_SENT and self.retransmits < knobs.tcp_syn_linear_timeouts):
            self.rtt.back_off(knobs)
        if syn:
            eng.counters["TCPSynRetrans"] += 1
        else:
            eng.counters["TCPTimeouts"] += 1
            self.cc.on_timeout(seq_diff(self.snd_max, self.snd_una), self.snd_max, self.mss)
        self.retransmits += 1
        self.snd_nxt = self.snd_una  # go back: resend from the first unacknowledged byte
        self.rtt_time = None
        self._retransmit_head()
        self._set_timer(TimerKind.RTO, eng.now + self.rtt.rto)

    def _on_delack(self: Connection) -> None:
        """Delayed-ACK timer (Linux tcp_delack_timer_handler)."""
        if not self.ack_pending:
            return
        knobs = self.engine.knobs
        if self.pingpong:
            # The reply we waited for did not come: leave ping-pong mode, deflate ATO.
            self.pingpong = False
            self.ato = knobs.tcp_delack_min
        else:
            self.ato = min(self.ato * 2, self.rtt.rto)
        self.engine.counters["DelayedACKs"] += 1
        self._send_ack()

    def _on_persist(self: Connection) -> None:
        """Zero-window probe (RFC 9293 section 3.8.6.1, Linux tcp_probe_timer / tcp_send_probe0)."""
        eng = self.engine
        knobs = eng.knobs
        unsent = seq_diff((self.sndbuf_seq + self.send_queued) & MASK, self.snd_nxt)
        if unsent <= 0 or self.snd_una != self.snd_max:
            self.probes_out = 0  # nothing to probe for: data is in flight or all sent
            self.rtt.backoff = 0
            return
        if self.snd_wnd:
            # Linux tcp_write_wakeup: a window too small for the sender's rules (RFC 9293
            # section 3.8.6.2.1) still takes what fits, once the probe timer says so.
            n = min(unsent, self.mss, self.snd_wnd)
            off = seq_diff(self.snd_nxt, self.sndbuf_seq)
            flags = ACK | PSH | (FIN if n == unsent and self.fin_queued else 0)
            self.probes_out = 0
            self.rtt.backoff = 0
            self._send_data(self.snd_nxt, flags, self.sndbuf.view(off, n))  # type: ignore[union-attr]
            return
        # probes_out counts probes since the last ACK (any ACK resets it: a peer that answers
        # keeps the connection open forever, RFC 1122 section 4.2.2.17); the interval keeps
        # doubling regardless, on Linux's icsk_backoff (tcp_send_probe0).
        if self.probes_out >= self._retry_limit():
            eng.counters["TCPAbortOnTimeout"] += 1
            self._drop(self.soft_error or errno.ETIMEDOUT, "zero-window probes unanswered")
            return
        self.probes_out += 1
        eng.counters["TCPWinProbe"] += 1
        self._emit(self._segment((self.snd_una - 1) & MASK, ACK))  # Linux probes with snd_una - 1
        if self.rtt.backoff < knobs.tcp_retries2:
            self.rtt.backoff += 1
        self._set_timer(TimerKind.PERSIST, eng.now + self._probe_interval())

    def _probe_interval(self: Connection) -> float:
        """Linux tcp_probe0_when: max(RTO, rto_min) doubled per probe sent, at most rto_max."""
        knobs = self.engine.knobs
        base = max(self.rtt.rto, knobs.tcp_rto_min)
        return min(base * (1 << self.rtt.backoff), knobs.tcp_rto_max)

    def _on_keepalive(self: Connection) -> None:
        """Keepalive (RFC 1122 section 4.2.3.6; Linux tcp_keepalive_timer)."""
        eng = self.engine
        if not self.keepalive or self.state not in _KEEPALIVE_STATES:
            return
        idle = eng.now - self.last_recv
        # Per-connection values (TCP_KEEPIDLE/INTVL/CNT), else the knobs (Linux keepalive_*_when).
        keep_time = self.keepalive_time
        if self.snd_una != self.snd_max or idle < keep_time:
            self._set_timer(TimerKind.KEEPALIVE, self.last_recv + keep_time
                            if idle < keep_time else eng.now + keep_time)
            return
        if self.probes_out >= self.keepalive_probes:
            eng.counters["TCPAbortOnTimeout"] += 1  # tcp_write_err
            self._send_active_rst()
            self._drop(self.soft_error or errno.ETIMEDOUT, "keepalive probes unanswered")
            return
        self.probes_out += 1
        eng.counters["TCPKeepAlive"] += 1
        self._emit(self._segment((self.snd_una - 1) & MASK, ACK))
        self._set_timer(TimerKind.KEEPALIVE, eng.now + self.keepalive_intvl)
