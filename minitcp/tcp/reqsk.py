"""A listener's half-open request: what its SYN queue holds (Linux struct tcp_request_sock).

Linux answers a SYN with a request sock (tcp_conn_request -> inet_reqsk_alloc), a few
hundred bytes, and makes the full socket only for the handshake's third segment
(tcp_check_req -> syn_recv_sock -> tcp_create_openreq_child). A `RequestSock` is
that: the addresses, both ISNs, what the SYN offered (MSS, window scale, SACK,
timestamps, ECN, its window), the options agreed, the retransmission count and its
one entry in the engine's timer heap. It sends its SYN-ACK itself (`synack_segment`,
shared with the cookie path's pure twin), answers a retransmitted SYN, resends on
its timer (timeouts.reqsk_timer) and dies on a fatal ICMP error or when the listener
closes. It takes the other segments for its four-tuple as tcp_check_req does: an RST
or a SYN in the window ends it (embryonic reset), a segment out of the window or with
an old timestamp gets its ACK, an ACK of something else the listener's RST, one
without ACK is dropped. Only an ACK of its SYN-ACK in the window makes the
`Connection` (`Listener.birth`, shared with a returning SYN cookie), which then takes
that segment as the third segment of the handshake always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..wire.segment import ACK, CWR, ECE, RST, SYN, Segment
from ..wire.tso import wire_count
from .connection import conn_key
from .cookie_synack import synack_segment
from .family import IPV4_MAX, endpoint_str, segment_class
from .request_synack import DATA, ECN_OK, HAS_TS, HAS_WSCALE, PEER_SACK, SACK_OK, TS_OK, WSCALE_OK
from .reset import reset_for
from .seq import MASK, seq_gt, seq_lt
from .states import Event, State, next_state
from .timeouts import reqsk_timer
from .timers import INF, TimerKind

if TYPE_CHECKING:
    from .cookie_synack import CookieParams
    from .engine import TcpEngine
    from .listener import Listener

_INET_ECN_MASK = 0x03  # the ECN field of the IP TOS byte (RFC 3168 section 5)
_SYN_RECEIVED = State.SYN_RECEIVED
_new = object.__new__
_TCP_PAWS_MSL = 60  # seconds (Linux include/net/tcp.h): a timestamp this old no longer rejects an RST


class RequestSock:
    __slots__ = (
        "engine", "listener", "laddr", "lport", "raddr", "rport", "key", "state",
        # our ISN and the peer's (Linux snt_isn, rcv_isn)
        "iss", "irs",
        # what the SYN offered: MSS (0: none), window scale (None: none), SACK, TSval (None: no
        # timestamps), its window; what we agreed (Linux inet_request_sock's bits), our offset
        "peer_mss", "peer_wscale", "peer_sack", "ts_recent", "snd_wnd",
        "ts_ok", "wscale_ok", "sack_ok", "ecn_ok", "ts_offset",
        # what the listener's SYN-ACKs carry, as its socket options and the knobs were at the SYN
        # (cookie_synack.CookieParams: MSS, window, our scale, TTL, TOS, DF)
        "params",
        # the SYN-ACK timer: retransmissions (num_retrans), the RTO and its back-off, deadline
        "retransmits", "rto", "backoff", "t_rto", "heap_at",
        # when the first SYN-ACK left (snt_synack), when the RTT is timed from (None: resent)
        "syn_stamp", "rtt_time", "last_oow_ack",
        # TCP_INFO's counts the child takes over
        "segs_in", "data_segs_in", "total_retrans",
    )

    def __init__(self, listener: Listener, syn: Segment, isn: int | None) -> None:
        """The request for `syn` (our ISN `isn` on a TIME_WAIT takeover, else the generator's),
        its options agreed as Linux's tcp_openreq_init and tcp_ecn_create_request do."""
        eng = listener.engine
        knobs = eng.knobs
        self.engine: TcpEngine = eng
        self.listener = listener
        laddr, raddr = syn.dst, syn.src
        self.laddr, self.lport, self.raddr, self.rport = laddr, syn.dport, raddr, syn.sport
        self.key = conn_key(laddr, syn.dport, raddr, syn.sport)  # the tables' key (conn_key)
        self.state = _SYN_RECEIVED
        self.iss = eng.isn.isn(laddr, syn.dport, raddr, syn.sport, eng.now) if isn is None else isn
        self.irs = syn.seq
        self.peer_mss = syn.mss or 0
        self.peer_wscale = syn.wscale
        self.peer_sack = syn.sack_permitted
        self.ts_recent = syn.ts_val
        self.snd_wnd = syn.window
        self.ts_ok = syn.ts_val is not None and knobs.tcp_timestamps != 0
        self.wscale_ok = syn.wscale is not None and knobs.tcp_window_scaling != 0
        self.sack_ok = syn.sack_permitted and knobs.tcp_sack != 0
        # RFC 3168 section 6.1.1: an ECN-setup SYN not itself ECN-capable (accept_syn's rule).
        self.ecn_ok = bool(knobs.tcp_ecn) and syn.flags & (ECE | CWR) == ECE | CWR \
            and not syn.tos & _INET_ECN_MASK
        self.ts_offset = eng.isn.ts_offset(laddr, raddr) if self.ts_ok else 0
        self.params = listener.synack_params(laddr > IPV4_MAX, laddr)
        self._start(eng, bool(syn.payload))

    def _start(self, eng: TcpEngine, data: bool) -> None:
        """The SYN-ACK timer not yet set and TCP_INFO's counts, at the SYN."""
        self.retransmits = self.backoff = 0
        self.rto = eng.knobs.tcp_rto_initial  # RFC 6298 section 2.1, as a Connection's
        self.t_rto = self.heap_at = INF
        self.syn_stamp = eng.now
        self.rtt_time: float | None = eng.now
        self.last_oow_ack = -INF
        self.segs_in = 1  # the SYN (Linux tcp_segs_in; a SYN's data counts too)
        self.data_segs_in = 1 if data else 0
        self.total_retrans = 0

    @classmethod
    def from_fields(cls, listener: Listener, key: int, laddr: int, raddr: int, rport: int,
                    fields: Sequence[int], params: CookieParams) -> RequestSock:
        """The request the batch path made for a SYN from `raddr`, `rport` to `laddr` (four-tuple
        `key`), from what `mt_request_synack` (request_synack.py) parsed and agreed: the same
        request `__init__` makes of the SYN's `Segment`, its SYN-ACK already sent."""
        self = _new(cls)
        eng = listener.engine
        self.engine = eng
        self.listener = listener
        self.laddr, self.lport, self.raddr, self.rport = laddr, listener.lport, raddr, rport
        self.key = key
        self.state = _SYN_RECEIVED
        iss, self.irs, self.peer_mss, wscale, bits, ts_val, self.snd_wnd, self.ts_offset = fields
        self.iss = iss
        self.peer_wscale = wscale if bits & HAS_WSCALE else None
        self.peer_sack = bits & PEER_SACK != 0
        self.ts_recent = ts_val if bits & HAS_TS else None
        self.ts_ok = bits & TS_OK != 0
        self.wscale_ok = bits & WSCALE_OK != 0
        self.sack_ok = bits & SACK_OK != 0
        self.ecn_ok = bits & ECN_OK != 0
        self.params = params
        self._start(eng, bits & DATA != 0)
        return self

    def __repr__(self) -> str:
        local, peer = endpoint_str(self.laddr, self.lport), endpoint_str(self.raddr, self.rport)
        return f"<RequestSock {local} > {peer} SYN_RECEIVED>"

    # ------------------------------------------------------------------ what it sends

    def synack(self) -> Segment:
        """Our SYN-ACK now (Linux tcp_make_synack), from the listener's parameters at the SYN."""
        ts_val = (int(self.engine.now * 1000) + self.ts_offset) & MASK if self.ts_ok else None
        return synack_segment(self.params, self.laddr, self.raddr, self.lport, self.rport, self.iss,
                              (self.irs + 1) & MASK, self.ts_recent, ts_val,
                              self.wscale_ok, self.sack_ok, self.ecn_ok)

    def send_synack(self, retransmit: bool = False, reason: str = "") -> None:
        """Hand our SYN-ACK to the engine, counted as `output.emit` counts a listener's
        connection's (RetransSegs only once it left: Linux tcp_rtx_synack)."""
        eng = self.engine
        seg = self.synack()
        if retransmit and not eng.xmit_drop:
            eng.counters["RetransSegs"] += 1
            self.total_retrans += 1
        if self._send(seg) and retransmit and eng.observer is not None:
            eng.observer.on_retransmit(self, seg, eng.now, reason)

    def _send(self, seg: Segment | None) -> bool:
        """Hand `seg` (None: nothing, as `reset_for` says for an RST) to the engine, counted as
        `output.emit` counts a connection's; False when the local device dropped it."""
        if seg is None:
            return False
        eng = self.engine
        eng.counters["OutSegs"] += 1
        if eng.xmit_drop:
            return False
        eng.out.append(seg)
        if seg.flags & RST:
            eng.counters["OutRsts"] += 1
        if eng.observer is not None:
            eng.observer.on_segment(self, "out", seg, eng.now)
        return True

    def open(self) -> None:
        """The SYN is in the queue: observers see LISTEN -> SYN-RECEIVED, the SYN-ACK leaves and
        its timer starts (Linux inet_csk_reqsk_queue_hash_add, tcp_v4_send_synack)."""
        eng = self.engine
        if eng.observer is not None:
            eng.observer.on_state(self, State.LISTEN, _SYN_RECEIVED, eng.now)
        self.send_synack()
        self.set_timer(eng.now + self.rto)

    # ------------------------------------------------------------------ what it takes in

    def input(self, seg: Segment) -> None:
        """A segment for our four-tuple (Linux tcp_check_req), handled on the request itself
        except for the one that completes the handshake: the SYN again gets the SYN-ACK again;
        an ACK of something else is the listener's to answer (an RST); a segment out of the
        window or with an old timestamp gets our ACK (rate-limited) and the request stays; an
        RST, or a SYN, in the window ends it (embryonic reset); a segment without ACK is
        dropped. Only an ACK of our SYN-ACK in the window makes the connection, which takes
        the segment as a listener's SYN-RECEIVED connection always did."""
        eng = self.engine
        flags = seg.flags & (SYN | ACK | RST)  # Linux's flg: FIN and the rest play no part here
        paws = self.ts_ok and seg.ts_val is not None and self._paws_reject(seg)
        if flags == SYN and seg.seq == self.irs and not paws:
            self.segs_in += 1
            # "Retransmitted SYN": the SYN-ACK again (any data the SYN carries thrown away), at
            # most once per tcp_invalid_ratelimit (tcp_oow_rate_limited), and the timer restarts
            # from now.
            if self._oow_rate_limited(seg):
                return
            self.send_synack(retransmit=True)
            self.set_timer(eng.now + self.rto)
            return
        if flags & (ACK | RST) == ACK and seg.ack != (self.iss + 1) & MASK:
            # RFC 9293 section 3.10.7.4 (an unacceptable ACK in SYN-RECEIVED: reset): Linux hands
            # the segment back to the listener (tcp_check_req returns sk), which answers any ACK
            # with an RST (tcp_rcv_state_process, LISTEN; tcp_v4_send_reset). An RST goes on to
            # the window check whatever it acknowledges: this machine's Linux 6.18 drops a
            # request for an RST|ACK at rcv_nxt acking something else, and keeps it for one
            # outside the window (the FreeBSD suite's rcv-rst-ack-syn-rcvd via-listen scripts,
            # `conformance --target kernel`).
            self._note_drop(seg, "unacceptable ACK in SYN-RECEIVED")
            self._send(reset_for(seg))
            return
        if paws or not self._in_window(seg):
            # "RFC793: first check sequence number": out of the window (tcp_in_window against
            # rcv_nxt and the window our SYN-ACK offered) or PAWS-rejected: our ACK, never for
            # an RST, rate-limited (TCPACKSkippedSynRecv); the request stays.
            self._count_in(seg)
            if paws:
                eng.counters["PAWSEstabRejected"] += 1
            self._note_drop(seg, "PAWS: old timestamp" if paws else "outside the receive window")
            if not flags & RST and not self._oow_rate_limited(seg):
                self._send(self._ack())
            return
        if seg.seq == self.irs:
            flags &= ~SYN  # "Truncate SYN, it is out of window starting at rcv_isn + 1"
        if flags & (RST | SYN):
            # "second check the RST bit" and "fourth, check the SYN bit": embryonic_reset, an RST
            # for a SYN (tcp_v4_send_reset), none for an RST; inet_csk_reqsk_queue_drop.
            # (AttemptFails: `drop`, as Linux's TCP_MIB_ATTEMPTFAILS just before.)
            if flags & RST:
                event, reason = Event.RCV_RST, "RST in SYN-RECEIVED: back to LISTEN"
            else:
                event, reason = Event.RCV_SYN_IN_WINDOW, "SYN in SYN-RECEIVED"
                self._send(reset_for(seg))
            eng.counters["EmbryonicRsts"] += 1
            self.drop(event, reason)
            return
        if not flags & ACK:
            # "If ACK not set, just silently drop the packet", its timestamp kept ("In sequence,
            # PAWS is OK": ts_recent from a segment not after rcv_nxt).
            self._count_in(seg)
            if self.ts_ok and seg.ts_val is not None and not seq_gt(seg.seq, (self.irs + 1) & MASK):
                self.ts_recent = seg.ts_val
            self._note_drop(seg, "no ACK")
            return
        self.listener.birth_from_request(self).input(seg)

    def _paws_reject(self, seg: Segment) -> bool:
        """RFC 7323 section 5.3 (Linux tcp_paws_reject, with the request's ts_recent): a TSval
        older than the SYN's. An RST is let through once the SYN's timestamp is TCP_PAWS_MSL
        old, which tcp_check_req reckons as 1 s per SYN-ACK timeout (ts_recent_stamp)."""
        ts_recent = self.ts_recent
        if not ts_recent or not ((seg.ts_val or 0) - ts_recent) & 0x80000000:
            return False
        return not (seg.flags & RST and 1 << self.retransmits >= _TCP_PAWS_MSL)

    def _in_window(self, seg: Segment) -> bool:
        """Linux tcp_in_window(seq, end_seq, rcv_nxt, rcv_nxt + rsk_rcv_wnd): the segment starts
        at rcv_nxt, or overlaps the window our SYN-ACK offered, or is empty at its right edge."""
        rcv_nxt = (self.irs + 1) & MASK
        seq = seg.seq
        if seq == rcv_nxt:
            return True
        end = (seq + seg.seg_len) & MASK
        right = (rcv_nxt + self._rcv_wnd()) & MASK
        if seq_gt(end, rcv_nxt) and seq_lt(seq, right):
            return True
        return seq == right and seq == end

    def _rcv_wnd(self) -> int:
        """The window our SYN-ACK offered (Linux req->rsk_rcv_wnd: at most 65535, unscaled)."""
        params = self.params
        return params.window_ts if self.ts_ok else params.window

    def _oow_rate_limited(self, seg: Segment) -> bool:
        """Linux tcp_oow_rate_limited: whether the answer to `seg` is skipped, at most one per
        tcp_invalid_ratelimit (TCPACKSkippedSynRecv); data without SYN is always answered."""
        if seg.seg_len and not seg.flags & SYN:
            return False
        eng = self.engine
        if eng.now - self.last_oow_ack < eng.knobs.tcp_invalid_ratelimit:
            eng.counters["TCPACKSkippedSynRecv"] += 1
            return True
        self.last_oow_ack = eng.now
        return False

    def _ack(self) -> Segment:
        """Our ACK (Linux tcp_v4_reqsk_send_ack, tcp_v6_reqsk_send_ack): at snt_isn + 1, acking
        rcv_nxt, the SYN-ACK's window scaled (RFC 7323 section 2.3), our timestamp and
        ts_recent; the listener's TOS and TTL as its SYN-ACK's."""
        p = self.params
        window = self._rcv_wnd()
        ack = segment_class(self.laddr)(
            self.laddr, self.raddr, self.lport, self.rport, (self.iss + 1) & MASK, (self.irs + 1) & MASK,
            ACK, window >> p.rcv_wscale if self.wscale_ok else window, tos=p.tos, ttl=p.ttl, df=p.df)
        if self.ts_ok:
            ack.ts_val = (int(self.engine.now * 1000) + self.ts_offset) & MASK
            ack.ts_ecr = self.ts_recent
        return ack

    def _count_in(self, seg: Segment) -> None:
        """TCP_INFO's counts of a segment the request keeps to itself (the child takes them)."""
        segs = wire_count(seg)
        self.segs_in += segs
        if seg.payload:
            self.data_segs_in += segs

    def _note_drop(self, seg: Segment, reason: str) -> None:
        obs = self.engine.observer
        if obs is not None:
            obs.on_drop(self, reason, seg, self.engine.now)

    def child_syn(self) -> Segment:
        """The SYN as far as it matters to the connection made from this request: what
        `input.accept_syn` reads (an ECN-setup SYN only if ECN was agreed)."""
        return segment_class(self.raddr)(
            self.raddr, self.laddr, self.rport, self.lport, self.irs, 0,
            SYN | (ECE | CWR if self.ecn_ok else 0), self.snd_wnd, mss=self.peer_mss or None,
            wscale=self.peer_wscale, sack_permitted=self.peer_sack, ts_val=self.ts_recent)

    # ------------------------------------------------------------------ the timer

    def set_timer(self, deadline: float) -> None:
        self.t_rto = deadline
        eng = self.engine
        eng.timers.schedule(self, deadline)
        if eng.observer is not None:
            eng.observer.on_timer(self, TimerKind.RTO, "set", deadline, eng.now)

    def on_timers(self, now: float) -> None:
        """The engine's heap says our deadline came (Linux reqsk_timer_handler)."""
        if self.state is not _SYN_RECEIVED or self.t_rto == INF:
            return
        if self.t_rto > now:  # restarted later (a retransmitted SYN): its entry comes later
            self.engine.timers.schedule(self, self.t_rto)
            return
        self.t_rto = INF
        if self.engine.observer is not None:
            self.engine.observer.on_timer(self, TimerKind.RTO, "fire", None, now)
        reqsk_timer(self)

    def timers(self, now: float | None = None) -> list[tuple[TimerKind, float, int]]:
        """The SYN-ACK timer as `Connection.timers` gives a connection's, like `ss -o`."""
        if self.t_rto == INF:
            return []
        return [(TimerKind.RTO, max(self.t_rto - (self.engine.now if now is None else now), 0.0),
                 self.retransmits)]

    # ------------------------------------------------------------------ the end

    def drop(self, event: Event, reason: str = "") -> None:
        """The request dies (the listener's close, an RST, a fatal ICMP error, its retries):
        out of the SYN queue and the engine's table; observers see SYN-RECEIVED -> CLOSED.
        AttemptFails counts it, as it counts every failed open (tcp_done)."""
        if self.state is not _SYN_RECEIVED:
            return
        eng = self.engine
        obs = eng.observer
        if reason and obs is not None:
            obs.on_drop(self, reason, None, eng.now)
        eng.counters["AttemptFails"] += 1
        if self.t_rto != INF:
            self.t_rto = INF
            if obs is not None:
                obs.on_timer(self, TimerKind.RTO, "cancel", None, eng.now)
        self.heap_at = INF
        self.state = next_state(_SYN_RECEIVED, event)  # (the table of states.py: CLOSED)
        if obs is not None:
            obs.on_state(self, _SYN_RECEIVED, self.state, eng.now)
        self.unlink()

    def unlink(self) -> None:
        """Out of the engine's table and the listener's SYN queue (the child takes our place)."""
        key = self.key
        eng = self.engine
        if eng.requests.get(key) is self:
            del eng.requests[key]
        self.listener.forget_request(key, self)

    # ------------------------------------------------------------------ looking

    @property
    def four_tuple(self) -> tuple[int, int, int, int]:
        return self.laddr, self.lport, self.raddr, self.rport

    def info(self, now: float | None = None) -> dict[str, Any]:
        """What `ss -tan` shows of a request (Linux inet_diag's request rows): the state, the
        addresses, empty queues, the SYN-ACK timer."""
        return {
            "state": self.state.ss_name,
            "local": endpoint_str(self.laddr, self.lport),
            "peer": endpoint_str(self.raddr, self.rport),
            "recv_q": 0,
            "send_q": 0,
            "timers": [(k.value, round(left, 3), n) for k, left, n in self.timers(now)],
        }
