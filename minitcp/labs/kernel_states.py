"""The kernel's lifeline in a lab: its states and retransmissions as trace events.

From the tracepoints when tracefs could be had (trace/tracepoints.py: every change,
at its time), from `ss -tan` samples otherwise (every SS_EVERY: short states are
missed and times are late by up to one interval). TIME_WAIT is a separate socket
the tracepoints do not see (the full socket goes to CLOSE): where `ss` saw a
four-tuple in TIME_WAIT after the tracepoints closed it, the close is shown as
the move to TIME_WAIT, as the kernel's own accounting (`ss`, /proc/net/tcp) has it.
"""

from __future__ import annotations

from minitcp.trace.events import Event, RetransmitEvent, StateEvent
from minitcp.trace.tracepoints import TraceEvent

KERNEL_HOST = "linux"  # the trace's name for the kernel's end
Samples = dict[tuple[str, str], list[tuple[float, str]]]  # (local, peer) -> [(time, state)] as ss saw
_BEFORE_TIME_WAIT = ("FIN_WAIT_1", "FIN_WAIT_2", "CLOSING")


def from_tracepoints(events: list[TraceEvent], offset: float, samples: Samples) -> list[Event]:
    """Trace events for the kernel's sockets; `offset` turns the trace clock into Trio's."""
    out: list[Event] = []
    for e in events:
        if e.remote.endswith(":0") or "NEW_SYN_RECV" in (e.old, e.new):
            continue  # a listener's own changes (CLOSE -> LISTEN) and request sockets: not a lifeline
        t = e.time + offset
        if e.event == "tcp_retransmit_skb":
            out.append(RetransmitEvent(t, KERNEL_HOST, e.local, e.remote, "", 0, 0))
            continue
        new = e.new
        seen = [st for when, st in samples.get((e.local, e.remote), []) if when >= t]
        if new == "CLOSED" and e.old in _BEFORE_TIME_WAIT and "TIME_WAIT" in seen:
            new = "TIME_WAIT"  # handed to a timewait socket (tcp_time_wait)
        out.append(StateEvent(t, KERNEL_HOST, e.local, e.remote, e.old, new))
    # The timewait socket's own end, which only ss sees.
    for (local, remote), line in samples.items():
        if any(isinstance(e, StateEvent) and e.new == "TIME_WAIT" and (e.local, e.remote) == (local, remote)
               for e in out):
            after = [when for when, st in line if st == "CLOSED"]
            if after:
                out.append(StateEvent(after[-1], KERNEL_HOST, local, remote, "TIME_WAIT", "CLOSED"))
    return sorted(out, key=lambda e: e.time)


def from_samples(samples: Samples) -> list[Event]:
    """Trace events from what `ss` showed: each change as it was first seen."""
    out: list[Event] = []
    for (local, remote), line in samples.items():
        old = "CLOSED"
        for when, state in line:
            out.append(StateEvent(when, KERNEL_HOST, local, remote, old, state))
            old = state
    return sorted(out, key=lambda e: e.time)
