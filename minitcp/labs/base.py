"""The lab model: a scenario that makes TCP do one thing, and checks that it did it.

A `Lab` is a scenario (an async function given a `Ctx`), a title and a short
explanation in English and Chinese, and nothing else. The scenario opens
connections between minitcp ("m") and its peer ("p": the Linux kernel, or a
second minitcp stack with `--sim`), closes, sends, waits, and states what TCP
should have done as `ctx.check(ok, english, chinese)` lines: both texts side by
side, with the same measured values, so a translation cannot drift from the
check it belongs to. Everything it checks is seen from minitcp's side of the
wire (what it sent, what reached it, what the fault injector lost), so the same
scenario means the same thing against either peer.
"""

from __future__ import annotations

import dataclasses
import errno
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from minitcp.trace.events import FaultEvent, SegmentEvent, StateEvent
from minitcp.trace.recorder import Recorder
from minitcp.trace.ss import ms_timer
from minitcp.trace.ss_parse import SsRow

if TYPE_CHECKING:
    from minitcp.apps.base import AppServer
    from minitcp.tcp.engine import TcpEngine

    from .tools import Tool, ToolRun

M_ADDR = "198.18.0.2"  # minitcp
P_ADDR = "198.18.0.1"  # the peer (the kernel's end of the TUN device)
M_ADDR6 = "2001:2::2"  # minitcp's IPv6 address, on the same link
P_ADDR6 = "2001:2::1"  # the peer's
HOST = "minitcp"  # the recorder's name for minitcp's own view
PEER_HOST = "peer"  # in --sim, the second stack's view (ladders only)


@dataclasses.dataclass
class Check:
    what: str  # English; the key `--json` has always had
    ok: bool
    zh: str

    def text(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.what


@dataclasses.dataclass
class Note:
    """A setting the lab changed (a knob, a sysctl, fault rules), said before the ladder."""

    en: str
    zh: str

    def text(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclasses.dataclass
class Seg:
    """One segment as minitcp saw it: who sent it, when (seconds since `ctx.t0`), whether it was lost."""

    t: float
    sender: str  # "m" or "p"
    flags: str  # as tcpdump prints them: "F.", ".", "S", "R", "P." ...
    seq: int
    ack: int | None
    length: int
    lost: bool
    port: int  # minitcp's port: which connection


class Side(Protocol):
    """One end of one connection, as an application holds it (a socket)."""

    host: str  # "m" or "p"
    port: int  # this end's local port

    async def send(self, data: bytes) -> int | str: ...
    async def recv(self, n: int = 65536, timeout: float = 1.0) -> bytes | str | None: ...
    async def close(self) -> None: ...
    async def shutdown(self) -> None: ...  # SHUT_WR
    async def abort(self) -> None: ...  # close() with SO_LINGER {1, 0}: RST, no TIME_WAIT
    def dup(self) -> Side: ...
    async def state(self) -> str: ...  # "ESTABLISHED", "TIME_WAIT", ... or "CLOSED"
    async def timer(self) -> tuple[str, float] | None: ...  # (kind, seconds left), as `ss -o` shows
    def rto(self) -> float: ...  # the connection's retransmission timeout now, seconds


def endpoint(addr: str, port: int) -> str:
    """`addr:port` as ss and the trace write it: an IPv6 address in brackets (RFC 5952 section 6)."""
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


class Ctx:
    """What a scenario works with. The runner fills in the host-specific parts.

    `family`, `m_addr` and `p_addr` say which family the lab's connections use: IPv4, or with
    `--ipv6` IPv6 (AF_INET6 sockets between 2001:2::2 and 2001:2::1), on the same link."""

    sim: bool
    rec: Recorder

    def __init__(self, ipv6: bool = False) -> None:
        self.ipv6 = ipv6
        self.family = socket.AF_INET6 if ipv6 else socket.AF_INET
        self.m_addr = M_ADDR6 if ipv6 else M_ADDR
        self.p_addr = P_ADDR6 if ipv6 else P_ADDR
        self.checks: list[Check] = []
        self.notes: list[Note] = []
        self.t0 = 0.0
        self.first = 0  # the first trace event after mark()
        self.story: list[str] = []  # what say() told, in order
        self.live = False  # say() prints at once too (the demo tells its story as it happens)

    # --- provided by the runner (runner.py: SimCtx, KernelCtx)
    async def open(self, client: str = "m", *, port: int = 80, cport: int = 0) -> tuple[Side, Side]:
        """Connect client -> server (client "m" or "p"), accept, return (client, server)."""
        raise NotImplementedError

    async def wait(self, seconds: float) -> None:
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    def set_knob(self, host: str, name: str, value: Any) -> None:
        """A knob (minitcp) or a sysctl (the kernel, inside the private namespace) on `host`."""
        raise NotImplementedError

    def counters(self) -> dict[str, dict[str, int]]:
        raise NotImplementedError

    async def timewait(self, host: str, ports: set[int] | None = None) -> int:
        """How many TIME_WAIT entries `host` holds now, on connections to or from minitcp's `ports`."""
        raise NotImplementedError

    def faults(self, rules: list[str]) -> None:
        """Install fault rules on minitcp's link (dir=out: what minitcp sends)."""
        raise NotImplementedError

    def inject(self, packet: bytes) -> None:
        """Put a raw IP packet (IPv4 or IPv6) on the wire towards minitcp, as the peer's side of
        the link (a flood of spoofed SYNs, an ICMP error)."""
        raise NotImplementedError

    def engine(self) -> TcpEngine:
        """minitcp's TCP engine, for what no socket shows (its SYN cookie secret, its TSval offset)."""
        raise NotImplementedError

    async def try_bind(self, host: str, port: int) -> str:
        """bind() a new socket of `host` to its `port` without SO_REUSEADDR, then close it:
        "ok", or the error's name ("EADDRINUSE" while a connection or TIME_WAIT holds the port)."""
        raise NotImplementedError

    def peer_engine(self) -> TcpEngine | None:
        """The peer's TCP engine in --sim (the second minitcp stack); None against the kernel."""
        return None

    # --- for stories with applications (the demo), provided by the runner too
    async def serve(self, app: AppServer, port: int, family: int = socket.AF_INET) -> None:
        """Run an application server (echo, HTTP) on minitcp's `port` until the lab ends; with
        `family` AF_INET6 it takes both families."""
        raise NotImplementedError

    async def connect(self, port: int, timeout: float) -> Side:
        """The peer's Python socket client connects to minitcp's `port` (OSError if it cannot)."""
        raise NotImplementedError

    async def tool(self, tool: Tool, timeout: float) -> ToolRun:
        """A kernel tool (ping, curl, nc) run on the peer's side: see tools.py."""
        raise NotImplementedError

    async def peer_ss(self, cport: int) -> list[SsRow] | None:
        """What `ss -tano` shows of the peer's sockets on its port `cport`; None without ss."""
        raise NotImplementedError

    def minitcp_ss(self, port: int) -> list[SsRow]:
        """What `minitcp ss` shows of minitcp's connections on its `port` (listeners left out)."""
        raise NotImplementedError

    # --- for the scenario
    def mark(self) -> None:
        """Times in checks count from here (e.g. the first close)."""
        self.t0 = self.now()
        # By position, not time: in virtual time the handshake and the close may share a timestamp.
        rec = getattr(self, "rec", None)
        self.first = len(rec.events) if rec is not None else 0

    def check(self, ok: bool, what: str, zh: str) -> bool:
        self.checks.append(Check(what, bool(ok), zh))
        return bool(ok)

    def note(self, en: str, zh: str) -> None:
        self.notes.append(Note(en, zh))

    def say(self, text: str = "") -> None:
        """A line of the story (the demo's narration between its checks)."""
        self.story.append(text)
        if self.live:
            print(text, flush=True)

    def segs(self, sender: str | None = None, flags: str = "", *, exact: str | None = None,
             port: int | None = None, since: float = 0.0) -> list[Seg]:
        """Segments since `ctx.t0 + since`, from minitcp's point of view.

        `flags` letters must all be present ("F" for FINs); `exact` matches the
        whole flag string ("." for a pure ACK); `port` is minitcp's port.
        """
        out: list[Seg] = []
        for e in self.rec.events[self.first:]:
            if e.host != HOST or e.time < self.t0 + since - 1e-9:
                continue
            if isinstance(e, SegmentEvent):
                s = Seg(e.time - self.t0, "m" if e.direction == "out" else "p", e.flags, e.seq, e.ack,
                        e.length, False, int(e.local.rsplit(":", 1)[1]))
                out.append(s)
            elif isinstance(e, FaultEvent) and e.action.startswith("drop"):
                at = int(e.local.rsplit(":", 1)[1])  # minitcp's port on the lost segment
                if e.direction == "in":  # lost before minitcp saw it: only the injector knows
                    out.append(Seg(e.time - self.t0, "p", e.flags, e.seq, e.ack, e.length, True, at))
                else:  # minitcp sent it (recorded before), the link lost it
                    # The same sequence number may have gone out again, re-cut, before the link's
                    # report of the first copy (a busy machine): the length tells them apart.
                    same = [s for s in out if s.sender == "m" and s.flags == e.flags and s.seq == e.seq
                            and s.port == at]
                    sized = [s for s in same if s.length == e.length]
                    if sized or same:
                        (sized or same)[-1].lost = True
        return [s for s in out
                if (sender is None or s.sender == sender)
                and all(ch in s.flags for ch in flags)
                and (exact is None or s.flags == exact)
                and (port is None or s.port == port)]

    def states(self, port: int | None = None) -> list[str]:
        """minitcp's states over time (of its connections on `port`, if given)."""
        path: list[str] = []
        for e in self.rec.events:
            mine = port is None or e.local.endswith(f":{port}")
            if isinstance(e, StateEvent) and e.host == HOST and mine:
                path += [e.old, e.new] if not path else [e.new]
        return path


    def timeline(self) -> list[tuple[float, str]]:
        """minitcp's state changes since mark(), as (seconds since t0, new state)."""
        return [(e.time - self.t0, e.new) for e in self.rec.events[self.first:]
                if isinstance(e, StateEvent) and e.host == HOST]

    def counter(self, host: str, name: str) -> int | None:
        """How far a counter moved since mark() on `host` (the kernel's: its namespace's nstat counters)."""
        moved = self.counters().get("minitcp" if host == "m" else "peer")
        return None if moved is None else moved.get(name, 0)


Scenario = Callable[[Ctx], Awaitable[None]]


@dataclasses.dataclass
class Lab:
    name: str
    seed: str  # the question in the teaching text this lab answers
    title: str
    title_zh: str
    scenario: Scenario
    en: str  # what the learner should see, and why
    zh: str
    group: str = ""
    kernel_seconds: float = 5.0  # a bound on how long it runs against the kernel
    packets: bool = False  # also record every packet minitcp's link carries (ICMP too: the demo's ping)
    # Which connections the ladder draws unless --conn says: None, the last one (the others summed
    # up in a line); "all" where the many are the story (a SYN flood); or a number.
    ladder: str | int | None = None


@dataclasses.dataclass
class Result:
    lab: Lab
    sim: bool
    trace: Recorder
    states: dict[str, dict[str, list[tuple[float, str]]]]
    counters: dict[str, dict[str, int]]
    checks: list[Check]
    notes: list[Note]
    error: str | None = None
    pcap: bytes | None = None  # minitcp's side as a pcapng file, faults marked (LabOptions.pcap)
    peer_said: Note | None = None  # who the peer was, when neither a sim stack nor the kernel
    kernel_states: str = ""  # where the kernel's states came from: "tracepoints", "ss"; "" in --sim
    ipv6: bool = False

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    def to_json(self) -> dict[str, Any]:
        return {
            "lab": self.lab.name,
            "peer": "packetdrill" if self.lab.group == "packetdrill" else "sim" if self.sim else "linux",
            "family": "ipv6" if self.ipv6 else "ipv4",
            "trace": self.trace.to_dicts(), "states": self.states, "counters": self.counters,
            "notes": [n.en for n in self.notes], "notes_zh": [n.zh for n in self.notes],
            "checks": [dataclasses.asdict(c) for c in self.checks],
            "error": self.error, "verdict": self.verdict, "kernel_states": self.kernel_states,
        }


@dataclasses.dataclass
class LabOptions:
    """What a learner changes in a lab: `minitcp lab NAME --sysctl ... --fault ... --pcap FILE`."""

    # minitcp's knobs, (name, value) as `--sysctl` checked them: set before the scenario starts,
    # and kept over the lab's own settings of the same knob (the learner asked for them).
    sysctls: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    faults: list[str] = dataclasses.field(default_factory=list)  # added after the lab's own rules
    own_faults: bool = True  # False: the lab's own rules are left out (`--no-lab-faults`)
    pcap: bool = False  # capture minitcp's side into Result.pcap


async def hang_up(first: Side, second: Side) -> None:
    """An orderly close in turn, not a simultaneous one: `first` closes, `second` reads the end
    of the stream (its FIN has arrived) and only then closes. A lab that closed both at once
    would end in two crossing FINs (CLOSING on both sides), a story of its own."""
    await first.close()
    await second.recv(timeout=1.0)
    await second.close()


def shown(value: object, lang: str = "en") -> str:
    """A value as a check says it to a learner, never as Python prints it: bytes as the text
    they hold, in quotes ("hello"); None (nothing came) and booleans in words; a segment as
    labs note it, (sender "m"/"p", tcpdump flags), as `minitcp F.` / `peer R`; a timer as
    (kind, seconds left) as `ss -o` prints it (`fin_wait2,2.008sec`); a list as its items."""
    zh = lang == "zh"
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("ascii", "backslashreplace")
        return f"“{text}”" if zh else f'"{text}"'
    if value is None:
        return "什么也没有" if zh else "nothing"
    if isinstance(value, bool):
        return ("是" if value else "否") if zh else ("yes" if value else "no")
    if isinstance(value, tuple) and len(value) == 2 and value[0] in ("m", "p") and isinstance(value[1], str):
        return f"{'minitcp' if value[0] == 'm' else ('对端' if zh else 'peer')} {value[1]}"
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], float):
        return f"{value[0]},{ms_timer(value[1])}"
    if isinstance(value, list | tuple):
        return ("、" if zh else ", ").join(shown(v, lang) for v in value) or ("无" if zh else "none")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, OSError) and value.errno:
        return errno.errorcode.get(value.errno, str(value.errno))
    if isinstance(value, BaseException):  # trio.TooSlowError and the like: what it says, or its name
        return str(value) or type(value).__name__
    return str(value)


def about(actual: float, expected: float, tol: float) -> bool:
    return abs(actual - expected) <= tol


def ms(t: float) -> str:
    return f"{t * 1000:.0f} ms"
