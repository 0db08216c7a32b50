"""What a connection's sending side has done since the application's first data: the data
counters TCP_INFO reports (bytes_sent, bytes_retrans, data_segs_out) and Linux's chronograph
of how long it has been busy sending and what held it back (tcp_output.c tcp_chrono_start /
tcp_chrono_stop: TCP_INFO's busy_time, rwnd_limited, sndbuf_limited; `ss -i`'s busy:, ...).

One condition is timed at a time, the most telling one: busy (data waits or is in flight),
limited by the receiver's window, or limited by the send buffer (the application waited for
room although the network had more to take). The record is made with the first data the
application queues (`conn.sendlog`, None until then): an idle connection pays one slot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .seq import seq_diff
from .states import State

if TYPE_CHECKING:
    from .connection import Connection

# Linux enum tcp_chrono, in rising order of interest.
UNSPEC, BUSY, RWND_LIMITED, SNDBUF_LIMITED = 0, 1, 2, 3
_SNDBUF_STATES = frozenset({State.ESTABLISHED, State.CLOSE_WAIT})


class SendLog:
    __slots__ = ("bytes_retrans", "bytes_sent", "data_segs_out", "kind", "nospace", "since", "stats")

    def __init__(self) -> None:
        # Linux tp->bytes_sent, bytes_retrans, data_segs_out (RFC 4898 tcpEStatsPerfHCDataOctetsOut,
        # tcpEStatsPerfOctetsRetrans, tcpEStatsPerfDataSegsOut): retransmissions included.
        self.bytes_sent = self.bytes_retrans = self.data_segs_out = 0
        self.kind = UNSPEC  # what is being timed (Linux tp->chrono_type)
        self.since = 0.0  # since when (tp->chrono_start)
        self.stats = [0.0, 0.0, 0.0]  # seconds busy, rwnd-limited, sndbuf-limited (tp->chrono_stat)
        # A write found no room and waited (Linux SOCK_NOSPACE), until room came back.
        self.nospace = False

    def _set(self, kind: int, now: float) -> None:
        """Linux tcp_chrono_set: bank the time of what was timed, time `kind` from now."""
        if self.kind:
            self.stats[self.kind - 1] += now - self.since
        self.since = now
        self.kind = kind

    def start(self, kind: int, now: float) -> None:
        """Linux tcp_chrono_start: a more telling condition takes over."""
        if kind > self.kind:
            self._set(kind, now)

    def stop(self, kind: int, now: float, idle: bool) -> None:
        """Linux tcp_chrono_stop: nothing left to send or acknowledge ends the timing; the end of
        the condition being timed goes back to busy."""
        if idle:
            self._set(UNSPEC, now)
        elif kind == self.kind:
            self._set(BUSY, now)

    def totals(self, now: float) -> tuple[float, float, float]:
        """(busy, rwnd-limited, sndbuf-limited) seconds up to `now`; busy counts all three, as
        Linux's tcp_get_info_chrono_stats sums them."""
        stats = list(self.stats)
        if self.kind:
            stats[self.kind - 1] += now - self.since
        return sum(stats), stats[1], stats[2]


def _idle(conn: Connection) -> bool:
    """Nothing queued and nothing unacknowledged (tcp_rtx_and_write_queues_empty)."""
    return conn.send_queued == 0 and conn.snd_una == conn.snd_max


def data_queued(conn: Connection, unsent_before: int) -> None:
    """The application queued data (Linux tcp_add_write_queue_tail: busy once the write queue
    has a head)."""
    log = conn.sendlog
    if log is None:
        log = conn.sendlog = SendLog()
    if unsent_before == 0:
        log.start(BUSY, conn.engine.now)


def no_room(conn: Connection) -> None:
    """A write found the send buffer full and will wait (Linux sets SOCK_NOSPACE)."""
    if conn.sendlog is not None:
        conn.sendlog.nospace = True


def after_transmit(conn: Connection, sent: bool, unsent: int, rwnd_limited: bool) -> None:
    """The end of tcp_write_xmit: time the receiver's window if it held data back; and
    tcp_cwnd_validate's test for a sender starved by its own buffer (everything sent, the
    congestion window not full, the application waiting for room)."""
    log = conn.sendlog
    now = conn.engine.now
    assert log is not None
    if rwnd_limited:
        log.start(RWND_LIMITED, now)
    else:
        log.stop(RWND_LIMITED, now, _idle(conn))
    if sent and unsent == 0 and log.nospace and conn.state in _SNDBUF_STATES:
        in_flight = seq_diff(conn.snd_nxt, conn.snd_una)
        if in_flight + conn.mss <= conn.recovery.cc.cwnd * conn.mss:  # not cwnd-limited
            log.start(SNDBUF_LIMITED, now)


def acked(conn: Connection, room_back: bool) -> None:
    """New data acknowledged (Linux tcp_clean_rtx_queue: busy ends with the retransmission
    queue; tcp_check_space: the buffer limit ends when a waiting writer has room again)."""
    log = conn.sendlog
    assert log is not None
    now = conn.engine.now
    if conn.snd_una == conn.snd_max:
        log.stop(BUSY, now, _idle(conn))
    if log.nospace and room_back:
        log.nospace = False
        log.stop(SNDBUF_LIMITED, now, _idle(conn))
