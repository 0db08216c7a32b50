"""What a connection does when one of its timers expires (Linux tcp_timer.c).

Module functions over a `Connection`, one per timer kind (Linux tcp_retransmit_timer,
tcp_probe_timer, tcp_delack_timer_handler, tcp_keepalive_timer); `fire` is what
the connection's `on_timers` calls; a listener's request (reqsk.py) has `reqsk_timer`
(Linux reqsk_timer_handler). Retry limits count retransmissions of one segment:
tcp_syn_retries for SYN, tcp_synack_retries for SYN-ACK, tcp_orphan_retries
(0 means 8) once the application has closed, tcp_retries2 otherwise. Giving
up never sends an RST, except keepalive (Linux tcp_keepalive_timer).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..wire.segment import ACK, FIN, PSH
from . import output
from .knobs import HZ
from .seq import MASK, seq_diff
from .sockopts import keepalive_intvl, keepalive_probes, keepalive_time, options
from .states import Event, State
from .timers import TIME_RETRANS, TimerKind

if TYPE_CHECKING:
    from .connection import Connection
    from .reqsk import RequestSock

_KEEPALIVE_STATES = frozenset({State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_2})
RESOURCE_PROBE_INTERVAL = 0.5  # include/net/tcp.h TCP_RESOURCE_PROBE_INTERVAL: HZ / 2
TIMEOUT_MIN = 2 / HZ  # include/net/tcp.h TCP_TIMEOUT_MIN: 2 jiffies
_SYN_RECEIVED = State.SYN_RECEIVED  # (one global read, where State.SYN_RECEIVED is two lookups)


def fire(conn: Connection, kind: TimerKind) -> None:
    """The `kind` timer of `conn` expired."""
    if kind is TimerKind.RTO:
        _on_rto(conn)
    elif kind is TimerKind.DELACK:
        _on_delack(conn)
    elif kind is TimerKind.PERSIST:
        _on_persist(conn)
    elif kind is TimerKind.KEEPALIVE:
        _on_keepalive(conn)
    elif kind is TimerKind.FIN_WAIT2:
        # Linux: an orphan's FIN_WAIT_2 ends after tcp_fin_timeout, silently.
        conn.drop(Event.FIN_WAIT_2_TIMEOUT, reason="tcp_fin_timeout in FIN-WAIT-2")


def _retry_limit(conn: Connection) -> int:
    knobs = conn.engine.knobs
    if conn.state == State.SYN_SENT:
        return knobs.tcp_syn_retries
    if conn.state == State.SYN_RECEIVED:
        return knobs.tcp_syn_retries  # (a listener's request: _on_synack_rto)
    if conn.orphan:
        return knobs.orphan_retries
    return knobs.tcp_retries2


def _on_rto(conn: Connection) -> None:
    """The transmission timer: RACK's reordering timeout or a loss probe (recovery and
    lossprobe), or the retransmission timeout (RFC 6298 section 5.4 to 5.6, RFC 5681 section
    3.1; Linux tcp_retransmit_timer)."""
    if conn.state is _SYN_RECEIVED and conn.listener is not None:
        _on_synack_rto(conn)
        return
    eng = conn.engine
    knobs = eng.knobs
    opts = options(conn)
    syn = conn.state in (State.SYN_SENT, State.SYN_RECEIVED)
    if not syn:
        if not conn.recovery.on_xmit_timer(conn):
            return
        if not conn.recovery.board.packets_out:
            return
    user_timeout = 0.0 if syn else opts.user_timeout
    if user_timeout:
        # Linux tcp_write_timeout with TCP_USER_TIMEOUT (synchronized states only; a SYN counts
        # its retries): the time since the first retransmission's original send (retrans_stamp)
        # decides, not the count of retries (retransmits_timed_out).
        if not conn.recovery.retransmits:
            opts.retrans_stamp = eng.now - conn.recovery.rto  # the head left one RTO ago
        expired = conn.recovery.retransmits > 0 and eng.now - opts.retrans_stamp >= user_timeout
    else:
        expired = conn.recovery.retransmits >= _retry_limit(conn)
    if expired:
        # Linux tcp_write_err counts every write timeout, SYN-SENT included (a listener's
        # half-open request dies without it: _on_synack_rto).
        eng.counters["TCPAbortOnTimeout"] += 1
        # Linux tcp_write_err: a remembered ICMP error (soft_error) says more than ETIMEDOUT.
        conn.drop(Event.RETRIES_EXHAUSTED, conn.soft_error or errno.ETIMEDOUT,
                  f"gave up after {conn.recovery.retransmits} retransmissions")
        return
    # A local device that drops everything (engine.xmit_drop) fails the retransmission: Linux
    # tcp_retransmit_timer then tries again in TCP_RESOURCE_PROBE_INTERVAL, with no back-off
    # (a listener's SYN-ACK is resent by reqsk_timer_handler, which has no such rule).
    dropping = eng.xmit_drop
    if not dropping and not (conn.state == State.SYN_SENT
                             and conn.recovery.retransmits < knobs.tcp_syn_linear_timeouts):
        conn.recovery.back_off(knobs)
    rec = conn.recovery
    if syn:
        eng.counters["TCPSynRetrans"] += 1
        output.retransmit_syn(conn)
        rec.retransmits += 1
        rec.rtt_time = None
    else:
        eng.counters["TCPTimeouts"] += 1
        # Linux tcp_retransmit_timer: Loss (everything not SACKed is lost), the head again.
        rec.enter_loss(conn)
        rec.retransmits += 1
        rec.retransmit(conn, 0, 1, "RTO")
    rto = RESOURCE_PROBE_INTERVAL if dropping else rec.rto
    if user_timeout and not dropping:
        # Linux tcp_clamp_rto_to_user_timeout: the next expiry is no later than the give-up time.
        rto = max(min(rto, opts.retrans_stamp + user_timeout - eng.now), 0.001)
    if syn:
        conn.set_timer(TimerKind.RTO, eng.now + rto)
    else:
        rec.reset_xmit_timer(conn, TIME_RETRANS, rto)


def synack_expired(retries: int, retransmits: int, defer_accept: int, deferring: bool) -> bool:
    """Whether a listener's half-open request gives up now, after `retransmits` SYN-ACK
    retransmissions (Linux reqsk_timer_handler): after `retries` (tcp_synack_retries, fewer for
    an old entry of a clogged queue: Listener.synack_retries), or TCP_DEFER_ACCEPT's count when
    larger; once the bare ACK came (`deferring`, syn_ack_recalc) the request lives on until the
    deferring period ends (which may outlast tcp_synack_retries)."""
    if deferring and retransmits < defer_accept:
        return False
    return retransmits >= max(retries, defer_accept)


def _on_synack_rto(conn: Connection) -> None:
    """The SYN-ACK timer of a listener's connection still in SYN-RECEIVED (born of its request
    for a third segment that did not complete the handshake): `reqsk_timer`'s rules, on the
    connection's block (Linux reqsk_timer_handler and inet_rtx_syn_ack, apart from
    tcp_retransmit_timer as in Linux): give up without TCPAbortOnTimeout (the request just
    dies), else back off (even when the device drops it) and send the SYN-ACK again, untimed
    (Karn); with TCP_DEFER_ACCEPT's bare ACK in, silent until its last retransmission, the
    data's last chance."""
    eng = conn.engine
    knobs = eng.knobs
    rec = conn.recovery
    opts = conn.opts
    defer_accept = 0 if opts is None else opts.defer_accept
    deferring = opts is not None and opts.defer_acked
    listener = conn.listener
    retries = knobs.tcp_synack_retries if listener is None else listener.synack_retries()
    if synack_expired(retries, rec.retransmits, defer_accept, deferring):
        conn.drop(Event.RETRIES_EXHAUSTED, conn.soft_error or errno.ETIMEDOUT,
                  f"gave up after {rec.retransmits} retransmissions")
        return
    rec.back_off(knobs)
    if not deferring or rec.retransmits + 1 >= defer_accept:
        eng.counters["TCPSynRetrans"] += 1
        output.retransmit_syn(conn)
    if listener is not None:
        listener.timed_out(conn)
    rec.retransmits += 1
    rec.rtt_time = None
    conn.set_timer(TimerKind.RTO, eng.now + rec.rto)


def reqsk_timer(req: RequestSock) -> None:
    """A request's SYN-ACK timer (Linux reqsk_timer_handler, inet_rtx_syn_ack): give up after
    tcp_synack_retries, fewer when old requests clog the queue (Listener.synack_retries;
    TCP_DEFER_ACCEPT's count when larger; no TCPAbortOnTimeout), else back
    off as RFC 6298 section 5.5 (capped at tcp_rto_max, even when the device drops it) and send
    the SYN-ACK again, untimed (Karn)."""
    eng = req.engine
    knobs = eng.knobs
    listener = req.listener
    defer_accept = int(listener.options.get("defer_accept", 0))
    if synack_expired(listener.synack_retries(), req.retransmits, defer_accept, False):
        req.drop(Event.RETRIES_EXHAUSTED, f"gave up after {req.retransmits} retransmissions")
        return
    req.backoff += 1
    req.rto = min(req.rto * 2, knobs.tcp_rto_max)  # Recovery.back_off's rule
    eng.counters["TCPSynRetrans"] += 1
    req.send_synack(retransmit=True, reason="RTO")
    listener.timed_out(req)
    req.retransmits += 1
    req.rtt_time = None
    req.set_timer(eng.now + req.rto)


def _on_delack(conn: Connection) -> None:
    """Delayed-ACK timer (Linux tcp_delack_timer_handler)."""
    if conn.delack.on_timer(conn.engine.knobs, conn.recovery.rto):
        conn.engine.counters["DelayedACKs"] += 1
        output.send_ack(conn)


def _on_persist(conn: Connection) -> None:
    """The probe timer: zero-window probes (RFC 9293 section 3.8.6.1), or data the local device
    would not take (Linux tcp_probe_timer, tcp_send_probe0)."""
    eng = conn.engine
    knobs = eng.knobs
    unsent = seq_diff((conn.sndbuf_seq + conn.send_queued) & MASK, conn.snd_nxt)
    if unsent <= 0 or conn.snd_una != conn.snd_max:
        conn.probes_out = 0  # nothing to probe for: data is in flight or all sent
        conn.recovery.backoff = 0
        return
    # probes_out counts probes since the last ACK (any ACK resets it: a peer that answers
    # keeps the connection open forever, RFC 1122 section 4.2.2.17); the interval keeps
    # doubling regardless, on Linux's icsk_backoff. TCP_USER_TIMEOUT counts from the first
    # expiry (icsk_probes_tstamp), and tcp_retries2 bounds the probes either way.
    opts = options(conn)
    if not conn.probes_out:
        opts.retrans_stamp = eng.now  # Linux icsk_probes_tstamp
    timed_out = opts.user_timeout and conn.probes_out and eng.now - opts.retrans_stamp >= opts.user_timeout
    if timed_out or conn.probes_out >= _retry_limit(conn):
        eng.counters["TCPAbortOnTimeout"] += 1
        conn.drop(Event.PROBES_EXHAUSTED, conn.soft_error or errno.ETIMEDOUT,
                  "zero-window probes unanswered")
        return
    # Linux tcp_write_wakeup: a window too small for the sender's rules (RFC 9293 section
    # 3.8.6.2.1) still takes what fits, once the probe timer says so; a shut one, a probe at
    # snd_una - 1 (tcp_xmit_probe_skb).
    if conn.snd_wnd:
        n = min(unsent, conn.mss, conn.snd_wnd)
        off = seq_diff(conn.snd_nxt, conn.sndbuf_seq)
        flags = ACK | PSH | (FIN if n == unsent and conn.fin_queued else 0)
        if output.send_data(conn, conn.snd_nxt, flags, conn.sndbuf.view(off, n)):  # type: ignore[union-attr]
            conn.probes_out = 0  # data in flight: the retransmission timer takes over
            conn.recovery.backoff = 0
            return
    else:
        eng.counters["TCPWinProbe"] += 1
        output.send_probe(conn)
    conn.probes_out += 1
    if eng.xmit_drop:
        # tcp_send_probe0: "packet was not sent due to local congestion": try again in
        # TCP_RESOURCE_PROBE_INTERVAL, the back-off left as it is.
        interval = RESOURCE_PROBE_INTERVAL
    else:
        if conn.recovery.backoff < knobs.tcp_retries2:
            conn.recovery.backoff += 1
        interval = probe_interval(conn)
    if opts.user_timeout:
        # Linux tcp_clamp_probe0_to_user_timeout: no later than the give-up time (TCP_TIMEOUT_MIN).
        interval = max(min(interval, opts.retrans_stamp + opts.user_timeout - eng.now), TIMEOUT_MIN)
    conn.set_timer(TimerKind.PERSIST, eng.now + interval)


def probe_interval(conn: Connection) -> float:
    """Linux tcp_probe0_when: max(RTO, rto_min) doubled per probe sent, at most rto_max."""
    knobs = conn.engine.knobs
    base = max(conn.recovery.rto, knobs.tcp_rto_min)
    return min(base * (1 << conn.recovery.backoff), knobs.tcp_rto_max)


def _on_keepalive(conn: Connection) -> None:
    """Keepalive (RFC 1122 section 4.2.3.6; Linux tcp_keepalive_timer)."""
    eng = conn.engine
    if not options(conn).keepalive or conn.state not in _KEEPALIVE_STATES:
        return
    idle = eng.now - conn.last_recv
    # Per-connection values (TCP_KEEPIDLE/INTVL/CNT), else the knobs (Linux keepalive_*_when).
    keep_time = keepalive_time(conn)
    if conn.snd_una != conn.snd_max or idle < keep_time:
        conn.set_timer(TimerKind.KEEPALIVE, conn.last_recv + keep_time
                       if idle < keep_time else eng.now + keep_time)
        return
    user_timeout = options(conn).user_timeout
    # Linux tcp_keepalive_timer: TCP_USER_TIMEOUT, once set, replaces the count of probes.
    if (user_timeout and idle >= user_timeout and conn.probes_out) or \
            (not user_timeout and conn.probes_out >= keepalive_probes(conn)):
        eng.counters["TCPAbortOnTimeout"] += 1  # tcp_write_err
        output.send_active_rst(conn)
        conn.drop(Event.KEEPALIVE_EXHAUSTED, conn.soft_error or errno.ETIMEDOUT,
                  "keepalive probes unanswered")
        return
    conn.probes_out += 1
    eng.counters["TCPKeepAlive"] += 1
    output.send_probe(conn)
    conn.set_timer(TimerKind.KEEPALIVE, eng.now + keepalive_intvl(conn))
