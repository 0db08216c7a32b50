"""Reading the kernel's `ss -tan` / `ss -tano` output (the other way round from ss.py, which writes it).

    ESTAB      0      0      198.18.0.1:40000   198.18.0.2:80
    TIME-WAIT  0      0      198.18.0.1:40002   198.18.0.2:7    timer:(timewait,59sec,0)

The labs and the demo ask iproute2's ss what the kernel's end of a connection
is doing; this is the one place that runs it and splits its columns.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess

# ss -tan names -> the RFC names minitcp uses (tcp/states.py).
SS_STATES = {"ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECEIVED",
             "FIN-WAIT-1": "FIN_WAIT_1", "FIN-WAIT-2": "FIN_WAIT_2", "TIME-WAIT": "TIME_WAIT",
             "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK", "CLOSING": "CLOSING", "LISTEN": "LISTEN"}

_TIMER = re.compile(r"timer:\((\w+),([^,]*),\d+\)")
# iproute2's print_ms_timer: "1min5sec", "2sec", "200ms", and "2.032ms" for 2 s 32 ms.
_TIME = re.compile(r"(?:(\d+)min)?(?:(\d+)sec)?(?:(\d+)\.)?(?:(\d+)ms)?")


@dataclasses.dataclass(frozen=True)
class SsRow:
    """One socket as ss prints it: its state as ss names it ("TIME-WAIT"), both ends, the -o timer."""

    state: str
    local: str  # "198.18.0.1:40000"
    peer: str
    timer: str = ""  # "timer:(timewait,59sec,0)", or "" (no -o, or no timer running)

    @property
    def rfc_state(self) -> str:
        """The state as minitcp names it: "TIME_WAIT", "ESTABLISHED" ..."""
        return SS_STATES.get(self.state, self.state)

    def __str__(self) -> str:
        return " ".join(part for part in (self.state, self.local, "->", self.peer, self.timer) if part)


def parse_ss(text: str) -> list[SsRow]:
    """The rows of `ss -tanH` or `ss -tanoH` output (no header line)."""
    rows = []
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 5:
            m = _TIMER.search(line)
            rows.append(SsRow(f[0], f[3], f[4], m.group(0) if m else ""))
    return rows


def run_ss(timers: bool = False) -> list[SsRow]:
    """The kernel's TCP sockets in this network namespace, from `ss -tanH` (`-tanoH` with timers).

    Raises FileNotFoundError without iproute2's ss.
    """
    command = ["ss", "-tanoH" if timers else "-tanH"]
    return parse_ss(subprocess.run(command, capture_output=True, text=True, timeout=5).stdout)


def ss_sockets() -> dict[tuple[str, str], str]:
    """The kernel's TCP sockets as `ss -tan` shows them: (local, peer) -> state (RFC name)."""
    return {(row.local, row.peer): row.rfc_state for row in run_ss()}


def ss_seconds(text: str) -> float:
    m = _TIME.fullmatch(text)
    if m is None:
        return float("nan")
    minutes, secs, secs_dot, millis = (int(g) if g else 0 for g in m.groups())
    return minutes * 60 + secs + secs_dot + millis / 1000


def ss_timer(local: str, remote: str) -> tuple[str, float] | None:
    """The kernel's timer on one socket, from `ss -tano`: ("timewait", 2.9), ("on", 0.2) ..."""
    for row in run_ss(timers=True):
        if (row.local, row.peer) == (local, remote):
            m = _TIMER.fullmatch(row.timer)
            return None if m is None else (m.group(1), ss_seconds(m.group(2)))
    return None
