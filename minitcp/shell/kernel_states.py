"""The kernel's side of `minitcp shell`: its state changes and retransmissions, printed live from
its tracepoints (`sock:inet_sock_set_state`, `tcp:tcp_retransmit_skb`; trace/tracepoints.py), as
minitcp's own are printed from its observer. Where tracefs cannot be had (not root), the shell
says so once and prints the kernel's packets only, as they cross the TUN device.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import trio

from minitcp.trace.tracepoints import TraceEvent, TraceSession, ours

if TYPE_CHECKING:
    from .session import Session

POLL = 0.05  # seconds between reads of the trace buffer: prompt enough for a person reading along


def _key(e: TraceEvent) -> tuple[float, str, str, str, str, str]:
    return (e.time, e.event, e.sock, e.local, e.remote, e.new or e.state)


async def print_kernel_states(session: Session, trace: TraceSession) -> None:
    """Print each new tracepoint event of this process's kernel sockets, at its own time."""
    offset = trio.current_time() - time.monotonic()  # the trace clock (mono) to Trio's
    printed: set[tuple[float, str, str, str, str, str]] = set()
    while True:
        await trio.sleep(POLL)
        # Sockets this process made are told by their process id; the accepted ones change state
        # in softirq context, so their four-tuples (known from the session's sockets) say it.
        for e in ours(trace.read(), os.getpid(), session.kernel_tuples()):
            if _key(e) in printed:
                continue
            printed.add(_key(e))
            stamp = session.stamp(e.time + offset)
            if e.event == "inet_sock_set_state":
                session.say(f"{stamp} kernel STATE {e.local} {e.remote}: {e.old} -> {e.new}")
            else:
                session.say(f"{stamp} kernel RETRANSMIT {e.local} {e.remote} in {e.state}")
