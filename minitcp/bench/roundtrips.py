"""Workload groups `conn`, `echo` and `http`: many small exchanges, each a round trip or a few."""

from __future__ import annotations

import contextlib
import shutil
import socket

from minitcp.apps import EchoServer, HttpServer
from minitcp.tcp.knobs import Knobs

from .clients import BenchError, kclient, wrk
from .env import ADDR, ADDR6, stack_env
from .meters import Snapshot
from .results import STALL, Results
from .stats import percentile


class RoundTrips(Results):
    """The `conn_per_s`, `echo_*` and `http_*` rows."""

    # ------------------------------------------------------------------ 3. connection rate

    async def conn(self, ipv6: bool = False) -> None:
        """Connections/s over IPv4, or (`conn_ipv6_per_s`) over IPv6."""
        p = self.plan
        key = "conn_ipv6_per_s" if ipv6 else "conn_per_s"
        row = self.row(key, "conn/s")
        per_rep = max(p.conns // p.reps, 1)
        family = socket.AF_INET6 if ipv6 else socket.AF_INET
        try:
            async with stack_env(servers={"echo": (EchoServer(), 7)}, family=family) as env:
                first, errors = Snapshot.take(env), 0
                for _ in range(p.reps):
                    before = Snapshot.take(env)
                    r = await kclient("connrate", limit=90, host=ADDR6 if ipv6 else ADDR, port=7,
                                      count=per_rep, concurrency=p.conn_concurrency, seconds=60)
                    after = Snapshot.take(env)
                    errors += r["errors"]
                    row.add(r["done"] / r["seconds"], "! timed out" if r["timeout"] else "")
                    u, s, w = after.cpu_since(before)
                    self.cpu.setdefault(key.removesuffix("_per_s"), []).append((u, s, w, r["done"]))
                row.add(None, *Snapshot.take(env).notes_since(first),
                        f"! {errors} connections failed" if errors else "")
        except Exception as e:
            self.fail([row.key], "conn/s", e)
        self.log(f"  connections{' ipv6' if ipv6 else ''}: {row.median or 0:.0f}/s "
                 f"({', '.join(f'{v:.0f}' for v in row.values)})")

    # ------------------------------------------------------------------ 4. latency

    async def echo(self, host: str = ADDR, prefix: str = "echo", port: int = 7, busy_poll: int = 0) -> None:
        """1-byte ping-pong against our echo server (or `host`'s); `busy_poll` µs sets the stack's
        net.core.busy_poll (0, the default, sleeps between packets as Linux does)."""
        p = self.plan
        p50, p99 = self.row(f"{prefix}_p50_us", "us"), self.row(f"{prefix}_p99_us", "us")
        worst = self.row(f"{prefix}_max_us", "us", check_spread=False)
        per_rep = max(p.echo_rtts // p.reps, 10)
        try:
            async with contextlib.AsyncExitStack() as stack:
                env = None
                if host == ADDR:
                    env = await stack.enter_async_context(
                        stack_env(servers={"echo": (EchoServer(), 7)}, knobs=Knobs(busy_poll=busy_poll)))
                first = Snapshot.take(env) if env else None
                for _ in range(p.reps):
                    r = await kclient("echo", limit=90, host=host, port=port,
                                      count=per_rep, seconds=60)
                    rtts = sorted(x / 1000 for x in r["rtts_ns"])
                    if not rtts:
                        raise BenchError("no round trip")
                    p50.add(percentile(rtts, 50), "! timed out" if r["timeout"] else "")
                    p99.add(percentile(rtts, 99))
                    worst.add(rtts[-1])
                if env and first:
                    p50.add(None, *Snapshot.take(env).notes_since(first))
                slow = [x for x in worst.values if x > STALL * 1e6]
                if slow:
                    worst.add(None, f"! round trips of {', '.join(f'{x / 1000:.0f}' for x in slow)} ms")
        except Exception as e:
            self.fail([p50.key, p99.key], "us", e)
        self.log(f"  {prefix}: p50 {p50.median or 0:.0f} us, p99 {p99.median or 0:.0f} us")

    # ------------------------------------------------------------------ 5. HTTP

    async def http(self) -> None:
        p = self.plan
        tool = "wrk" if shutil.which("wrk") else "python"
        self.extras["http_client"] = tool
        for mode in ("keepalive", "close"):
            row = self.row(f"http_{mode}_rps", "req/s")
            try:
                async with stack_env(servers={"http": (HttpServer(), 80)}) as env:
                    first, errors = Snapshot.take(env), 0
                    for _ in range(p.reps):
                        if tool == "wrk":
                            r = await wrk(f"http://{ADDR}/", close=mode == "close", seconds=p.http_seconds,
                                           connections=16, limit=p.http_requests)
                        else:
                            r = await kclient("http", limit=p.http_seconds + 30, host=ADDR, port=80,
                                              path="/", count=p.http_requests, concurrency=16,
                                              seconds=p.http_seconds, close=mode == "close")
                        errors += r["errors"]
                        capped = r["requests"] >= p.http_requests
                        row.add(r["rps"], "! hit the request-count bound: rate understated" if capped else "")
                    row.add(None, *Snapshot.take(env).notes_since(first),
                            f"! {errors} errors" if errors else "")
            except Exception as e:
                self.fail([row.key], "req/s", e)
            self.log(f"  http {mode}: {row.median or 0:.0f} req/s ({tool})")
