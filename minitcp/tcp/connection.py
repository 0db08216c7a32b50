"""One TCP connection: its transmission control block and the few steps that change its state.

The block's fields follow RFC 9293 section 3.3.1 (snd_una, snd_nxt, rcv_nxt,
...). Beside them the connection owns parts with state of their own and a
narrow interface: the delayed-ACK policy (`delack`), the receive window
(`rwin`), loss recovery with its RTT estimate and congestion control
(`recovery`), and the socket options, made only when one is set (`opts`).
Buffers are created on first use, so an idle connection costs a few hundred bytes.

What happens to the block is told in module functions over it, as Linux's
tcp_input.c and tcp_output.c are over a tcp_sock: `input` (a segment arrives),
`output` (segments leave), `timeouts` (a timer expires), `usercalls` (the
application's calls, which this class's methods of the same names forward to).
This module keeps what they share: a state change, the timers, the endings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..wire import tso
from . import input as tcp_in
from . import output, sockopts, timeouts, usercalls, wmem
from .cc import make_cc
from .delack import DelayedAck
from .family import IPV4_MAX, endpoint_str, ip_tcp_headers
from .pacing import Pacing
from .rcvwindow import RcvWindow, window_space
from .recovery import Recovery
from .seq import MASK, seq_diff
from .states import CURR_ESTAB, DONE, Event, State, next_state
from .timers import INF, TimerKind
from .usercalls import SHUT_RD as SHUT_RD
from .usercalls import SHUT_RDWR as SHUT_RDWR
from .usercalls import SHUT_WR as SHUT_WR

if TYPE_CHECKING:
    from ..wire.segment import Segment
    from .bytequeue import ByteQueue
    from .counters import Counters
    from .engine import TcpEngine
    from .listener import Listener
    from .pushmarks import PushMarks
    from .recvbuf import RecvBuffer
    from .sendlog import SendLog
    from .sockopts import SockOpts

_LONG_AGO = -INF  # one float for every connection; `-INF` in __init__ would make one each

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
_FIN_RECEIVED = frozenset({State.CLOSE_WAIT, State.LAST_ACK, State.CLOSING, State.TIME_WAIT})


class Connection:
    __slots__ = (
        "engine", "laddr", "lport", "raddr", "rport", "state", "listener", "user",
        # send sequence space (RFC 9293 section 3.3.1)
        "iss", "snd_una", "snd_nxt", "snd_max", "snd_wnd", "snd_wl1", "snd_wl2", "max_snd_wnd",
        "sndbuf", "sndbuf_seq", "fin_queued", "fin_seq", "snd_sml", "pushq",
        # receive sequence space
        "irs", "rcv_nxt", "rcv_wup", "rcv_adv", "last_ack_sent", "rcvbuf", "rcvbuf_size", "rcv_fin_seq",
        "fin_rcvd",
        # negotiated options
        "advmss", "mss", "rcv_mss", "pmtu", "wscale_ok", "snd_wscale", "rcv_wscale",
        "sack_ok", "ts_ok", "ts_recent", "ts_offset", "ecn_ok", "ecn_demand_cwr", "ecn_queue_cwr",
        # probes of the persist and keepalive timers, the last out-of-window ACK (rate limit)
        "probes_out", "last_oow_ack",
        # the owned parts
        "delack", "rwin", "recovery", "pacing", "opts",
        # timers: absolute deadlines, INF when off; heap_at is the live heap entry
        "t_rto", "t_persist", "t_delack", "t_keepalive", "t_fin2", "heap_at",
        # application side
        "shut_rd", "shut_wr", "orphan", "error", "soft_error", "event_pending", "last_recv",
        # what TCP_INFO counts (RFC 4898 tcpEStatsPerf*; Linux tcp_sock segs_in, total_retrans, ...)
        "passive", "segs_in", "segs_out", "data_segs_in", "total_retrans", "sendlog",
        # when our first SYN or SYN-ACK left (Linux tp->retrans_stamp of the handshake)
        "syn_stamp",
    )

    def __init__(self, engine: TcpEngine, laddr: int, lport: int, raddr: int, rport: int) -> None:
        knobs = engine.knobs
        self.engine = engine
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
        self.pushq: PushMarks | None = None  # where the queued writes end and PSH goes (pushmarks.py)
        self.fin_queued = False
        self.fin_seq = 0
        self.snd_sml = self.iss  # end of the last small segment sent (Minshall's Nagle, Linux snd_sml)
        self.irs = self.rcv_nxt = self.rcv_wup = self.rcv_adv = self.last_ack_sent = 0
        self.rcvbuf: RecvBuffer | None = None
        self.rcvbuf_size = knobs.tcp_rmem[1]
        self.rcv_fin_seq: int | None = None
        self.fin_rcvd = False  # the peer's FIN came in order (Linux SOCK_DONE)
        self.advmss = engine.mtu - ip_tcp_headers(laddr)
        self.mss = 536  # RFC 9293 section 3.7.1 default until the peer says otherwise
        self.rcv_mss = min(self.advmss, 536)
        self.pmtu = engine.mtu  # the path MTU, the link's until ICMP says less (pmtu.py)
        self.wscale_ok = bool(knobs.tcp_window_scaling)
        self.rcv_wscale = 0  # chosen with our SYN (RcvWindow.init)
        self.snd_wscale = 0
        self.sack_ok = bool(knobs.tcp_sack)
        self.ts_ok = bool(knobs.tcp_timestamps)
        self.ts_recent = 0
        self.ts_offset = engine.isn.ts_offset(laddr, raddr)
        # ECN (RFC 3168): negotiated on the handshake (Linux TCP_ECN_OK); demand_cwr while we echo
        # a Congestion Experienced mark with ECE until the peer's CWR (TCP_ECN_DEMAND_CWR).
        self.ecn_ok = False
        self.ecn_demand_cwr = False
        # As a sender: the window was reduced, the next new data segment says CWR (Linux
        # TCP_ECN_QUEUE_CWR, set by tcp_ecn_queue_cwr).
        self.ecn_queue_cwr = False
        self.probes_out = 0
        self.last_oow_ack = _LONG_AGO
        self.delack = DelayedAck(engine.now)
        self.rwin = RcvWindow(window_space(self))
        cc = make_cc(knobs.tcp_congestion_control, knobs.tcp_init_cwnd, self)
        self.recovery = Recovery(cc, self.iss, knobs)
        self.pacing = Pacing()
        self.syn_stamp = 0.0
        self.opts: SockOpts | None = None
        self.t_rto = self.t_persist = self.t_delack = self.t_keepalive = self.t_fin2 = INF
        self.heap_at = INF
        self.shut_rd = self.shut_wr = self.orphan = False
        self.error = 0
        self.soft_error = 0  # an ICMP error remembered, reported if the connection times out
        self.event_pending = False
        self.last_recv = engine.now
        self.passive = False  # made by a listener for a SYN (Linux: born with its SYN-ACK acknowledged)
        self.segs_in = self.segs_out = self.data_segs_in = self.total_retrans = 0
        self.sendlog: SendLog | None = None  # made with the first data queued (sendlog.py)

    def __repr__(self) -> str:
        local, peer = endpoint_str(self.laddr, self.lport), endpoint_str(self.raddr, self.rport)
        return f"<Connection {local} > {peer} {self.state.name}>"

    # ------------------------------------------------------------------ state

    def set_state(self, event: Event, born_in: State | None = None) -> None:
        """Every state change goes through here: the table of states.py says where `event` leads
        from the current state (IllegalTransition for an edge it does not have); then CurrEstab,
        observers, the application's wake-up.

        `born_in`: a listener's connection is made for the SYN that finds it, so that SYN finds
        it in the listener's state, LISTEN (observers see LISTEN -> SYN-RECEIVED), not CLOSED.
        """
        old = self.state if born_in is None else born_in
        new = next_state(old, event)
        eng = self.engine
        if old in CURR_ESTAB and new not in CURR_ESTAB:
            eng.counters["CurrEstab"] -= 1
        elif new in CURR_ESTAB and old not in CURR_ESTAB:
            eng.counters["CurrEstab"] += 1
        self.state = new
        if eng.observer is not None:
            eng.observer.on_state(self, old, new, eng.now)
        eng.wake(self)

    def drop(self, event: Event, err: int = 0, reason: str = "") -> None:
        """`event` ends the connection: go to CLOSED at once, keeping unread data readable; tell
        the application `err`."""
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
        self.cancel_timers()
        self.delack.pending = False
        self.sndbuf = None
        self.set_state(event)
        self.engine.forget(self)

    def fin_acked(self) -> None:
        """Our FIN was acknowledged: FIN_WAIT_1 -> FIN_WAIT_2, CLOSING -> TIME_WAIT, LAST_ACK -> CLOSED."""
        if self.state == State.FIN_WAIT_1:
            self.set_state(Event.RCV_ACK_OF_FIN)
            if self.orphan:
                # Linux tcp_rcv_state_process: an orphan waits tcp_fin_timeout for the peer's FIN.
                self.set_timer(TimerKind.FIN_WAIT2, self.engine.now + self.engine.knobs.tcp_fin_timeout)
        elif self.state == State.CLOSING:
            self.enter_time_wait(Event.RCV_ACK_OF_FIN)
        elif self.state == State.LAST_ACK:
            self.drop(Event.RCV_ACK_OF_FIN)

    def enter_time_wait(self, event: Event) -> None:
        """`event` (the peer's FIN, or the ACK of ours) completes the close with our side to wait
        2MSL (RFC 9293 section 3.10.7.4): the engine's TIME_WAIT table takes the four-tuple over,
        or nobody does when it is full (Linux tcp_time_wait: TCPTimeWaitOverflow)."""
        self.cancel_timers()
        if self.engine.timewait_take_over(self):
            self.sndbuf = None
            self.set_state(event)
        else:
            self.set_state(Event.TIME_WAIT_FULL)

    # ------------------------------------------------------------------ timers

    def set_timer(self, kind: TimerKind, deadline: float) -> None:
        setattr(self, _TIMER_SLOTS[kind], deadline)
        eng = self.engine
        eng.timers.schedule(self, deadline)
        if eng.observer is not None:
            eng.observer.on_timer(self, kind, "set", deadline, eng.now)

    def cancel_timer(self, kind: TimerKind) -> None:
        slot = _TIMER_SLOTS[kind]
        if getattr(self, slot) != INF:
            setattr(self, slot, INF)
            if self.next_deadline() == INF:
                self.heap_at = INF  # our heap entry is stale now, so poll_at() does not report it
            eng = self.engine
            if eng.observer is not None:
                eng.observer.on_timer(self, kind, "cancel", None, eng.now)

    def cancel_timers(self) -> None:
        if self.next_deadline() != INF:  # at the end of a connection usually none is left
            for kind in _TIMER_SLOTS:
                self.cancel_timer(kind)

    def next_deadline(self) -> float:
        return min(self.t_rto, self.t_persist, self.t_delack, self.t_keepalive, self.t_fin2)

    def on_timers(self, now: float) -> None:
        """Fire every timer of this connection that is due (called by the engine's heap)."""
        for kind, slot in _TIMER_SLOTS.items():
            if getattr(self, slot) <= now and self.state != State.CLOSED:
                setattr(self, slot, INF)
                if self.engine.observer is not None:
                    self.engine.observer.on_timer(self, kind, "fire", None, now)
                timeouts.fire(self, kind)
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
                count = self.recovery.retransmits if kind == TimerKind.RTO else self.probes_out
                out.append((kind, max(deadline - now, 0.0), count))
        return out

    # ------------------------------------------------------------------ the engine's calls

    def input(self, seg: Segment) -> None:
        """A segment for this connection arrived (RFC 9293 section 3.10.7; see `input`)."""
        self.count_in(seg)
        tcp_in.tcp_input(self, seg)

    def passive_open(self, syn: Segment, isn: int | None = None) -> None:
        """A listener's SYN became this connection: answer SYN-ACK (see `input.passive_open`)."""
        self.passive = True
        self.count_in(syn)
        tcp_in.passive_open(self, syn, isn)

    def start_seq(self, isn: int) -> None:
        """Our sequence space starts at `isn` instead of the generator's (a TIME_WAIT takeover:
        Linux tcp_timewait_state_process and tcp_twsk_unique), before anything was sent."""
        self.iss = self.snd_una = self.snd_nxt = self.snd_max = self.snd_sml = self.recovery.high_seq = isn
        self.sndbuf_seq = (isn + 1) & MASK

    def open(self) -> None:
        """Active open: send our SYN (see `usercalls.open_active`)."""
        usercalls.open_active(self)

    def count_in(self, seg: Segment) -> None:
        """TCP_INFO's segs_in and data_segs_in (Linux tcp_segs_in: a GRO super-segment counts
        as the segments it merged)."""
        segs = tso.wire_count(seg)
        self.segs_in += segs
        if seg.payload:
            self.data_segs_in += segs

    # ------------------------------------------------------------------ the application's calls

    def send(self, data: bytes | memoryview, now: float, more: bool = False, eor: bool = False) -> int:
        """Queue bytes for sending; how many were taken (see `usercalls.send`)."""
        return usercalls.send(self, data, now, more, eor)

    def recv(self, n: int, now: float, peek: bool = False) -> bytes | None:
        """Up to n bytes; b"" at end of stream, None for nothing yet (see `usercalls.recv`)."""
        return usercalls.recv(self, n, now, peek)

    def shutdown(self, how: int, now: float) -> None:
        """shutdown(2) (see `usercalls.shutdown`)."""
        usercalls.shutdown(self, how, now)

    def close(self, now: float) -> None:
        """The last handle is gone (see `usercalls.close`)."""
        usercalls.close(self, now)

    def abort(self, now: float) -> None:
        """An RST now, no TIME_WAIT (see `usercalls.abort`)."""
        usercalls.abort(self, now)

    def apply_option(self, name: str, value: Any, now: float) -> None:
        """Set a socket option by name at time `now` (see `sockopts.apply_option`)."""
        self.engine.begin_call(now)
        sockopts.apply_option(self, name, value)
        if name in ("nodelay", "cork"):
            output.flush(self)  # what Nagle or the cork held back may go now

    def quickack(self, now: float) -> None:
        """TCP_QUICKACK=1 (see `usercalls.quickack`)."""
        usercalls.quickack(self, now)

    def take_error(self) -> int:
        """SO_ERROR: the pending error, cleared by reading it."""
        err, self.error = self.error, 0
        return err

    # ------------------------------------------------------------------ looking

    @property
    def rcv_fin_reached(self) -> bool:
        return self.state in _FIN_RECEIVED

    @property
    def fin_beyond_hole(self) -> bool:
        """The peer's FIN came, out of order (Linux queues it with out-of-order data: it is
        SACKed, and the data that fills the hole is ACKed at once)."""
        return self.rcv_fin_seq is not None and self.rcv_fin_seq != self.rcv_nxt

    @property
    def readable(self) -> bool:
        return bool(self.rcvbuf is not None and len(self.rcvbuf)) or bool(self.error) or self.shut_rd \
            or self.rcv_fin_reached or self.state == State.CLOSED

    @property
    def writable(self) -> bool:
        if self.error or self.shut_wr or self.state not in (State.ESTABLISHED, State.CLOSE_WAIT):
            return self.state not in _OPENING
        return wmem.writeable(self)

    @property
    def recv_queued(self) -> int:
        return len(self.rcvbuf) if self.rcvbuf is not None else 0

    @property
    def send_queued(self) -> int:
        return len(self.sndbuf) if self.sndbuf is not None else 0

    @property
    def pingpong(self) -> bool:
        """In ping-pong (interactive) mode: TCP_QUICKACK reads its opposite."""
        return self.delack.pingpong

    def info(self, now: float | None = None) -> dict[str, Any]:
        """What `ss -tani` would show for this connection at `now` (default: its engine's last event)."""
        rwin = self.rwin
        cc = self.recovery.cc
        return {
            "state": self.state.ss_name,
            "local": endpoint_str(self.laddr, self.lport),
            "peer": endpoint_str(self.raddr, self.rport),
            "recv_q": self.recv_queued,
            "send_q": self.send_queued,
            "timers": [(k.value, round(left, 3), n) for k, left, n in self.timers(now)],
            "rto": round(self.recovery.rto, 3),
            "rtt": round(self.recovery.srtt_or_zero, 6),
            "mss": self.mss,
            "cwnd": cc.cwnd,
            "ssthresh": cc.ssthresh,
            "snd_wnd": self.snd_wnd,
            "rcv_wnd": seq_diff(self.rcv_adv, self.rcv_nxt),
            # Linux tcp_info: tcpi_rcv_rtt, tcpi_rcv_space, tcpi_rcv_ssthresh; sk_rcvbuf (ss -m "rb").
            "rcv_rtt": round(rwin.rcv_rtt.rtt, 6) if rwin.rcv_rtt is not None else 0.0,
            "rcv_space": rwin.rcvq_space.space if rwin.rcvq_space is not None else 0,
            "rcv_ssthresh": rwin.rcv_ssthresh,
            "rcvbuf": self.rcvbuf_size,
            "wscale": (self.snd_wscale, self.rcv_wscale) if self.wscale_ok else None,
            "sack": self.sack_ok,
            "ts": self.ts_ok,
            "orphan": self.orphan,
        }

    @property
    def key(self) -> int:
        """The four-tuple as the engine's tables key it (conn_key); computed, not kept: the
        tables hold it already."""
        return conn_key(self.laddr, self.lport, self.raddr, self.rport)

    @property
    def sndbuf_size(self) -> int:
        """The send buffer's size as SO_SNDBUF reports it: the one set, else tcp_wmem[1]."""
        size = sockopts.options(self).sndbuf
        return self.engine.knobs.tcp_wmem[1] if size is None else size

    @property
    def four_tuple(self) -> tuple[int, int, int, int]:
        """(laddr, lport, raddr, rport), as a TIME_WAIT entry gives it too."""
        return self.laddr, self.lport, self.raddr, self.rport

    @property
    def packets_out(self) -> int:
        """Segments sent and not yet acknowledged (Linux packets_out), from the scoreboard."""
        return self.recovery.board.packets_out

    @property
    def packets_in_flight(self) -> int:
        """Segments believed in the network (Linux tcp_packets_in_flight)."""
        return self.recovery.board.in_flight

    def queue_cwr(self) -> None:
        """The window was reduced (ECE, fast recovery, a timeout): with ECN, tell the peer with
        CWR on the next new data (Linux tcp_ecn_queue_cwr, RFC 3168 section 6.1.2)."""
        if self.ecn_ok:
            self.ecn_queue_cwr = True

    @property
    def counters(self) -> Counters:
        """The stack's MIB counters (what a congestion-control hook counts in)."""
        return self.engine.counters

    @property
    def pacing_rate(self) -> int:
        """sk_pacing_rate in bytes per second, as Linux's tcp_update_pacing_rate last set it
        (pacing.py)."""
        return self.pacing.rate

    @property
    def fin_in_flight(self) -> bool:
        return self.state in _FIN_SENT_STATES


def conn_key(laddr: int, lport: int, raddr: int, rport: int) -> int:
    """The four-tuple packed into one int: cheap to hash, small to store (TIME_WAIT tables).

    IPv6 addresses take 128 bits each (288 in all); an IPv4 key stays 112 bits wide. The two
    never collide: an IPv6 key has its local address, above 2**32 (family.py), at bit 160.
    """
    if laddr <= IPV4_MAX:
        return (laddr << 80) | (lport << 64) | (raddr << 16) | rport
    return (laddr << 160) | (lport << 144) | (raddr << 16) | rport


def key_lport(key: int) -> int:
    """The local port of a conn_key (an IPv4 key is below 2**112, an IPv6 one above 2**192)."""
    return (key >> 144 if key >> 160 else key >> 64) & 0xFFFF
