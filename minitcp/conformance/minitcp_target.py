"""minitcp as the stack under test: its real socket API and engine, on an in-memory link, in virtual time.

The stack runs on one end of a `memory_link_pair` under `trio.testing.MockClock`
(autojump: time leaps to the next deadline whenever every task waits), so a
75-second SYN back-off costs milliseconds. ISNs and ephemeral ports are made
reproducible, so two runs of a script are identical.
"""

from __future__ import annotations

import errno
import math
import os
import random
import socket
from collections.abc import Iterable

import trio
import trio.testing

from ..link.memory import MemoryLink, memory_link_pair
from ..sockets import readiness
from ..sockets.socket import MSG_DONTWAIT, MSG_PEEK, Socket
from ..stack import Stack
from ..tcp.isn import IsnGenerator
from ..tcp.knobs import Knobs
from ..tcp.states import Event, State
from .qdisc import root_drops_all
from .sysctls import FREEBSD_ONLY, apply_linux_sysctl, apply_sysctl
from .target import Peer, SocketRow, TargetSocket, Unsupported

# FreeBSD's names for the states, as sockstat prints them.
FREEBSD_STATE_NAMES = {
    State.CLOSED: "CLOSED", State.LISTEN: "LISTEN", State.SYN_SENT: "SYN_SENT",
    State.SYN_RECEIVED: "SYN_RCVD", State.ESTABLISHED: "ESTABLISHED", State.CLOSE_WAIT: "CLOSE_WAIT",
    State.FIN_WAIT_1: "FIN_WAIT_1", State.CLOSING: "CLOSING", State.LAST_ACK: "LAST_ACK",
    State.FIN_WAIT_2: "FIN_WAIT_2", State.TIME_WAIT: "TIME_WAIT",
}
_STATE_BY_FREEBSD_NAME = {v: k for k, v in FREEBSD_STATE_NAMES.items()}
MAX_IPV4_PACKET = 65535  # RFC 791: the total length field's largest value
# include/uapi/linux/eventpoll.h: epoll_ctl(2)'s operations.
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3


class MemoryPeer:
    """The remote host's end of the in-memory link; a packet is sent when the runner takes it."""

    def __init__(self, link: MemoryLink) -> None:
        self.link = link

    def send(self, packet: bytes) -> None:
        self.link.send(packet)

    async def receive(self) -> list[tuple[float, bytes]]:
        batch = await self.link.recv_batch()
        now = trio.current_time()
        return [(now, bytes(packet)) for packet, _ in batch]


class MinitcpTarget:
    """minitcp is 198.18.0.2; the script's remote host is 198.18.0.1 (2001:2::2 and 2001:2::1
    after `use_ipv6`)."""

    name = "minitcp"
    real_time = False  # virtual time waits for every task, the runner's too

    def __init__(self, knobs: Knobs | None = None, *, linux_only: bool = False) -> None:
        self.knobs = knobs if knobs is not None else Knobs()
        self.linux_only = linux_only  # ignore the sysctls of FreeBSD_ONLY, as the kernel must
        self.local_ip = "198.18.0.2"
        self.remote_ip = "198.18.0.1"
        self.family = socket.AF_INET

    def use_ipv6(self) -> None:
        """Play an `--ip_version=ipv6` script: AF_INET6 sockets, both hosts' IPv6 addresses."""
        self.local_ip, self.remote_ip, self.family = "2001:2::2", "2001:2::1", socket.AF_INET6

    def clock(self) -> trio.abc.Clock:
        return trio.testing.MockClock(autojump_threshold=0)

    async def open(self, nursery: trio.Nursery, mtu: int) -> Peer:
        stack_end, remote_end = memory_link_pair(mtu)
        # The remote host may send super-segments larger than the link's MTU, as packetdrill does
        # on Linux (a GSO packet the receiver takes whole, as GRO would have built it).
        remote_end.mtu = MAX_IPV4_PACKET
        self.stack = Stack(stack_end, "198.18.0.2", address6="2001:2::2", knobs=self.knobs)
        # Reproducible runs: a fixed ISN secret and port choice (minitcp picks both at random).
        self.stack.engine.isn = IsnGenerator(b"minitcp-conformance-runner")
        rng = getattr(self.stack.ports, "_rng", None)
        if isinstance(rng, random.Random):
            rng.seed(0)
        nursery.start_soon(self.stack.run)
        return MemoryPeer(remote_end)

    def socket(self) -> Socket:
        return Socket(self.stack, family=self.family)

    async def settle(self) -> None:
        await trio.testing.wait_all_tasks_blocked()

    def sysctl(self, name: str, value: str) -> bool:
        if self.linux_only and name in FREEBSD_ONLY:
            return False
        return apply_sysctl(self.knobs, name, value)

    def linux_sysctl(self, name: str, value: str) -> bool:
        return apply_linux_sysctl(self.knobs, name, value)

    def device_command(self, command: str) -> str | None:
        # minitcp's link has no device to configure, but a root qdisc that drops everything is
        # a local transmit drop the engine must see (qdisc.py).
        drops = root_drops_all(command)
        if drops is None:
            return None
        self.stack.engine.xmit_drop = drops
        return ""

    def socket_table(self, sockets: Iterable[TargetSocket]) -> list[SocketRow]:
        rows: list[SocketRow] = []
        seen: set[int] = set()
        for sock in sockets:
            assert isinstance(sock, Socket)
            conn = sock.connection
            if conn is not None:
                if conn.state != State.TIME_WAIT:  # a TIME_WAIT entry is no socket's: listed below
                    seen.add(conn.key)
                rows.append((True, conn.lport, conn.rport, FREEBSD_STATE_NAMES[sock.state]))
            else:
                rows.append((True, _ep_port(sock), 0, FREEBSD_STATE_NAMES[sock.state]))
        engine = self.stack.engine
        for key, conn in engine.conns.items():
            if key not in seen:
                seen.add(key)
                rows.append((False, conn.lport, conn.rport, FREEBSD_STATE_NAMES[conn.state]))
        for key, req in engine.requests.items():  # a listener's half-open requests (reqsk.py)
            if key not in seen:
                rows.append((False, req.lport, req.rport, FREEBSD_STATE_NAMES[req.state]))
        for key, tw in engine.timewait.entries.items():
            if key not in seen:
                _, lport, _, rport = tw.four_tuple
                rows.append((False, lport, rport, "TIME_WAIT"))
        return rows

    def tcpdrop(self, state: str) -> bool:
        wanted = _STATE_BY_FREEBSD_NAME.get(state)
        engine = self.stack.engine
        if wanted == State.TIME_WAIT:
            for tw in list(engine.timewait.entries.values()):
                engine.timewait.remove(tw)
        elif wanted is not None:
            for conn in list(engine.conns.values()):
                if conn.state == wanted:
                    conn.abort(engine.now)  # at the engine's last event, as ever
            if wanted == State.SYN_RECEIVED:
                for req in list(engine.requests.values()):  # a request just dies, as in Linux
                    req.drop(Event.ABORT, reason="tcpdrop")
            self.stack.kick()
        return True

    def tcp_info(self, sock: TargetSocket) -> tuple[str, dict[str, int]]:
        """Every field of the socket's struct tcp_info (`Socket.tcp_info()`), named `tcpi_*`.
        tcpi_state is left to the runner, which numbers it as the script expects."""
        assert isinstance(sock, Socket)
        values = {f"tcpi_{name}": value for name, value in sock.tcp_info().items() if name != "state"}
        return FREEBSD_STATE_NAMES[sock.state], values

    async def poll(self, entries: list[tuple[TargetSocket, int]], timeout_ms: int) -> list[int]:
        """poll(2) over minitcp sockets: each one's `Socket.poll()` events among those asked
        for (POLLERR, POLLHUP and POLLNVAL always, as Linux's do_pollfd), waiting until one
        has some or the timeout passes."""
        socks: list[tuple[Socket, int]] = []
        for sock, events in entries:
            assert isinstance(sock, Socket)
            socks.append((sock, events | readiness.POLLERR | readiness.POLLHUP | readiness.POLLNVAL))
        if timeout_ms != 0 and not any(sock.poll() & wanted for sock, wanted in socks):
            with trio.move_on_after(math.inf if timeout_ms < 0 else timeout_ms / 1000):
                async with trio.open_nursery() as waiters:
                    for sock, wanted in socks:
                        waiters.start_soon(_first_ready, sock, wanted, waiters.cancel_scope)
        await trio.lowlevel.checkpoint()
        return [sock.poll() & wanted for sock, wanted in socks]

    def epoll(self) -> MinitcpEpoll:
        return MinitcpEpoll()

    async def null_buffer(self, sock: TargetSocket, sending: bool, size: int, flags: int) -> int:
        """send(2) or recv(2) with a NULL buffer, as Linux answers it: everything that comes
        before the copy happens as for any buffer (errors, the wait for room or for data), then
        the copy fails and the call returns EFAULT having queued or consumed nothing (Linux
        tcp_sendmsg_locked and tcp_recvmsg_locked: `copied` is 0, so the error is returned).
        A call for 0 bytes copies nothing, and returns 0."""
        assert isinstance(sock, Socket)
        if size == 0:
            await trio.lowlevel.checkpoint()
            return 0
        if not sending:
            # MSG_PEEK waits, and fails, exactly as the read would, and leaves the bytes queued.
            if not await sock.recv(size, flags | MSG_PEEK):
                return 0  # end of stream: nothing to copy
            raise OSError(errno.EFAULT, os.strerror(errno.EFAULT))
        conn = sock.connection
        if conn is None:
            raise OSError(errno.EPIPE, os.strerror(errno.EPIPE))
        while True:
            conn.send(b"", self.stack.now())  # raises the connection's error, or EPIPE after SHUT_WR
            if conn.writable:
                raise OSError(errno.EFAULT, os.strerror(errno.EFAULT))
            if not sock.getblocking() or flags & MSG_DONTWAIT:
                raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
            await sock.wait_poll(readiness.POLLOUT)

    # The calls the runner's minitcp target does not offer (the runner says so, rather than guess).

    async def sendfile(self, sock: TargetSocket, fd: int, offset: int, count: int) -> int:
        raise Unsupported("sendfile()")

    async def splice(self, sock: TargetSocket, pipe_fd: int, count: int, flags: int) -> int:
        raise Unsupported("splice()")


async def _first_ready(sock: Socket, events: int, done: trio.CancelScope) -> None:
    await sock.wait_poll(events)
    done.cancel()


class MinitcpEpoll:
    """epoll_create/ctl/wait over minitcp sockets: `readiness.Epoll` with epoll(2)'s arguments."""

    def __init__(self) -> None:
        self.epoll = readiness.Epoll()

    def ctl(self, op: int, sock: TargetSocket, events: int) -> None:
        assert isinstance(sock, Socket)
        if op == EPOLL_CTL_ADD:
            self.epoll.register(sock, events)
        elif op == EPOLL_CTL_MOD:
            self.epoll.modify(sock, events)
        elif op == EPOLL_CTL_DEL:
            self.epoll.unregister(sock)
        else:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    async def wait(self, max_events: int, timeout_ms: int) -> list[tuple[Socket, int]]:
        return await self.epoll.wait(-1 if timeout_ms < 0 else timeout_ms / 1000, max_events)

    def close(self) -> None:
        self.epoll.close()


def _ep_port(sock: Socket) -> int:
    try:
        return sock.getsockname()[1]
    except OSError:
        return 0
