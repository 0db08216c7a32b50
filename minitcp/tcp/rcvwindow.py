"""The receive window's bounds and their autotuning (Linux's dynamic right-sizing): the
window clamp and scale chosen with our SYN, the receiver's RTT, rcv_ssthresh opening as data
comes (tcp_grow_window), and the buffer sized to what the application reads per RTT
(tcp_rcv_space_adjust). A mixin of `Connection`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..wire.segment import Segment
from .recvbuf import RcvSpace
from .rtt import RcvRtt
from .seq import MASK

if TYPE_CHECKING:
    from .connection import Connection

# The largest window RFC 7323 allows (Linux U16_MAX << TCP_MAX_WSCALE): the clamp when none is set.
_MAX_WINDOW = 0xFFFF << 14
# Linux TCP_INIT_CWND: the first autotuning measure assumes at most this many segments per RTT.
_TCP_INIT_CWND = 10


class RcvWindow:
    __slots__ = ()

    def _init_rcv_window(self: Connection) -> None:
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
        full = self._window_space()
        clamp = full if self.rcvbuf_locked else _MAX_WINDOW
        if self.wscale_ok:
            self.rcv_wscale = _wscale_for(max(full, self.engine.knobs.tcp_rmem[2]))
        self.window_clamp = self.rcv_ssthresh = min(clamp, 0xFFFF << self.rcv_wscale, full)

    def _rcv_rtt_measure_ts(self: Connection, seg: Segment) -> None:
        """Linux tcp_rcv_rtt_measure_ts (tcp_rcv_established): time the peer's echo of our clock."""
        rr = self.rcv_rtt
        if rr is None:
            if len(seg.payload) < self.rcv_mss:
                return  # no data yet, no estimator: an idle connection stays small
            rr = self.rcv_rtt = RcvRtt()
        elif seg.ts_ecr == rr.last_tsecr:
            return  # most segments of a burst echo the same ACK: spare the rest (measure_ts ignores it)
        ts_now = (int(self.engine.now * 1000) + self.ts_offset) & MASK
        rr.measure_ts(seg.ts_ecr or 0, ts_now, seg.seg_len, self.rcv_mss)

    def _rcv_autotune_data(self: Connection, length: int) -> None:
        """In-order data arrived (Linux tcp_event_data_recv): time the window, grow rcv_ssthresh."""
        now = self.engine.now
        rcv_wnd = (self.rcv_adv - self.rcv_wup) & MASK  # the last window offered (Linux tp->rcv_wnd)
        rr = self.rcv_rtt
        if rr is None:
            rr = self.rcv_rtt = RcvRtt()
        if self.rcvq_space is None:
            # Linux tcp_init_buffer_space: assume no more than an initial window per RTT at first.
            self.rcvq_space = RcvSpace(min(self.rcv_ssthresh, rcv_wnd, _TCP_INIT_CWND * self.advmss), now)
        rr.measure(self.rcv_nxt, rcv_wnd, now)
        if length >= 128 and self.rcv_ssthresh < self.window_clamp:  # else no room (the common case)
            self._grow_window(length)

    def _grow_window(self: Connection, length: int) -> None:
        """Linux tcp_grow_window: open rcv_ssthresh, the window's soft limit, by two segments per
        segment received, up to the clamp and the free space, and ACK at once to show it.

        Linux grows only if segments of this size will fit the buffer with their overhead
        (tcp_win_from_space(truesize) <= len). minitcp charges a segment's bytes once against
        half the buffer, as if its truesize were twice its length, so they always fit.
        """
        buffered = self.rcvbuf.buffered if self.rcvbuf is not None else 0
        room = min(self.window_clamp, self._window_space() - buffered) - self.rcv_ssthresh
        if room > 0:
            self.rcv_ssthresh += min(room, max(2 * self.advmss, 2 * length))
            self.quick |= 1

    def _rcv_space_adjust(self: Connection, copied: int) -> None:
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
        now = self.engine.now
        if rr.rtt == 0.0 or now - rs.time < rr.rtt:
            return
        if rs.copied > rs.space:
            knobs = self.engine.knobs
            if knobs.tcp_moderate_rcvbuf and not self.rcvbuf_locked:
                rcvwin = 2 * rs.copied + 16 * self.advmss
                rcvwin += 2 * (rcvwin * (rs.copied - rs.space) // rs.space)
                rcvbuf = min(2 * rcvwin, knobs.tcp_rmem[2])
                if rcvbuf > self.rcvbuf_size:
                    self.rcvbuf_size = rcvbuf
                    self.window_clamp = self._window_space()
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
