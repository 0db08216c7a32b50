"""A recorded trace as tcpdump lines: what `tcpdump -r trace.pcap -n -tt` prints for it.

Timestamps are `-tt` style (seconds and microseconds), which suits virtual
time; sequence numbers are relative, as tcpdump's default (`relative=False`
is `tcpdump -S`).
"""

from __future__ import annotations

from collections.abc import Iterable

from .events import Event
from .pcap import capture_events
from .recorder import Recorder
from .tcpdump import RelativeSeq, describe_segment


def stamp(ts: float) -> str:
    """tcpdump -tt: whole seconds, a dot and six digits of microseconds (rounded as a pcap stores them)."""
    usec = round(max(ts, 0.0) * 1_000_000)
    return f"{usec // 1_000_000}.{usec % 1_000_000:06d}"


def tcpdump_lines(source: Recorder | Iterable[Event], host: str | None = None, *, wire: bool = False,
                  relative: bool = True, offset: float = 0.0) -> list[str]:
    """One line per segment `host` saw (default: the first host), or every one sent (`wire=True`)."""
    rel = RelativeSeq() if relative else None
    return [f"{stamp(e.time + offset)} {describe_segment(e.segment, rel)}"
            for e in capture_events(source, host, wire=wire)]
