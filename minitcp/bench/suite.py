"""`minitcp bench [--json] [--quick]`: the stack measured end to end against the kernel's own clients.

Everything runs in a private network namespace that the bench enters itself
(it refuses to run otherwise), on TUN devices it creates there, with addresses
only in 198.18.0.0/24: the stack is 198.18.0.2, the kernel 198.18.0.1 (and
198.18.0.10 up, for the TIME_WAIT run). The stack runs in this process; every
kernel-side client or reference server is a separate process
(`minitcp.bench.kclient`, wrk), so this process's CPU time is the stack's.

Workloads (see docs/performance.md for the table and how to read it):

    raw      the TUN ceiling: packets/s and MB/s this Python process reads from and
             writes to the device with no TCP at all, MTU 1500 and 65000
    bulk     kernel -> minitcp discard ("in") and minitcp HTTP /bytes/N -> kernel ("out"); at
             MTU 1500 also with TSO/GSO offload on the device ("_offload": 64 KB super-segments)
    conn     connect, 1-byte request, 1-byte reply, close: connections/s
    echo     1-byte ping-pong round trips, p50/p99
    http     wrk (or a Python client) against the h11 server, keep-alive and one request per connection
    scale    memory per idle established connection and per TIME_WAIT entry (tracemalloc)
    kernel   bulk, connections and echo between two kernel sockets over loopback, for reference
    hotpath  the C/pure-Python hot-path micro-benchmark (minitcp.bench.hotpath)

Every row is repeated (except the memory rows) and shown as median, min and
max; a row whose runs stray from the median by more than 25 %, or which saw
retransmissions, RTOs, dropped packets, errors, a stall (a receiver waiting
more than 20 ms for data), or other programs taking CPU while it ran, is
marked `!`: something to look into, not to average away. Every load loop is
bounded in count and in time.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import itertools
import json
import math
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import trio

from minitcp.apps import AppServer, EchoServer, HttpServer
from minitcp.link.tun import TunLink
from minitcp.netns import NetnsError, enter_private_netns, in_private_netns
from minitcp.stack import Stack
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.states import State
from minitcp.wire.ipv4 import build_ipv4, ip_int

from .stats import Row, format_table, percentile

ADDR = "198.18.0.2"  # the stack
PEER = "198.18.0.1"  # the kernel's end of the device
TW_SOURCES = [f"198.18.0.{i}" for i in range(10, 26)]  # more kernel addresses, for 100,000 connections
MTUS = (1500, 65000)
OFFLOAD_MTUS = (1500,)  # bulk rows also run with the device's TSO/GSO offload on
UDP_PORT = 9999
PROTO_UDP = 17
MB = 1e6  # MB/s and "per MB" are in 10^6 bytes
STALL = 0.020  # a receiver waiting this long for the next data in a bulk transfer has seen a stall

# Every figure the JSON output always carries (tests/test_bench_smoke.py checks them).
REQUIRED_KEYS = (
    "raw_read_1500_pps", "raw_write_1500_pps", "bulk_in_1500_MBps", "bulk_out_1500_MBps",
    "bulk_in_65000_MBps", "bulk_out_65000_MBps", "conn_per_s", "echo_p50_us", "echo_p99_us",
    "http_keepalive_rps", "http_close_rps", "mem_per_established_B", "mem_per_timewait_B",
    "kernel_bulk_MBps", "kernel_conn_per_s", "kernel_echo_p50_us",
)  # fmt: skip

GROUPS = ("raw", "bulk", "conn", "echo", "http", "scale", "kernel", "hotpath")


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much of each workload; `full` is the issue's sizes, `quick` the smoke test's."""

    reps: int  # repetitions of every repeated row
    raw_packets: int  # per raw repetition (and a time bound below)
    raw_seconds: float
    bulk_bytes: int  # per bulk row, split over the repetitions
    conns: int  # connection-rate connections, split over the repetitions
    conn_concurrency: int
    echo_rtts: int  # round trips, split over the repetitions
    http_seconds: float  # per HTTP repetition
    http_requests: int  # count bound per HTTP repetition
    established: int
    timewait: int
    timewait_sources: int
    kernel_bulk_bytes: int


FULL = Plan(reps=5, raw_packets=2_000_000, raw_seconds=2.0, bulk_bytes=10**9, conns=3000, conn_concurrency=32,
            echo_rtts=5000, http_seconds=5.0, http_requests=200_000, established=10_000, timewait=100_000,
            timewait_sources=16, kernel_bulk_bytes=10**9)  # fmt: skip
QUICK = Plan(reps=3, raw_packets=100_000, raw_seconds=0.3, bulk_bytes=20 * 10**6, conns=200,
             conn_concurrency=16, echo_rtts=300, http_seconds=1.0, http_requests=20_000, established=500,
             timewait=2000, timewait_sources=2, kernel_bulk_bytes=20 * 10**6)  # fmt: skip


class BenchError(RuntimeError):
    """A workload could not run at all (as opposed to running slowly, which is a result)."""


# ---------------------------------------------------------------------------------------------- processes

_devices = itertools.count()


_PIN: list[str] = []  # `taskset -c ...` for the clients, once the stack is pinned to a CPU of its own
_STACK_CPU: list[str] = []  # `taskset -c <the stack's CPU>`: the kernel reference's servers run there


def pin_cpus(enabled: bool = True) -> str:
    """Pin this process (the stack) to its first CPU and the clients to the others; a description.

    Two processes sharing a core would measure the scheduler, not the stack: pinned,
    every run sees the same placement. Children inherit affinity, hence `taskset`
    on every command line.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled or len(cpus) < 2 or not shutil.which("taskset"):
        _PIN.clear()
        _STACK_CPU.clear()
        return "not pinned"
    os.sched_setaffinity(0, {cpus[0]})
    _PIN[:] = ["taskset", "-c", ",".join(map(str, cpus[1:]))]
    _STACK_CPU[:] = ["taskset", "-c", str(cpus[0])]
    return (f"stack (and the kernel reference's servers) on CPU {cpus[0]}, "
            f"clients on CPU {','.join(map(str, cpus[1:]))}")


def _kclient_cmd(mode: str, *, server: bool = False, **opts: Any) -> list[str]:
    cmd = [*(_STACK_CPU if server else _PIN), sys.executable, "-m", "minitcp.bench.kclient", mode]
    for k, v in opts.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            cmd.append(flag)
        elif v is not False and v is not None:
            cmd += [flag, str(v)]
    return cmd


def _last_json(text: bytes) -> dict[str, Any]:
    for line in reversed(text.decode(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise BenchError("client printed no result")


async def kclient(mode: str, *, limit: float, **opts: Any) -> dict[str, Any]:
    """Run one kernel-side client process to completion (killed after `limit` s); its JSON result."""
    cmd = _kclient_cmd(mode, **opts)
    with trio.move_on_after(limit) as scope:
        done = await trio.run_process(cmd, capture_stdout=True, capture_stderr=True, check=False)
    if scope.cancelled_caught:
        raise BenchError(f"{mode} client killed after {limit:.0f} s")
    if done.returncode != 0:
        raise BenchError(f"{mode} client failed ({done.returncode}): {done.stderr.decode()[-600:]}")
    return _last_json(done.stdout)


class LineProcess:
    """A child whose stdout we read line by line and to whose stdin we may write (hold, serve)."""

    def __init__(self, proc: trio.Process, stderr: Any) -> None:
        self.proc = proc
        self.stderr = stderr  # a temporary file: what the child said, for the error message
        self._buf = b""

    async def line(self, limit: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        with trio.fail_after(limit):
            while b"\n" not in self._buf:
                chunk = await self.proc.stdout.receive_some(65536)
                if not chunk:
                    self.stderr.seek(0)
                    said = self.stderr.read().decode(errors="replace")[-600:]
                    raise BenchError(f"child exited early (rc {self.proc.poll()}): {said}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    async def tell(self, text: str = "go\n") -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.proc.stdin.send_all(text.encode())


@contextlib.asynccontextmanager
async def line_process(cmd: list[str], limit: float) -> AsyncIterator[LineProcess]:
    """Start `cmd`; on leaving, give it `limit` s to exit by itself, then kill it."""
    with tempfile.TemporaryFile() as stderr:
        proc = await trio.lowlevel.open_process(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                stderr=stderr)
        try:
            yield LineProcess(proc, stderr)
            with trio.move_on_after(limit):
                await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                with trio.move_on_after(5):
                    await proc.wait()


# ---------------------------------------------------------------------------------------------- the stack


@dataclasses.dataclass
class Env:
    link: TunLink
    stack: Stack | None
    servers: dict[str, AppServer]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.asynccontextmanager
async def stack_env(
    mtu: int = 1500,
    *,
    servers: dict[str, tuple[AppServer, int]] | None = None,
    knobs: Knobs | None = None,
    extra_addrs: list[str] | None = None,
    with_stack: bool = True,
    offload: bool = False,
) -> AsyncIterator[Env]:
    """A fresh TUN device (and stack, and servers) for one workload; all gone afterwards."""
    link = TunLink(f"mtcpb{next(_devices)}", peer=PEER, mtu=mtu, offload=offload)
    try:
        for addr in extra_addrs or ():
            _ip("addr", "add", f"{addr}/24", "dev", link.name)
        stack = Stack(link, ADDR, knobs=knobs) if with_stack else None
        async with trio.open_nursery() as nursery:
            if stack is not None:
                nursery.start_soon(stack.run)
                for server, port in (servers or {}).values():
                    await nursery.start(server.serve, stack, port)
            yield Env(link, stack, {name: s for name, (s, _) in (servers or {}).items()})
            nursery.cancel_scope.cancel()
    finally:
        link.close()


@dataclasses.dataclass
class Snapshot:
    """What to compare before and after one run: the stack's CPU, TCP counters and link drops."""

    wall: float
    utime: float
    stime: float
    counters: dict[str, int]
    tx_dropped: int
    dev_tx_dropped: int  # the kernel's drops towards us (TUN queue full)
    preempted: int  # involuntary context switches of the stack's process

    @classmethod
    def take(cls, env: Env) -> Snapshot:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        counters = dict(env.stack.engine.counters) if env.stack is not None else {}
        return cls(time.perf_counter(), ru.ru_utime, ru.ru_stime, counters, env.link.tx_dropped,
                   _dev_tx_dropped(env.link.name), ru.ru_nivcsw)

    def notes_since(self, before: Snapshot) -> list[str]:
        """Signs of trouble between two snapshots, as row notes (prefixed ! when suspicious)."""
        notes = []
        c, b = self.counters, before.counters
        for name, label in (("RetransSegs", "retransmitted"), ("TCPTimeouts", "RTO"),
                            ("TCPFastRetrans", "fast retransmits"), ("TCPConnectionErrors", "engine errors"),
                            ("ListenDrops", "listen drops"), ("TCPOFOQueue", "out-of-order")):
            d = c.get(name, 0) - b.get(name, 0)
            if d:
                notes.append(f"! {label} {d}")
        if self.tx_dropped - before.tx_dropped:
            notes.append(f"! stack->TUN drops (EAGAIN) {self.tx_dropped - before.tx_dropped}")
        if self.dev_tx_dropped - before.dev_tx_dropped:
            notes.append(f"! kernel->TUN queue drops {self.dev_tx_dropped - before.dev_tx_dropped}")
        return notes

    def cpu_since(self, before: Snapshot) -> tuple[float, float, float]:
        """(user s, system s, wall s) between two snapshots."""
        return self.utime - before.utime, self.stime - before.stime, self.wall - before.wall


def _dev_tx_dropped(dev: str) -> int:
    """Packets the kernel dropped on their way to us (its TUN queue was full). From
    /proc/net/dev, which is this namespace's: /sys/class/net may show the host's devices."""
    try:
        with open("/proc/net/dev") as f:
            for line in f:
                name, sep, fields = line.partition(":")
                if sep and name.strip() == dev:
                    return int(fields.split()[11])  # receive: 8 fields; transmit: bytes packets errs drop
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _snmp() -> dict[str, int]:
    """This namespace's /proc/net/snmp as {"Udp.InDatagrams": n, ...}."""
    out: dict[str, int] = {}
    with open("/proc/net/snmp") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        group, _, names = names.partition(":")
        for n, v in zip(names.split(), values.partition(":")[2].split(), strict=False):
            with contextlib.suppress(ValueError):
                out[f"{group}.{n}"] = int(v)
    return out


# ---------------------------------------------------------------------------------------------- the bench


OTHER_LOAD = 0.25  # CPUs used by other programs during a workload above which its rows are flagged

# The kernel's side, in the bench's own namespace only. A load generator that closes first (wrk on
# `Connection: close`, the connection-rate client) leaves its ports in TIME_WAIT; past ~14,000 of
# them (half of the 28,232 ephemeral ports, connect() prefers even ones) every connect() spends
# milliseconds of kernel time looking for a free port and the client, not the stack, sets the
# pace (measured: wrk at 100 % system time, 500 req/s, the stack 30 % busy). Linux lets a client
# reuse its TIME_WAIT ports for new outgoing connections with timestamps on: tcp_tw_reuse=1.
KERNEL_SYSCTLS = {"net.ipv4.tcp_tw_reuse": "1"}


def set_kernel_sysctls() -> None:
    """Per-namespace sysctls (see KERNEL_SYSCTLS); only ever called inside the bench's namespace."""
    for name, value in KERNEL_SYSCTLS.items():
        with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
            f.write(value)


class LoadMeter:
    """CPU time the rest of the machine used while we measured: other programs, and the hypervisor.

    From /proc/stat (the whole machine): user+nice+system, less this process's and its
    waited-for children's own time, is what other programs used; `steal` is what the
    hypervisor gave other guests. Interrupt and softirq time are left out: much of it is
    our own traffic.
    """

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float, float]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
        tick = os.sysconf("SC_CLK_TCK")
        user, nice, system, _idle, _iowait, _irq, _softirq, steal = fields
        own = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            ru = resource.getrusage(who)
            own += ru.ru_utime + ru.ru_stime
        return time.perf_counter(), (user + nice + system) / tick, steal / tick, own

    def stop(self) -> tuple[float, float]:
        """(CPUs other programs used, CPUs stolen), averaged over the time since creation."""
        t1, busy1, steal1, own1 = self._sample()
        t0, busy0, steal0, own0 = self.start
        wall = max(t1 - t0, 1e-9)
        return max((busy1 - busy0) - (own1 - own0), 0.0) / wall, (steal1 - steal0) / wall


class Bench:
    def __init__(self, plan: Plan, quick: bool, log: Callable[[str], None]) -> None:
        self.plan = plan
        self.quick = quick
        self.log = log
        self.rows: dict[str, Row] = {}
        self.extras: dict[str, Any] = {}
        self.cpu: dict[str, list[tuple[float, float, float, float]]] = {}  # key -> (user, sys, wall, MB)

    def row(self, key: str, unit: str, **kw: Any) -> Row:
        if key not in self.rows:
            self.rows[key] = Row(key, unit, **kw)
        return self.rows[key]

    def fail(self, keys: list[str], unit: str, e: BaseException) -> None:
        while isinstance(e, BaseExceptionGroup) and e.exceptions:
            e = e.exceptions[0]  # a nursery's wrapping: the first real error says what went wrong
        self.log(f"  FAILED: {type(e).__name__}: {e}")
        for k in keys:
            self.row(k, unit).add(None, f"! failed: {e}")

    # ------------------------------------------------------------------ 1. raw TUN ceiling

    async def raw(self) -> None:
        p = self.plan
        for mtu in MTUS:
            size = mtu - 28  # UDP payload filling one packet of exactly `mtu` bytes
            for direction in ("read", "write"):
                pps = self.row(f"raw_{direction}_{mtu}_pps", "pkt/s")
                mbps = self.row(f"raw_{direction}_{mtu}_MBps", "MB/s")
                per_cpu = self.row(f"raw_{direction}_{mtu}_pkt_per_cpu_s", "pkt/CPUs")
                idle_runs: list[float] = []
                for _ in range(p.reps):
                    try:
                        async with stack_env(mtu, with_stack=False) as env:
                            fn = self._raw_read if direction == "read" else self._raw_write
                            cpu0 = time.process_time()
                            n, nbytes, seconds, notes = await fn(env, size, p.raw_packets, p.raw_seconds)
                            cpu = time.process_time() - cpu0
                    except Exception as e:
                        self.fail([pps.key, mbps.key], "", e)
                        break
                    pps.add(n / seconds, *notes)
                    mbps.add(nbytes / seconds / MB)
                    per_cpu.add(n / cpu if cpu > 0 else None)
                    if direction == "read" and cpu < 0.9 * seconds:
                        idle_runs.append(cpu / seconds)
                if idle_runs:
                    # The sender, not this reader, set the pace in those runs: pkt_per_cpu_s (the
                    # reader's packets per CPU-second) says what a saturated reader would do.
                    pps.add(None, f"reader only {min(idle_runs) * 100:.0f}-{max(idle_runs) * 100:.0f}% busy "
                                  f"in {len(idle_runs)} of {p.reps} runs: sender-bound there, a lower bound")
                self.log(f"  raw {direction} mtu {mtu}: {pps.median or 0:,.0f} pkt/s, "
                         f"{mbps.median or 0:.0f} MB/s")

    async def _raw_read(self, env: Env, size: int, count: int, seconds: float):
        """The kernel sends UDP datagrams into the device; this process reads them as the stack does."""
        link = env.link
        state = {"n": 0, "bytes": 0, "first": 0.0, "last": 0.0, "batches": 0}

        async def reader() -> None:
            while True:
                batch = await link.recv_batch()
                now = time.perf_counter()
                if not state["batches"]:
                    state["first"] = now
                    state["n"] -= len(batch)  # time counts from the first batch's arrival
                    state["bytes"] -= sum(map(len, batch))
                state["batches"] += 1
                state["n"] += len(batch)
                state["bytes"] += sum(map(len, batch))
                state["last"] = now

        dropped0 = _dev_tx_dropped(link.name)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            sent = await kclient("udp-send", limit=seconds + 30, host=ADDR, port=UDP_PORT, size=size,
                                 count=count, seconds=seconds)
            # Drain: stop once nothing more has arrived for 0.2 s.
            seen = -1
            while seen != state["batches"]:
                seen = state["batches"]
                await trio.sleep(0.2)
            nursery.cancel_scope.cancel()
        elapsed = state["last"] - state["first"]
        n = state["n"]
        dropped = _dev_tx_dropped(link.name) - dropped0
        notes = []
        if state["batches"] < 2 or elapsed <= 0:
            raise BenchError("no packet read")
        # The ceiling is only measured if the reader was the bottleneck (the kernel dropped some);
        # otherwise the sender was, and the reader could go faster than shown.
        if dropped or sent["errors"]:
            notes.append(f"the kernel dropped {dropped + sent['errors']} (reader saturated)")
        return n, state["bytes"], elapsed, notes

    async def _raw_write(self, env: Env, size: int, count: int, seconds: float):
        """Prebuilt IPv4/UDP packets written to the device; the kernel's counters say how many arrived."""
        link = env.link
        packet = build_ipv4(ip_int(ADDR), ip_int(PEER), PROTO_UDP,
                            _udp_header(UDP_PORT, UDP_PORT, size) + bytes(size), df=True)
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # so the kernel delivers, not ICMPs back
        try:
            sink.bind((PEER, UDP_PORT))
            before = _snmp()
            send = link.send
            sent = 0
            start = time.perf_counter()
            deadline = start + seconds
            while sent < count:
                for _ in range(min(256, count - sent)):  # the stack's batch, then a checkpoint as it does
                    send(packet)
                sent += min(256, count - sent)
                await trio.lowlevel.checkpoint()
                if time.perf_counter() > deadline:
                    break
            elapsed = time.perf_counter() - start
            await trio.sleep(0.05)
            after = _snmp()
        finally:
            sink.close()
        got = sum(after.get(k, 0) - before.get(k, 0) for k in ("Udp.InDatagrams", "Udp.RcvbufErrors"))
        notes = []
        if got < 0.99 * (sent - link.tx_dropped):
            notes.append(f"! the kernel took only {got} of {sent} written")
        if link.tx_dropped:
            notes.append(f"! EAGAIN {link.tx_dropped}")
        return got, got * len(packet), elapsed, notes

    # ------------------------------------------------------------------ 2. bulk

    async def bulk(self, direction: str, mtu: int, offload: bool = False) -> None:
        p = self.plan
        name = f"bulk_{direction}_{mtu}{'_offload' if offload else ''}"
        key = f"{name}_MBps"
        row = self.row(key, "MB/s")
        per_rep = max(p.bulk_bytes // p.reps, 1)
        limit = max(60.0, per_rep / (2 * MB))  # 2 MB/s would be a failure anyway
        sink = _SinkServer()
        servers = {"discard": (sink, 9), "http": (HttpServer(), 80)}
        stalls: list[tuple[float, int, int]] = []  # (longest gap, stack preemptions, client preemptions)
        try:
            async with stack_env(mtu, servers=servers, offload=offload) as env:
                first = Snapshot.take(env)
                for i in range(p.reps):
                    before = Snapshot.take(env)
                    if direction == "in":
                        r = await kclient("upload", limit=limit + 10, host=ADDR, port=9, bytes=per_rep,
                                          seconds=limit)
                        with trio.move_on_after(5):
                            while len(sink.done) <= i:
                                await trio.sleep(0.01)
                        got, stall = sink.done[i] if len(sink.done) > i else (0, 0.0)
                        if got != per_rep:
                            row.add(None, f"! the server received {got} of {per_rep} bytes")
                    else:
                        r = await kclient("download", limit=limit + 10, host=ADDR, port=80, bytes=per_rep,
                                          seconds=limit)
                        stall = r["max_gap_s"]
                        if not r["ok"]:
                            row.add(None, f"! download incomplete: {r['bytes']} of {per_rep} bytes")
                    after = Snapshot.take(env)
                    row.add(r["bytes"] / r["seconds"] / MB, "! timed out" if r["timeout"] else "")
                    stalls.append((stall, after.preempted - before.preempted, r.get("preempted", 0)))
                    u, s, w = after.cpu_since(before)
                    self.cpu.setdefault(key, []).append((u, s, w, r["bytes"] / MB))
                row.add(None, *Snapshot.take(env).notes_since(first))
                if offload:
                    # What crossed the device: proof that the super-segments were used at all.
                    link = env.link
                    row.add(None, f"super-segments: {link.rx_gso} from the kernel, {link.tx_gso} to it "
                                  f"({link.tx_gso_segments} segments); "
                                  f"{link.rx_csum_partial} partial checksums")
                    self.extras[f"{name}_gso_in"] = link.rx_gso
                    self.extras[f"{name}_gso_out"] = link.tx_gso
        except Exception as e:
            self.fail([key], "MB/s", e)
        # The receiver's longest wait between two arrivals: at full speed a fraction of a
        # millisecond, so 20 ms is a stall (a delayed ACK is 40 ms, an RTO 200 ms or more).
        # Preemptions (involuntary context switches) of the stack and of the client in a stalled
        # run tell a stall of TCP from one of a process that another program kept off its CPU.
        bad = [x for x in stalls if x[0] > STALL]
        if bad:
            gaps = ", ".join(f"{g * 1000:.0f}" for g, _, _ in bad)
            preempted = ", ".join(f"{s}/{c}" for _, s, c in bad)
            good = [f"{s}/{c}" for g, s, c in stalls if g <= STALL]
            row.add(None, f"! stalled in {len(bad)} of {len(stalls)} runs: longest wait for data at the "
                          f"receiver {gaps} ms; preempted (stack/client) {preempted} times in those runs"
                          + (f", {', '.join(good)} in the others" if good else ""))
        if stalls:
            self.extras[f"{name}_max_gap_ms"] = max(g for g, _, _ in stalls) * 1000
        self.log(f"  bulk {direction} mtu {mtu}{' offload' if offload else ''}: {row.median or 0:.1f} MB/s "
                 f"({', '.join(f'{v:.1f}' for v in row.values)})")

    # ------------------------------------------------------------------ 3. connection rate

    async def conn(self) -> None:
        p = self.plan
        row = self.row("conn_per_s", "conn/s")
        per_rep = max(p.conns // p.reps, 1)
        try:
            async with stack_env(servers={"echo": (EchoServer(), 7)}) as env:
                first, errors = Snapshot.take(env), 0
                for _ in range(p.reps):
                    before = Snapshot.take(env)
                    r = await kclient("connrate", limit=90, host=ADDR, port=7, count=per_rep,
                                      concurrency=p.conn_concurrency, seconds=60)
                    after = Snapshot.take(env)
                    errors += r["errors"]
                    row.add(r["done"] / r["seconds"], "! timed out" if r["timeout"] else "")
                    u, s, w = after.cpu_since(before)
                    self.cpu.setdefault("conn", []).append((u, s, w, r["done"]))
                row.add(None, *Snapshot.take(env).notes_since(first),
                        f"! {errors} connections failed" if errors else "")
        except Exception as e:
            self.fail([row.key], "conn/s", e)
        self.log(f"  connections: {row.median or 0:.0f}/s ({', '.join(f'{v:.0f}' for v in row.values)})")

    # ------------------------------------------------------------------ 4. latency

    async def echo(self, host: str = ADDR, prefix: str = "echo", port: int = 7) -> None:
        p = self.plan
        p50, p99 = self.row(f"{prefix}_p50_us", "us"), self.row(f"{prefix}_p99_us", "us")
        worst = self.row(f"{prefix}_max_us", "us", check_spread=False)
        per_rep = max(p.echo_rtts // p.reps, 10)
        try:
            async with contextlib.AsyncExitStack() as stack:
                env = None
                if host == ADDR:
                    env = await stack.enter_async_context(stack_env(servers={"echo": (EchoServer(), 7)}))
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
                            r = await _wrk(f"http://{ADDR}/", close=mode == "close", seconds=p.http_seconds,
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

    # ------------------------------------------------------------------ 6. scale

    async def established(self) -> None:
        n = self.plan.established
        row = self.row("mem_per_established_B", "B", check_spread=False)
        server = _IdleServer()
        try:
            async with stack_env(servers={"idle": (server, 7)}) as env:
                stack = env.stack
                assert stack is not None
                await trio.sleep(0.1)
                base = _traced_start()
                cmd = _kclient_cmd("hold", host=ADDR, port=7, count=n, concurrency=256, seconds=240)
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
                row.add(grown / held if held else None, *notes, "tracemalloc, " + where)
                self.extras["established_held"] = held
        except Exception as e:
            tracemalloc.stop()
            self.fail([row.key], "B", e)
        self.log(f"  {n} established: {row.median or 0:.0f} B each")

    async def timewait(self) -> None:
        p = self.plan
        row = self.row("mem_per_timewait_B", "B", check_spread=False)
        server = _CloseServer()
        sources = TW_SOURCES[: p.timewait_sources]
        # TIME_WAIT lasts 60 s; the run may take longer, so entries stay for the whole measurement.
        knobs = Knobs(tcp_timewait_len=3600.0)
        try:
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
                row.add(grown / entries if entries else None, *notes, "tracemalloc, " + where)
                self.extras["timewait_entries"] = entries
        except Exception as e:
            tracemalloc.stop()
            self.fail([row.key], "B", e)
        self.log(f"  {p.timewait} through TIME_WAIT: {row.median or 0:.0f} B each")

    # ------------------------------------------------------------------ 7. kernel reference

    async def kernel(self) -> None:
        p = self.plan
        host = "127.0.0.1"
        per_rep = max(p.kernel_bulk_bytes // p.reps, 1)
        up, down = self.row("kernel_bulk_MBps", "MB/s"), self.row("kernel_bulk_out_MBps", "MB/s")
        conn = self.row("kernel_conn_per_s", "conn/s")
        servers = {"discard": 9009, "http": 8080, "echo": 7007}
        try:
            async with contextlib.AsyncExitStack() as es:
                for kind, port in servers.items():
                    cmd = _kclient_cmd("serve", server=True, kind=kind, host=host, port=port, seconds=600)
                    proc = await es.enter_async_context(line_process(cmd, limit=10))
                    es.push_async_callback(proc.tell)  # a line on stdin stops it
                    await proc.line(limit=20)
                for _ in range(p.reps):
                    r = await kclient("upload", limit=120, host=host, port=9009, bytes=per_rep,
                                      seconds=100)
                    up.add(r["bytes"] / r["seconds"] / MB, "! timed out" if r["timeout"] else "")
                    r = await kclient("download", limit=120, host=host, port=8080,
                                      bytes=per_rep, seconds=100)
                    down.add(r["bytes"] / r["seconds"] / MB, "" if r["ok"] else "! download incomplete")
                    r = await kclient("connrate", limit=90, host=host, port=7007,
                                      count=max(p.conns // p.reps, 1),
                                      concurrency=p.conn_concurrency, seconds=60)
                    conn.add(r["done"] / r["seconds"], f"! {r['errors']} failed" if r["errors"] else "")
                self.log(f"  kernel loopback: bulk {up.median or 0:.0f} MB/s in, "
                         f"{down.median or 0:.0f} MB/s out, {conn.median or 0:.0f} conn/s")
                await self.echo(host=host, prefix="kernel_echo", port=7007)
        except Exception as e:
            self.fail([up.key, down.key, conn.key, "kernel_echo_p50_us"], "", e)

    # ------------------------------------------------------------------ 8. hot paths

    def hotpath(self) -> None:
        from . import hotpath

        result = hotpath.run(quick=self.quick)
        for r in result["rows"]:
            base = f"hotpath_{r['op']}_{r['payload']}"
            for field in ("c_ns", "pure_ns", "ratio"):
                if r[field] is not None:
                    self.extras[f"{base}_{field}"] = r[field]
        for size, ns in result["raw_c_parse_ns"].items():
            self.extras[f"hotpath_raw_c_parse_{size}_ns"] = ns
        t = result["target"]
        self.extras["hotpath_parse_target_met"] = bool(t["ratio_met"] and t["latency_met"])

    # ------------------------------------------------------------------ derived figures

    def derive(self) -> None:
        def med(key: str) -> float | None:
            r = self.rows.get(key)
            return r.median if r else None

        bulk_names = [(f"bulk_{d}_{mtu}", d, mtu) for mtu in MTUS for d in ("in", "out")]
        bulk_names += [(f"bulk_{d}_{mtu}_offload", d, None) for mtu in OFFLOAD_MTUS for d in ("in", "out")]
        for name, direction, mtu in bulk_names:
            key = f"{name}_MBps"
            raw = "read" if direction == "in" else "write"
            # The raw ceiling is for MTU-sized packets, no yardstick for super-segments.
            bulk, ceiling = med(key), med(f"raw_{raw}_{mtu}_MBps") if mtu else None
            if bulk and ceiling:
                self.extras[f"{name}_of_raw"] = bulk / ceiling
            runs = self.cpu.get(key)
            if runs:
                u, s, w, mb = (sum(x[i] for x in runs) for i in range(4))
                if mb:
                    self.extras[f"{name}_cpu_ms_per_MB"] = (u + s) * 1000 / mb
                    self.extras[f"{name}_user_ms_per_MB"] = u * 1000 / mb
                    self.extras[f"{name}_cpu_util"] = (u + s) / w if w else 0.0
        runs = self.cpu.get("conn")
        if runs:
            u, s, w, n = (sum(x[i] for x in runs) for i in range(4))
            if n:
                self.extras["conn_cpu_us_per_conn"] = (u + s) * 1e6 / n
        for a, b in (("bulk_in_1500_MBps", "kernel_bulk_MBps"), ("conn_per_s", "kernel_conn_per_s"),
                     ("echo_p50_us", "kernel_echo_p50_us")):
            if med(a) and med(b):
                self.extras[f"{a}_of_kernel"] = med(a) / med(b)  # type: ignore[operator]


class _SinkServer(AppServer):
    """Discard (RFC 863) that also times the gaps between arrivals: a stall shows as one long gap."""

    name = "sink"

    def __init__(self) -> None:
        super().__init__()
        self.done: list[tuple[int, float]] = []  # (bytes, longest gap in s) per finished connection

    async def handle(self, stream: trio.abc.HalfCloseableStream) -> None:
        nbytes, gap, last = 0, 0.0, None
        while data := await stream.receive_some(262144):
            now = trio.current_time()
            if last is not None:
                gap = max(gap, now - last)
            last = now
            nbytes += len(data)
        self.done.append((nbytes, gap))
        await stream.aclose()


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


def _udp_header(sport: int, dport: int, size: int) -> bytes:
    return sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + (size + 8).to_bytes(2, "big") + b"\0\0"


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


async def _wrk(url: str, *, close: bool, seconds: float, connections: int, limit: int) -> dict[str, Any]:
    """wrk, one thread (the other core is the stack's), bounded by time (-d) and by a request count."""
    script = (
        "local n = 0\n"
        f"local limit = {limit}\n"
        "function request()\n"
        "  n = n + 1\n"
        "  if n > limit then wrk.thread:stop() end\n"
        "  return wrk.request()\n"
        "end\n"
        "function done(s, lat, req)\n"
        "  io.write(string.format('{\"requests\": %d, \"duration_us\": %d, \"errors\": %d, "
        "\"p50_us\": %d, \"p99_us\": %d}\\n', s.requests, s.duration, "
        "s.errors.connect + s.errors.read + s.errors.write + s.errors.status + s.errors.timeout, "
        "lat:percentile(50), lat:percentile(99)))\n"
        "end\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        cmd = [*_PIN, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
               "-s", f.name]
        if close:
            cmd += ["-H", "Connection: close"]
        cmd.append(url)
        with trio.move_on_after(seconds + 30) as scope:
            done = await trio.run_process(cmd, capture_stdout=True, capture_stderr=True, check=False)
        if scope.cancelled_caught or done.returncode != 0:
            raise BenchError(f"wrk failed: {'' if scope.cancelled_caught else done.stderr.decode()[-300:]}")
        r = _last_json(done.stdout)
    finally:
        os.unlink(f.name)
    r["seconds"] = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / r["seconds"] if r["seconds"] else 0.0
    return r


# ---------------------------------------------------------------------------------------------- entry


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"machine_nproc": os.cpu_count() or 0, "machine_cpu": cpu, "machine_kernel": platform.release(),
            "machine_python": platform.python_version()}


def workloads(b: Bench) -> list[tuple[str, str, Callable[[], Awaitable[None]]]]:
    items: list[tuple[str, str, Callable[[], Awaitable[None]]]] = [("raw", "raw", b.raw)]
    for mtu in MTUS:
        for d in ("in", "out"):
            items.append((f"bulk_{d}_{mtu}", "bulk", lambda d=d, mtu=mtu: b.bulk(d, mtu)))
    for mtu in OFFLOAD_MTUS:
        for d in ("in", "out"):
            items.append((f"bulk_{d}_{mtu}_offload", "bulk",
                          lambda d=d, mtu=mtu: b.bulk(d, mtu, offload=True)))
    items += [("conn", "conn", b.conn), ("echo", "echo", b.echo), ("http", "http", b.http),
              ("established", "scale", b.established), ("timewait", "scale", b.timewait),
              ("kernel", "kernel", b.kernel)]
    return items


def run(
    quick: bool = False,
    only: list[str] | None = None,
    log: Callable[[str], None] | None = None,
    pin: bool = True,
) -> dict[str, Any]:
    """Run the selected workloads (all by default) in this process, which must be in a private netns."""
    if not (in_private_netns() or _netns_id() == _ENTERED_NETNS):
        raise NetnsError("minitcp bench runs only in a private network namespace: call enter_netns() first")
    log = log or (lambda s: None)
    b = Bench(QUICK if quick else FULL, quick, log)
    chosen = set(only or GROUPS)
    start = time.perf_counter()
    affinity = os.sched_getaffinity(0)
    b.extras["pinning"] = pin_cpus(pin)

    async def main() -> None:
        for name, group, fn in workloads(b):
            if name in chosen or group in chosen:
                log(f"{name} ...")
                t = time.perf_counter()
                had = set(b.rows)
                meter = LoadMeter()
                await fn()
                b.extras[f"seconds_{name}"] = time.perf_counter() - t
                other, steal = meter.stop()
                b.extras[f"other_cpus_{name}"] = other
                # Another program on this machine (or the hypervisor) took CPU while this workload
                # ran: its rows measured the machine's load as well as the stack.
                if other > OTHER_LOAD or steal > OTHER_LOAD:
                    note = f"! machine busy: other programs used {other:.2f} CPUs" + (
                        f", the hypervisor stole {steal:.2f}" if steal > OTHER_LOAD else "")
                    for key in set(b.rows) - had:
                        b.rows[key].add(None, note)

    set_kernel_sysctls()
    b.extras["kernel_sysctls"] = ", ".join(f"{k}={v}" for k, v in KERNEL_SYSCTLS.items())
    load = LoadMeter()
    try:
        trio.run(main)
        b.extras["other_cpus"], b.extras["steal_cpus"] = load.stop()
    finally:
        os.sched_setaffinity(0, affinity)
        pin_cpus(False)
    if "hotpath" in chosen:
        log("hotpath ...")
        b.hotpath()
    b.derive()
    b.extras["total_seconds"] = time.perf_counter() - start
    return {"rows": list(b.rows.values()), "extras": b.extras, "quick": quick}


def flat(result: dict[str, Any]) -> dict[str, Any]:
    """One flat JSON object: each row's median (its key), _min, _max, _runs, _target_met; the extras."""
    out: dict[str, Any] = {"quick": result["quick"], **machine()}
    flags = []
    for r in result["rows"]:
        out[r.key] = r.median
        out[f"{r.key}_min"] = r.min
        out[f"{r.key}_max"] = r.max
        out[f"{r.key}_runs"] = len(r.values)
        if r.target is not None:
            out[f"{r.key}_target_met"] = r.median is not None and r.target.met(r.median)
        why = r.suspicious()
        bad = ([why] if why else []) + [n[2:] for n in r.notes if n.startswith("! ")]
        if bad:
            flags.append(f"{r.key}: {'; '.join(bad)}")
    out.update(result["extras"])
    out["flags"] = " | ".join(flags)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minitcp bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one flat JSON object instead of the table")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test, under a minute)")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the stack and the clients to different CPUs")
    parser.add_argument("--only", default="", metavar="NAMES",
                        help=f"comma-separated workloads or groups ({', '.join(GROUPS)}; bulk_in_1500, ...)")


_ENTERED_NETNS: tuple[int, int] | None = None


def _netns_id() -> tuple[int, int]:
    st = os.stat("/proc/self/ns/net")
    return st.st_dev, st.st_ino


def enter_netns() -> None:
    """Enter a fresh private network namespace (always a new one: nobody else's devices in sight)."""
    global _ENTERED_NETNS
    enter_private_netns()
    _ENTERED_NETNS = _netns_id()


def run_cli(args: argparse.Namespace) -> int:
    try:
        enter_netns()
    except NetnsError as e:
        print(f"minitcp bench: refusing to run outside a private network namespace: {e}", file=sys.stderr)
        return 1
    only = [x for x in args.only.split(",") if x] or None
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else (lambda s: print(s, flush=True))
    result = run(quick=args.quick, only=only, log=log, pin=not args.no_pin)
    if args.json:
        print(json.dumps(flat(result), default=_json_default))
    else:
        plan = QUICK if args.quick else FULL
        print()
        print(f"minitcp bench{' --quick' if args.quick else ''}: medians of {plan.reps} runs (min, max "
              f"beside); MB = 10^6 bytes; {result['extras'].get('total_seconds', 0):.0f} s")
        m = machine()
        print(f"machine: {m['machine_nproc']} x {m['machine_cpu']}, Linux {m['machine_kernel']}, "
              f"Python {m['machine_python']}")
        print(format_table(result["rows"], {k: v for k, v in result["extras"].items()
                                            if not k.startswith(("hotpath_", "seconds_"))}))
    return 0


def _json_default(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return str(x)


if __name__ == "__main__":
    sys.exit(main())
