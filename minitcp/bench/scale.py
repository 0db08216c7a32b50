"""Workload group `scale`: memory per idle established connection and per TIME_WAIT entry (tracemalloc)."""

from __future__ import annotations

import contextlib
import gc
import tracemalloc
from collections.abc import Iterator

import trio

from minitcp.apps import AppServer
from minitcp.stack import Stack
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.states import State

from .clients import kclient, kclient_cmd, line_process
from .env import ADDR, stack_env
from .meters import Snapshot
from .results import Results
from .stats import Row

TW_SOURCES = [f"198.18.0.{i}" for i in range(10, 26)]  # more kernel addresses, for 100,000 connections


class Scale(Results):
    """The `mem_per_*` rows: the Python heap grown per connection or TIME_WAIT entry."""

    async def established(self) -> None:
        n = self.plan.established
        row = self.row("mem_per_established_B", "B", check_spread=False)
        # No idle limit: the row is the stack's cost per connection and the one task that holds
        # it, as it was before the demo servers had one. A limit (apps/idle.py) adds a trio
        # CancelScope with a deadline and a wrapper per connection: about 1.1 KB more.
        server = _IdleServer(idle_timeout=0)
        with self._failing_into(row):
            async with stack_env(servers={"idle": (server, 7)}) as env:
                stack = env.stack
                assert stack is not None
                await trio.sleep(0.1)
                base = _traced_start()
                cmd = kclient_cmd("hold", host=ADDR, port=7, count=n, concurrency=256, seconds=240)
                async with line_process(cmd, limit=60) as proc:
                    opened = await proc.line(limit=240)
                    # The client's connect() returns at the SYN-ACK; wait until the stack has
                    # every connection established and a server task on each.
                    want = opened["established"]
                    with trio.move_on_after(30):
                        while server.active < want or _count_state(stack, State.ESTABLISHED) < want:
                            await trio.sleep(0.05)
                    await trio.sleep(0.2)
                    held = server.active
                    grown = _traced_now(base)
                    where = _traced_breakdown(held)
                    await proc.tell()
                    await proc.line(limit=60)
                    tracemalloc.stop()
                    with trio.move_on_after(30):
                        while stack.engine.conns:
                            await trio.sleep(0.05)
                notes = [f"{held} held; {opened['established']} opened in {opened['seconds']:.1f} s"]
                if opened["errors"] or held < n:
                    notes.append(f"! only {held} of {n} established ({opened['errors']} connect errors)")
                if stack.engine.conns:
                    notes.append(f"! {len(stack.engine.conns)} connections left after the client closed")
                _add_per_item(row, grown, held, notes, where)
                self.extras["established_held"] = held
        self.log(f"  {n} established: {row.median or 0:.0f} B each")

    async def timewait(self) -> None:
        p = self.plan
        row = self.row("mem_per_timewait_B", "B", check_spread=False)
        server = _CloseServer()
        sources = TW_SOURCES[: p.timewait_sources]
        # TIME_WAIT lasts 60 s; the run may take longer, so entries stay for the whole measurement.
        knobs = Knobs(tcp_timewait_len=3600.0)
        with self._failing_into(row):
            async with stack_env(servers={"close": (server, 13)}, knobs=knobs, extra_addrs=sources) as env:
                stack = env.stack
                assert stack is not None
                await trio.sleep(0.1)
                base = _traced_start()
                before = Snapshot.take(env)
                r = await kclient("churn", limit=p.timewait / 100 + 120, host=ADDR, port=13, count=p.timewait,
                                  concurrency=32, sources=",".join(sources), seconds=p.timewait / 100 + 60)
                with trio.move_on_after(30):
                    while stack.engine.conns or server.active:
                        await trio.sleep(0.05)
                after = Snapshot.take(env)
                entries = len(stack.engine.timewait)
                grown = _traced_now(base)
                where = _traced_breakdown(entries)
                tracemalloc.stop()
                notes = [f"{entries} entries after {r['done']} connections in {r['seconds']:.1f} s"
                         f" ({r['done'] / r['seconds']:.0f} conn/s under tracemalloc)"]
                notes += [n for n in after.notes_since(before) if "listen drops" in n or "errors" in n]
                recycled = after.counters.get("TWRecycled", 0) - before.counters.get("TWRecycled", 0)
                if recycled:
                    notes.append(f"{recycled} entries recycled by a new SYN")
                if entries < 0.95 * p.timewait:
                    notes.append(f"! only {entries} of {p.timewait} in TIME_WAIT ({r['errors']} errors)")
                if stack.engine.conns:
                    notes.append(f"! {len(stack.engine.conns)} connections not closed")
                _add_per_item(row, grown, entries, notes, where)
                self.extras["timewait_entries"] = entries
        self.log(f"  {p.timewait} through TIME_WAIT: {row.median or 0:.0f} B each")


    @contextlib.contextmanager
    def _failing_into(self, row: Row) -> Iterator[None]:
        """A memory row's run: a failure is reported in the row, and tracing stops however it ends."""
        try:
            yield
        except Exception as e:
            self.fail([row.key], "B", e)
        finally:
            if tracemalloc.is_tracing():
                tracemalloc.stop()


def _add_per_item(row: Row, grown: int, items: int, notes: list[str], where: str) -> None:
    row.add(grown / items if items else None, *notes, "tracemalloc, " + where)


class _IdleServer(AppServer):
    """Accepts and holds each connection until the client closes it: an idle established connection."""

    name = "idle"

    async def handle(self, stream: trio.abc.HalfCloseableStream) -> None:
        while await stream.receive_some(4096):
            pass
        await stream.aclose()


class _CloseServer(AppServer):
    """Closes each connection at once, so the TIME_WAIT that follows is the stack's."""

    name = "close"

    async def handle(self, stream: trio.abc.HalfCloseableStream) -> None:
        await stream.aclose()


def _count_state(stack: Stack, state: State) -> int:
    return sum(1 for c in stack.engine.conns.values() if c.state == state)


def _traced_start() -> int:
    """Start tracing allocations (Python's heap, exactly; not RSS, which allocator slack and the
    reuse of memory freed by earlier workloads make meaningless per connection)."""
    gc.collect()
    tracemalloc.start(1)
    return tracemalloc.get_traced_memory()[0]


def _traced_now(base: int) -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - base


_AREAS = (("/minitcp/tcp/", "tcp"), ("/minitcp/sockets/", "sockets"), ("/minitcp/apps/", "apps"),
          ("/minitcp/bench/", "apps"), ("/minitcp/", "minitcp"), ("/trio/", "trio"))


def _traced_breakdown(items: int, top: int = 4) -> str:
    """Where the traced memory was allocated, per item: by part of the program, then the top files."""
    stats = tracemalloc.take_snapshot().statistics("filename")
    areas: dict[str, int] = {}
    files = []
    for st in stats:
        name = st.traceback[0].filename
        area = next((label for marker, label in _AREAS if marker in name), "other")
        areas[area] = areas.get(area, 0) + st.size
        for marker in ("/minitcp/", "/site-packages/", "/lib/python3"):
            if marker in name:
                name = name.split(marker, 1)[1]
                break
        files.append(f"{name} {st.size / max(items, 1):.0f}")
    ranked = sorted(areas.items(), key=lambda kv: -kv[1])
    by_area = ", ".join(f"{k} {v / max(items, 1):.0f}" for k, v in ranked)
    return f"B/item by area: {by_area}; top files: {', '.join(files[:top])}"
