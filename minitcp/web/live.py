"""Feeding a running stack's trace to the event log: `minitcp up --web`.

The stack keeps its one Recorder as observer (and its socket calls hook); `pump()` takes the
events it wrote since the last call, says them as web events (events.py) into the EventLog,
then empties the recorder's list, so the recorder holds no more than one poll's worth. The
counters (Linux MIB names: the engine's TCP ones, the host's IP ones) that moved since the
last poll become one `counters` event.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import trio

from minitcp.trace.recorder import Recorder

from .events import WebEvents, counters_event
from .log import EventLog

if TYPE_CHECKING:
    from minitcp.stack import Stack

POLL = 0.05  # s between polls: 20 frames a second is smooth enough for a ladder that grows


class LiveFeed:
    def __init__(self, recorder: Recorder, log: EventLog, counters: Sequence[Mapping[str, int]] = (),
                 host: str = "minitcp", timewait_len: float = 60.0) -> None:
        self.recorder = recorder
        self.log = log
        self.web = WebEvents(timewait_len=timewait_len)
        self.counters = counters
        self.host = host
        self._seen = self._now()
        log.on_close = self._forget

    def pump(self, now: float) -> int:
        """Move the recorder's new events into the log; returns how many web events were added."""
        events = self.recorder.events
        taken = list(events)
        del events[:]
        out = self.web.convert_all(taken)
        current = self._now()
        moved = {k: v - self._seen.get(k, 0) for k, v in current.items() if v != self._seen.get(k, 0)}
        if moved and self.web.t0 is not None:
            out.append(counters_event(self.web, now, self.host, moved))
            self._seen = current
        self.log.add(out)
        return len(out)

    def _forget(self, conn: str) -> None:
        """A connection the log summed up: nothing will refer to its segments again."""
        self.web.forget(conn)
        a, _, b = conn.partition(" ")
        self.recorder.forget(a, b)

    def _now(self) -> dict[str, int]:
        return {k: v for counters in self.counters for k, v in counters.items()}

    async def run(self) -> None:
        while True:
            self.pump(trio.current_time())
            await trio.sleep(POLL)


async def serve_live(stack: Stack, addr: str, port: int, *,
                     task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """`minitcp up --web`: record the stack (its observer and calls hook), serve the page, pump."""
    recorder = Recorder("minitcp")
    stack.engine.observer = recorder
    stack.on_call = recorder.on_call
    feed = LiveFeed(recorder, EventLog(), (stack.engine.counters, stack.counters),
                    timewait_len=stack.knobs.tcp_timewait_len)
    settings = {"mode": "live", "lang": "en", "left": "minitcp"}
    await serve_feed(feed, settings, addr, port, task_status=task_status)


async def serve_feed(feed: LiveFeed, settings: dict[str, Any], addr: str, port: int, *,
                     sock: socket.socket | None = None, say: Callable[[str], None] | None = None,
                     task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the page (`settings` plus the stream at /events) and pump `feed` into it every POLL:
    `up --web` and `shell --web` alike. `sock`: a listening socket made beforehand (else one on
    `addr`:`port`); `say` tells where the page is (default: print)."""
    from .page import render_page
    from .server import WebServer, page_url

    page = {**settings, "source": "/events", "events": []}
    server = WebServer(feed.log, lambda: render_page(page))
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(server.serve, addr, port, sock=sock))
        line = f"minitcp: watch it at {page_url(listeners)}"
        if say is None:
            print(line, flush=True)
        else:
            say(line)
        task_status.started()
        await feed.run()
