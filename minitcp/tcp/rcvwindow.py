"""The receive window: its bounds, the window each segment offers, and their autotuning
(Linux's dynamic right-sizing).

The window clamp and scale are chosen with our SYN; rcv_ssthresh, the window's soft limit,
opens as data comes (tcp_grow_window); the receiver's RTT is measured (tcp_rcv_rtt_measure)
so that the buffer can be sized to what the application reads per RTT
(tcp_rcv_space_adjust); and `select` is the window an outgoing segment offers
(__tcp_select_window).

An owned part of `Connection` (`conn.rwin`): it keeps the bounds and the autotuning
measures; the sequence numbers it offers the window from (rcv_nxt, rcv_adv, rcv_wup) and
the buffer (rcvbuf, rcvbuf_size) are the connection's, so its methods are given the connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .recvbuf import RcvSpace
from .rtt import RcvRtt
from .seq import MASK, seq_diff

if TYPE_CHECKING:
    from ..wire.segment import Segment
    from .connection import Connection

# The largest window RFC 7323 allows (Linux U16_MAX << TCP_MAX_WSCALE): the clamp when none is set.
_MAX_WINDOW = 0xFFFF << 14
# Linux TCP_INIT_CWND: the first autotuning measure assumes at most this many segments per RTT.
_TCP_INIT_CWND = 10


def window_space(conn: Connection) -> int:
    """Receive space (Linux tcp_full_space): half the buffer, as Linux with tcp_adv_win_scale=1
    leaves the rest for overhead."""
    return conn.rcvbuf_size // 2


class RcvWindow:
    __slots__ = ("rcv_rtt", "rcv_ssthresh", "rcvbuf_locked", "rcvq_space", "window_clamp")

    def __init__(self, space: int) -> None:
        # Both are set again with our SYN (init), after any SO_RCVBUF.
        self.window_clamp = self.rcv_ssthresh = space
        self.rcvbuf_locked = False  # SO_RCVBUF fixed the size (Linux SOCK_RCVBUF_LOCK)
        # Autotuning's measures, created with the first data (Linux tcp_init_buffer_space).
        self.rcv_rtt: RcvRtt | None = None
        self.rcvq_space: RcvSpace | None = None

    def init(self, conn: Connection) -> None:
        """Window clamp, window scale and rcv_ssthresh, with our SYN (Linux tcp_select_initial_window,
        called by tcp_connect_init and tcp_openreq_init_rwin; then tcp_init_buffer_space).

        The scale must let the largest buffer be offered: the one autotuning may reach
        (tcp_rmem[2]), or a larger one the application set with SO_RCVBUF, which then also
        bounds the window (window_clamp). Two simplifications. Linux scales a locked buffer for
        that buffer alone (a 4 KB SO_RCVBUF gets scale 0); minitcp keeps the scale of
        tcp_rmem[2] there, as its unscaled windows round to whole advmss where Linux rounds to
        rcv_mss, and would offer less than Linux. And Linux holds one MSS of the clamp back for
        the application (tcp_app_win); minitcp offers it.
        """
        full = window_space(conn)
        clamp = full if self.rcvbuf_locked else _MAX_WINDOW
        if conn.wscale_ok:
            conn.rcv_wscale = _wscale_for(max(full, conn.engine.knobs.tcp_rmem[2]))
        self.window_clamp = self.rcv_ssthresh = min(clamp, 0xFFFF << conn.rcv_wscale, full)

    def no_scaling(self) -> None:
        """The peer does not scale windows (Linux tcp_rcv_synsent_state_process): no window
        beyond 64 KB."""
        self.window_clamp = min(self.window_clamp, 0xFFFF)
        self.rcv_ssthresh = min(self.rcv_ssthresh, self.window_clamp)

    def select(self, conn: Connection) -> int:
        """The window to advertise, in bytes (Linux __tcp_select_window, simplified).

        Receiver silly-window avoidance (RFC 9293 section 3.8.6.2.2): offer 0 rather
        than a sliver. At most rcv_ssthresh, which autotuning opens as data comes in
        (tcp_grow_window). Never move the right edge left (RFC 9293 section 3.8.6.2.2,
        RFC 7323 section 2.4).
        """
        space = conn.rcvbuf_size // 2  # window_space(), inline: this runs for every segment sent
        rcvbuf = conn.rcvbuf
        free = space - (rcvbuf.buffered if rcvbuf is not None else 0)
        full = min(self.window_clamp, space)  # Linux full_space
        advmss = conn.advmss
        rcv_wscale = conn.rcv_wscale
        if free < min(full // 2, advmss):
            free = 0
        else:
            if free > self.rcv_ssthresh:
                free = self.rcv_ssthresh
            if rcv_wscale:
                free &= ~((1 << rcv_wscale) - 1)
            elif free > advmss:
                free -= free % advmss
        promised = seq_diff(conn.rcv_adv, conn.rcv_nxt)
        win = max(free, promised, 0)
        if rcv_wscale:
            # Round up to the scale unit so the shifted field never pulls the right edge back
            # (Linux __tcp_select_window: ALIGN(window, 1 << rcv_wscale)).
            win = -(-win >> rcv_wscale) << rcv_wscale
        return min(win, 0xFFFF << rcv_wscale)

    def measure_ts(self, conn: Connection, seg: Segment) -> None:
        """Linux tcp_rcv_rtt_measure_ts (tcp_rcv_established): time the peer's echo of our clock."""
        rr = self.rcv_rtt
        if rr is None:
            if len(seg.payload) < conn.rcv_mss:
                return  # no data yet, no estimator: an idle connection stays small
            rr = self.rcv_rtt = RcvRtt()
        elif seg.ts_ecr == rr.last_tsecr:
            return  # most segments of a burst echo the same ACK: spare the rest (measure_ts ignores it)
        ts_now = (int(conn.engine.now * 1000) + conn.ts_offset) & MASK
        rr.measure_ts(seg.ts_ecr or 0, ts_now, seg.seg_len, conn.rcv_mss)

    def on_data(self, conn: Connection, length: int) -> None:
        """In-order data arrived (Linux tcp_event_data_recv): time the window, grow rcv_ssthresh."""
        now = conn.engine.now
        rcv_wnd = (conn.rcv_adv - conn.rcv_wup) & MASK  # the last window offered (Linux tp->rcv_wnd)
        rr = self.rcv_rtt
        if rr is None:
            rr = self.rcv_rtt = RcvRtt()
        if self.rcvq_space is None:
            # Linux tcp_init_buffer_space: assume no more than an initial window per RTT at first.
            self.rcvq_space = RcvSpace(min(self.rcv_ssthresh, rcv_wnd, _TCP_INIT_CWND * conn.advmss), now)
        rr.measure(conn.rcv_nxt, rcv_wnd, now)
        if length >= 128 and self.rcv_ssthresh < self.window_clamp:  # else no room (the common case)
            self.grow(conn, length)

    def grow(self, conn: Connection, length: int) -> None:
        """Linux tcp_grow_window: open rcv_ssthresh, the window's soft limit, by two segments per
        segment received, up to the clamp and the free space, and ACK at once to show it.

        Linux grows only if segments of this size will fit the buffer with their overhead
        (tcp_win_from_space(truesize) <= len). minitcp charges a segment's bytes once against
        half the buffer, as if its truesize were twice its length, so they always fit.
        """
        buffered = conn.rcvbuf.buffered if conn.rcvbuf is not None else 0
        room = min(self.window_clamp, window_space(conn) - buffered) - self.rcv_ssthresh
        if room > 0:
            self.rcv_ssthresh += min(room, max(2 * conn.advmss, 2 * length))
            conn.delack.quick |= 1

    def space_adjust(self, conn: Connection, copied: int) -> None:
        """The application read `copied` bytes: once per receiver RTT, size the buffer for what
        it reads per RTT (Linux tcp_rcv_space_adjust, from tcp_recvmsg).

        Twice the bytes of the last RTT (for a loss), 16 segments of cushion, and room for the
        sender doubling its rate in slow start; as a buffer (twice the window, tcp_adv_win_scale=1),
        at most tcp_rmem[2]. The window clamp follows; rcv_ssthresh then grows with the data.
        """
        rs = self.rcvq_space
        rr = self.rcv_rtt
        if rs is None or rr is None:
            return
        rs.copied += copied
        now = conn.engine.now
        if rr.rtt == 0.0 or now - rs.time < rr.rtt:
            return
        if rs.copied > rs.space:
            knobs = conn.engine.knobs
            if knobs.tcp_moderate_rcvbuf and not self.rcvbuf_locked:
                rcvwin = 2 * rs.copied + 16 * conn.advmss
                rcvwin += 2 * (rcvwin * (rs.copied - rs.space) // rs.space)
                rcvbuf = min(2 * rcvwin, knobs.tcp_rmem[2])
                if rcvbuf > conn.rcvbuf_size:
                    conn.rcvbuf_size = rcvbuf
                    self.window_clamp = window_space(conn)
            rs.space = rs.copied
        rs.copied = 0
        rs.time = now


def _wscale_for(space: int) -> int:
    """Linux tcp_select_initial_window: the shift that lets `space` be advertised (max 14)."""
    shift = 0
    while space > 0xFFFF and shift < 14:  # RFC 7323 section 2.3: at most 14
        space >>= 1
        shift += 1
    return shift
