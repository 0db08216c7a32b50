"""Application ends of a connection: a minitcp socket, or a kernel socket driven from a thread."""

from __future__ import annotations

import errno
import re
import socket
import subprocess

import trio

from minitcp.sockets.socket import Socket
from minitcp.stack import Stack
from minitcp.tcp.states import State


def err_name(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, str(e))


class MinitcpSide:
    """One handle to a minitcp connection (a second handle comes from `dup`)."""

    def __init__(self, stack: Stack, sock: Socket, host: str) -> None:
        self.stack, self.sock, self.host = stack, sock, host
        self.port = sock.getsockname()[1]
        self.conn = sock.connection  # kept: the state outlives the handle

    async def send(self, data: bytes) -> int | str:
        try:
            return await self.sock.send(data)
        except OSError as e:
            return err_name(e)

    async def recv(self, n: int = 65536, timeout: float = 1.0) -> bytes | str | None:
        with trio.move_on_after(timeout):
            try:
                return await self.sock.recv(n)
            except OSError as e:
                return err_name(e)
        return None  # nothing came in time

    async def close(self) -> None:
        self.sock.close()

    async def shutdown(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def dup(self) -> MinitcpSide:
        return MinitcpSide(self.stack, self.sock.dup(), self.host)

    async def state(self) -> str:
        st = self.conn.state
        if st == State.TIME_WAIT:
            # The connection became a TIME_WAIT entry; once that expires there is nothing.
            four = (self.conn.laddr, self.conn.lport, self.conn.raddr, self.conn.rport)
            if not any(tw.four_tuple == four for tw in self.stack.engine.timewait_entries()):
                return "CLOSED"
        return st.name

    async def timer(self) -> tuple[str, float] | None:
        """The connection's pending timer, as `ss -o` shows it: (kind, seconds left)."""
        timers = self.conn.timers(self.stack.now())  # seconds left from now, as `ss -o` counts
        return (timers[0][0].name.lower(), timers[0][1]) if timers else None


# ss -tan names -> the RFC names minitcp uses.
SS_STATES = {"ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECEIVED",
             "FIN-WAIT-1": "FIN_WAIT_1", "FIN-WAIT-2": "FIN_WAIT_2", "TIME-WAIT": "TIME_WAIT",
             "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK", "CLOSING": "CLOSING", "LISTEN": "LISTEN"}


def ss_sockets() -> dict[tuple[str, str], str]:
    """The kernel's TCP sockets as `ss -tan` shows them: (local, peer) -> state."""
    out = subprocess.run(["ss", "-tanH"], capture_output=True, text=True, timeout=5).stdout
    table: dict[tuple[str, str], str] = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5:
            table[(f[3], f[4])] = SS_STATES.get(f[0], f[0])
    return table


_TIMER = re.compile(r"timer:\((\w+),([^,]*),\d+\)")
# iproute2's print_ms_timer: "1min5sec", "2sec", "200ms", and "2.032ms" for 2 s 32 ms.
_TIME = re.compile(r"(?:(\d+)min)?(?:(\d+)sec)?(?:(\d+)\.)?(?:(\d+)ms)?")


def ss_seconds(text: str) -> float:
    m = _TIME.fullmatch(text)
    if m is None:
        return float("nan")
    minutes, secs, secs_dot, millis = (int(g) if g else 0 for g in m.groups())
    return minutes * 60 + secs + secs_dot + millis / 1000


def ss_timer(local: str, remote: str) -> tuple[str, float] | None:
    """The kernel's timer on one socket, from `ss -tano`: ("timewait", 2.9), ("on", 0.2) ..."""
    out = subprocess.run(["ss", "-tanoH"], capture_output=True, text=True, timeout=5).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5 and (f[3], f[4]) == (local, remote):
            m = _TIMER.search(line)
            if m is None:
                return None
            return m.group(1), ss_seconds(m.group(2))
    return None


def kernel_counters() -> dict[str, int]:
    """The namespace's Tcp and TcpExt counters (what `nstat` reads), by their MIB names."""
    counters: dict[str, int] = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        with open(path) as f:
            lines = f.read().splitlines()
        for names, values in zip(lines[::2], lines[1::2], strict=False):
            group, _, rest = names.partition(":")
            if group in ("Tcp", "TcpExt"):
                counters.update(zip(rest.split(), map(int, values.split(":")[1].split()), strict=False))
    return counters


class KernelSide:
    """One kernel socket. Blocking calls run in a thread, each bounded by a timeout."""

    def __init__(self, sock: socket.socket, host: str = "p") -> None:
        self.sock, self.host = sock, host
        self.local = "{}:{}".format(*sock.getsockname())
        self.remote = "{}:{}".format(*sock.getpeername())
        self.port = sock.getsockname()[1]

    async def send(self, data: bytes) -> int | str:
        try:
            return self.sock.send(data)
        except OSError as e:
            return err_name(e)

    async def recv(self, n: int = 65536, timeout: float = 1.0) -> bytes | str | None:
        def blocking() -> bytes | str | None:
            self.sock.settimeout(timeout)
            try:
                return self.sock.recv(n)
            except TimeoutError:
                return None
            except OSError as e:
                return err_name(e)
        return await trio.to_thread.run_sync(blocking)

    async def close(self) -> None:
        self.sock.close()

    async def shutdown(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def dup(self) -> KernelSide:
        return KernelSide(self.sock.dup(), self.host)

    async def state(self) -> str:
        table = await trio.to_thread.run_sync(ss_sockets)
        return table.get((self.local, self.remote), "CLOSED")

    async def timer(self) -> tuple[str, float] | None:
        return await trio.to_thread.run_sync(ss_timer, self.local, self.remote)
