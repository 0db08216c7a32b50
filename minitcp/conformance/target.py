"""What the runner plays a script against: minitcp (minitcp_target.py) or the Linux kernel (kernel.py).

The runner (runner.py) is the script's remote host and its bookkeeping; a
`Target` is everything that differs between the stacks under test: how the
link is opened (and the remote host's end of it handed back), which clock
runs the script, how sockets are made and called, how the runner waits for
the stack to act on what it was just given, and how sysctls, `sockstat`,
`tcpdrop` and TCP_INFO are answered.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Sequence
from typing import Protocol

import trio

# FreeBSD's TCPS_* numbering, as `%{ tcpi_state }%` snippets compare it, by FreeBSD's state names
# (the names sockstat prints).
FREEBSD_STATE_NUMBERS = {
    "CLOSED": 0, "LISTEN": 1, "SYN_SENT": 2, "SYN_RCVD": 3, "ESTABLISHED": 4, "CLOSE_WAIT": 5,
    "FIN_WAIT_1": 6, "CLOSING": 7, "LAST_ACK": 8, "FIN_WAIT_2": 9, "TIME_WAIT": 10,
}

# Set while the script makes a call written without `...` itself, as packetdrill's main thread makes
# one (run_system_call.c): a real-time target makes even a call that blocks right there, and the
# script waits for it; a call with `...` goes to a thread of its own, as packetdrill's syscall thread.
CALL_INLINE: contextvars.ContextVar[bool] = contextvars.ContextVar("CALL_INLINE", default=False)

# (ours: a socket of the script, local port, remote port, FreeBSD state name): one sockstat row.
SocketRow = tuple[bool, int, int, str]


class Unsupported(Exception):
    """A call or argument the stack under test does not have: the script fails, saying which."""


class Peer(Protocol):
    """The remote host's end of the link: whole IPv4 packets in and out."""

    def send(self, packet: bytes) -> None: ...

    async def receive(self) -> list[tuple[float, bytes]]:
        """The next packets the stack sent, each with when it sent it (`trio.current_time()`'s clock)."""


class TargetSocket(Protocol):
    """The socket calls a script makes, with Python's socket API names and Linux's values."""

    def close(self) -> None: ...

    def bind(self, address: tuple[str, int]) -> None: ...

    def listen(self, backlog: int) -> None: ...

    async def accept(self) -> tuple[TargetSocket, tuple[str, int]]: ...

    async def connect(self, address: tuple[str, int]) -> None: ...

    async def recv(self, bufsize: int, flags: int = 0) -> bytes: ...

    async def send(self, data: bytes, flags: int = 0) -> int: ...

    def shutdown(self, how: int) -> None: ...

    def setblocking(self, flag: bool) -> None: ...

    def getblocking(self) -> bool: ...

    def setsockopt(self, level: int, option: int, value: int | bytes) -> None: ...

    def getsockopt(self, level: int, option: int) -> int | bytes: ...


class Target(Protocol):
    name: str  # the stack under test, as failure messages name it ("minitcp", "the kernel")
    local_ip: str  # the address of the stack under test
    remote_ip: str  # the script's remote host
    real_time: bool  # the runner can fall behind the script (and the script's clock then waits)

    def clock(self) -> trio.abc.Clock | None:
        """The clock `trio.run` plays the script with (None: real time)."""

    async def open(self, nursery: trio.Nursery, mtu: int) -> Peer:
        """Start the stack under test, linked to the remote host's end returned."""

    def socket(self) -> TargetSocket: ...

    async def settle(self) -> None:
        """Return once the stack has acted on what it was given and each call has returned or blocks."""

    def sysctl(self, name: str, value: str) -> bool:
        """Apply a FreeBSD sysctl as the setting with the same meaning; False when there is none."""

    def linux_sysctl(self, name: str, value: str) -> bool:
        """Apply a Linux sysctl (`net.ipv4.tcp_sack`); False when the stack has no such setting."""

    def socket_table(self, sockets: Iterable[TargetSocket]) -> list[SocketRow]:
        """Every TCP socket and connection of the stack; `sockets` are the script's open ones."""

    def device_command(self, command: str) -> str | None:
        """A command line that configures the network device (`ethtool -K tun0 tso off`): run it
        and return "" or its error; None when the target does not run it."""

    def tcpdrop(self, state: str) -> bool:
        """FreeBSD's `tcpdrop -s STATE`: end every connection in that state; False if unsupported."""

    def tcp_info(self, sock: TargetSocket) -> tuple[str, dict[str, int]]:
        """The socket's FreeBSD state name, and the `tcpi_*` values a snippet may compare."""

    async def poll(self, entries: list[tuple[TargetSocket, int]], timeout_ms: int) -> list[int]:
        """poll(2): each socket's revents for its events, waiting up to `timeout_ms` (-1: forever)
        for one to be ready; raises Unsupported when the stack has no poll()."""

    def epoll(self) -> Epoll:
        """epoll_create(2); raises Unsupported when the stack has no epoll."""

    async def sendfile(self, sock: TargetSocket, fd: int, offset: int, count: int) -> int:
        """sendfile(2) from the open file `fd` (a real descriptor); raises Unsupported."""

    async def splice(self, sock: TargetSocket, pipe_fd: int, count: int, flags: int) -> int:
        """splice(2) from the socket into a real pipe's write end; raises Unsupported."""


class Epoll(Protocol):
    """An epoll instance over the target's sockets."""

    def ctl(self, op: int, sock: TargetSocket, events: int) -> None: ...

    async def wait(self, max_events: int, timeout_ms: int) -> Sequence[tuple[TargetSocket, int]]: ...

    def close(self) -> None: ...
