"""Timers as data: per-connection deadlines plus one heap for the whole engine.

Each connection keeps its deadlines in plain slots (`t_rto`, `t_delack`, ...);
the engine keeps one heap of (deadline, tiebreak, connection). An entry is
pushed only when a connection's earliest deadline moves earlier than the one
already queued; later or cancelled deadlines leave a stale entry that is
skipped when it surfaces. No task, callback or object per timer.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from typing import Any

INF = float("inf")

# What the connection's one transmission timer (its RTO slot) is armed for: Linux icsk_pending,
# ICSK_TIME_RETRANS, ICSK_TIME_LOSS_PROBE, ICSK_TIME_REO_TIMEOUT (inet_connection_sock.h).
TIME_RETRANS, TIME_LOSS_PROBE, TIME_REO_TIMEOUT = 1, 5, 6
JIFFY = 0.004  # a Linux timer tick at HZ=250 (the Debian and Ubuntu kernels')
TCP_TIMEOUT_MIN_US = 0.002  # Linux TCP_TIMEOUT_MIN_US: 2 ms


def jiffies(t: float) -> float:
    """Linux usecs_to_jiffies: a delay rounded up to the timer's tick."""
    return -(-round(t * 1e6) // 4000) * JIFFY


class TimerKind(enum.Enum):
    """Timer names as `ss -o` prints them (`on` is the retransmission timer)."""

    RTO = "on"
    PERSIST = "persist"
    DELACK = "delack"
    KEEPALIVE = "keepalive"
    FIN_WAIT2 = "fin_wait2"
    TIME_WAIT = "timewait"

    # Enum's __hash__ is Python code (hashing the name), paid on every lookup of a connection's
    # timer slot by kind; members are singletons that compare by identity, so identity hashes.
    __hash__ = object.__hash__


class TimerHeap:
    __slots__ = ("_heap", "_tick")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Any]] = []
        self._tick = itertools.count()

    def schedule(self, owner: Any, deadline: float) -> None:
        """Make sure `owner` is looked at no later than `deadline`.

        `owner.heap_at` is the deadline of its live heap entry (INF for none).
        """
        if deadline < owner.heap_at:
            owner.heap_at = deadline
            heapq.heappush(self._heap, (deadline, next(self._tick), owner))

    def pop_due(self, now: float) -> list[Any]:
        """Owners whose queued deadline has come, each once, with their entry cleared."""
        due = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, owner = heapq.heappop(heap)
            if owner.heap_at == deadline:
                owner.heap_at = INF
                due.append(owner)
        return due

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].heap_at != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def __len__(self) -> int:
        return len(self._heap)
