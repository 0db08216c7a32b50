"""The kernel's own account of its TCP sockets: tracepoints read through tracefs (root only).

`sock:inet_sock_set_state` fires on every state change of a full socket (Linux
inet_sk_set_state), so LAST_ACK and FIN_WAIT_2 are never missed as a 20 ms `ss`
sample misses them; `tcp:tcp_retransmit_skb` on every retransmission
(__tcp_retransmit_skb). A `TraceSession` makes a tracefs *instance* of its own
(`instances/minitcp-<pid>`: the global trace buffer and its settings stay
untouched), with the `mono` clock (CLOCK_MONOTONIC, Trio's clock on Linux), each
event's thread group id and its raw fields (`options/fields`, which adds the
socket's address), and removes it when done. Where tracefs is not mounted it is
mounted in a mount namespace of the caller's own (`private_tracefs`).

tracefs is one for the whole machine, not per network namespace: other
namespaces' sockets with the same addresses show up too. `ours` keeps a socket's
events when one of them ran in this process outside interrupts (its connect(),
close(), listen(); a softirq runs in whatever process was current, so it proves
nothing) or its four-tuple is one the caller holds (an accepted socket it never
touched), each life of a socket address apart (addresses are reused).

The TIME_WAIT that follows is a separate, lighter socket (inet_timewait_sock)
that these tracepoints do not see: the full socket goes to CLOSE. `ss` still
shows it, so the caller samples `ss` for TIME_WAIT and for when tracefs is absent.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")
EVENTS = ("sock/inet_sock_set_state", "tcp/tcp_retransmit_skb")
# include/net/tcp_states.h, by number and by the name the tracepoints print (TCP_FIN_WAIT1 ...),
# as minitcp names them (tcp/states.py). NEW_SYN_RECV is a request socket, not a state change.
_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECEIVED", 4: "FIN_WAIT_1", 5: "FIN_WAIT_2",
           6: "TIME_WAIT", 7: "CLOSED", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
           12: "NEW_SYN_RECV"}
_STATE_NAMES = {
    "TCP_" + name.replace("_WAIT_", "_WAIT").replace("RECEIVED", "RECV").replace("CLOSED", "CLOSE"): name
    for name in _STATES.values()
}
# `comm-pid (tgid) [cpu] flags timestamp: event: fields` (the tgid only with options/record-tgid).
# The flags' third letter says the context: s (softirq), h/H (hardirq), "." a process's own.
_LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:\(\s*(?P<tgid>[\d-]+)\)\s+)?\[\d+\]\s+"
                   r"(?:(?P<flags>\S{4,})\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s+(?P<fields>.*)$")
_FIELD = re.compile(r"(\w+)=(\S+)(?: \((-?\d+)\))?")


@dataclass
class TraceEvent:
    """One tracepoint hit: a state change (`old`, `new`) or a retransmission (`state`)."""

    time: float  # seconds, the trace clock (mono: CLOCK_MONOTONIC)
    event: str  # "inet_sock_set_state" or "tcp_retransmit_skb"
    tgid: int  # the thread group (process) it ran in; -1 when not recorded or in no process
    irq: bool  # ran in interrupt context (softirq: packet receive, timers): whoever was running
    sock: str  # the socket's address, "" when the format does not print it
    local: str  # "198.18.0.1:80"
    remote: str
    old: str = ""
    new: str = ""
    state: str = ""
    fields: dict[str, str] = field(default_factory=dict, repr=False)


def _value(raw: str, number: str) -> str:
    """A field's value: the decimal beside a raw hex one (options/fields), else as printed."""
    return number or raw


def _address(value: str) -> str:
    """`198.18.0.1` as printed, or from options/fields' u32 of the address's four bytes."""
    if value.lstrip("-").isdigit():
        return socket.inet_ntoa(struct.pack("<I", int(value) & 0xFFFFFFFF))
    return value


def _state(value: str) -> str:
    if value.isdigit():
        return _STATES.get(int(value), value)
    return _STATE_NAMES.get(value, value)


def parse_line(line: str) -> TraceEvent | None:
    """One line of a tracefs `trace` file as a TraceEvent; None for comments, other events, or
    a family other than IPv4 (the labs' kernel side is IPv4)."""
    m = _LINE.match(line)
    if m is None or m["event"] not in ("inet_sock_set_state", "tcp_retransmit_skb"):
        return None
    fields = {name: _value(raw, num) for name, raw, num in _FIELD.findall(m["fields"])}
    if fields.get("family") not in ("AF_INET", "2") or "sport" not in fields:
        return None
    if m["event"] == "inet_sock_set_state" and fields.get("protocol") not in ("IPPROTO_TCP", "6"):
        return None
    tgid = m["tgid"]
    local = f"{_address(fields.get('saddr', ''))}:{fields['sport']}"
    remote = f"{_address(fields.get('daddr', ''))}:{fields.get('dport', '0')}"
    flags = m["flags"] or ""
    event = TraceEvent(float(m["ts"]), m["event"], int(tgid) if tgid and tgid.lstrip("-").isdigit() else -1,
                       len(flags) > 2 and flags[2] in "sShH", fields.get("skaddr", ""), local, remote,
                       fields=fields)
    if m["event"] == "inet_sock_set_state":
        event.old, event.new = _state(fields.get("oldstate", "")), _state(fields.get("newstate", ""))
    else:
        event.state = _state(fields.get("state", ""))
    return event


def parse_trace(text: str) -> list[TraceEvent]:
    return [e for e in map(parse_line, text.splitlines()) if e is not None]


def ours(events: Iterable[TraceEvent], tgid: int, tuples: set[tuple[str, str]]) -> list[TraceEvent]:
    """The events of this process's sockets (see the module's doc), in time order.

    A socket's address is reused once it is freed, by any process: its life (an incarnation)
    ends when it goes to CLOSE, and each life is judged on its own."""
    lives: dict[str | tuple[str, str], int] = {}  # socket -> its current life's number
    ended: set[str | tuple[str, str]] = set()
    life_of: list[tuple[str | tuple[str, str], int]] = []
    timeline = sorted(events, key=lambda e: e.time)
    for e in timeline:
        key = e.sock or (e.local, e.remote)  # without the socket's address, its four-tuple
        if key in ended or key not in lives:
            lives[key] = lives.get(key, -1) + 1
            ended.discard(key)
        life_of.append((key, lives[key]))
        if e.new == "CLOSED":
            ended.add(key)
    # In interrupt context the process shown is whichever was running: only a process's own
    # calls (connect, close, listen) say whose socket it is.
    mine = {life for e, life in zip(timeline, life_of, strict=True)
            if (e.tgid == tgid and not e.irq) or (e.local, e.remote) in tuples}
    return [e for e, life in zip(timeline, life_of, strict=True) if life in mine]


# ------------------------------------------------------------------ tracefs

_CLONE_NEWNS = 0x00020000  # <sched.h>
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000  # <sys/mount.h>


def private_tracefs(root: Path = TRACEFS) -> bool:
    """Make tracefs available at `root`: already there, or mounted in a mount namespace of this
    process's own (nothing the host sees changes). False when that cannot be done (not root)."""
    if (root / "instances").is_dir():
        return True
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0:
        return False
    # Mount events must not travel back to the host's namespace: everything private first.
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return False
    if libc.mount(b"nodev", str(root).encode(), b"tracefs", 0, None) != 0:
        return False
    return (root / "instances").is_dir()


class TraceSession:
    """A tracefs instance recording the two tracepoints until `close()`."""

    def __init__(self, root: Path = TRACEFS, name: str | None = None) -> None:
        _remove_stale(root / "instances")
        self.dir = root / "instances" / (name or f"minitcp-{os.getpid()}")
        self.dir.mkdir()
        try:
            (self.dir / "trace_clock").write_text("mono")
            for option in ("record-tgid", "fields"):  # "fields" adds the socket address (Linux 6.3+)
                with contextlib.suppress(OSError):
                    (self.dir / "options" / option).write_text("1")
            for event in EVENTS:
                # In the kernel already: IPv4 only (AF_INET), the labs' kernel side; other
                # namespaces' IPv6 traffic then takes no room in this instance's buffer.
                with contextlib.suppress(OSError):
                    (self.dir / "events" / event / "filter").write_text("family == 2")
                (self.dir / "events" / event / "enable").write_text("1")
        except OSError:
            self.close()
            raise

    def read(self) -> list[TraceEvent]:
        return parse_trace((self.dir / "trace").read_text(errors="replace"))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            (self.dir / "events" / "enable").write_text("0")
        with contextlib.suppress(OSError):
            self.dir.rmdir()


def _remove_stale(instances: Path) -> None:
    """Remove the instances of minitcp processes that are gone (killed before their `close()`):
    an instance outlives its process, and holds its buffers, until it is removed."""
    for inst in instances.glob("minitcp-*"):
        pid = inst.name.removeprefix("minitcp-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                (inst / "events" / "enable").write_text("0")
                inst.rmdir()


def open_session(root: Path = TRACEFS) -> TraceSession | None:
    """A TraceSession, or None where tracefs cannot be had (not root, no tracefs, no tracepoints)."""
    try:
        if not private_tracefs(root):
            return None
        return TraceSession(root)
    except OSError:
        return None
