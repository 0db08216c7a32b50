"""Real kernel sockets behind the runner's socket calls, as packetdrill makes them.

A call that can block (accept, connect, recv, send on a blocking socket) runs
in a thread of its own, a real blocking system call: the kernel decides when
it returns, and packets flow meanwhile. A call on a non-blocking socket, or
one that never blocks, is made at once; so is an accept or a recv whose
socket is already readable (it cannot block then), which spares the script
a thread's start-up. The socket's O_NONBLOCK
flag is the kernel's own (`setblocking` is fcntl F_SETFL), so a non-blocking
connect gives EINPROGRESS and a recv with nothing queued EAGAIN, from the
kernel.

Before the script moves on, the runner must know each call has either
returned or is asleep inside the kernel (packetdrill checks its syscall thread
the same way): otherwise a call and the next line at the same time could race.
`BlockingCalls.settle` reads each thread's state and current system call from
/proc: a thread asleep in futex() waits for Python's GIL, not for the kernel.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import platform
import select
import socket
import struct
import threading
from collections.abc import Callable
from typing import TypeVar

import trio
import trio.testing

from .target import CALL_INLINE

T = TypeVar("T")

# futex(2)'s number, to tell a thread waiting for the GIL from one blocked in its socket call.
_FUTEX = {"x86_64": 202, "aarch64": 98, "arm64": 98}.get(platform.machine())
_POLL = 0.0005  # seconds between looks at a call's thread
_SETTLE_LIMIT = 1.0  # the longest settle() waits for a call that neither returns nor blocks
_LIBC = ctypes.CDLL(None, use_errno=True)  # for the calls Python's socket module cannot make
_INT = struct.Struct("i")
_SOCKADDR_IN_SIZE = 16  # sizeof(struct sockaddr_in)


class _Call:
    def __init__(self) -> None:
        self.tid: int | None = None
        self.returned = False

    def blocked(self) -> bool:
        """Asleep inside its system call (False before it starts and once it has returned)."""
        if self.tid is None or self.returned:
            return False
        try:
            with open(f"/proc/self/task/{self.tid}/stat") as f:
                state = f.read().rpartition(")")[2].split()[0]
            with open(f"/proc/self/task/{self.tid}/syscall") as f:
                current = f.read().split()[0]
        except (OSError, IndexError):
            return False
        if state not in ("S", "D") or not current.lstrip("-").isdigit():
            return False  # running (or between calls)
        return _FUTEX is None or int(current) != _FUTEX


class BlockingCalls:
    """The calls running in their own threads, so the runner can wait for them to settle."""

    def __init__(self) -> None:
        self._running: set[_Call] = set()

    async def run(self, fn: Callable[[], T]) -> T:
        if CALL_INLINE.get():
            return fn()  # the script's own call, which it waits for (target.CALL_INLINE)
        call = _Call()

        def work() -> T:
            call.tid = threading.get_native_id()
            try:
                return fn()
            finally:
                call.returned = True

        self._running.add(call)
        try:
            # abandon_on_cancel: at the end of a script a call may still block; its thread dies
            # with the script's process.
            return await trio.to_thread.run_sync(work, abandon_on_cancel=True)
        finally:
            self._running.discard(call)

    async def warm_up(self) -> None:
        """Start a thread now, so the script's first blocking call finds one idle in trio's cache."""
        await trio.to_thread.run_sync(lambda: None)

    async def settle(self) -> None:
        """Wait until every call blocks in the kernel or has returned and its task has taken the result
        (an accept's new descriptor is numbered then: a close() next must not free the number first)."""
        await trio.testing.wait_all_tasks_blocked()  # a call's task just started hands it to its thread
        deadline = trio.current_time() + _SETTLE_LIMIT
        while trio.current_time() < deadline and not all(c.blocked() for c in self._running):
            await trio.sleep(_POLL)
        await trio.testing.wait_all_tasks_blocked()


class KernelSocket:
    """A kernel TCP socket with the call signatures of minitcp's Socket (see target.TargetSocket)."""

    def __init__(self, calls: BlockingCalls, sock: socket.socket | None = None, *,
                 family: int = socket.AF_INET) -> None:
        self.calls = calls
        if sock is None:
            sock = socket.socket(family, socket.SOCK_STREAM)  # AF_INET6 for --ip_version=ipv6
            # Linux hosts ship CUBIC; this machine's namespaces default to BBR and cannot switch,
            # so each socket of a script asks for CUBIC (an accepted one inherits its listener's).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
        self.sock = sock

    def _blocks(self, flags: int = 0) -> bool:
        return self.sock.getblocking() and not flags & socket.MSG_DONTWAIT

    def _readable(self) -> bool:
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        self.sock.close()

    def bind(self, address: tuple[str, int]) -> None:
        self.sock.bind(address)

    def listen(self, backlog: int) -> None:
        self.sock.listen(backlog)

    async def accept(self) -> tuple[KernelSocket, tuple[str, int]]:
        # Python's accept() gives the new socket the kernel's flags: blocking, as accept(2) does.
        if self._blocks() and not self._readable():
            child, address = await self.calls.run(self.sock.accept)
        else:
            child, address = self.sock.accept()
        return KernelSocket(self.calls, child), address

    async def connect(self, address: tuple[str, int]) -> None:
        if self._blocks():
            await self.calls.run(lambda: self.sock.connect(address))
        else:
            self.sock.connect(address)

    async def recv(self, bufsize: int, flags: int = 0) -> bytes:
        # MSG_WAITALL may block on a readable socket, until all of `bufsize` has come.
        if self._blocks(flags) and (flags & socket.MSG_WAITALL or not self._readable()):
            return await self.calls.run(lambda: self.sock.recv(bufsize, flags))
        return self.sock.recv(bufsize, flags)

    async def send(self, data: bytes, flags: int = 0) -> int:
        if self._blocks(flags):
            # One blocking send(2), as packetdrill makes it: the kernel decides when it returns
            # (after the handshake on a TCP_FASTOPEN_CONNECT socket, when room frees for the
            # rest), and accounts the wait as Linux does (tcpi_sndbuf_limited).
            return await self.calls.run(lambda: self.sock.send(data, flags))
        return self.sock.send(data, flags)

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def setblocking(self, flag: bool) -> None:
        self.sock.setblocking(flag)

    def getblocking(self) -> bool:
        return self.sock.getblocking()

    def setsockopt(self, level: int, option: int, value: int | bytes) -> None:
        self.sock.setsockopt(level, option, value)

    def getsockopt(self, level: int, option: int) -> int | bytes:
        return self.sock.getsockopt(level, option)

    # ------------------------------------------------------------------ Linux's other calls

    def fileno(self) -> int:
        return self.sock.fileno()

    async def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0
                      ) -> tuple[bytes, list[tuple[int, int, bytes]], int, object]:
        """(data, control messages, msg_flags, address), as Python's socket.recvmsg gives them
        (and so as minitcp's Socket.recvmsg does)."""
        def call() -> tuple[bytes, list[tuple[int, int, bytes]], int, object]:
            return self.sock.recvmsg(bufsize, ancbufsize, flags)
        if self._blocks(flags) and (flags & socket.MSG_WAITALL or not self._readable()):
            return await self.calls.run(call)
        return call()

    async def sendmsg(self, buffers: list[bytes], flags: int = 0) -> int:
        if self._blocks(flags):
            return await self.calls.run(lambda: self.sock.sendmsg(buffers, [], flags))
        return self.sock.sendmsg(buffers, [], flags)

    async def sendto(self, data: bytes, flags: int, address: tuple[str, int] | None) -> int:
        """sendto(2) with an address (None: a sockaddr of family AF_UNSPEC): on a TCP socket,
        MSG_FASTOPEN's connect-and-send."""
        def call() -> int:
            if address is not None:
                return self.sock.sendto(data, flags, address)
            unspec = bytes(_SOCKADDR_IN_SIZE)  # sa_family 0
            n = int(_LIBC.sendto(self.sock.fileno(), data, ctypes.c_size_t(len(data)), flags, unspec,
                                 _SOCKADDR_IN_SIZE))
            if n < 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
            return n
        if self._blocks(flags):
            return await self.calls.run(call)
        return call()

    async def null_buffer(self, sending: bool, size: int, flags: int = 0) -> int:
        """send(2) or recv(2) with a NULL buffer (the kernel answers EFAULT when it copies)."""
        fn = _LIBC.send if sending else _LIBC.recv

        def call() -> int:
            n = int(fn(self.sock.fileno(), None, ctypes.c_size_t(size), flags))
            if n < 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
            return n
        if self._blocks(flags) and (sending or not self._readable()):
            return await self.calls.run(call)
        return call()

    def ioctl(self, request: int) -> int:
        """An ioctl(2) that reads an int: SIOCINQ, SIOCOUTQ."""
        return int(_INT.unpack(fcntl.ioctl(self.sock.fileno(), request, bytes(_INT.size)))[0])


class KernelEpoll:
    """epoll(7) over the script's kernel sockets."""

    def __init__(self, calls: BlockingCalls) -> None:
        self.calls = calls
        self.epoll = select.epoll()
        self.sockets: dict[int, KernelSocket] = {}

    def ctl(self, op: int, sock: object, events: int) -> None:
        assert isinstance(sock, KernelSocket)
        fd = sock.fileno()
        if op == 1:  # EPOLL_CTL_ADD
            self.epoll.register(fd, events)
            self.sockets[fd] = sock
        elif op == 3:  # EPOLL_CTL_MOD
            self.epoll.modify(fd, events)
        elif op == 2:  # EPOLL_CTL_DEL
            self.epoll.unregister(fd)
            self.sockets.pop(fd, None)
        else:
            raise OSError(errno.EINVAL, "Invalid argument")

    async def wait(self, max_events: int, timeout_ms: int) -> list[tuple[KernelSocket, int]]:
        def call() -> list[tuple[int, int]]:
            return self.epoll.poll(timeout_ms / 1000 if timeout_ms >= 0 else -1, max_events)
        ready = call() if timeout_ms == 0 else await self.calls.run(call)
        return [(self.sockets[fd], events) for fd, events in ready]

    def close(self) -> None:
        self.epoll.close()


async def kernel_poll(calls: BlockingCalls, entries: list[tuple[object, int]], timeout_ms: int) -> list[int]:
    """poll(2) over kernel sockets: each one's revents."""
    def call() -> list[int]:
        poller = select.poll()
        for sock, events in entries:
            assert isinstance(sock, KernelSocket)
            poller.register(sock.fileno(), events)
        ready = dict(poller.poll(timeout_ms))
        return [ready.get(sock.fileno(), 0) for sock, _ in entries]  # type: ignore[attr-defined]
    return call() if timeout_ms == 0 else await calls.run(call)
