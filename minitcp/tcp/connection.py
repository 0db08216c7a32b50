"""One TCP connection: its transmission control block and what the application may do.

The block's fields follow RFC 9293 section 3.3.1 (snd_una, snd_nxt, rcv_nxt,
...) plus Linux's ACK machinery (ato, quick, pingpong). Buffers are created
on first use, so an idle connection costs a few hundred bytes. The receiving
half is in `input.py`, the sending half in `output.py`; this module holds the
state, the timers and the user calls (RFC 9293 section 3.10.1 to 3.10.6).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from ..wire.segment import CWR, ECE
from .bytequeue import ByteQueue
from .congestion import NewReno
from .input import Receiver
from .output import Sender
from .rcvwindow import RcvWindow
from .recvbuf import RcvSpace, RecvBuffer
from .rtt import RcvRtt, RttEstimator
from .seq import MASK, seq_diff
from .sockopts import SocketOptions
from .states import CURR_ESTAB, DONE, State
from .timeouts import Timeouts
from .timers import INF, TimerKind

_INET_ECN_MASK = 0x03  # the ECN field of the IP TOS byte (RFC 3168 section 5)
# Writes shorter than this are copied together into the send buffer's tail: an application that
# writes a few bytes at a time leaves a few pieces, not one per write (a segment may need many).
SEND_COALESCE = 16384
_LONG_AGO = -INF  # one float for every connection; `-INF` in __init__ would make one each

if TYPE_CHECKING:
    from ..wire.segment import Segment
    from .engine import TcpEngine
    from .listener import Listener

SHUT_RD, SHUT_WR, SHUT_RDWR = 0, 1, 2

_TIMER_SLOTS = {
    TimerKind.RTO: "t_rto",
    TimerKind.PERSIST: "t_persist",
    TimerKind.DELACK: "t_delack",
    TimerKind.KEEPALIVE: "t_keepalive",
    TimerKind.FIN_WAIT2: "t_fin2",
}
# A FIN from us is still unacknowledged in these states.
_FIN_SENT_STATES = frozenset({State.FIN_WAIT_1, State.CLOSING, State.LAST_ACK})
# State sets the per-connection paths test: a frozenset lookup is one hash, where a tuple of
# members costs an Enum class-attribute lookup each (~80 ns apiece on Python 3.11).
_OPENING = frozenset({State.SYN_SENT, State.SYN_RECEIVED})
_CAN_SEND = frozenset({State.SYN_SENT, State.SYN_RECEIVED, State.ESTABLISHED, State.CLOSE_WAIT})
_CAN_QUEUE_FIN = frozenset({State.SYN_RECEIVED, State.ESTABLISHED, State.CLOSE_WAIT})
_FIN_RECEIVED = frozenset({State.CLOSE_WAIT, State.LAST_ACK, State.CLOSING, State.TIME_WAIT})
_READ_ACKS = frozenset({State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2})  # a read may owe an ACK


class Connection(Receiver, RcvWindow, Sender, Timeouts, SocketOptions):
    __slots__ = (
        "engine", "key", "laddr", "lport", "raddr", "rport", "state", "listener", "user",
        # send sequence space (RFC 9293 section 3.3.1)
        "iss", "snd_una", "snd_nxt", "snd_max", "snd_wnd", "snd_wl1", "snd_wl2", "max_snd_wnd",
        "sndbuf", "sndbuf_seq", "sndbuf_size", "sndbuf_locked", "fin_queued", "fin_seq", "snd_sml",
        # receive sequence space
        "irs", "rcv_nxt", "rcv_wup", "rcv_adv", "last_ack_sent", "rcvbuf", "rcvbuf_size", "rcv_fin_seq",
        "fin_rcvd",
        # receive window bounds and their autotuning (Linux window_clamp, rcv_ssthresh, SOCK_RCVBUF_LOCK)
        "window_clamp", "rcv_ssthresh", "rcvbuf_locked", "rcv_rtt", "rcvq_space",
        # negotiated options
        "advmss", "mss", "rcv_mss", "user_mss", "wscale_ok", "snd_wscale", "rcv_wscale",
        "sack_ok", "ts_ok", "ts_recent", "ts_offset", "ecn_ok", "ecn_demand_cwr",
        # retransmission and congestion
        "rtt", "rtt_seq", "rtt_time", "cc", "retransmits", "probes_out",
        # delayed ACK (Linux inet_connection_sock icsk_ack)
        "ack_pending", "ack_now", "ack_pushed", "quick", "ato", "pingpong", "lrcvtime", "last_oow_ack",
        # timers: absolute deadlines, INF when off; heap_at is the live heap entry
        "t_rto", "t_persist", "t_delack", "t_keepalive", "t_fin2", "heap_at",
        # application side
        "shut_rd", "shut_wr", "orphan", "error", "soft_error", "nodelay", "keepalive", "linger",
        "event_pending",
        "last_recv",
        # per-connection keepalive timing (TCP_KEEPIDLE/INTVL/CNT; 0 = the knob) and IP header fields
        "keepidle", "keepintvl", "keepcnt", "tos", "ttl",
    )

    def __init__(self, engine: TcpEngine, laddr: int, lport: int, raddr: int, rport: int) -> None:
        knobs = engine.knobs
        self.engine = engine
        self.key = conn_key(laddr, lport, raddr, rport)
        self.laddr, self.lport, self.raddr, self.rport = laddr, lport, raddr, rport
        self.state = State.CLOSED
        self.listener: Listener | None = None
        self.user: Any = None
        self.iss = engine.isn.isn(laddr, lport, raddr, rport, engine.now)
        self.snd_una = self.snd_nxt = self.snd_max = self.iss
        self.snd_wnd = self.max_snd_wnd = 0
        self.snd_wl1 = self.snd_wl2 = 0
        self.sndbuf: ByteQueue | None = None
        self.sndbuf_seq = (self.iss + 1) & MASK
        self.sndbuf_size = knobs.tcp_wmem[1]
        self.sndbuf_locked = False
        self.fin_queued = False
        self.fin_seq = 0
        self.snd_sml = self.iss  # end of the last small segment sent (Minshall's Nagle, Linux snd_sml)
        self.irs = self.rcv_nxt = self.rcv_wup = self.rcv_adv = self.last_ack_sent = 0
        self.rcvbuf: RecvBuffer | None = None
        self.rcvbuf_size = knobs.tcp_rmem[1]
        # Both are set again with our SYN (_init_rcv_window), after any SO_RCVBUF.
        self.window_clamp = self.rcv_ssthresh = self._window_space()
        self.rcvbuf_locked = False
        # Autotuning's measures, created with the first data (Linux tcp_init_buffer_space).
        self.rcv_rtt: RcvRtt | None = None
        self.rcvq_space: RcvSpace | None = None
        self.rcv_fin_seq: int | None = None
        self.fin_rcvd = False  # the peer's FIN came in order (Linux SOCK_DONE)
        self.advmss = engine.mss
        self.mss = 536  # RFC 9293 section 3.7.1 default until the peer says otherwise
        self.rcv_mss = min(self.advmss, 536)
        self.user_mss = 0
        self.wscale_ok = bool(knobs.tcp_window_scaling)
        self.rcv_wscale = 0  # chosen with our SYN (_init_rcv_window)
        self.snd_wscale = 0
        self.sack_ok = bool(knobs.tcp_sack)
        self.ts_ok = bool(knobs.tcp_timestamps)
        self.ts_recent = 0
        self.ts_offset = engine.isn.ts_offset(laddr, raddr)
        # ECN (RFC 3168): negotiated on the handshake (Linux TCP_ECN_OK); demand_cwr while we echo
        # a Congestion Experienced mark with ECE until the peer's CWR (TCP_ECN_DEMAND_CWR).
        self.ecn_ok = False
        self.ecn_demand_cwr = False
        self.rtt = RttEstimator(knobs)
        self.rtt_seq = 0
        self.rtt_time: float | None = None
        self.cc = NewReno(self.advmss, knobs.tcp_init_cwnd)
        self.cc.recover = self.iss  # RFC 6582 section 3.2 step 1: "recover" starts at the ISS
        self.retransmits = 0
        self.probes_out = 0
        self.ack_pending = self.ack_now = False
        self.ack_pushed = 0  # small segments since our last ACK, up to 2 (Linux ICSK_ACK_PUSHED/PUSHED2)
        self.quick = 0
        self.ato = 0.0
        self.pingpong = False
        self.lrcvtime = self.last_recv = engine.now
        self.last_oow_ack = _LONG_AGO
        self.t_rto = self.t_persist = self.t_delack = self.t_keepalive = self.t_fin2 = INF
        self.heap_at = INF
        self.shut_rd = self.shut_wr = self.orphan = False
        self.error = 0
        self.soft_error = 0  # an ICMP error remembered, reported if the connection times out
        self.nodelay = False
        self.keepalive = False
        self.linger: int | None = None
        self.event_pending = False
        # Linux tp->keepalive_time/intvl/probes: 0 until set, meaning the sysctl (keepalive_time_when).
        self.keepidle = 0.0
        self.keepintvl = 0.0
        self.keepcnt = 0
        # IP_TOS (Linux inet->tos, 0) and IP_TTL (inet->uc_ttl, -1 meaning ip_default_ttl).
        self.tos = 0
        self.ttl = -1

    def __repr__(self) -> str:
        from ..wire.ipv4 import ip_str

        return (f"<Connection {ip_str(self.laddr)}:{self.lport} > {ip_str(self.raddr)}:{self.rport} "
                f"{self.state.name}>")

    # ------------------------------------------------------------------ state and timers

    def _set_state(self, new: State) -> None:
        old = self.state
        if old == new:
            return
        eng = self.engine
        if old in CURR_ESTAB and new not in CURR_ESTAB:
            eng.counters["CurrEstab"] -= 1
        elif new in CURR_ESTAB and old not in CURR_ESTAB:
            eng.counters["CurrEstab"] += 1
        self.state = new
        if eng.observer is not None:
            eng.observer.on_state(self, old, new, eng.now)
        eng.wake(self)

    def _set_timer(self, kind: TimerKind, deadline: float) -> None:
        setattr(self, _TIMER_SLOTS[kind], deadline)
        eng = self.engine
        eng.timers.schedule(self, deadline)
        if eng.observer is not None:
            eng.observer.on_timer(self, kind, "set", deadline, eng.now)

    def _cancel_timer(self, kind: TimerKind) -> None:
        slot = _TIMER_SLOTS[kind]
        if getattr(self, slot) != INF:
            setattr(self, slot, INF)
            if self.next_deadline() == INF:
                self.heap_at = INF  # our heap entry is stale now, so poll_at() does not report it
            eng = self.engine
            if eng.observer is not None:
                eng.observer.on_timer(self, kind, "cancel", None, eng.now)

    def _cancel_timers(self) -> None:
        if self.next_deadline() != INF:  # at the end of a connection usually none is left
            for kind in _TIMER_SLOTS:
                self._cancel_timer(kind)

    def next_deadline(self) -> float:
        return min(self.t_rto, self.t_persist, self.t_delack, self.t_keepalive, self.t_fin2)

    def on_timers(self, now: float) -> None:
        """Fire every timer of this connection that is due (called by the engine's heap)."""
        for kind, slot in _TIMER_SLOTS.items():
            if getattr(self, slot) <= now and self.state != State.CLOSED:
                setattr(self, slot, INF)
                if self.engine.observer is not None:
                    self.engine.observer.on_timer(self, kind, "fire", None, now)
                self._fire(kind)
        if self.state not in DONE:
            deadline = self.next_deadline()
            if deadline != INF:
                self.engine.timers.schedule(self, deadline)

    def timers(self, now: float | None = None) -> list[tuple[TimerKind, float, int]]:
        """Pending timers as (kind, seconds left at `now`, retransmissions or probes), like `ss -o`.

        Without `now`, seconds left from the engine's last event.
        """
        if now is None:
            now = self.engine.now
        out = []
        for kind, slot in _TIMER_SLOTS.items():
            deadline = getattr(self, slot)
            if deadline != INF:
                count = self.retransmits if kind == TimerKind.RTO else self.probes_out
                out.append((kind, max(deadline - now, 0.0), count))
        return out

    # ------------------------------------------------------------------ endings

    def _drop(self, err: int = 0, reason: str = "") -> None:
        """Go to CLOSED at once, keeping unread data readable; tell the application `err`."""
        if self.state == State.CLOSED:
            return
        if err and not self.orphan:
            self.error = err
        eng = self.engine
        if reason and eng.observer is not None:
            eng.observer.on_drop(self, reason, None, eng.now)
        # Linux tcp_done / tcp_set_state: a failed open, or an established connection ended abruptly.
        if self.state in _OPENING:
            eng.counters["AttemptFails"] += 1
        elif self.state in CURR_ESTAB:
            eng.counters["EstabResets"] += 1
        self._cancel_timers()
        self.ack_pending = False
        self.sndbuf = None
        self._set_state(State.CLOSED)
        self.engine.forget(self)

    def _fin_acked(self) -> None:
        """Our FIN was acknowledged: FIN_WAIT_1 -> FIN_WAIT_2, CLOSING -> TIME_WAIT, LAST_ACK -> CLOSED."""
        if self.state == State.FIN_WAIT_1:
            self._set_state(State.FIN_WAIT_2)
            if self.orphan:
                # Linux tcp_rcv_state_process: an orphan waits tcp_fin_timeout for the peer's FIN.
                self._set_timer(TimerKind.FIN_WAIT2, self.engine.now + self.engine.knobs.tcp_fin_timeout)
        elif self.state == State.CLOSING:
            self.engine.enter_time_wait(self)
        elif self.state == State.LAST_ACK:
            self._drop()

    # ------------------------------------------------------------------ opening

    def open(self) -> None:
        """Active open (RFC 9293 section 3.10.1): send our SYN."""
        self.engine.counters["ActiveOpens"] += 1
        # Linux tcp_ecn_send_syn: only tcp_ecn=1 asks for ECN on an outgoing SYN.
        self.ecn_ok = self.engine.knobs.tcp_ecn == 1
        self._init_rcv_window()
        self._set_state(State.SYN_SENT)
        self._send_syn()

    def passive_open(self, syn: Segment, isn: int | None = None) -> None:
        """A listener's SYN became this connection: answer SYN-ACK (RFC 9293 section 3.10.7.2).

        `isn` is set when a SYN reuses a TIME_WAIT pair (Linux: snd_nxt + 65537).
        """
        if isn is not None:
            self.iss = self.snd_una = self.snd_nxt = self.snd_max = self.snd_sml = self.cc.recover = isn
            self.sndbuf_seq = (isn + 1) & MASK
        self.irs = syn.seq
        self.rcv_nxt = self.rcv_wup = self.rcv_adv = self.last_ack_sent = (syn.seq + 1) & MASK
        self._init_rcv_window()
        self._negotiate(syn)
        # RFC 3168 section 6.1.1, Linux tcp_ecn_create_request: an ECN-setup SYN (ECE and CWR)
        # that is not itself ECN-capable (no ECT in its IP header) is accepted unless tcp_ecn=0.
        self.ecn_ok = bool(self.engine.knobs.tcp_ecn) and syn.flags & (ECE | CWR) == ECE | CWR \
            and not syn.tos & _INET_ECN_MASK
        self.snd_wnd = self.max_snd_wnd = syn.window
        self.snd_wl1 = syn.seq
        self.state = State.LISTEN  # quietly: observers see LISTEN -> SYN-RECEIVED
        self._set_state(State.SYN_RECEIVED)
        self._send_syn()

    def _send_syn(self) -> None:
        eng = self.engine
        self._emit(self._syn_segment())
        self.snd_nxt = self.snd_max = (self.iss + 1) & MASK
        self.rtt_seq = self.iss
        self.rtt_time = eng.now
        self._set_timer(TimerKind.RTO, eng.now + self.rtt.rto)

    # ------------------------------------------------------------------ the application's calls

    def send(self, data: bytes | memoryview, now: float) -> int:
        """Queue bytes for sending (RFC 9293 section 3.10.2) at time `now`; returns how many were taken.

        Returns 0 while the buffer is full or the handshake is still under way.
        Raises OSError(EPIPE) after shutdown(SHUT_WR) or close, the pending
        error (ECONNRESET, ETIMEDOUT, ...) once the connection has failed.
        """
        self.engine.begin_call(now)
        if self.error:
            raise OSError(self.take_error(), "connection failed")
        if self.shut_wr or self.state not in _CAN_SEND:
            raise OSError(errno.EPIPE, "cannot send after the write side is shut down")
        room = self._send_room()
        if room <= 0 or not data:
            return 0
        chunk = data if len(data) <= room else memoryview(data)[:room]
        if self.sndbuf is None:
            self.sndbuf = ByteQueue(SEND_COALESCE)
        self.sndbuf.append(chunk)
        self._transmit()
        return len(chunk)

    def recv(self, n: int, now: float, peek: bool = False) -> bytes | None:
        """Take up to n bytes (RFC 9293 section 3.10.3) at time `now` (a read may send an ACK).

        b"" means end of stream (the peer's FIN, or shutdown(SHUT_RD)), None means
        nothing yet. A pending error is raised once the queued bytes are read.
        """
        self.engine.begin_call(now)
        buf = self.rcvbuf
        if buf is not None and len(buf):
            data = buf.read(n, peek)
            if not peek:
                self._rcv_space_adjust(len(data))
                self._data_consumed()
            return data
        if self.fin_rcvd:
            # Linux tcp_recvmsg looks at SOCK_DONE before sk_err: after the peer's FIN a read
            # is end-of-stream even if an RST came later; the error is left for send().
            return b""
        if self.error:
            raise OSError(self.take_error(), "connection failed")
        if self.shut_rd or self.rcv_fin_reached or self.state == State.CLOSED:
            return b""
        return None

    @property
    def rcv_fin_reached(self) -> bool:
        return self.state in _FIN_RECEIVED

    @property
    def readable(self) -> bool:
        return bool(self.rcvbuf is not None and len(self.rcvbuf)) or bool(self.error) or self.shut_rd \
            or self.rcv_fin_reached or self.state == State.CLOSED

    @property
    def writable(self) -> bool:
        if self.error or self.shut_wr or self.state not in (State.ESTABLISHED, State.CLOSE_WAIT):
            return self.state not in _OPENING
        return self._send_room() > 0

    @property
    def recv_queued(self) -> int:
        return len(self.rcvbuf) if self.rcvbuf is not None else 0

    @property
    def send_queued(self) -> int:
        return len(self.sndbuf) if self.sndbuf is not None else 0

    def take_error(self) -> int:
        """SO_ERROR: the pending error, cleared by reading it."""
        err, self.error = self.error, 0
        return err

    def _data_consumed(self) -> None:
        """After a read: send the ACK or window update it makes due (Linux tcp_cleanup_rbuf)."""
        if self.state not in _READ_ACKS:
            return
        # Once the queue is drained, a pending ACK for small segments goes now rather than
        # at the timer: for one (not in ping-pong mode, where the reply will carry it) or
        # for two (Linux tcp_cleanup_rbuf, ICSK_ACK_PUSHED and ICSK_ACK_PUSHED2).
        drained_small = self.recv_queued == 0 and (
            self.ack_pushed >= 2 or (self.ack_pushed == 1 and not self.pingpong))
        if self.ack_pending and (self._ack_due() or self.ack_now or drained_small):
            self._send_ack()
            return
        # Window update: once the offered window has fallen to half of the largest we may offer
        # (window_clamp), a read that at least doubles it is worth an ACK; the peer may be
        # waiting on it (Linux tcp_cleanup_rbuf: "lots" means twice; no MSS threshold, which with
        # one-segment windows at a large MTU would leave the sender to the 40 ms delayed-ACK timer).
        advertised = seq_diff(self.rcv_adv, self.rcv_nxt)
        if 2 * advertised <= self.window_clamp:
            new = self._select_window()
            if new and new >= 2 * advertised:
                self._send_ack()

    def shutdown(self, how: int, now: float) -> None:
        """shutdown(2) on the connection, whatever the number of handles (Linux tcp_shutdown)."""
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise OSError(errno.EINVAL, "shutdown: how must be SHUT_RD, SHUT_WR or SHUT_RDWR")
        self.engine.begin_call(now)
        if self.state == State.SYN_SENT:
            # Linux inet_shutdown -> tcp_disconnect: the attempt ends at once, without an RST
            # (nothing is synchronized yet), the connecting call gets ECONNRESET, and the socket
            # may connect again.
            self._drop(errno.ECONNRESET, "shutdown() in SYN-SENT (tcp_disconnect)")
            return
        if self.state == State.CLOSED and not self.error:
            raise OSError(errno.ENOTCONN, "socket is not connected")
        if how in (SHUT_RD, SHUT_RDWR):
            self.shut_rd = True
            self.engine.wake(self)
        if how in (SHUT_WR, SHUT_RDWR) and not self.shut_wr:
            self.shut_wr = True
            self._queue_fin()
        self._flush()

    def close(self, now: float) -> None:
        """The last handle is gone (Linux tcp_close): FIN, RST for unread data, or RST for linger 0."""
        if self.orphan:
            return
        self.engine.begin_call(now)
        self.shut_rd = self.shut_wr = True
        eng = self.engine
        unread = self.recv_queued
        if self.rcvbuf is not None:
            self.rcvbuf.clear()
        if self.state == State.CLOSED:
            eng.forget(self)
        elif self.state in (State.SYN_SENT, State.LISTEN):
            self._drop()
        elif unread:
            # RFC 2525 section 2.17: closing with unread data resets the connection.
            eng.counters["TCPAbortOnClose"] += 1
            self._send_active_rst()
            self._drop(reason="close with unread data")
        elif self.linger == 0:
            eng.counters["TCPAbortOnData"] += 1
            if self.state in (State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_1, State.FIN_WAIT_2,
                              State.SYN_RECEIVED):
                self._send_active_rst()
            self._drop(reason="SO_LINGER 0")
        else:
            self._queue_fin()
            if self.state == State.FIN_WAIT_2 and self.t_fin2 == INF:
                self._set_timer(TimerKind.FIN_WAIT2, eng.now + eng.knobs.tcp_fin_timeout)
        self.orphan = True
        self.error = 0
        self._flush()

    def abort(self, now: float) -> None:
        """An RST now, no TIME_WAIT: SO_LINGER with a zero timeout, then close."""
        self.linger = 0
        self.close(now)

    def _queue_fin(self) -> None:
        """Queue our FIN after the buffered data (RFC 9293 section 3.10.4)."""
        if self.fin_queued or self.state not in _CAN_QUEUE_FIN:
            return
        self.fin_queued = True
        self.fin_seq = (self.sndbuf_seq + self.send_queued) & MASK
        self._set_state(State.LAST_ACK if self.state == State.CLOSE_WAIT else State.FIN_WAIT_1)

    def _flush(self) -> None:
        if self.state not in DONE:
            self._transmit()
            self._schedule_ack()

    def info(self, now: float | None = None) -> dict[str, Any]:
        """What `ss -tani` would show for this connection at `now` (default: its engine's last event)."""
        from ..wire.ipv4 import ip_str

        return {
            "state": self.state.ss_name,
            "local": f"{ip_str(self.laddr)}:{self.lport}",
            "peer": f"{ip_str(self.raddr)}:{self.rport}",
            "recv_q": self.recv_queued,
            "send_q": self.send_queued,
            "timers": [(k.value, round(left, 3), n) for k, left, n in self.timers(now)],
            "rto": round(self.rtt.rto, 3),
            "rtt": round(self.rtt.srtt_or_zero, 6),
            "mss": self.mss,
            "cwnd": self.cc.cwnd // max(self.mss, 1),
            "ssthresh": self.cc.ssthresh // max(self.mss, 1),
            "snd_wnd": self.snd_wnd,
            "rcv_wnd": seq_diff(self.rcv_adv, self.rcv_nxt),
            # Linux tcp_info: tcpi_rcv_rtt, tcpi_rcv_space, tcpi_rcv_ssthresh; sk_rcvbuf (ss -m "rb").
            "rcv_rtt": round(self.rcv_rtt.rtt, 6) if self.rcv_rtt is not None else 0.0,
            "rcv_space": self.rcvq_space.space if self.rcvq_space is not None else 0,
            "rcv_ssthresh": self.rcv_ssthresh,
            "rcvbuf": self.rcvbuf_size,
            "wscale": (self.snd_wscale, self.rcv_wscale) if self.wscale_ok else None,
            "sack": self.sack_ok,
            "ts": self.ts_ok,
            "orphan": self.orphan,
        }

    @property
    def four_tuple(self) -> tuple[int, int, int, int]:
        """(laddr, lport, raddr, rport), as a TIME_WAIT entry gives it too."""
        return self.laddr, self.lport, self.raddr, self.rport

    @property
    def fin_in_flight(self) -> bool:
        return self.state in _FIN_SENT_STATES


def conn_key(laddr: int, lport: int, raddr: int, rport: int) -> int:
    """The four-tuple packed into one int: cheap to hash, small to store (TIME_WAIT tables)."""
    return (laddr << 80) | (lport << 64) | (raddr << 16) | rport
