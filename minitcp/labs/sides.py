"""Application ends of a connection: a minitcp socket, or a kernel socket driven from a thread."""

from __future__ import annotations

import errno
import socket

import trio

from minitcp.sockets.socket import Socket
from minitcp.stack import Stack
from minitcp.tcp.states import State
from minitcp.trace.ss_parse import ss_sockets, ss_timer

from .base import endpoint


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
        # As `ss -tan` writes them: an IPv6 address in brackets.
        self.local = endpoint(*sock.getsockname()[:2])
        self.remote = endpoint(*sock.getpeername()[:2])
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
