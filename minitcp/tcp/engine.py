"""The sans-IO TCP engine: every connection, listener and TIME_WAIT entry of one host.

Bring your own I/O (like smoltcp's process/dispatch/poll_at, aioquic's
receive_datagram/datagrams_to_send/get_timer, h11):

    engine.receive(segment, now)        # a parsed segment came in
    engine.icmp_error(..., now)         # an ICMP error quoted one of our segments
    engine.handle_timeout(now)          # the time from poll_at() has come
    engine.poll_at() -> float | None    # when to call handle_timeout next
    engine.take_output() -> [Segment]   # segments to put on the wire
    engine.take_events() -> [object]    # connections/listeners whose readiness changed
    engine.connect(..., now) -> Connection, engine.listen(...) -> Listener

and the application's calls on them, each given the time too:
conn.send(data, now), conn.recv(n, now), conn.shutdown(how, now),
conn.close(now), conn.abort(now), conn.apply_option(name, value, now),
listener.close(now).

It never reads a clock, opens a file or awaits anything: `now` is always
given, in seconds, and every timer lives in one heap.
"""

from __future__ import annotations

import errno
import logging
import math
from typing import TYPE_CHECKING, Any

from ..wire.segment import RST, Segment
from . import output
from .connection import Connection, conn_key
from .counters import Counters
from .family import ANY6, IPV4_TCP_HEADERS, any_address, is_loopback, is_v6
from .icmp_errors import drops_request, icmp_errno, icmpv6_error, is_packet_too_big
from .isn import IsnGenerator
from .knobs import Knobs
from .listener import Listener
from .pmtu import mtu_reduced
from .reqsk import RequestSock
from .reset import reset_for
from .seq import seq_diff
from .states import Event, State, next_state
from .syncookies import SynCookies
from .timers import TimerHeap
from .timewait import TimeWait, TimeWaitTable, TwVerdict

if TYPE_CHECKING:
    from .observer import Observer

log = logging.getLogger(__name__)


class TcpEngine:
    def __init__(
        self,
        knobs: Knobs | None = None,
        *,
        mtu: int = 1500,
        observer: Observer | None = None,
        secret: bytes | None = None,
    ) -> None:
        self.knobs = knobs if knobs is not None else Knobs()
        self.mtu = mtu
        self.mss = mtu - IPV4_TCP_HEADERS  # an IPv4 connection's (an IPv6 one's is 20 less: family.py)
        self.observer = observer
        # The largest payload of one outgoing segment the host cuts into MSS-sized ones itself
        # (TCP segmentation offload, `minitcp.wire.tso`); 0: every segment leaves as it is.
        self.tso_max = 0
        # The local device's queue refuses every packet (a qdisc with no room, `tc qdisc add dev
        # tun0 root pfifo limit 0`): Linux's dev_queue_xmit answers NET_XMIT_DROP, and TCP keeps
        # the data and tries again later (output.emit, timeouts.py).
        self.xmit_drop = False
        self.counters = Counters()
        self.isn = IsnGenerator(secret)
        self.cookies = SynCookies(self.isn)  # keyed with the same secret, made after it
        self.timers = TimerHeap()
        self.now = 0.0
        self.out: list[Segment] = []
        self.events: list[Any] = []
        self.conns: dict[int, Connection] = {}
        # Listeners' half-open requests by four-tuple (reqsk.py): Linux keeps request socks in
        # the established hash beside full sockets; here a table of their own, asked second.
        self.requests: dict[int, RequestSock] = {}
        self.listeners: dict[tuple[int, int], Listener] = {}
        self.timewait = TimeWaitTable()
        # When a listener last answered a SYN with a cookie (Listener._send_cookie,
        # cookies_sent): the host's batch cookie path looks for listeners in cookie mode only
        # soon after (minitcp.host.cookie_batch).
        self.last_cookie = -math.inf
        # Connections the application closed that still have a state on the wire (Linux
        # tcp_orphan_count), bounded by tcp_max_orphans (usercalls.close).
        self.orphans: set[Connection] = set()
        self._challenge_window = (0.0, 0)  # (second it counts, ACKs sent in it)

    # ------------------------------------------------------------------ the I/O interface

    def receive(self, seg: Segment, now: float) -> None:
        """Take in one segment addressed to this host."""
        self.now = now
        self.counters["InSegs"] += 1
        key = conn_key(seg.dst, seg.dport, seg.src, seg.sport)
        conn = self.conns.get(key)
        if conn is None and self.requests:
            req = self.requests.get(key)
            if req is not None:
                if self.observer is not None:
                    self.observer.on_segment(req, "in", seg, now)
                try:
                    req.input(seg)
                except Exception:
                    self.connection_failed(self.conns.get(key) or req)
                return
        if self.observer is not None:
            self.observer.on_segment(conn, "in", seg, now)
        if conn is not None:
            try:
                conn.input(seg)
            except Exception:
                self.connection_failed(conn)
            return
        tw = self.timewait.get(key)
        isn = None
        listener = (self.listeners.get((seg.dst, seg.dport))
                    or self.listeners.get((any_address(seg.dst), seg.dport)))
        if tw is not None:
            verdict = self.timewait.process(tw, seg, self.knobs, now)
            if verdict is TwVerdict.SYN_REUSE and listener is None:
                # Linux tcp_v4_rcv (TCP_TW_SYN): with nobody listening the new SYN is answered
                # like any other segment in TIME_WAIT, by our ACK, and the entry stays.
                verdict = TwVerdict.ACK
            if verdict is TwVerdict.ACK:
                self.emit_reply(tw.ack_segment(now))
                return
            if verdict is TwVerdict.RESET:
                self.emit_reply(tw.rst_segment())
            if verdict in (TwVerdict.KILLED, TwVerdict.RESET) and self.observer is not None:
                # Assassinated by an RST (RFC 1337), or reset for an in-window SYN.
                event = Event.RCV_RST if verdict is TwVerdict.KILLED else Event.RCV_SYN_IN_WINDOW
                self.observer.on_state(tw, State.TIME_WAIT, next_state(State.TIME_WAIT, event), now)
            if verdict is not TwVerdict.SYN_REUSE:
                return
            self.timewait.remove(tw)
            self.counters["TWRecycled"] += 1
            if self.observer is not None:
                new = next_state(State.TIME_WAIT, Event.RCV_NEW_SYN)  # a new SYN took the pair over
                self.observer.on_state(tw, State.TIME_WAIT, new, now)
            isn = tw.reuse_isn()
        if listener is not None:
            listener.input(seg, isn)
            return
        self.note_drop(seg, "no socket on this port")
        if not seg.flags & RST:
            self.emit_reply(reset_for(seg))

    def cookie_reply(self, pkt: bytes | memoryview, csum_partial: bool, v6: bool, dst: int, dport: int,
                     key: int, now: float) -> bytes | None:
        """A SYN's fast path, before it is parsed into a `Segment`: the packet `pkt` (to `dst`,
        `dport`, four-tuple `key`), answered with a SYN cookie by a listener in cookie mode
        without a `Connection` (Listener.cookie_reply). The SYN-ACK's packet, or None when
        `receive` must take the segment: it is for a connection or TIME_WAIT entry, nobody
        listens, an observer watches every segment, or the listener sends no cookie now."""
        if self.observer is not None or key in self.conns or key in self.requests \
                or self.timewait.get(key) is not None:
            return None
        listener = self.listeners.get((dst, dport)) or self.listeners.get((any_address(dst), dport))
        if listener is None:
            return None
        return listener.cookie_reply(pkt, csum_partial, v6, dst, now)

    def icmp_error(self, laddr: int, lport: int, raddr: int, rport: int, seq: int,
                   icmp_type: int, code: int, now: float, mtu: int = 0) -> None:
        """An ICMP error quoting a segment we sent from (laddr, lport) to (raddr, rport) with
        sequence number `seq` (Linux tcp_v4_err; the rules are in icmp_errors); `mtu` is the
        next-hop MTU of a "fragmentation needed" (RFC 1191 section 4), handled in pmtu. For an
        IPv6 connection `icmp_type` and `code` are ICMPv6's (Linux tcp_v6_err), `mtu` that of
        a "packet too big" (RFC 8201)."""
        self.now = now
        key = conn_key(laddr, lport, raddr, rport)
        conn = self.conns.get(key)
        v6 = is_v6(laddr)
        v6_error = icmpv6_error(icmp_type, code) if v6 else None
        if conn is None or (conn.state == State.SYN_RECEIVED and conn.listener is not None):
            # A listener's request, or the half-open connection a segment made of one: Linux
            # tcp_req_err, about our SYN-ACK, and only some errors end it (for IPv6 the fatal
            # ones, tcp_v6_err).
            req: Connection | RequestSock | None = conn if conn is not None else self.requests.get(key)
            if req is None:  # no connection, or a TIME_WAIT entry: nothing to tell anyone
                return
            fatal = v6_error is not None and v6_error[1] if v6 else drops_request(icmp_type, code)
            if seq != req.iss:
                self.counters["OutOfWindowIcmps"] += 1
            elif fatal:
                self.counters["ListenDrops"] += 1
                req.drop(Event.ICMP_ERROR, reason="ICMP error about our SYN-ACK")
            return
        if seq_diff(seq, conn.snd_una) < 0 or seq_diff(conn.snd_nxt, seq) < 0:
            self.counters["OutOfWindowIcmps"] += 1  # RFC 5927 section 4.1: not about data in flight
            return
        if is_packet_too_big(v6, icmp_type, code):
            mtu_reduced(conn, mtu)
            return
        err = icmp_errno(icmp_type, code) if not v6 else v6_error[0] if v6_error is not None else None
        if err is None:
            return
        if conn.state in (State.SYN_SENT, State.SYN_RECEIVED):
            conn.drop(Event.ICMP_ERROR, err, f"ICMP error while opening: {errno.errorcode.get(err, err)}")
        else:
            conn.soft_error = err

    def handle_timeout(self, now: float) -> None:
        """Fire every timer that is due at `now`."""
        self.now = now
        for owner in self.timers.pop_due(now):
            try:
                owner.on_timers(now)
            except Exception:
                # A bug one connection's timer trips must not take the others' timers with it
                # (they are already off the heap): that connection alone is reset.
                self.connection_failed(owner)
        for tw in self.timewait.expire(now):
            self.counters["TW"] += 1
            if self.observer is not None:
                new = next_state(State.TIME_WAIT, Event.TIMEOUT_2MSL)
                self.observer.on_state(tw, State.TIME_WAIT, new, now)

    def begin_call(self, now: float) -> None:
        """An application's call (send, recv, close, ...) reaches the engine at `now`: remember it
        while the call runs, for the timers it arms and the events observers see, as receive()
        and handle_timeout() do with theirs. Only the engine's own entry points call this."""
        self.now = now

    def poll_at(self) -> float | None:
        """The earliest deadline of any timer, or None when no timer runs."""
        a = self.timers.next_deadline()
        b = self.timewait.next_deadline()
        if a is None:
            return b
        return a if b is None else min(a, b)

    def take_output(self) -> list[Segment]:
        out, self.out = self.out, []
        return out

    def take_events(self) -> list[Any]:
        events, self.events = self.events, []
        for obj in events:
            obj.event_pending = False
        return events

    # ------------------------------------------------------------------ opening

    def new_connection(self, laddr: int, lport: int, raddr: int, rport: int) -> Connection:
        conn = Connection(self, laddr, lport, raddr, rport)
        self.conns[conn.key] = conn
        return conn

    def connect(self, laddr: int, lport: int, raddr: int, rport: int, now: float,
                **options: Any) -> Connection:
        """Active open. Options are socket options (nodelay, rcvbuf, maxseg, ...) set before the SYN."""
        self.now = now
        key = conn_key(laddr, lport, raddr, rport)
        tw = self.timewait.get(key)
        if key in self.conns or key in self.requests:
            raise ValueError("four-tuple already in use")
        conn = self.new_connection(laddr, lport, raddr, rport)
        if tw is not None:
            # The socket layer decided the pair may be reused (tcp_tw_reuse, tw_reusable): Linux
            # tcp_twsk_unique starts the new incarnation above the old one's sequence space and
            # keeps its timestamp for PAWS; __inet_check_established counts TWRecycled.
            self.timewait.remove(tw)
            conn.start_seq(tw.reuse_isn())
            conn.ts_recent = tw.ts_recent
            self.counters["TWRecycled"] += 1
        for name, value in options.items():
            conn.apply_option(name, value, now)
        conn.open()
        return conn

    def listen(self, laddr: int, lport: int, backlog: int, dual_stack: bool = False) -> Listener:
        """A listener on (laddr, lport): laddr 0 is IPv4's wildcard, `family.ANY6` IPv6's; a
        `dual_stack` IPv6 wildcard listener takes IPv4's SYNs too (IPV6_V6ONLY off, Linux's
        bindv6only=0), its key in both families."""
        keys = [(laddr, lport)]
        if dual_stack and laddr == ANY6:
            keys.append((0, lport))
        if any(key in self.listeners for key in keys):
            raise ValueError("already listening on that address and port")
        listener = Listener(self, laddr, lport, backlog)
        for key in keys:
            self.listeners[key] = listener
        return listener

    def stop_listening(self, listener: Listener) -> None:
        for key in ((listener.laddr, listener.lport), (0, listener.lport)):
            if self.listeners.get(key) is listener:
                del self.listeners[key]

    # ------------------------------------------------------------------ used by connections

    def wake(self, obj: Any) -> None:
        if not obj.event_pending:
            obj.event_pending = True
            self.events.append(obj)

    def forget(self, conn: Connection) -> None:
        """The connection is CLOSED: it no longer owns its four-tuple."""
        if self.conns.get(conn.key) is conn:
            del self.conns[conn.key]
        self.orphans.discard(conn)
        if conn.listener is not None:
            conn.listener.forget(conn)

    def timewait_take_over(self, conn: Connection) -> bool:
        """The connection enters TIME_WAIT (Connection.enter_time_wait): a TIME_WAIT entry takes
        its four-tuple. False when the table is full and nothing does (Linux tcp_time_wait)."""
        if self.conns.get(conn.key) is conn:
            del self.conns[conn.key]
        self.orphans.discard(conn)  # a TIME_WAIT entry is no orphan (Linux inet_csk_destroy_sock)
        if len(self.timewait) >= self.knobs.tcp_max_tw_buckets:
            self.counters["TCPTimeWaitOverflow"] += 1
            return False
        self.timewait.add(conn, self.now, self.knobs.tcp_timewait_len)
        return True

    def connection_failed(self, conn: Connection | RequestSock) -> None:
        """An exception escaped from the engine while it worked on `conn`: log and count it
        (TCPConnectionErrors), reset that connection and tell its application ECONNABORTED,
        as Linux's tcp_abort does (a request just dies). The stack does the same for receive()."""
        log.exception("TCP engine error on %r; resetting the connection", conn)
        self.counters["TCPConnectionErrors"] += 1
        if isinstance(conn, RequestSock):
            # Linux tcp_abort on a request (TCP_NEW_SYN_RECV): inet_csk_reqsk_queue_drop, no RST.
            conn.drop(Event.ABORT, reason="engine error")
            return
        try:
            if conn.orphan:  # closed already, so abort() would do nothing: reset it here
                if conn.state not in (State.CLOSED, State.SYN_SENT, State.TIME_WAIT):
                    output.send_active_rst(conn)
                conn.drop(Event.ENGINE_ERROR, reason="engine error")
            else:
                conn.abort(self.now)
        except Exception:
            log.exception("resetting the broken connection failed too; forgetting it")
            self.forget(conn)
        if conn.user is not None:
            conn.error = errno.ECONNABORTED
            self.wake(conn)

    def emit_reply(self, seg: Segment | None) -> None:
        """A segment sent on behalf of no connection (RST for a closed port, TIME_WAIT's ACK)."""
        if seg is None:
            return
        self.out.append(seg)
        self.counters["OutSegs"] += 1
        if seg.flags & RST:
            self.counters["OutRsts"] += 1
        if self.observer is not None:
            self.observer.on_segment(None, "out", seg, self.now)

    def note_drop(self, seg: Segment, reason: str) -> None:
        if self.observer is not None:
            self.observer.on_drop(None, reason, seg, self.now)

    def challenge_ack_allowed(self) -> bool:
        """The stack-wide tcp_challenge_ack_limit per second (RFC 5961 section 7)."""
        second = int(self.now)
        start, count = self._challenge_window
        if start != second:
            start, count = second, 0
        if count >= self.knobs.tcp_challenge_ack_limit:
            return False
        self._challenge_window = (start, count + 1)
        return True

    # ------------------------------------------------------------------ looking

    def in_use(self, laddr: int, lport: int, raddr: int, rport: int) -> bool:
        """Whether the four-tuple belongs to a connection, a request or a TIME_WAIT entry."""
        key = conn_key(laddr, lport, raddr, rport)
        return key in self.conns or key in self.requests or key in self.timewait

    def connect_blocked(self, laddr: int, lport: int, raddr: int, rport: int, now: float, *,
                        bound: bool = False) -> bool:
        """Whether connect() must pass this four-tuple by: a connection holds it, or a TIME_WAIT
        entry that tcp_tw_reuse does not let go (Linux __inet_check_established). On a port the
        socket bound itself (`bound`), __inet_hash_connect asks tcp_twsk_unique without a twp:
        any entry whose timestamps were on is taken over, whatever tcp_tw_reuse says."""
        key = conn_key(laddr, lport, raddr, rport)
        if key in self.conns or key in self.requests:
            return True
        tw = self.timewait.get(key)
        return tw is not None and not (tw.ts_ok if bound else self.tw_reusable(tw, now))

    def tw_reusable(self, tw: TimeWait, now: float) -> bool:
        """Linux tcp_twsk_unique for an ephemeral port: with tcp_tw_reuse 1 (2: only when either
        address is a loopback one), a pair whose timestamps were on and whose last one is older
        than tcp_tw_reuse_delay; timestamps let PAWS tell the incarnations' segments apart."""
        reuse = self.knobs.tcp_tw_reuse
        if reuse == 2 and not (is_loopback(tw.laddr) or is_loopback(tw.raddr)):
            reuse = 0
        return bool(reuse) and tw.ts_ok and now > tw.ts_stamp + self.knobs.tcp_tw_reuse_delay

    def timewait_entries(self) -> list[TimeWait]:
        return list(self.timewait.entries.values())
