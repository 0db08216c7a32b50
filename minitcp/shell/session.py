"""The Trio side of `minitcp shell`: the stacks, the sockets by name, and each command as a coroutine.

Every command runs in Trio's thread (the prompt thread hands it over with
`trio.from_thread.run`), so the stacks and sockets are only ever touched there.
A call that may block (connect, accept, recv) runs as a task of its own: the
command waits for it to return, and if it has not when everything else has
settled, the prompt comes back and the call's result is printed when it
returns (after a `wait`, or when the peer acts).

What happens on the wire is printed as it happens: each packet minitcp sends or
receives as a tcpdump line (relative sequence numbers, as plain tcpdump), each
fault the link injects, and each state change of minitcp's connections (and,
with --sim, of the peer stack's) as `STATE A -> B`.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import math
import shlex
import socket as pysocket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.testing

from minitcp.faults import FaultInjector, FaultRuleError, parse_rule
from minitcp.sockets.socket import Socket
from minitcp.stack import Stack
from minitcp.sysctl import SysctlError, all_settings, setting
from minitcp.tcp.observer import ForwardingObserver, Observer
from minitcp.tcp.states import State
from minitcp.trace.recorder import conn_endpoints
from minitcp.trace.ss import ss
from minitcp.trace.tcpdump import RelativeSeq, describe_packet
from minitcp.wire.segment import Segment

from .console import Console
from .words import DONE, HELP, messages

M_ADDR = "198.18.0.2"
P_ADDR = "198.18.0.1"
REAL_WAIT = 1.0  # seconds a command waits, in real time, for a blocking call before the prompt returns
RECV_DEFAULT = 65536
SHUT = {"wr": pysocket.SHUT_WR, "rd": pysocket.SHUT_RD, "rdwr": pysocket.SHUT_RDWR}
SHUT_NAMES = {pysocket.SHUT_WR: "SHUT_WR", pysocket.SHUT_RD: "SHUT_RD", pysocket.SHUT_RDWR: "SHUT_RDWR"}
# The options `setsockopt` knows, by the name the man pages give them: (level, option, how many ints).
OPTIONS: dict[str, tuple[int, int, int]] = {
    "SO_LINGER": (pysocket.SOL_SOCKET, pysocket.SO_LINGER, 2),  # struct linger {l_onoff, l_linger}
    "SO_KEEPALIVE": (pysocket.SOL_SOCKET, pysocket.SO_KEEPALIVE, 1),
    "SO_REUSEADDR": (pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 1),
    "SO_RCVBUF": (pysocket.SOL_SOCKET, pysocket.SO_RCVBUF, 1),
    "SO_SNDBUF": (pysocket.SOL_SOCKET, pysocket.SO_SNDBUF, 1),
    "TCP_NODELAY": (pysocket.IPPROTO_TCP, pysocket.TCP_NODELAY, 1),
    "TCP_CORK": (pysocket.IPPROTO_TCP, pysocket.TCP_CORK, 1),
    "TCP_QUICKACK": (pysocket.IPPROTO_TCP, pysocket.TCP_QUICKACK, 1),
    "TCP_KEEPIDLE": (pysocket.IPPROTO_TCP, pysocket.TCP_KEEPIDLE, 1),
    "TCP_KEEPINTVL": (pysocket.IPPROTO_TCP, pysocket.TCP_KEEPINTVL, 1),
    "TCP_KEEPCNT": (pysocket.IPPROTO_TCP, pysocket.TCP_KEEPCNT, 1),
    "TCP_LINGER2": (pysocket.IPPROTO_TCP, pysocket.TCP_LINGER2, 1),
    "TCP_USER_TIMEOUT": (pysocket.IPPROTO_TCP, pysocket.TCP_USER_TIMEOUT, 1),
    "TCP_MAXSEG": (pysocket.IPPROTO_TCP, pysocket.TCP_MAXSEG, 1),
}


class ShellError(Exception):
    """A command that cannot run as typed: the message is the one line to print."""


def err_name(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, str(e))


async def _maybe_await(value: Any) -> Any:
    """minitcp's bind() returns at once, trio's socket's is a coroutine: take either."""
    return await value if inspect.isawaitable(value) else value


class LiveObserver(ForwardingObserver):
    """Prints each state change of one stack's connections (and what its engine refused), and
    tells everything to `also` (with --web, the trace recorder the browser view is fed from)."""

    def __init__(self, session: Session, who: str, also: Observer | None = None) -> None:
        super().__init__(also)
        self.session, self.who = session, who

    def on_state(self, conn: object, old: State, new: State, now: float) -> None:
        super().on_state(conn, old, new, now)
        local, remote = conn_endpoints(conn)
        name = self.session.name_of(conn)
        label = f"{name} " if name else ""
        self.session.say(f"{self.session.stamp(now)} {self.who}STATE {label}{local} {remote}: "
                         f"{old.name} -> {new.name}")

    def on_drop(self, conn: object | None, reason: str, seg: Segment | None, now: float) -> None:
        super().on_drop(conn, reason, seg, now)
        self.session.say(f"{self.session.stamp(now)} {self.who}DROP {reason}")


class Session:
    """minitcp's stack, its peer (a second stack, or the kernel), the sockets by name, the commands.

    `clock` is the MockClock of --sim (time moves on its own at `rate`, and `wait` jumps it);
    None against the kernel (real time). `peer_stack` is the sim peer; None means the kernel,
    whose sockets are Trio's own.
    """

    m: Stack  # set by whoever builds the stacks (cli.py), which hook their printing to this session
    peer_stack: Stack | None = None

    def __init__(self, console: Console, injector: FaultInjector, *, clock: trio.testing.MockClock | None,
                 lang: str = "en") -> None:
        self.console, self.injector, self.clock, self.lang = console, injector, clock, lang
        self.words = messages(lang)
        self.sockets: dict[str, Any] = {}  # "s1" -> minitcp Socket, "p1" -> the peer's socket
        self._count = {"s": 0, "p": 0}
        self.nursery: trio.Nursery | None = None
        self.t0 = 0.0
        self._relative = RelativeSeq()
        self._kernel_tuples: set[tuple[str, str]] = set()
        # With --web: told when a command has settled, so the browser view shows at once what it
        # caused (with --step time stands still, and the view's own poll waits on that time).
        self.on_settled: Callable[[], None] | None = None

    # ------------------------------------------------------------------ printing

    def say(self, line: str) -> None:
        self.console.say(line)

    def stamp(self, now: float) -> str:
        return f"{now - self.t0:10.6f}"

    def on_packet(self, direction: str, packet: bytes | memoryview, now: float) -> None:
        """minitcp's packet hook: one tcpdump line per packet, `out` or `in` as seen from minitcp."""
        self.say(f"{self.stamp(now)} {direction:3} {describe_packet(packet, self._relative)}")

    def on_fault(self, direction: str, action: str, packet: bytes | memoryview, now: float) -> None:
        """The fault link's report: what it did to which packet."""
        self.say(f"{self.stamp(now)} FAULT {action} {direction} {describe_packet(packet, self._relative)}")

    def kernel_tuples(self) -> set[tuple[str, str]]:
        """(local, remote) of every connected kernel socket the shell has held, as the tracepoints
        write them: a socket keeps its place after close(), so its last states are still ours."""
        for sock in self.sockets.values():
            if isinstance(sock, trio.socket.SocketType):
                with contextlib.suppress(OSError):
                    self._kernel_tuples.add(("{}:{}".format(*sock.getsockname()[:2]),
                                             "{}:{}".format(*sock.getpeername()[:2])))
        return self._kernel_tuples

    def name_of(self, conn: object) -> str:
        names = [n for n, s in self.sockets.items() if getattr(s, "connection", None) is conn]
        return ",".join(names)

    # ------------------------------------------------------------------ running a command

    def names(self, kind: str | None = None) -> list[str]:
        return [n for n in self.sockets if kind is None or n.startswith(kind)]

    async def run(self, line: str) -> None:
        """Run one command line (the prompt thread's `trio.from_thread.run` lands here)."""
        try:
            words = shlex.split(line)
        except ValueError as e:
            self.say(f"{e}")
            return
        if not words:
            return
        name, args = words[0], words[1:]
        handler: Callable[[list[str]], Awaitable[None]] | None = getattr(self, f"cmd_{name}", None)
        if handler is None or name not in HELP:
            self.say(self.words.unknown.format(name=name))
            return
        try:
            await handler(args)
        except ShellError as e:
            self.say(str(e))
        except (IndexError, ValueError):
            self.say(self.words.usage.format(usage=HELP[name].usage))
        except OSError as e:  # a call the stack refused at once: as the C library would say it
            self.say(f"{name} = -1 {err_name(e)} ({e.strerror or e})")
        await self.settle()
        if self.on_settled is not None:
            self.on_settled()

    async def settle(self, done: trio.Event | None = None) -> None:
        """Let the stacks act on what the command did, before the prompt comes back.

        In --sim with time standing still, everything that can happen without time passing
        has happened once every task waits (deterministic: nothing else can move). Otherwise
        a blocking call gets up to REAL_WAIT seconds.
        """
        if self.clock is not None and self.clock.rate == 0:
            await trio.testing.wait_all_tasks_blocked()
            return
        if done is not None:
            with trio.move_on_after(REAL_WAIT):
                await done.wait()
        await trio.testing.wait_all_tasks_blocked()
        if self.peer_stack is None:
            await trio.sleep(0.01)  # the kernel answers through the TUN device: a moment for it

    def _sock(self, name: str) -> Any:
        sock = self.sockets.get(name)
        if sock is None:
            open_ = ", ".join(self.sockets) or "-"
            raise ShellError(self.words.no_socket.format(name=name, open=open_))
        return sock

    def _new_name(self, kind: str) -> str:
        self._count[kind] += 1
        return f"{kind}{self._count[kind]}"

    async def _blocking(self, call: str, fn: Callable[[], Awaitable[Any]],
                        done: Callable[[Any], str]) -> None:
        """Run a call that may block as its own task; print its result when it returns."""
        assert self.nursery is not None
        finished = trio.Event()

        async def task() -> None:
            try:
                result = await fn()
            except OSError as e:
                self.say(f"{call} = -1 {err_name(e)}")
            else:
                self.say(done(result))
            finally:
                finished.set()

        self.nursery.start_soon(task)
        await self.settle(finished)
        if not finished.is_set():
            hint = " (`wait`)" if self.clock is not None and self.clock.rate == 0 else ""
            self.say(self.words.blocks.format(call=call, hint=hint))

    # ------------------------------------------------------------------ sockets, either side

    def _new_socket(self, peer: bool) -> Any:
        if not peer:
            return Socket(self.m)
        if self.peer_stack is not None:
            return Socket(self.peer_stack)
        sock = trio.socket.socket()
        # The kernel's default here may be BBR; the labs compare with CUBIC, Linux's usual default.
        with contextlib.suppress(OSError):
            sock.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_CONGESTION, b"cubic")
        return sock

    async def _listen(self, args: list[str], peer: bool) -> None:
        port = int(args[0])
        kind = "p" if peer else "s"
        sock = self._new_socket(peer)
        addr = P_ADDR if peer else M_ADDR
        sock.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 1)
        await _maybe_await(sock.bind((addr, port)))
        sock.listen(128)
        name = self._new_name(kind)
        self.sockets[name] = sock
        self.say(f"{name} = socket(); bind({addr}:{port}); listen() = 0")

    async def _connect(self, args: list[str], peer: bool) -> None:
        host, _, port = args[0].rpartition(":")
        target = (host or (M_ADDR if peer else P_ADDR), int(port))
        kind = "p" if peer else "s"
        sock = self._new_socket(peer)
        name = self._new_name(kind)
        self.sockets[name] = sock
        call = f"connect({name}, {target[0]}:{target[1]})"

        async def connect() -> None:
            await sock.connect(target)

        await self._blocking(call, connect, lambda _: f"{call} = 0")

    async def _accept(self, args: list[str], peer: bool) -> None:
        listener = self._sock(args[0])
        kind = "p" if peer else "s"
        call = f"accept({args[0]})"

        async def accept() -> str:
            sock, addr = await listener.accept()
            name = self._new_name(kind)
            self.sockets[name] = sock
            return f"{name} = {call}: from {addr[0]}:{addr[1]}"

        await self._blocking(call, accept, lambda said: said)

    async def _send(self, args: list[str]) -> None:
        sock = self._sock(args[0])
        data = " ".join(args[1:]).encode()
        if not data:
            raise ValueError("nothing to send")
        sent = await sock.send(data)
        self.say(f"send({args[0]}, {data!r}) = {sent}")

    async def _recv(self, args: list[str]) -> None:
        sock = self._sock(args[0])
        n = int(args[1]) if len(args) > 1 else RECV_DEFAULT
        call = f"recv({args[0]}, {n})"

        async def recv() -> bytes:
            return bytes(await sock.recv(n))

        def said(data: bytes) -> str:
            return f"{call} = {data!r}" + (self.words.end_of_stream if not data else "")

        await self._blocking(call, recv, said)

    async def _shutdown(self, args: list[str]) -> None:
        how = SHUT[args[1].lower()] if len(args) > 1 else pysocket.SHUT_WR
        self._sock(args[0]).shutdown(how)
        self.say(f"shutdown({args[0]}, {SHUT_NAMES[how]}) = 0")

    async def _close(self, args: list[str]) -> None:
        sock = self._sock(args[0])
        sock.close()
        del self.sockets[args[0]]
        self.say(f"close({args[0]}) = 0")

    # ------------------------------------------------------------------ the commands

    async def cmd_connect(self, args: list[str]) -> None:
        await self._connect(args, peer=False)

    async def cmd_listen(self, args: list[str]) -> None:
        await self._listen(args, peer=False)

    async def cmd_accept(self, args: list[str]) -> None:
        await self._accept(args, peer=False)

    async def cmd_send(self, args: list[str]) -> None:
        await self._send(args)

    async def cmd_recv(self, args: list[str]) -> None:
        await self._recv(args)

    async def cmd_shutdown(self, args: list[str]) -> None:
        await self._shutdown(args)

    async def cmd_close(self, args: list[str]) -> None:
        await self._close(args)

    async def cmd_dup(self, args: list[str]) -> None:
        sock = self._sock(args[0])
        name = self._new_name(args[0][0])
        self.sockets[name] = sock.dup()
        self.say(f"{name} = dup({args[0]})")

    async def cmd_setsockopt(self, args: list[str]) -> None:
        sock = self._sock(args[0])
        option = args[1].upper()
        if option not in OPTIONS:
            raise ShellError(f"setsockopt: unknown option {args[1]!r} (known: {', '.join(OPTIONS)})")
        level, number, count = OPTIONS[option]
        values = [int(v) for v in args[2:]]
        if len(values) != count:
            raise ValueError(option)
        value: int | bytes = struct.pack("ii", *values) if count == 2 else values[0]
        sock.setsockopt(level, number, value)
        self.say(f"setsockopt({args[0]}, {option}, {' '.join(args[2:])}) = 0")

    async def cmd_sysctl(self, args: list[str]) -> None:
        flags = [a for a in args if a.startswith("-")]
        keys = [a for a in args if not a.startswith("-")]
        if "-a" in flags:
            for line in all_settings(self.m.knobs.as_dict()):
                self.say(line)
            return
        if not keys:
            raise ValueError("no key")
        for key in keys:
            name, eq, value = key.partition("=")
            if "-w" in flags and not eq:
                raise ShellError(f'sysctl: "{key}" must be of the form name=value')
            try:
                full, now = setting(self.m.knobs, name, value if eq else None)
            except SysctlError as e:
                raise ShellError(f"sysctl: {e}") from None
            self.say(f"{full} = {now}")

    async def cmd_drop(self, args: list[str]) -> None:
        await self._fault("drop", args)

    async def cmd_delay(self, args: list[str]) -> None:
        await self._fault("delay", args)

    async def _fault(self, action: str, args: list[str]) -> None:
        if not args or args[0] != "next":
            raise ValueError("next")
        rest = args[1:]
        keys = ["count=1"]
        if action == "delay":
            keys.append(f"ms={float(rest.pop(0)):g}")
        for word in rest:
            keys.append(f"dir={word}" if word in ("in", "out") else f"flags={word}")
        try:
            rule = parse_rule(f"{action}:{','.join(keys)}")
        except FaultRuleError as e:
            raise ShellError(f"{action} next: {e.problem}") from None
        # Rules that have had their one shot are done with: only live ones stay on the link.
        self.injector.rules = [r for r in self.injector.rules if r.count is None or r.fired < r.count]
        self.injector.rules.append(rule)
        done = DONE["zh" if self.lang == "zh" else "en"][action]
        self.say(self.words.fault_added.format(rule=rule, done=done))

    async def cmd_peer(self, args: list[str]) -> None:
        what, rest = args[0], args[1:]
        if what == "listen":
            await self._listen(rest, peer=True)
        elif what == "connect":
            await self._connect(rest, peer=True)
        elif what == "accept":
            await self._accept(rest, peer=True)
        elif what == "send":
            await self._send(rest)
        elif what == "recv":
            await self._recv(rest)
        elif what == "shutdown":
            await self._shutdown(rest)
        elif what == "close":
            await self._close(rest)
        else:
            raise ValueError(what)

    async def cmd_ss(self, args: list[str]) -> None:
        self.say("minitcp:")
        self.say(ss(self.m.engine, now=self.m.now()))
        self.say("peer:")
        if self.peer_stack is not None:
            self.say(ss(self.peer_stack.engine, now=self.peer_stack.now()))
            return
        import subprocess

        try:
            shown = await trio.to_thread.run_sync(
                lambda: subprocess.run(["ss", "-tano"], capture_output=True, text=True, timeout=5).stdout)
        except (OSError, subprocess.SubprocessError) as e:
            shown = f"(ss: {e})"
        self.say(shown.rstrip())

    async def cmd_wait(self, args: list[str]) -> None:
        seconds = float(args[0])
        if not 0 <= seconds < math.inf:
            raise ValueError(seconds)
        if self.clock is None:
            await trio.sleep(seconds)
        else:
            # Virtual time: jump from one timer to the next until `seconds` have passed.
            self.clock.autojump_threshold = 0
            try:
                await trio.sleep(seconds)
            finally:
                self.clock.autojump_threshold = math.inf
        self.say(f"{self.stamp(trio.current_time())} {self.words.waited.format(seconds=seconds)}")

    async def cmd_help(self, args: list[str]) -> None:
        if args and args[0] in HELP:
            h = HELP[args[0]]
            self.say(f"{h.usage}\n    {h.text(self.lang)}")
            return
        width = max(len(h.usage) for h in HELP.values() if len(h.usage) < 40)
        for h in HELP.values():
            usage = h.usage if len(h.usage) < 40 else h.usage.split()[0] + " ..."
            self.say(f"  {usage:{width}}  {h.text(self.lang)}")
