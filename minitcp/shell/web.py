"""`minitcp shell --web [ADDR:PORT]`: the shell's stacks in the browser view of `minitcp up --web`.

One trace recorder hears minitcp's stack (and with --sim the peer stack) through the shell's own
observers, which still print as before, the socket calls of both and the faults the link
injects. The page is the one `up --web` serves (web/live.py: same server, same events); the
feed moves what the recorder wrote into the page's log every poll and after every command, so a
learner typing connect/send/close sees the ladder grow (with --step time stands still between
commands, and the feed's poll with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio

from minitcp.trace.recorder import HostObserver, Recorder
from minitcp.web.live import LiveFeed, serve_feed
from minitcp.web.log import EventLog
from minitcp.web.server import listen_socket, parse_addr

if TYPE_CHECKING:
    from minitcp.stack import Stack

    from .session import Session

HOST, PEER = "minitcp", "peer"  # the columns' names, as the labs give them (labs/base.py)


class ShellWeb:
    def __init__(self, where: str, lang: str, stepped: bool) -> None:
        self.addr, self.port = parse_addr(where)
        # Listening from the start: before the shell moves into a namespace of its own (against the
        # kernel), so the page is on the host's loopback, where the browser is.
        self.sock = listen_socket(self.addr, self.port)
        self.lang = lang
        self.stepped = stepped  # --step: the page's clock stands still between events too
        self.recorder = Recorder(HOST)

    def observer(self, peer: bool = False) -> HostObserver:
        return self.recorder.host(PEER if peer else HOST)

    async def serve(self, session: Session, stacks: Sequence[Stack], *,
                    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Record the stacks' calls, then serve the page and pump the feed until cancelled."""
        for stack, name in zip(stacks, (HOST, PEER), strict=False):
            stack.on_call = self.recorder.host(name).on_call
        m = stacks[0]
        feed = LiveFeed(self.recorder, EventLog(), (m.engine.counters, m.counters), host=HOST,
                        timewait_len=m.knobs.tcp_timewait_len)

        def pump() -> None:
            feed.pump(trio.current_time())

        session.on_settled = pump
        settings = {"mode": "live", "lang": self.lang, "left": HOST, "clock_runs": not self.stepped}
        await serve_feed(feed, settings, self.addr, self.port, sock=self.sock, say=session.say,
                         task_status=task_status)
