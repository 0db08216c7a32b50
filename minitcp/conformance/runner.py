"""Play a packetdrill script against a stack under test: minitcp, or the Linux kernel.

What differs between the two is behind `Target` (target.py): minitcp runs on
an in-memory link in virtual time (minitcp_target.py), the kernel behind a
TUN device in a private network namespace in real time (kernel.py). The
runner is the script's remote host on the other end of the link: at each
event's time it sends the `<` packets (built with `build_tcp_packet`), makes
the system calls on the target's sockets (each in its own task, so a
blocking call can wait while packets flow), runs the backtick commands it
knows, and takes every packet the stack sends off the link with its send
time. Each `>` line takes the oldest packet not yet matched: it must match
the line (see matching.py) and have been sent within the script's tolerance
of the line's time. A packet the script does not expect is therefore caught
by the next `>` line (as a mismatch) or, with none left, at the end of the
script. The first failure, by time, is the script's result.

Addresses are packetdrill's defaults moved into 198.18.0.0/24 (the target's
`local_ip` and `remote_ip`): bind() takes port 8080, connect() goes to the
remote host's port 8080, and the remote host sends from port 40000 to a
listener.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import errno
import math
import os
import re
import shlex
import struct
import time as _time
from collections.abc import Callable
from typing import Any

import trio

from ..tcp.knobs import Knobs
from ..wire.errors import WireError
from ..wire.icmp import build_icmp
from ..wire.ipv4 import PROTO_ICMP, PROTO_TCP, build_ipv4, ip_int, ipv4_header
from ..wire.segment import ACK, SYN, Segment
from ..wire.tcp import build_tcp_packet, parse_tcp_packet
from . import symbols
from .matching import MASK, SeqSpace, compare, describe, flags_value
from .minitcp_target import FREEBSD_STATE_NAMES, MinitcpTarget
from .model import (
    CodeEvent,
    CommandEvent,
    Event,
    IcmpEvent,
    PacketEvent,
    Script,
    Symbol,
    SyscallEvent,
    Time,
)
from .target import FREEBSD_STATE_NUMBERS, SocketRow, Target, TargetSocket

BIND_PORT = 8080  # packetdrill's --bind_port
CONNECT_PORT = 8080  # packetdrill's --connect_port
REMOTE_PORT = 40000  # the remote host's port towards a listener
REMOTE_ISN = 0x3B9ACA07  # the runner's ISN: script seq 0 is this on the wire
DEFAULT_WINDOW = 65535  # an inbound packet without `win`
EPS = 1e-6  # float slack on time comparisons
ANY_WAIT = 600.0  # how long a `*` line waits for its packet (virtual seconds)
LENIENT_ACK_WAIT = 0.5  # --lenient-acks: how much later than due a pure ACK may come
NEXT_LOOK = 5.0  # how far a "sent nothing" message looks ahead for what the stack sent instead
LATE_NOTE = 0.001  # a real-time runner this late says so in the trace

# FreeBSD's TCPS_* numbering for %{ tcpi_state }% snippets, and Linux's TCPI_OPT_* bits.
_TCPI_NAMES = {
    "TCPI_CLOSED": 0, "TCPI_LISTEN": 1, "TCPI_SYN_SENT": 2, "TCPI_SYN_RECEIVED": 3, "TCPI_SYN_RECV": 3,
    "TCPI_ESTABLISHED": 4, "TCPI_CLOSE_WAIT": 5, "TCPI_FIN_WAIT_1": 6, "TCPI_FIN_WAIT1": 6,
    "TCPI_CLOSING": 7, "TCPI_LAST_ACK": 8, "TCPI_FIN_WAIT_2": 9, "TCPI_FIN_WAIT2": 9, "TCPI_TIME_WAIT": 10,
    "TCPI_OPT_TIMESTAMPS": 1, "TCPI_OPT_SACK": 2, "TCPI_OPT_WSCALE": 4, "TCPI_OPT_ECN": 8,
    "TCPI_OPT_ECN_SEEN": 16,
}


class ScriptFailure(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass
class Outcome:
    ok: bool
    reason: str | None
    ignored: list[str]  # sysctls and commands the run did not act on
    virtual_time: float
    learned_isn: int | None = None


@dataclasses.dataclass
class _Pending:
    event: SyscallEvent
    due: float  # when it should return: the end of `a...b`, else when it started
    done: bool = False


class Runner:
    """One run of one script. `run()` is synchronous: it owns a whole `trio.run`."""

    def __init__(self, script: Script, *, strict: bool = False, knobs: Knobs | None = None,
                 real_time_budget: float = 20.0, trace: Callable[[str], None] | None = None,
                 lenient_acks: bool = False, target: Target | None = None) -> None:
        """`knobs` configure the default target, minitcp; `target` plays the script against another."""
        self.script = script
        self.strict = strict
        self.target: Target = target if target is not None else MinitcpTarget(knobs)
        self.tol = script.tolerance
        self.space = SeqSpace(remote_isn=REMOTE_ISN)
        self.captured: collections.deque[tuple[float, Segment | None, bytes]] = collections.deque()
        self.captured_total = 0  # segments ever captured: numbers them, for the end of the script
        self.end_mark = 0  # how many had been captured when the last line ran
        self.fds: dict[int, TargetSocket] = {}
        self.ignored: list[str] = []
        self.failures: list[tuple[float, int, str]] = []  # (time, order, reason)
        self.pending: list[_Pending] = []
        self.local_port = BIND_PORT
        self.remote_port = REMOTE_PORT
        self.last_time = 0.0
        self.origin = 0.0
        self.socket_under_test: int | None = None
        self.ts_base: tuple[int, int] | None = None  # (script TS val, live TS val) of the first seen
        self.ts_map: dict[int, int] = {}
        self.budget = real_time_budget
        self.trace = trace
        self.lenient_acks = lenient_acks
        self.skipped_acks = 0
        self._order = 0

    # ------------------------------------------------------------------ entry

    def run(self) -> Outcome:
        self._started = _time.monotonic()
        reason: str | None = None
        try:
            self._check_supported()
            trio.run(self._main, clock=self.target.clock())
        except ScriptFailure as e:
            reason = e.reason
        end = getattr(self, "_end_time", 0.0)
        return Outcome(reason is None, reason, sorted(set(self.ignored)), end, self.space.local_isn)

    def _check_supported(self) -> None:
        opts = self.script.options
        if opts.get("ip_version", "ipv4") != "ipv4":
            raise ScriptFailure(f"unsupported: --ip_version={opts['ip_version']} (minitcp is IPv4 only)")
        if "udp_encapsulation" in opts:
            raise ScriptFailure("unsupported: --udp_encapsulation (TCP over UDP, a FreeBSD-only feature)")

    async def _main(self) -> None:
        mtu = int(self.script.options.get("mtu", "1500"))
        self._arrived = trio.lowlevel.ParkingLot()
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                self.peer = await self.target.open(nursery, mtu)
                self.origin = trio.current_time()
                nursery.start_soon(self._capture)
                try:
                    await self._play()
                finally:
                    self._end_time = self.now
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:  # pragma: no cover - a runner bug, reported as such
            failures = group.subgroup(ScriptFailure)
            if failures is not None:
                raise failures.exceptions[0] from None
            raise

    @property
    def now(self) -> float:
        return trio.current_time() - self.origin

    # ------------------------------------------------------------------ the script

    async def _play(self) -> None:
        script = self.script
        if script.init_command is not None:
            self._command(CommandEvent(0, Time(0.0), script.init_command, command=script.init_command))
        if script.cleanup_command is not None:  # after the script, as packetdrill: nothing to check
            self.ignored.append(f"cleanup command {script.cleanup_command.split()[0]}")
        last = script.events[-1] if script.events else None
        for ev in self.script.events:
            if _time.monotonic() - self._started > self.budget:
                raise ScriptFailure(f"line {ev.line}: runner gave up after {self.budget:.0f} s of real time")
            if isinstance(ev, PacketEvent) and ev.direction == ">":
                await self._expect(ev)
                if ev is last:
                    self.end_mark = self.captured_total
                continue
            start, end = self._start_time(ev)
            await self._sleep_until(start)
            self._check_failures()
            if ev is last:
                self.end_mark = self.captured_total
            self._log(f"{self.now:8.3f}  line {ev.line}: {ev.text}")
            if isinstance(ev, PacketEvent):
                self._inject(ev)
            elif isinstance(ev, IcmpEvent):
                self._inject_icmp(ev)
            elif isinstance(ev, SyscallEvent):
                # A call written without `...` must return at once: measured from when it really
                # started, which is later than `start` when a late packet held the script up.
                pending = _Pending(ev, end if end is not None else self.now)
                self.pending.append(pending)
                self.nursery.start_soon(self._syscall_task, ev, pending)
            elif isinstance(ev, CommandEvent):
                self._command(ev)
            elif isinstance(ev, CodeEvent):
                self._code(ev)
            self.last_time = self.now if ev.time.any or ev.time.upper is not None else start
            await self._settle()
            self._check_failures()
        await self._settle()
        self._check_failures()
        for p in self.pending:
            if not p.done:
                self._fail(self.now, f"line {p.event.line}: {p.event.name}() had not returned when the "
                                     f"script ended at {self.now:.3f} s (due at {p.due:.3f} s)")
        self._check_failures()
        if self.lenient_acks:
            self._skip_extra_acks(None)
        # The script ends with its last line, as in packetdrill (which stops reading the tun
        # device then): what the stack sends in answer to the last line is not checked, but a
        # segment sent before it ran that no `>` line took is one the script did not expect.
        first = self.captured_total - len(self.captured)
        for n, (at, seg, _) in enumerate(self.captured, start=first):
            if n < self.end_mark:
                raise ScriptFailure(f"unexpected segment no line took: {self._show(seg)} sent at {at:.3f} s, "
                                    f"before the last line")
            self._log(f"{at:8.3f}  after the script ended {self.target.name} sent {self._show(seg)} "
                      f"(not checked)")

    def _start_time(self, ev: Event) -> tuple[float, float | None]:
        t = ev.time
        if t.any:
            return self.last_time, None
        start = self.last_time + t.value if t.relative else t.value
        end = None
        if t.end is not None:
            end = start + t.end if t.end_relative else t.end
        return start, end

    async def _sleep_until(self, when: float) -> None:
        await trio.sleep_until(self.origin + when)
        late = self.now - when
        if self.target.real_time and late > 0:
            # The stack cannot answer what it has not been given: when the runner itself is late
            # (a busy machine), the script's clock waits for it, and the times measured move too.
            self.origin += late
            self.captured = collections.deque((at - late, seg, raw) for at, seg, raw in self.captured)
            if late > LATE_NOTE:
                self._log(f"{self.now:8.3f}  the runner was {late * 1000:.1f} ms late: "
                          f"the script's clock waits")

    async def _settle(self) -> None:
        await self.target.settle()

    def _fail(self, at: float, reason: str) -> None:
        self._order += 1
        self.failures.append((at, self._order, reason))

    def _check_failures(self) -> None:
        now = self.now
        for p in self.pending:
            if not p.done and now > p.due + self.tol + EPS:
                p.done = True
                self._fail(p.due + self.tol, f"line {p.event.line}: {p.event.name}() did not return by "
                                             f"{p.due + self.tol:.3f} s (expected at {p.due:.3f} s)")
        if self.failures:
            raise ScriptFailure(min(self.failures)[2])

    # ------------------------------------------------------------------ packets out

    async def _capture(self) -> None:
        while True:
            try:
                batch = await self.peer.receive()
            except trio.ClosedResourceError:
                return
            for sent, raw in batch:
                at = sent - self.origin
                try:
                    seg: Segment | None = parse_tcp_packet(raw)
                except WireError:
                    seg = None
                if seg is not None and seg.flags & SYN and not seg.flags & ACK:
                    # Our active open: from now on the remote host talks to this four-tuple.
                    self.local_port, self.remote_port = seg.sport, seg.dport
                self.captured.append((at, seg, raw))
                self.captured_total += 1
                raw_numbers = " (raw numbers: our ISN is not known yet)" if (
                    self.space.local_isn is None and seg is not None and seg.flags & SYN) else ""
                self._log(f"{at:8.3f}  {self.target.name} sent {self._show(seg)}{raw_numbers}")
            self._arrived.unpark_all()

    def _log(self, text: str) -> None:
        if self.trace is not None:
            self.trace(text)

    def _show(self, seg: Segment | None, absolute: bool = False) -> str:
        if seg is None:
            return "(a packet that is not TCP)"
        return f"`{describe(seg, self.space, absolute_seq=absolute)}`"

    def _is_pure_ack(self, seg: Segment | None) -> bool:
        return seg is not None and seg.flags == ACK and not len(seg.payload)

    def _skip_extra_acks(self, ev: PacketEvent | None) -> None:
        """--lenient-acks: drop the pure ACKs at the head of the queue that `ev` does not match."""
        while self.captured and self._is_pure_ack(self.captured[0][1]):
            at, seg, _ = self.captured[0]
            assert seg is not None
            if ev is not None and compare(ev, seg, self.space, strict=self.strict) is None:
                return
            self.captured.popleft()
            self.skipped_acks += 1
            self._log(f"{self.now:8.3f}  skipped an extra pure ACK sent at {at:.3f}: {self._show(seg)}")

    async def _expect(self, ev: PacketEvent) -> None:
        t = ev.time
        if t.any:
            lo, hi = self.last_time, math.inf
            deadline = max(self.now, self.last_time) + ANY_WAIT
        else:
            lo = self.last_time + t.value if t.relative else t.value
            hi = lo
            if t.upper is not None:
                hi = self.last_time + t.upper if t.upper_relative else t.upper
            deadline = hi + self.tol + EPS
        pure = self.lenient_acks and flags_value(ev.flags) == ACK and ev.length == 0
        if pure:
            deadline += LENIENT_ACK_WAIT
        while True:
            if self.lenient_acks:
                self._skip_extra_acks(ev if pure else None)
            if self.captured or self.now >= deadline:
                break
            with trio.move_on_at(self.origin + deadline):
                await self._arrived.park()
        self._check_failures()
        due = "any time" if t.any else f"{lo:.3f} s" if hi == lo else f"{lo:.3f}..{hi:.3f} s"
        if not self.captured:
            raise ScriptFailure(f"line {ev.line}: expected `{_packet_text(ev)}` at {due} "
                                f"(tolerance {self.tol * 1000:.0f} ms), but {self.target.name} sent nothing"
                                f"{await self._next_segment_note()}")
        at, seg, _ = self.captured.popleft()
        self._log(f"{self.now:8.3f}  line {ev.line}: {ev.text}   <- the segment sent at {at:.3f}")
        if seg is None:
            raise ScriptFailure(f"line {ev.line}: {self.target.name} sent a packet that is not TCP at "
                                f"{at:.3f} s, script expects `{_packet_text(ev)}`")
        if (seg.flags & SYN and self.space.local_isn is None and ev.seq is not None
                and not ev.seq_absolute and flags_value(ev.flags) & SYN):
            self.space.local_isn = (seg.seq - ev.seq) & MASK
        mismatch = compare(ev, seg, self.space, strict=self.strict, ts_base=self.ts_base,
                           ts_slack=int(self.tol * 1000) + 1)
        if mismatch is not None:
            raise ScriptFailure(f"line {ev.line}: {mismatch}: {self.target.name} sent "
                                f"{self._show(seg, ev.seq_absolute)} at {at:.3f} s, "
                                f"script expects `{_packet_text(ev)}`")
        if not t.any and not pure and not lo - self.tol - EPS <= at <= hi + self.tol + EPS:
            early = "early" if at < lo else "late"
            raise ScriptFailure(f"line {ev.line}: `{_packet_text(ev)}` sent {early} at {at:.3f} s, "
                                f"script expects it at {due} (tolerance {self.tol * 1000:.0f} ms)")
        if isinstance(ev.options, tuple) and seg.ts_val is not None:
            for opt in ev.options:
                if opt.kind == "TS":
                    if self.ts_base is None:
                        self.ts_base = (opt.value[0], seg.ts_val)
                    self.ts_map[opt.value[0]] = seg.ts_val
        if t.any or t.upper is not None:
            self.last_time = at
        elif pure:
            self.last_time = max(lo, at)  # a late pure ACK moves what follows, as a range event would
        else:
            self.last_time = lo

    async def _next_segment_note(self) -> str:
        """For a failure message: what the stack sends next, looking up to NEXT_LOOK seconds ahead."""
        with trio.move_on_after(NEXT_LOOK):
            while not self.captured:
                await self._arrived.park()
        if not self.captured:
            return f" (nor in the {NEXT_LOOK:.0f} s after)"
        at, seg, _ = self.captured[0]
        return f" (its next segment: {self._show(seg)} at {at:.3f} s)"

    # ------------------------------------------------------------------ packets in

    def _inject(self, ev: PacketEvent) -> None:
        if ev.seq is None:
            raise ScriptFailure(f"line {ev.line}: an inbound packet needs a sequence number, not `...`")
        flags = flags_value(ev.flags)
        seq = ev.seq if ev.seq_absolute else ev.seq + REMOTE_ISN
        ack = (ev.ack + self.space.local) & MASK if ev.ack is not None else 0
        seg = Segment(ip_int(self.target.remote_ip), ip_int(self.target.local_ip), self.remote_port,
                      self.local_port, seq & MASK, ack, flags,
                      ev.window if ev.window is not None else DEFAULT_WINDOW, bytes(ev.length))
        if ev.tos is not None:
            seg.tos = ev.tos
        if ev.ttl is not None:
            seg.ttl = ev.ttl
        for opt in ev.options if isinstance(ev.options, tuple) else ():
            if opt.kind == "mss":
                seg.mss = opt.value
            elif opt.kind == "wscale":
                seg.wscale = opt.value
            elif opt.kind == "sackOK":
                seg.sack_permitted = True
            elif opt.kind == "TS":
                val, ecr = opt.value
                seg.ts_val = val
                if ecr in self.ts_map:
                    ecr = self.ts_map[ecr]
                elif self.ts_base is not None and ecr:
                    ecr = (ecr - self.ts_base[0] + self.ts_base[1]) & MASK
                seg.ts_ecr = ecr
            elif opt.kind == "sack":
                seg.sack = tuple(((a + self.space.local) & MASK, (b + self.space.local) & MASK)
                                 for a, b in opt.value)
        try:
            packet = build_tcp_packet(seg)
        except ValueError as e:
            raise ScriptFailure(f"line {ev.line}: cannot build the packet: {e}") from None
        self.peer.send(packet)

    def _inject_icmp(self, ev: IcmpEvent) -> None:
        """packetdrill's ICMP error: it quotes the IP header of a segment minitcp sent and the
        first 8 bytes of its TCP header (RFC 792), our ports and the script's sequence number."""
        if self.space.local_isn is None:
            raise ScriptFailure(f"line {ev.line}: an ICMP error quotes our sequence numbers, "
                                f"but minitcp has not sent a SYN yet")
        local, remote = ip_int(self.target.local_ip), ip_int(self.target.remote_ip)
        seq = ((ev.seq or 0) + self.space.local) & MASK
        quoted = ipv4_header(local, remote, PROTO_TCP, 20 + ev.length) \
            + struct.pack("!HHI", self.local_port, self.remote_port, seq)
        icmp = build_icmp(ev.icmp_type, ev.code, ev.mtu or 0, quoted)  # RFC 1191: the next-hop MTU
        self.peer.send(build_ipv4(remote, local, PROTO_ICMP, icmp))

    # ------------------------------------------------------------------ system calls

    async def _syscall_task(self, ev: SyscallEvent, pending: _Pending) -> None:
        try:
            try:
                got: tuple[int, int | None] = (await self._call(ev), None)
            except OSError as e:
                got = (-1, e.errno)
            problem = self._check_result(ev, got)
        except ScriptFailure as e:
            problem = e.reason
        except Exception as e:  # a crash inside the stack: the script fails, the run goes on
            problem = f"line {ev.line}: {ev.name}() raised {type(e).__name__}: {e}"
        at = self.now
        if pending.done:  # already reported as not returning in time
            return
        pending.done = True
        if problem is not None:
            self._fail(at, problem)
        elif abs(at - pending.due) > self.tol + EPS:
            self._fail(at, f"line {ev.line}: {ev.name}() returned at {at:.3f} s, script expects it at "
                           f"{pending.due:.3f} s (tolerance {self.tol * 1000:.0f} ms)")

    def _check_result(self, ev: SyscallEvent, got: tuple[int, int | None]) -> str | None:
        ret, err = got
        want = symbols.resolve(ev.result)
        if want is ...:
            return None
        shown = f"-1 {symbols.errno_name(err)}" if err is not None else str(ret)
        if ev.errno is not None:
            want_err = symbols.errno_value(ev.errno)
            if ret != want or err != want_err:
                return f"line {ev.line}: {ev.name}() returned {shown}, script expects {want} {ev.errno}"
            return None
        if err is not None or ret != want:
            return f"line {ev.line}: {ev.name}() returned {shown}, script expects {want}"
        return None

    def _sock(self, fd: object) -> TargetSocket:
        if not isinstance(fd, int) or fd not in self.fds:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return self.fds[fd]

    def _new_fd(self, sock: TargetSocket) -> int:
        fd = 3
        while fd in self.fds:
            fd += 1
        self.fds[fd] = sock
        self.socket_under_test = fd
        return fd

    async def _call(self, ev: SyscallEvent) -> int:
        try:
            args = [symbols.resolve(a) for a in ev.args]
        except symbols.UnknownSymbol as e:
            raise ScriptFailure(f"line {ev.line}: unknown symbol {e.args[0]} in {ev.name}()") from None
        name = ev.name

        def arg(i: int, default: Any = None) -> Any:
            return args[i] if i < len(args) else default

        if name == "socket":
            # A new script socket (packetdrill): its connection's ISN is learned afresh.
            self.space.local_isn = None
            self.ts_base = None
            self.ts_map.clear()
            return self._new_fd(self.target.socket())
        sock = self._sock(arg(0))
        self.socket_under_test = arg(0)
        if name == "close":
            sock.close()
            del self.fds[arg(0)]
            return 0
        if name == "bind":
            sock.bind((self.target.local_ip, BIND_PORT))
            self.local_port = BIND_PORT
            return 0
        if name == "listen":
            sock.listen(arg(1, 128))
            return 0
        if name == "accept":
            child, _ = await sock.accept()
            return self._new_fd(child)
        if name == "connect":
            self.remote_port = CONNECT_PORT
            await sock.connect((self.target.remote_ip, CONNECT_PORT))
            return 0
        if name in ("read", "recv"):
            flags = arg(3, 0) if name == "recv" else 0
            return len(await sock.recv(arg(2), flags))
        if name in ("write", "send"):
            flags = arg(3, 0) if name == "send" else 0
            size = arg(2)
            if not sock.getblocking() or flags & symbols.symbol_value("MSG_DONTWAIT"):
                return await sock.send(bytes(size), flags)
            sent = 0
            while sent < size:  # a blocking send(2) returns when all of it is queued
                sent += await sock.send(bytes(size - sent), flags)
            return sent
        if name == "shutdown":
            sock.shutdown(arg(1))
            return 0
        if name == "fcntl":
            cmd = arg(1)
            if cmd == symbols.symbol_value("F_GETFL"):
                return os.O_RDWR | (0 if sock.getblocking() else os.O_NONBLOCK)
            if cmd == symbols.symbol_value("F_SETFL"):
                sock.setblocking(not arg(2, 0) & os.O_NONBLOCK)
                return 0
            raise ScriptFailure(f"line {ev.line}: unsupported fcntl command {ev.args[1]}")
        if name == "setsockopt":
            value = arg(3)
            if isinstance(value, list):
                value = value[0] if value else 0
            if isinstance(value, dict):
                value = struct.pack("ii", int(value.get("onoff", 0)), int(value.get("linger", 0)))
            sock.setsockopt(arg(1), arg(2), value)
            return 0
        if name == "getsockopt":
            return self._getsockopt(ev, sock, args)
        raise ScriptFailure(f"line {ev.line}: unsupported system call {name}()")

    def _getsockopt(self, ev: SyscallEvent, sock: TargetSocket, args: list[Any]) -> int:
        level, option = args[1], args[2]
        value = sock.getsockopt(level, option)
        want = args[3] if len(args) > 3 else ...
        if isinstance(want, list):
            want = want[0] if want else ...
        if want is ... or (level, option) in ((symbols.symbol_value("SOL_SOCKET"), symbols.symbol_value(
                "SO_RCVBUF")), (symbols.symbol_value("SOL_SOCKET"), symbols.symbol_value("SO_SNDBUF"))):
            return 0  # buffer sizes are the stack's own choice: never compared (docs/conformance.md)
        if isinstance(value, bytes):
            value = int.from_bytes(value[:4], "little", signed=True)
        if value != want:
            if (level, option) == (symbols.symbol_value("SOL_SOCKET"), symbols.symbol_value("SO_ERROR")):
                got_s = symbols.errno_name(value) if value else "0"
                want_s = symbols.errno_name(want) if want else "0"
            else:
                got_s, want_s = str(value), str(want)
            name = ev.args[2].name if isinstance(ev.args[2], Symbol) else option
            raise ScriptFailure(f"line {ev.line}: getsockopt({name}) gave [{got_s}], "
                                f"script expects [{want_s}]")
        return 0

    # ------------------------------------------------------------------ commands and code

    def _command(self, ev: CommandEvent) -> None:
        cmd = ev.command
        words = cmd.split()
        if not words:
            return
        if words[0] == "sysctl":
            for word in words[1:]:
                if word.startswith("-"):
                    continue
                name, sep, value = word.partition("=")
                if not sep:
                    continue  # a read, not a write
                if not self.target.sysctl(name, value):
                    self.ignored.append(f"sysctl {name}")
            return
        if words[0] == "sockstat":
            status, output = self._pipeline(cmd)
            if status != 0:
                raise ScriptFailure(f"line {ev.line}: `{cmd}` failed: the socket table gives "
                                    f"{output!r} ({self._state_summary()})")
            return
        if words[0] == "tcpdrop" and len(words) == 3 and words[1] == "-s" and self.target.tcpdrop(words[2]):
            return
        self.ignored.append(f"command {words[0]}")

    def _socket_table(self) -> list[SocketRow]:
        """(ours, local port, remote port, FreeBSD state name) for every socket and connection."""
        return self.target.socket_table(self.fds.values())

    def _state_summary(self) -> str:
        rows = self._socket_table()
        text = ", ".join(f"{'fd' if ours else 'kernel'} :{lp}>{rp} {st}" for ours, lp, rp, st in rows)
        return text or "no sockets"

    def _pipeline(self, cmd: str) -> tuple[int, str]:
        """`sockstat [-4] [-P tcp] [-p PORT] [-s] | grep [-c] WORD | ...`: exit status and output."""
        stages = [shlex.split(s) for s in cmd.split("|")]
        first = stages[0]
        port = None
        if "-p" in first:
            port = int(first[first.index("-p") + 1])
        lines = []
        for ours, lport, rport, state in self._socket_table():
            if port is not None and port not in (lport, rport):
                continue
            user = "root     packetdrill 4242" if ours else "?        ?           ?   "
            local, remote = self.target.local_ip, self.target.remote_ip
            lines.append(f"{user} tcp4 {local}:{lport} {remote}:{rport} {state}")
        status = 0
        for stage in stages[1:]:
            if not stage or stage[0] != "grep":
                raise ScriptFailure(f"unsupported command in pipeline: {' '.join(stage)}")
            count = "-c" in stage
            pattern = next((w for w in stage[1:] if not w.startswith("-")), "")
            matched = [line for line in lines if re.search(pattern, line)]
            status = 0 if matched else 1
            lines = [str(len(matched))] if count else matched
        return status, "\n".join(lines)

    def _code(self, ev: CodeEvent) -> None:
        # TCP_INFO of the socket the last call used, or else of the newest one still open.
        fd = self.socket_under_test
        if fd not in self.fds and self.fds:
            fd = max(self.fds)
        sock = self.fds.get(fd) if fd is not None else None
        if sock is None:
            raise ScriptFailure(f"line {ev.line}: %{{ }}% needs a socket, and there is none open")
        state, values = self.target.tcp_info(sock)
        names = dict(_TCPI_NAMES)
        names["tcpi_state"] = FREEBSD_STATE_NUMBERS[state]
        names.update(values)
        try:
            ok = _safe_asserts(ev.code, names)
        except ValueError as e:
            raise ScriptFailure(f"line {ev.line}: cannot evaluate %{{ {ev.code} }}%: {e}") from None
        if not ok:
            shown = {k: v for k, v in names.items() if k.startswith("tcpi_")}
            raise ScriptFailure(f"line {ev.line}: assertion failed: {ev.code} "
                                f"({self.target.name}: {state}, {shown})")


def _packet_text(ev: PacketEvent) -> str:
    """The packet part of a script line, for messages."""
    text = ev.text
    i = text.find(ev.direction)
    return text[i:].strip() if i >= 0 else text


_AST_OPS = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.BitOr: lambda a, b: a | b, ast.BitAnd: lambda a, b: a & b, ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
}


def _safe_asserts(code: str, names: dict[str, int]) -> bool:
    """Evaluate `assert EXPR` lines over integer names only (no Python is executed)."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise ValueError(str(e)) from None

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ValueError(f"{node.id} is not available")
            return names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _AST_OPS:
            return int(_AST_OPS[type(node.op)](ev(node.left), ev(node.right)))
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = ev(right_node)
                if type(op) not in _AST_OPS or not _AST_OPS[type(op)](left, right):
                    return 0
                left = right
            return 1
        if isinstance(node, ast.BoolOp):
            values = [ev(v) for v in node.values]
            return int(all(values) if isinstance(node.op, ast.And) else any(values))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return int(not ev(node.operand))
        raise ValueError(f"unsupported expression {ast.dump(node)[:60]}")

    for stmt in tree.body:
        if not isinstance(stmt, ast.Assert):
            raise ValueError("only assert statements are supported")
        if not ev(stmt.test):
            return False
    return True


def run_script(script: Script, *, strict: bool = False) -> Outcome:
    return Runner(script, strict=strict).run()


__all__ = ["FREEBSD_STATE_NAMES", "Outcome", "Runner", "ScriptFailure", "run_script"]
