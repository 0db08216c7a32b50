"""The system calls Linux's own scripts add to the socket basics (syscalls.py).

`sendto`/`recvfrom`, `sendmsg`/`recvmsg` with a msghdr (its iovecs summed, its
control messages and `msg_flags` checked), NULL buffers (EFAULT from the
kernel), `ioctl` (SIOCINQ, SIOCOUTQ), `poll`, `epoll_create/ctl/wait`, and
`open`/`pipe`/`sendfile`/`splice`. Each is made on the target when the target
has it; when it does not, the script fails saying so ("minitcp does not
support poll()"), never with a guess at what the call would have done.

Descriptors are packetdrill's symbolic ones (run_system_call.c): the number a
script writes for a new descriptor (`epoll_create(1) = 5`, `pipe([5, 6])`)
names it from then on, whatever the real number is.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from . import symbols
from .model import SyscallEvent
from .run_state import CONNECT_PORT, RunState, ScriptFailure
from .target import Epoll, TargetSocket, Unsupported

CONTROL_SPACE = 1024  # bytes for a recvmsg's control messages: room for any a TCP socket gives

_FAR_FUTURE_MS = -1  # poll(2)'s "wait forever"


class LinuxCallLines(RunState):
    """The calls beyond the basics; `_linux_call` returns None for a call it does not know."""

    # Descriptors that are not sockets: epoll instances, files and pipe ends (real descriptors).
    others: dict[int, Epoll | int]

    def _sock(self, fd: object) -> TargetSocket:
        if not isinstance(fd, int) or fd not in self.fds:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return self.fds[fd]

    def _free_fd(self, want: object) -> int:
        """The script's number for a new descriptor: the one it wrote, else the lowest free."""
        taken = set(self.fds) | set(self.others)
        if isinstance(want, int) and want >= 0 and want not in taken:
            return want
        fd = 3
        while fd in taken:
            fd += 1
        return fd

    def _unsupported(self, ev: SyscallEvent, what: str) -> ScriptFailure:
        return ScriptFailure(f"line {ev.line}: {self.target.name} does not support {what}")

    def _method(self, ev: SyscallEvent, sock: TargetSocket, name: str, what: str) -> Any:
        method = getattr(sock, name, None)
        if method is None:
            raise self._unsupported(ev, what)
        return method

    async def _linux_call(self, ev: SyscallEvent, args: list[Any], sock: TargetSocket | None) -> int | None:
        name = ev.name
        try:
            if name == "epoll_create":
                fd = self._free_fd(symbols.resolve(ev.result))
                self.others[fd] = self.target.epoll()
                return fd
            if name == "pipe":
                return self._pipe(ev, args)
            if name == "open":
                fd = self._free_fd(symbols.resolve(ev.result))
                self.others[fd] = os.open(args[0], args[1] if len(args) > 1 else os.O_RDONLY)
                return fd
            if name == "poll":
                return await self._poll(ev, args)
            if name in ("epoll_ctl", "epoll_wait"):
                return await self._epoll(ev, args)
            if sock is None:
                return None
            if name in ("read", "recv", "recvfrom", "write", "send", "sendto") and args[1] == 0:
                # A NULL buffer: Linux answers EFAULT when it comes to copy (or nothing to copy).
                flags = args[3] if len(args) > 3 else 0
                return await self._null_buffer(ev, sock, name in ("write", "send", "sendto"), args[2], flags)
            if name == "close" and hasattr(sock, "aclose"):
                # A close that SO_LINGER's positive timeout makes wait (minitcp's Socket.aclose).
                await sock.aclose()
                del self.fds[args[0]]
                return 0
            if name == "sendto":
                return await self._sendto(ev, sock, args)
            if name == "recvfrom":
                return len(await sock.recv(args[2], args[3]))
            if name == "sendmsg":
                return await self._sendmsg(ev, sock, args)
            if name == "recvmsg":
                return await self._recvmsg(ev, sock, args)
            if name == "ioctl":
                return self._ioctl(ev, sock, args)
            if name == "sendfile":
                offset = args[2][0] if isinstance(args[2], list) and args[2] else 0
                return await self.target.sendfile(sock, self._real_fd(args[1]), offset, args[3])
            if name == "splice":
                return await self.target.splice(sock, self._real_fd(args[2]), args[4], args[5])
        except Unsupported as e:
            raise self._unsupported(ev, str(e)) from None
        return None

    async def _null_buffer(self, ev: SyscallEvent, sock: TargetSocket, sending: bool, size: int,
                           flags: int) -> int:
        """A NULL buffer: the kernel's socket makes the real call; minitcp's target answers for
        its sockets as Linux would (MinitcpTarget.null_buffer)."""
        own = getattr(sock, "null_buffer", None)
        if own is not None:
            return int(await own(sending, size, flags))
        null = getattr(self.target, "null_buffer", None)
        if null is None:
            raise self._unsupported(ev, "NULL buffers (EFAULT)")
        return int(await null(sock, sending, size, flags))

    def _real_fd(self, fd: object) -> int:
        """The real descriptor of the script's file or pipe end `fd`; -1 (EBADF) for any other."""
        real = self.others.get(fd) if isinstance(fd, int) else None
        return real if isinstance(real, int) else -1

    def _pipe(self, ev: SyscallEvent, args: list[Any]) -> int:
        want = args[0] if args and isinstance(args[0], list) else []
        read_end, write_end = os.pipe()
        for real, named in zip((read_end, write_end), [*want, None, None], strict=False):
            self.others[self._free_fd(named)] = real
        return 0

    # ------------------------------------------------------------------ messages

    async def _sendto(self, ev: SyscallEvent, sock: TargetSocket, args: list[Any]) -> int:
        flags = args[3]
        if flags & symbols.symbol_value("MSG_FASTOPEN"):
            sendto = self._method(ev, sock, "sendto", "TCP Fast Open (sendto with MSG_FASTOPEN)")
            self._connect_made(args[0])  # a connect, as connect() is
            # packetdrill passes a family the line names (AF_UNSPEC) as a sockaddr of that family.
            unspec = len(args) > 4 and args[4] == symbols.symbol_value("AF_UNSPEC")
            address = None if unspec else (self.target.remote_ip, CONNECT_PORT)
            return int(await sendto(bytes(args[2]), flags, address))
        return await sock.send(bytes(args[2]), flags)

    @staticmethod
    def _iov_sizes(msghdr: object) -> list[int]:
        iov = msghdr.get("msg_iov", []) if isinstance(msghdr, dict) else []
        return [int(v.get("iov_len", 0)) for v in iov if isinstance(v, dict)]

    async def _sendmsg(self, ev: SyscallEvent, sock: TargetSocket, args: list[Any]) -> int:
        sizes = self._iov_sizes(args[1])
        if args[2] & symbols.symbol_value("MSG_FASTOPEN"):
            sendto = self._method(ev, sock, "sendto", "TCP Fast Open (sendmsg with MSG_FASTOPEN)")
            self._connect_made(args[0])  # a connect, as connect() is
            return int(await sendto(bytes(sum(sizes)), args[2], (self.target.remote_ip, CONNECT_PORT)))
        sendmsg = getattr(sock, "sendmsg", None)
        if sendmsg is not None:
            return int(await sendmsg([bytes(n) for n in sizes], args[2]))
        # A stream socket gathers the iovecs into one byte stream (tcp_sendmsg): one send.
        return await sock.send(bytes(sum(sizes)), args[2])

    async def _recvmsg(self, ev: SyscallEvent, sock: TargetSocket, args: list[Any]) -> int:
        msghdr = args[1] if isinstance(args[1], dict) else {}
        size = sum(self._iov_sizes(msghdr))
        want_control = msghdr.get("msg_control", ...)
        recvmsg = getattr(sock, "recvmsg", None)
        if recvmsg is None:
            if isinstance(want_control, list) and want_control:
                raise self._unsupported(ev, "recvmsg() control messages")
            data = await sock.recv(size, args[2])
            self._check_field(ev, "msg_flags", 0, msghdr.get("msg_flags", ...))
            return len(data)
        data, control, msg_flags, _ = await recvmsg(size, CONTROL_SPACE, args[2])
        self._check_field(ev, "msg_flags", msg_flags, msghdr.get("msg_flags", ...))
        if isinstance(want_control, list):
            self._check_control(ev, control, want_control)
        return len(data)

    def _check_control(self, ev: SyscallEvent, got: list[tuple[int, int, bytes]], want: list[Any]) -> None:
        if len(got) < len(want):
            raise ScriptFailure(f"line {ev.line}: recvmsg() gave {len(got)} control messages, "
                                f"script expects {len(want)}")
        for (level, kind, data), cmsg in zip(got, want, strict=False):
            self._check_field(ev, "cmsg_level", level, cmsg.get("cmsg_level", ...))
            self._check_field(ev, "cmsg_type", kind, cmsg.get("cmsg_type", ...))
            value = cmsg.get("cmsg_data", ...)
            if isinstance(value, int):  # an int's worth (TCP_CM_INQ); structures are not compared
                self._check_field(ev, "cmsg_data", int.from_bytes(data[:4], "little", signed=True), value)

    @staticmethod
    def _check_field(ev: SyscallEvent, name: str, got: int, want: object) -> None:
        if isinstance(want, int) and got != want:
            raise ScriptFailure(f"line {ev.line}: {ev.name}() gave {name}={got:#x}, script expects {want:#x}")

    def _ioctl(self, ev: SyscallEvent, sock: TargetSocket, args: list[Any]) -> int:
        request = args[1]
        shown = ev.args[1].name if hasattr(ev.args[1], "name") else str(request)
        ioctl = self._method(ev, sock, "ioctl", f"ioctl({shown})")
        value = ioctl(request)
        want = args[2][0] if isinstance(args[2], list) and args[2] else ...
        if isinstance(want, int) and value != want:
            raise ScriptFailure(f"line {ev.line}: ioctl({shown}) gave [{value}], script expects [{want}]")
        return 0

    # ------------------------------------------------------------------ readiness

    async def _poll(self, ev: SyscallEvent, args: list[Any]) -> int:
        wanted = [p for p in args[0] if isinstance(p, dict)] if isinstance(args[0], list) else []
        entries = [(self._sock(p.get("fd")), int(p.get("events", 0))) for p in wanted]
        timeout = args[2] if len(args) > 2 and isinstance(args[2], int) else _FAR_FUTURE_MS
        revents = await self.target.poll(entries, timeout)
        for p, got in zip(wanted, revents, strict=True):
            self._check_field(ev, "revents", got, p.get("revents", ...))
        return sum(1 for r in revents if r)

    async def _epoll(self, ev: SyscallEvent, args: list[Any]) -> int:
        epoll = self.others.get(args[0]) if isinstance(args[0], int) else None
        if epoll is None or isinstance(epoll, int):
            raise OSError(errno.EBADF, "Bad file descriptor")
        if ev.name == "epoll_ctl":
            event = args[3] if len(args) > 3 and isinstance(args[3], dict) else {}
            epoll.ctl(args[1], self._sock(args[2]), int(event.get("events", 0)))
            return 0
        ready = await epoll.wait(args[2], args[3])
        want = args[1] if isinstance(args[1], dict) else {}
        if ready:
            sock, events = ready[0]
            self._check_field(ev, "events", events, want.get("events", ...))
            fd = next((n for n, s in self.fds.items() if s is sock), -1)
            self._check_field(ev, "fd", fd, want.get("fd", ...))
        return len(ready)
