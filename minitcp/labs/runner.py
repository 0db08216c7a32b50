# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""Running a lab: minitcp on one end, and on the other the Linux kernel or (`sim`) a second minitcp.

minitcp always runs as a `Stack` on a `FaultyLink`, so a lost segment is really
lost on the wire. With `sim=True` the peer is another Stack on an in-memory
link and the whole run is in virtual time (trio's MockClock): seconds of TCP
timers pass in milliseconds, with no root needed. Without it the stack sits
on a TUN device in a private network namespace and its peer is the kernel,
driven through ordinary sockets (CUBIC, as Linux ships); what the kernel's end
is doing comes from its tracepoints (kernel_states.py), or from `ss -tan`
sampled every few milliseconds where tracefs cannot be had. Both sides'
socket calls are in the trace (sockets/calls.py, sides.KernelCalls).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import pickle
import select
import signal
import socket
import time
import traceback
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

from minitcp.faults import FaultInjector, FaultRule, parse_rule
from minitcp.kernel_mib import kernel_counters
from minitcp.link.faulty import FaultyLink
from minitcp.link.memory import memory_link_pair
from minitcp.netns import enter_private_netns
from minitcp.sockets import Socket
from minitcp.stack import Stack
from minitcp.tcp.states import State
from minitcp.trace.events import StateEvent
from minitcp.trace.hooks import tee
from minitcp.trace.recorder import Recorder
from minitcp.trace.ss import ss_rows
from minitcp.trace.ss_parse import SsRow, run_ss, ss_sockets
from minitcp.trace.tracepoints import open_session, ours

from .base import (
    HOST,
    M_ADDR,
    M_ADDR6,
    P_ADDR,
    P_ADDR6,
    PEER_HOST,
    Ctx,
    Lab,
    LabOptions,
    Result,
    Side,
    endpoint,
)
from .capture import FaultMarkingCapture
from .kernel_states import KERNEL_HOST, from_samples, from_tracepoints
from .sides import KernelCalls, KernelSide, MinitcpSide, err_name, kernel_socket
from .tools import Tool, ToolRun, run_kernel_tool

if TYPE_CHECKING:
    from minitcp.apps.base import AppServer
    from minitcp.link.tun import TunLink
    from minitcp.tcp.engine import TcpEngine

SIM_LIMIT = 900.0  # virtual seconds a sim lab may take
SIM_RTT = 0.004  # s: the --sim wire's round trip (2 ms each way), so segments in flight cross
SS_EVERY = 0.02  # seconds between two looks at the kernel's sockets


class StackCtx(Ctx):
    """The minitcp end, common to both peers."""

    def __init__(self, m: Stack, injector: FaultInjector, fixed_faults: list[str] | None,
                 options: LabOptions | None = None, ipv6: bool = False) -> None:
        super().__init__(ipv6)
        self.m = m
        self._listeners: dict[tuple[str, int], Any] = {}  # (host, port) -> its listening socket
        self.injector = injector
        self.fixed_faults = fixed_faults  # a forced rule set (negative controls): the lab's own are ignored
        self.options = options or LabOptions()
        # The learner's rules: the same objects for the whole lab, so their nth= and count= go on
        # counting when the lab installs its own rules later.
        self._extra: list[FaultRule] = [parse_rule(r) for r in self.options.faults]
        self._learner_knobs = {name for name, _ in self.options.sysctls}
        for name, value in self.options.sysctls:
            m.knobs.set(name, value)
            self.note(f"--sysctl on minitcp: {name} = {value}",
                      f"--sysctl 设置 minitcp 的参数：{name} = {value}")
        if fixed_faults is not None or not self.options.own_faults or self._extra:
            self._install([])  # the lab may never call faults(): the learner's rules go in now
        if self._extra:
            listed = "; ".join(map(str, self._extra))
            self.note(f"--fault rules after the lab's own: {listed}",
                      f"--fault 在实验自己的规则之后加上：{listed}")
        if not self.options.own_faults:
            self.note("--no-lab-faults: the lab's own fault rules are left out",
                      "--no-lab-faults：不用实验自己的故障规则")
        self._before: dict[str, dict[str, int]] = {}
        self.nursery: trio.Nursery | None = None  # the lab's own, for application servers
        self.mark()

    def now(self) -> float:
        return trio.current_time()

    async def wait(self, seconds: float) -> None:
        await trio.sleep(seconds)

    def mark(self) -> None:
        super().mark()
        self._before = {name: dict(c) for name, c in self._engine_counters().items()}

    def _engine_counters(self) -> dict[str, dict[str, int]]:
        return {"minitcp": self.m.engine.counters}

    def counters(self) -> dict[str, dict[str, int]]:
        moved = {}
        for name, now in self._engine_counters().items():
            before = self._before.get(name, {})
            moved[name] = {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}
        return moved

    def engine(self) -> TcpEngine:
        return self.m.engine

    def faults(self, rules: list[str]) -> None:
        chosen = self._install(rules)
        listed = "; ".join([*chosen, *map(str, self._extra)])
        self.note(f"fault rules on minitcp's link: {listed or 'none'}",
                  f"minitcp 链路上的故障规则：{listed or '无'}")

    def _install(self, rules: list[str]) -> list[str]:
        """Put the lab's rules (unless forced or left out) and then the learner's on the link."""
        chosen = self.fixed_faults if self.fixed_faults is not None else rules
        if not self.options.own_faults:
            chosen = []
        # The lab's own first (the first rule that fires decides), then the learner's.
        self.injector.rules = FaultInjector(chosen).rules + self._extra
        return chosen

    def _kept(self, host: str, name: str, value: Any) -> bool:
        """Whether the learner's --sysctl holds `name` on minitcp: the lab's own setting is then skipped."""
        short = name.removeprefix("net.ipv4.").removeprefix("net.core.")
        if host != "m" or short not in self._learner_knobs:
            return False
        self.note(f"the lab would set {short} = {value} on minitcp; --sysctl keeps "
                  f"{getattr(self.m.knobs, short)}",
                  f"实验本会把 minitcp 的 {short} 设为 {value}；--sysctl 保持 {getattr(self.m.knobs, short)}")
        return True

    async def serve(self, app: AppServer, port: int, family: int = socket.AF_INET) -> None:
        assert self.nursery is not None
        await self.nursery.start(functools.partial(app.serve, self.m, port, family=family))

    def minitcp_ss(self, port: int) -> list[SsRow]:
        return _stack_ss(self.m, endpoint(self.m_addr, port))

    def addr(self, host: str) -> str:
        """The address of `host` ("m" or "p") in the lab's family."""
        return self.m_addr if host == "m" else self.p_addr

    def _listener(self, stack: Stack, host: str, port: int) -> Any:
        """A minitcp listening socket on `port` of `stack` (one per port, kept for the whole lab)."""
        if (host, port) not in self._listeners:
            lst = Socket(stack, family=self.family)
            lst.bind((self.addr(host), port))
            lst.listen(128)
            self._listeners[(host, port)] = lst
        return self._listeners[(host, port)]


class SimCtx(StackCtx):
    def __init__(self, m: Stack, p: Stack, injector: FaultInjector, fixed: list[str] | None,
                 options: LabOptions | None = None, ipv6: bool = False) -> None:
        self.p = p
        super().__init__(m, injector, fixed, options, ipv6)
        self.sim = True

    def _engine_counters(self) -> dict[str, dict[str, int]]:
        return {"minitcp": self.m.engine.counters, "peer": self.p.engine.counters}

    def set_knob(self, host: str, name: str, value: Any) -> None:
        if self._kept(host, name, value):
            return
        (self.m if host == "m" else self.p).knobs.set(name, value)
        if host == "m":
            self.note(f"knob on minitcp: {name} = {value}", f"minitcp 的参数：{name} = {value}")
        else:
            self.note(f"knob on the peer: {name} = {value}", f"对端的参数：{name} = {value}")

    def peer_engine(self) -> TcpEngine:
        return self.p.engine

    async def try_bind(self, host: str, port: int) -> str:
        if host == "m":
            return _stack_bind(self.m, self.family, self.m_addr, port)
        return _stack_bind(self.p, self.family, self.p_addr, port)

    def inject(self, packet: bytes) -> None:
        self.p.link.send(packet)  # the peer's end of the memory link: the packet reaches minitcp

    async def timewait(self, host: str, ports: set[int] | None = None) -> int:
        entries = (self.m if host == "m" else self.p).engine.timewait_entries()
        side = 1 if host == "m" else 3  # where minitcp's port sits in that host's four-tuple
        return sum(1 for tw in entries if ports is None or tw.four_tuple[side] in ports)

    async def open(self, client: str = "m", *, port: int = 80, cport: int = 0) -> tuple[Side, Side]:
        server = "p" if client == "m" else "m"
        cstack, sstack = (self.m, self.p) if client == "m" else (self.p, self.m)
        listener = self._listener(sstack, server, port)
        c = Socket(cstack, family=self.family)
        if cport:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            c.bind((self.addr(client), cport))
        with trio.fail_after(10):
            await c.connect((self.addr(server), port))
            s, _ = await listener.accept()
        return MinitcpSide(cstack, c, client), MinitcpSide(sstack, s, server)

    async def connect(self, port: int, timeout: float) -> Side:
        sock = Socket(self.p, family=self.family)
        try:
            with trio.fail_after(timeout):
                await sock.connect((self.m_addr, port))
        except BaseException:
            sock.close()
            raise
        return MinitcpSide(self.p, sock, "p")

    async def tool(self, tool: Tool, timeout: float) -> ToolRun:
        return await tool.simulate(self.p)  # each simulation keeps to its own timeout

    async def peer_ss(self, cport: int) -> list[SsRow] | None:
        return _stack_ss(self.p, endpoint(self.p_addr, cport))


def trace_clock_offset(tries: int = 5) -> float:
    """Trio's clock less the trace clock (mono: CLOCK_MONOTONIC, as time.monotonic), each read
    between two looks at the other, the closest pair kept: a process preempted between two
    plain reads (a loaded machine) would shift every kernel event by the stall, a state change
    ahead of the segment that caused it."""
    best = (math.inf, 0.0)
    for _ in range(tries):
        before = time.monotonic()
        now = trio.current_time()
        after = time.monotonic()
        best = min(best, (after - before, now - (before + after) / 2))
    return best[1]


def _stack_bind(stack: Stack, family: int, addr: str, port: int) -> str:
    """bind() a new minitcp socket to `addr:port` (no SO_REUSEADDR) and close it: "ok" or the errno's name."""
    sock = Socket(stack, family=family)
    try:
        sock.bind((addr, port))
    except OSError as e:
        return err_name(e)
    finally:
        sock.close()
    return "ok"


def _stack_ss(stack: Stack, local: str) -> list[SsRow]:
    """A minitcp stack's `ss -tano` rows for one local address, listeners left out."""
    # The timers' "time left" counts down to now, not to the engine's last packet or timer.
    rows = ss_rows(stack.engine, now=stack.now())
    return [SsRow(state, loc, peer, extra) for state, _, _, loc, peer, extra in rows
            if loc == local and state != "LISTEN"]


class KernelCtx(StackCtx):
    def __init__(self, m: Stack, injector: FaultInjector, fixed: list[str] | None,
                 options: LabOptions | None = None, calls: KernelCalls | None = None,
                 ipv6: bool = False) -> None:
        self.samples: dict[tuple[str, str], list[tuple[float, str]]] = {}
        self.calls = calls or KernelCalls(None)
        self.tuples: set[tuple[str, str]] = set()  # (local, remote) of every kernel socket the lab holds
        super().__init__(m, injector, fixed, options, ipv6)
        self.sim = False

    def _side(self, sock: socket.socket) -> KernelSide:
        side = KernelSide(sock, calls=self.calls)
        self.tuples.add((side.local, side.remote))
        return side

    def _engine_counters(self) -> dict[str, dict[str, int]]:
        # The kernel's counters are per network namespace: this lab's namespace is all ours.
        return {"minitcp": self.m.engine.counters, "peer": kernel_counters()}

    def set_knob(self, host: str, name: str, value: Any) -> None:
        if self._kept(host, name, value):
            return
        if host == "m":
            self.m.knobs.set(name, value)
            self.note(f"knob on minitcp: {name} = {value}", f"minitcp 的参数：{name} = {value}")
            return
        key = "net.ipv4." + name.removeprefix("net.ipv4.")
        # The lab runs in a network namespace of its own, which dies with it: the host's
        # setting (and the next lab's) is untouched.
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(str(value))
        self.note(f"sysctl -w {key}={value} (in the private namespace)",
                  f"sysctl -w {key}={value}（在私有网络命名空间内）")

    async def try_bind(self, host: str, port: int) -> str:
        if host == "m":
            return _stack_bind(self.m, self.family, self.m_addr, port)
        with socket.socket(self.family) as k:
            try:
                k.bind((self.p_addr, port))
            except OSError as e:
                return err_name(e)
        return "ok"

    def inject(self, packet: bytes) -> None:
        # A raw socket with the IP header included (IPPROTO_RAW, which implies it in IPv6 too):
        # the kernel sends the packet as it is, spoofed source address and all, out of the route
        # to minitcp, the TUN device.
        v6 = packet[0] >> 4 == 6
        with socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW,
                           socket.IPPROTO_RAW) as raw:
            raw.sendto(packet, (M_ADDR6 if v6 else M_ADDR, 0))

    async def timewait(self, host: str, ports: set[int] | None = None) -> int:
        if host == "m":
            entries = self.m.engine.timewait_entries()
            return sum(1 for tw in entries if ports is None or tw.four_tuple[1] in ports)
        # `ss` in a worker thread: a process start, hundreds of ms on a loaded machine, that on
        # the Trio thread would hold the stack's packets and timers meanwhile.
        table = await trio.to_thread.run_sync(ss_sockets)
        return sum(1 for (_, peer), st in table.items()
                   if st == "TIME_WAIT" and (ports is None or int(peer.rsplit(":", 1)[1]) in ports))

    async def sample_ss(self) -> None:
        """Keep what `ss -tan` shows over time (only changes), until cancelled."""
        last: dict[tuple[str, str], str] = {}
        while True:
            table = await trio.to_thread.run_sync(ss_sockets)
            t = trio.current_time()
            for key, st in table.items():
                if last.get(key) != st and st != "LISTEN":
                    self.samples.setdefault(key, []).append((t, st))
            for key in set(last) - set(table):
                if last[key] != "LISTEN":
                    self.samples.setdefault(key, []).append((t, "CLOSED"))
            last = table
            await trio.sleep(SS_EVERY)

    async def open(self, client: str = "m", *, port: int = 80, cport: int = 0) -> tuple[Side, Side]:
        with trio.fail_after(5):
            if client == "m":
                key = ("p", port)
                if key not in self._listeners:
                    lst = kernel_socket(self.family)
                    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    lst.bind((self.p_addr, port))
                    lst.listen(128)
                    lst.settimeout(3)
                    self._listeners[key] = lst
                c = Socket(self.m, family=self.family)
                if cport:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    c.bind((self.m_addr, cport))
                await c.connect((self.p_addr, port))
                s, _ = await trio.to_thread.run_sync(self._listeners[key].accept)
                self.calls.tell(self._listeners[key], "accept", new=s)
                return MinitcpSide(self.m, c, "m"), self._side(s)
            lst_m = self._listener(self.m, "m", port)
            k = kernel_socket(self.family)
            k.settimeout(3)
            if cport:
                k.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                k.bind((self.p_addr, cport))
            await self._connect(k, port)
            ms_, _ = await lst_m.accept()
            return self._side(k), MinitcpSide(self.m, ms_, "m")

    async def _connect(self, sock: socket.socket, port: int) -> None:
        """connect() on a kernel socket, told to the trace with its result."""
        where = endpoint(self.m_addr, port)
        try:
            await trio.to_thread.run_sync(sock.connect, (self.m_addr, port))
        except OSError as e:
            self.calls.tell(sock, "connect", where, error=e, remote=where)
            raise
        self.calls.tell(sock, "connect", where)

    async def connect(self, port: int, timeout: float) -> Side:
        sock = kernel_socket(self.family)
        sock.settimeout(timeout)
        try:
            await self._connect(sock, port)
        except OSError:
            sock.close()
            raise
        return self._side(sock)

    async def tool(self, tool: Tool, timeout: float) -> ToolRun:
        return await run_kernel_tool(tool, timeout)

    async def peer_ss(self, cport: int) -> list[SsRow] | None:
        try:
            rows = await trio.to_thread.run_sync(run_ss, True)
        except FileNotFoundError:
            return None
        return [row for row in rows if row.local == endpoint(self.p_addr, cport)]

    def close_all(self) -> None:
        for lst in self._listeners.values():
            with contextlib.suppress(Exception):
                lst.close()


# ---------------------------------------------------------------------------------- running


def _timelines(rec: Recorder, host: str, t0: float) -> dict[str, list[tuple[float, str]]]:
    out: dict[str, list[tuple[float, str]]] = {}
    for e in rec.events:
        if isinstance(e, StateEvent) and e.host == host:
            line = out.setdefault(f"{e.local} {e.remote}", [])
            if not line:
                line.append((round(e.time - t0, 6), e.old))
            line.append((round(e.time - t0, 6), e.new))
    return out


def run_lab(lab: Lab, *, sim: bool = True, faults: list[str] | None = None, dev: str = "mtcplab0",
            link: TunLink | None = None, live: bool = False, options: LabOptions | None = None,
            rtt: float = SIM_RTT, ipv6: bool = False) -> Result:
    """Run one lab and judge it. `faults` replaces the lab's own fault rules (for negative controls);
    `options` are what a learner changes (knobs, added fault rules, a capture: see LabOptions);
    `rtt` is the --sim wire's round-trip time in seconds; `ipv6` makes its connections IPv6 ones
    (`minitcp lab NAME --ipv6`).

    Against the kernel the lab runs in a child process in a network namespace of its own, so
    sysctls it sets and TIME_WAIT entries it leaves behind cannot touch the host or the next lab;
    given a `link` (the demo: it opened the TUN device itself, to fall back to --sim when it
    could not) it runs here, on that device. `live` prints the story as the lab tells it.
    """
    if not sim and link is None:
        return _in_child(lab, faults, dev, options, ipv6)
    return _run(lab, sim, faults, dev, link, live, options, rtt, ipv6)


def _in_child(lab: Lab, faults: list[str] | None, dev: str, options: LabOptions | None, ipv6: bool) -> Result:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a fresh namespace, the lab, the result back through the pipe
        code = 0
        try:
            os.close(read_fd)
            enter_private_netns()
            result = _run(lab, False, faults, dev, None, False, options, 0.0, ipv6)
            result.trace = _plain(result.trace)
            data = pickle.dumps(result)
        except BaseException as e:
            data = pickle.dumps(f"{type(e).__name__}: {e}")
            code = 1
        with os.fdopen(write_fd, "wb") as w:
            w.write(data)
        os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + lab.kernel_seconds + 30
    with os.fdopen(read_fd, "rb") as r:
        while time.monotonic() < deadline:
            if select.select([r], [], [], 0.5)[0]:
                chunk = os.read(r.fileno(), 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        else:
            os.kill(pid, signal.SIGKILL)  # our own child, stuck past its bound
    os.waitpid(pid, 0)
    got = pickle.loads(b"".join(chunks)) if chunks else "the lab process died without an answer"
    if isinstance(got, str):
        return Result(lab, False, Recorder(HOST), {}, {}, [], [], error=got, ipv6=ipv6)
    return got


def _plain(rec: Recorder) -> Recorder:
    """A copy holding only the events (observers and their hooks do not cross a pipe)."""
    copy = Recorder(HOST, timers=False)
    copy.events = list(rec.events)
    return copy


def _run(lab: Lab, sim: bool, faults: list[str] | None, dev: str, given: TunLink | None, live: bool,
         options: LabOptions | None, rtt: float, ipv6: bool = False) -> Result:
    options = options or LabOptions()
    rec = Recorder(HOST, timers=False)
    injector = FaultInjector([], observer=rec.host(HOST))
    capture = FaultMarkingCapture(injector) if options.pcap else None
    on_packet = tee(rec.host(HOST).on_packet if lab.packets else None, capture.on_packet if capture else None)
    report = capture.on_fault if capture else None
    box: dict[str, Any] = {}

    async def scenario(ctx: Ctx) -> None:
        try:
            await lab.scenario(ctx)
        except Exception as e:  # a lab that crashes fails, and says why
            box["error"] = f"{type(e).__name__}: {e}"
            box["tb"] = traceback.format_exc()

    async def main_sim() -> None:
        la, lb = memory_link_pair(latency=rtt / 2)
        m = Stack(FaultyLink(la, injector, report=report), M_ADDR, address6=M_ADDR6, observer=rec.host(HOST),
                  on_packet=on_packet)
        p = Stack(lb, P_ADDR, address6=P_ADDR6, observer=rec.host(PEER_HOST))
        m.on_call, p.on_call = rec.host(HOST).on_call, rec.host(PEER_HOST).on_call
        async with trio.open_nursery() as nursery:
            nursery.start_soon(m.run)
            nursery.start_soon(p.run)
            ctx = SimCtx(m, p, injector, faults, options, ipv6)
            ctx.rec, ctx.nursery, ctx.live = rec, nursery, live
            box["ctx"] = ctx
            with trio.move_on_after(SIM_LIMIT):
                await scenario(ctx)
            nursery.cancel_scope.cancel()

    async def main_kernel() -> None:
        from minitcp.link.tun import TunLink

        link = given or TunLink(dev, peer=P_ADDR)
        m = Stack(FaultyLink(link, injector, report=report), M_ADDR, observer=rec.host(HOST),
                  on_packet=on_packet)
        m.on_call = rec.host(HOST).on_call
        ctx = KernelCtx(m, injector, faults, options, KernelCalls(rec.host(KERNEL_HOST).on_call), ipv6)
        ctx.rec, ctx.live = rec, live
        box["ctx"] = ctx
        box["clock"] = trace_clock_offset()
        try:
            async with trio.open_nursery() as nursery:
                ctx.nursery = nursery
                nursery.start_soon(m.run)
                nursery.start_soon(ctx.sample_ss)
                with trio.move_on_after(lab.kernel_seconds + 10):
                    await scenario(ctx)
                await trio.sleep(2 * SS_EVERY)  # one last look at the kernel
                nursery.cancel_scope.cancel()
            if session is not None:
                box["tracepoints"] = ours(session.read(), os.getpid(), ctx.tuples)
        finally:
            if session is not None:
                session.close()
            ctx.close_all()
            if given is None:  # the demo closes the device it opened
                link.close()

    if sim:
        trio.run(main_sim, clock=trio.testing.MockClock(autojump_threshold=0))
    else:
        # Before Trio starts its threads: a mount namespace (for tracefs) is per thread at first.
        session = open_session()
        trio.run(main_kernel)
    ctx = box["ctx"]
    source = ""
    if not sim:
        # The kernel's lifeline: exact from its tracepoints, sampled by ss where they are out of reach.
        if "tracepoints" in box:
            source = "tracepoints"
            kernel = from_tracepoints(box["tracepoints"], box["clock"], ctx.samples)
        else:
            source = "ss"
            kernel = from_samples(ctx.samples)
        rec.events = sorted(rec.events + kernel, key=lambda e: e.time)
    # Timelines count from the lab's first event, like the ladder beside them.
    t0 = rec.events[0].time if rec.events else ctx.t0
    states = {"minitcp": _timelines(rec, HOST, t0),
              "peer": _timelines(rec, PEER_HOST if sim else KERNEL_HOST, t0)}
    result = Result(lab, sim, rec, states, ctx.counters(), ctx.checks, ctx.notes, box.get("error"),
                    pcap=capture.pcapng() if capture else None, kernel_states=source, ipv6=ipv6)
    if "tb" in box and os.environ.get("MINITCP_LAB_DEBUG"):
        print(box["tb"])
    return result


__all__ = ["KernelCtx", "SimCtx", "State", "run_lab"]
