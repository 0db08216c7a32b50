"""A listening endpoint: the SYN queue and the accept queue (RFC 9293 section 3.10.7.2).

Half-open connections live in the SYN queue as request socks (reqsk.py, Linux's
request_sock): the full `Connection` is born (`birth`, Linux tcp_create_openreq_child)
when the handshake's third segment comes, or a SYN cookie returns. Linux's rules for
full queues (tcp_conn_request, tcp_check_req): a SYN that finds the SYN queue
full is answered with a SYN cookie (tcp_syncookies=1, the default; =2: every
SYN is) and remembered nowhere, or dropped (tcp_syncookies=0); a SYN that finds
the accept queue full is dropped; so is a final ACK, unless
tcp_abort_on_overflow asks for an RST. The accept queue holds backlog + 1
connections, as in Linux. A returning cookie makes its connection from the ACK
alone (cookie_v4_check); the cookie itself is syncookies.py's. Under a flood the host
asks `cookie_reply` first, with the SYN's packet: in cookie mode the SYN-ACK is made
from the bytes in one call (cookie_synack.py), no `Segment` or `Connection` made,
with the same bytes and counters as `_send_cookie`, which handles every other case.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..wire.segment import ACK, CWR, ECE, FIN, RST, SYN, Segment
from . import input as tcp_in
from . import output
from .connection import Connection
from .cookie_synack import CookieParams, cookie_params, cookie_synack, params_key
from .family import addr_str, segment_class
from .reqsk import RequestSock
from .reset import reset_for
from .seq import MASK
from .states import Event, State
from .syncookies import TCP_SYNCOOKIE_VALID, cookie_timestamp, decode_timestamp_options, timestamp_options
from .timers import INF

if TYPE_CHECKING:
    from .engine import TcpEngine

log = logging.getLogger(__name__)


class Listener:
    __slots__ = ("accept_queue", "backlog", "cookie_params", "engine", "event_pending", "laddr",
                 "last_overflow", "lport", "options", "syn_queue", "synflood_warned", "user", "aged")

    def __init__(self, engine: TcpEngine, laddr: int, lport: int, backlog: int) -> None:
        self.engine = engine
        self.laddr = laddr
        self.lport = lport
        self.backlog = min(max(backlog, 0), engine.knobs.somaxconn)
        # Requests (reqsk.py), and the connections born of them still in SYN-RECEIVED (a bad
        # or deferred third segment, a full accept queue), by four-tuple key.
        self.syn_queue: dict[int, RequestSock | Connection] = {}
        # The keys of the SYN queue's entries whose SYN-ACK timer fired: the others are young
        # (Linux queue->young), and `synack_retries` prunes old ones when they clog the queue.
        self.aged: set[int] = set()
        self.accept_queue: collections.deque[Connection] = collections.deque()
        # Socket options new connections inherit (SO_RCVBUF, TCP_NODELAY, ...): name -> value.
        self.options: dict[str, Any] = {}
        self.user: Any = None
        self.event_pending = False
        # When we last answered with a SYN cookie (Linux tcp_synq_overflow): returning ACKs are
        # checked for cookies only within TCP_SYNCOOKIE_VALID of it.
        self.last_overflow = -TCP_SYNCOOKIE_VALID
        self.synflood_warned = False  # the one log line of tcp_syn_flood_action was written
        # The fast cookie path's parameters per family (IPv6: True), with what they were made
        # from: params_key and the socket options.
        self.cookie_params: dict[bool, tuple[tuple[object, ...], dict[str, Any], CookieParams]] = {}

    state = State.LISTEN

    @property
    def young(self) -> int:
        """The SYN queue's entries whose SYN-ACK timer never fired (Linux reqsk_queue_len_young)."""
        return len(self.syn_queue) - len(self.aged)

    def _enqueue(self, key: int, half: RequestSock | Connection) -> None:
        """`half` joins the SYN queue, young, in place of what had its key (reqsk_queue_added)."""
        self._unqueue(key)
        self.syn_queue[key] = half

    def _unqueue(self, key: int) -> None:
        """What has `key` leaves the SYN queue (reqsk_queue_removed)."""
        self.syn_queue.pop(key, None)
        self.aged.discard(key)

    def synack_retries(self) -> int:
        """The SYN-ACK retransmissions an entry of our SYN queue may send before it gives up, as
        its timer fires (Linux reqsk_timer_handler): tcp_synack_retries, but when the queue is
        more than half full (of max(8, backlog)) and the young entries (no timeout yet) are
        too few, old ones are pruned: one retry fewer each time the young, doubled, are still
        at most the queue's length, down to 2, "reserving half of room for young embrions"."""
        retries = self.engine.knobs.tcp_synack_retries
        qlen = len(self.syn_queue)
        if qlen << 1 > max(8, self.backlog):
            young = self.young << 1
            while retries > 2 and qlen >= young:
                retries -= 1
                young <<= 1
        return retries

    def timed_out(self, half: RequestSock | Connection) -> None:
        """`half`'s SYN-ACK timer fired and it lives on: no longer young (Linux
        `if (req->num_timeout++ == 0) atomic_dec(&queue->young)`)."""
        if self.syn_queue.get(half.key) is half:
            self.aged.add(half.key)

    def accept_queue_full(self) -> bool:
        return len(self.accept_queue) > self.backlog

    def input(self, seg: Segment, isn: int | None = None) -> None:
        """A segment for no connection, to this listening port."""
        eng = self.engine
        flags = seg.flags
        if flags & RST:
            return
        if flags & ACK:
            if not flags & SYN and self._cookie_ack(seg):
                return
            # RFC 9293 section 3.10.7.2: an ACK reaching a listener is answered with RST.
            eng.emit_reply(reset_for(seg))
            return
        if not flags & SYN or flags & FIN:
            eng.note_drop(seg, "not a SYN, to a listening port")
            return
        # Linux tcp_conn_request: a full SYN queue (or tcp_syncookies=2) means a cookie or a
        # drop (tcp_syn_flood_action), then a full accept queue drops the SYN either way. A
        # SYN taking over a TIME_WAIT pair (`isn`) is never refused for a full SYN queue.
        syncookies = eng.knobs.tcp_syncookies
        want_cookie = False
        queued = len(self.syn_queue)
        if isn is None and (syncookies == 2 or queued >= max(self.backlog, 1)
                            or queued >= eng.knobs.tcp_max_syn_backlog):
            self._flood_warning()
            if not syncookies:
                eng.counters["TCPReqQFullDrop"] += 1
                eng.counters["ListenDrops"] += 1
                eng.note_drop(seg, "SYN queue full")
                return
            eng.counters["TCPReqQFullDoCookies"] += 1
            want_cookie = True
        if self.accept_queue_full():
            eng.counters["ListenOverflows"] += 1
            eng.counters["ListenDrops"] += 1
            eng.note_drop(seg, "accept queue full")
            return
        if want_cookie:
            self._send_cookie(seg)
            return
        # Linux inet_reqsk_alloc, inet_csk_reqsk_queue_hash_add: the request, in the engine's
        # table (the established hash) and our SYN queue; its SYN-ACK leaves.
        req = RequestSock(self, seg, isn)
        key = req.key
        eng.requests[key] = req
        self._enqueue(key, req)
        req.open()

    # ------------------------------------------------------------------ SYN cookies

    def _fill(self, conn: Connection, syn: Segment, isn: int) -> Connection:
        """`conn`'s block for `syn` with our ISN `isn` and this listener's socket options, its
        state unchanged: what a cookie's SYN-ACK is made from (a stand-in in no table), and
        what its connection starts from when the cookie comes back."""
        for name, value in self.options.items():
            conn.apply_option(name, value, self.engine.now)
        tcp_in.accept_syn(conn, syn, isn)
        return conn

    def _send_cookie(self, syn: Segment) -> None:
        """Answer `syn` with a cookie SYN-ACK and keep nothing (Linux tcp_conn_request with
        want_cookie, cookie_init_sequence, cookie_init_timestamp)."""
        eng = self.engine
        now = eng.now
        # The MSS the peer may be sent (Linux mss_clamp): its SYN's, or RFC 9293's 536, at most
        # our TCP_MAXSEG; the cookie rounds it down to its table.
        mss = syn.mss if syn.mss else 536
        user_mss = int(self.options.get("maxseg", 0))
        if user_mss:
            mss = min(mss, user_mss)
        cookie, _ = eng.cookies.make(syn.src, syn.dst, syn.sport, syn.dport, syn.seq, mss, now)
        self.last_overflow = now  # tcp_synq_overflow
        eng.last_cookie = now
        eng.counters["SyncookiesSent"] += 1
        if syn.ts_val is None or not eng.knobs.tcp_timestamps:
            # Without timestamps nothing carries the options: Linux tcp_clear_options, and
            # no ECN either (tcp_conn_request: ecn_ok = 0 unless tstamp_ok).
            syn = _without_options(syn)
        conn = self._fill(Connection(eng, syn.dst, syn.dport, syn.src, syn.sport), syn, cookie)
        synack = output.syn_segment(conn, synack=True)
        if conn.ts_ok:
            bits = timestamp_options(conn.snd_wscale if conn.wscale_ok else None, conn.sack_ok, conn.ecn_ok)
            ts_now = int(now * 1000)  # our timestamp clock (output.segment), before the offset
            synack.ts_val = (cookie_timestamp(ts_now, bits) + conn.ts_offset) & MASK
        eng.emit_reply(synack)

    def cookie_reply(self, pkt: bytes | memoryview, csum_partial: bool, v6: bool, dst: int,
                     now: float) -> bytes | None:
        """The fast path of `input` for a SYN (the IP packet `pkt`, to our address `dst`) that
        finds this listener in cookie mode: its cookie SYN-ACK's packet, made without a
        `Connection` (cookie_synack.py), the same bytes and counts as `_send_cookie`'s; None
        when `input` must take the segment (no cookie due, an accept queue full, the flood's
        log line not yet written, or not a valid SYN). The engine has checked that no
        connection, TIME_WAIT entry or observer wants the segment."""
        if not self.cookie_mode():
            return None
        synack = cookie_synack(pkt, csum_partial, self.synack_params(v6, dst), now)
        if type(synack) is not bytes:
            return None
        self.cookies_sent(1, now)
        return synack

    def syn_room(self) -> int:
        """How many SYNs `input` would now make requests of before its SYN queue is full
        (inet_csk_reqsk_queue_is_full: qlen >= sk_max_ack_backlog, or tcp_max_syn_backlog): 0
        with tcp_syncookies=2 (every SYN a cookie) or a full accept queue (every SYN dropped)."""
        knobs = self.engine.knobs
        if knobs.tcp_syncookies == 2 or self.accept_queue_full():
            return 0
        return max(min(max(self.backlog, 1), knobs.tcp_max_syn_backlog) - len(self.syn_queue), 0)

    def requests_made(self, made: list[tuple[int, int, int, Sequence[int]]], laddr: int,
                      params: CookieParams, now: float) -> None:
        """Take in the requests the batch path made for SYNs to our address `laddr`
        (minitcp.host.cookie_batch, request_synack.py), their SYN-ACKs sent: each
        `(key, raddr, rport, fields)`. What receive(), input() and RequestSock.open() do and
        count for each SYN (Linux tcp_conn_request, inet_csk_reqsk_queue_hash_add)."""
        eng = self.engine
        eng.now = now
        requests, enqueue, from_fields = eng.requests, self._enqueue, RequestSock.from_fields
        for key, raddr, rport, fields in made:
            req = from_fields(self, key, laddr, raddr, rport, fields, params)
            requests[key] = req
            enqueue(key, req)
            req.set_timer(now + req.rto)
        counters = eng.counters
        counters["InSegs"] += len(made)
        counters["OutSegs"] += len(made)

    def cookie_mode(self) -> bool:
        """Whether `input` would answer any SYN now with a cookie, and send it: tcp_syncookies=2,
        or a full SYN queue once the flood's log line is written (tcp_conn_request,
        tcp_syn_flood_action), and room in the accept queue (else the SYN is dropped)."""
        knobs = self.engine.knobs
        syncookies = knobs.tcp_syncookies
        if not syncookies or not (syncookies == 2 or self.synflood_warned):
            return False
        queued = len(self.syn_queue)
        return (syncookies == 2 or queued >= max(self.backlog, 1) or queued >= knobs.tcp_max_syn_backlog) \
            and not self.accept_queue_full()

    def synack_params(self, v6: bool, dst: int) -> CookieParams:
        """What this listener puts in every cookie SYN-ACK to its family's address `dst`
        (cookie_synack.py), made again when its socket options or the knobs changed."""
        eng = self.engine
        key = params_key(eng)
        cached = self.cookie_params.get(v6)
        if cached is None or cached[0] != key or cached[1] != self.options:
            params = cookie_params(eng, dst, self.lport, self.options)
            cached = self.cookie_params[v6] = (key, dict(self.options), params)
        return cached[2]

    def _flood_warning(self) -> None:
        """Linux tcp_syn_flood_action's log line, once per listener (not when cookies are always
        on, tcp_syncookies=2): a SYN found the SYN queue full. The counters tell the rest."""
        syncookies = self.engine.knobs.tcp_syncookies
        if syncookies != 2 and not self.synflood_warned:
            self.synflood_warned = True
            log.info("Possible SYN flooding on port %s:%d. %s.", addr_str(self.laddr), self.lport,
                     "Sending cookies" if syncookies else "Dropping request")

    def cookies_sent(self, count: int, now: float) -> None:
        """Count `count` SYNs answered with a cookie outside `input` (`cookie_reply`, or a
        batch of them, minitcp.host.cookie_batch): what receive(), input(), _send_cookie() and
        emit_reply() do and count for each, the flood's log line with the first."""
        eng = self.engine
        eng.now = now
        self._flood_warning()
        counters = eng.counters
        counters["InSegs"] += count
        counters["TCPReqQFullDoCookies"] += count
        counters["SyncookiesSent"] += count
        counters["OutSegs"] += count
        self.last_overflow = now  # tcp_synq_overflow
        eng.last_cookie = now

    def _cookie_ack(self, seg: Segment) -> bool:
        """An ACK to the listener that may return a cookie (Linux cookie_v4_check): True when
        it was one, and is now a connection or dropped; False to answer it with RST."""
        eng = self.engine
        knobs = eng.knobs
        if not knobs.tcp_syncookies or eng.now > self.last_overflow + TCP_SYNCOOKIE_VALID:
            return False  # tcp_synq_no_recent_overflow: no cookie of ours can be out there
        mss = eng.cookies.check(seg.src, seg.dst, seg.sport, seg.dport, seg.seq, seg.ack, eng.now)
        if not mss:
            eng.counters["SyncookiesFailed"] += 1
            eng.note_drop(seg, "bad SYN cookie")
            return False
        eng.counters["SyncookiesRecv"] += 1
        # The SYN again, as far as the cookie and the TSecr remember it (cookie_timestamp_decode):
        # options the SYN-ACK could not have offered (a knob now off) refuse the cookie. With
        # tcp_timestamps off the ACK's timestamps are not even read (tcp_parse_options): no options.
        wscale, sack, ecn = None, False, False
        ts_val = seg.ts_val if knobs.tcp_timestamps else None
        if ts_val is not None:
            tsecr = seg.ts_ecr or 0
            if tsecr:  # Linux subtracts the offset only from a nonzero TSecr
                tsecr = (tsecr - eng.isn.ts_offset(seg.dst, seg.src)) & MASK
            wscale, sack, ecn = decode_timestamp_options(tsecr)
            if (sack and not knobs.tcp_sack) or (wscale is not None and not knobs.tcp_window_scaling):
                return False
        if self.accept_queue_full():
            # tcp_v4_syn_recv_sock: no child for a full accept queue; the ACK is dropped.
            eng.counters["ListenOverflows"] += 1
            eng.counters["ListenDrops"] += 1
            eng.note_drop(seg, "accept queue full")
            return True
        # An ECN-setup SYN (ECE and CWR) if the cookie says so; accept_syn then asks tcp_ecn,
        # as cookie_ecn_ok does. The SYN's own IP ECN bits are gone with it: none.
        syn = segment_class(seg.src)(seg.src, seg.dst, seg.sport, seg.dport, (seg.seq - 1) & MASK, 0,
                      SYN | (ECE | CWR if ecn else 0), seg.window, mss=mss, wscale=wscale,
                      sack_permitted=sack, ts_val=ts_val, tos=seg.tos & ~0x03)
        conn = self.birth(syn, (seg.ack - 1) & MASK)
        conn.set_state(Event.RCV_SYN, born_in=State.LISTEN)
        conn.input(seg)  # the ACK completes the handshake as any third segment does
        return True

    def birth(self, syn: Segment, isn: int) -> Connection:
        """The connection of `syn`, our ISN `isn`, in the engine's table and our SYN queue, its
        state not yet set (Linux tcp_create_openreq_child, for a request and a cookie alike):
        the listener's socket options, the SYN's options agreed, the SYN-ACK's effect on the
        block redone (cookie_v4_check: "Try to redo what tcp_v4_send_synack did")."""
        eng = self.engine
        conn = eng.new_connection(syn.dst, syn.dport, syn.src, syn.sport)
        conn.listener = self
        self._fill(conn, syn, isn)
        # Born of a SYN, as Linux's child is (TCP_INFO counts the SYN in).
        conn.passive = True
        conn.count_in(syn)
        output.syn_segment(conn, synack=True)  # the window it offered
        conn.snd_nxt = conn.snd_max = (isn + 1) & MASK
        self._enqueue(conn.key, conn)
        return conn

    def birth_from_request(self, req: RequestSock) -> Connection:
        """`req`'s connection, for a segment other than its SYN (Linux tcp_check_req ->
        syn_recv_sock): born in SYN-RECEIVED with the request's timer, retransmissions and
        counts, and takes its place; observers saw the request enter SYN-RECEIVED and are told
        the connection is that request (`on_child`)."""
        conn = self.birth(req.child_syn(), req.iss)
        conn.segs_in, conn.data_segs_in = req.segs_in, req.data_segs_in
        conn.total_retrans = req.total_retrans
        conn.syn_stamp = req.syn_stamp
        conn.last_oow_ack = req.last_oow_ack
        rec = conn.recovery
        rec.retransmits, rec.backoff, rec.rto = req.retransmits, req.backoff, req.rto
        if req.retransmits:
            self.aged.add(conn.key)  # in the old request's place: old too
        rec.rtt_seq, rec.rtt_time = req.iss, req.rtt_time
        conn.state = State.SYN_RECEIVED  # (the request's state: no change to report)
        req.state = State.CLOSED
        req.unlink()
        eng = self.engine
        if eng.observer is not None:
            on_child = getattr(eng.observer, "on_child", None)
            if on_child is not None:
                on_child(req, conn, eng.now)
        if req.t_rto != INF:
            conn.t_rto = req.t_rto
            eng.timers.schedule(conn, req.t_rto)
        req.heap_at = INF
        return conn

    # ------------------------------------------------------------------ the accept queue

    def established(self, conn: Connection) -> None:
        if self.syn_queue.get(conn.key) is conn:
            self._unqueue(conn.key)
        self.accept_queue.append(conn)
        self.engine.wake(self)

    def forget_request(self, key: int, req: RequestSock) -> None:
        """A request left the SYN queue (it died, or its connection took its place)."""
        if self.syn_queue.get(key) is req:
            self._unqueue(key)

    def forget(self, conn: Connection) -> None:
        """A connection of ours went CLOSED. From the SYN queue it just goes; in the accept
        queue it stays, as in Linux: accept() still returns it and its first read reports
        the reset (ECONNRESET)."""
        if self.syn_queue.get(conn.key) is conn:
            self._unqueue(conn.key)

    def accept(self) -> Connection | None:
        """The oldest established connection, now the application's; None when there is none."""
        if not self.accept_queue:
            return None
        conn = self.accept_queue.popleft()
        conn.listener = None
        return conn

    def close(self, now: float) -> None:
        """Stop listening at time `now`. Linux (inet_csk_listen_stop) resets the connections
        nobody accepted."""
        eng = self.engine
        eng.begin_call(now)
        for half in list(self.syn_queue.values()):
            if isinstance(half, RequestSock):
                half.drop(Event.LISTENER_CLOSED, reason="listener closed")
            else:
                half.listener = None
                half.orphan = True
                half.drop(Event.LISTENER_CLOSED, reason="listener closed")
        while self.accept_queue:
            conn = self.accept_queue.popleft()
            conn.listener = None
            conn.abort(now)
        eng.stop_listening(self)


def _without_options(syn: Segment) -> Segment:
    """`syn` with only its MSS option: what a cookie SYN-ACK answers when no timestamp can
    carry the rest (Linux tcp_clear_options)."""
    return segment_class(syn.src)(syn.src, syn.dst, syn.sport, syn.dport, syn.seq, syn.ack,
                                  syn.flags & ~(ECE | CWR), syn.window, mss=syn.mss, tos=syn.tos)
