"""The script's system calls, made on the target's sockets.

Each call runs in its own task, so a blocking call (`...`) can wait while
packets flow; its result (or errno) is checked against the line's, and a
blocking call must return at the line's time, within the script's tolerance.
A call written without `...` is waited for, as packetdrill's main thread
makes it, and when it returns is not checked (runner.py). The arguments are
packetdrill's: file descriptors from 3 up, bind() to port 8080, connect() to
the remote host's port 8080.
"""

from __future__ import annotations

import errno
import os
import struct
from typing import Any

from . import symbols
from .linux_calls import LinuxCallLines
from .model import Symbol, SyscallEvent
from .run_state import BIND_PORT, CONNECT_PORT, EPS, PendingCall, ScriptFailure
from .target import TargetSocket

# Calls whose first argument is not a socket (linux_calls.py makes them).
_NOT_ON_A_SOCKET = frozenset({"epoll_create", "epoll_ctl", "epoll_wait", "poll", "pipe", "open"})


class SyscallLines(LinuxCallLines):
    """A call line's task, the call itself on the target's socket, and its result checked."""

    async def _syscall_task(self, ev: SyscallEvent, pending: PendingCall) -> None:
        try:
            try:
                got: tuple[int, int | None] = (await self._call(ev), None)
            except OSError as e:
                got = (-1, e.errno)
            problem = self._check_result(ev, got)
        except ScriptFailure as e:
            problem = e.reason
        except Exception as e:  # a crash inside the stack: the script fails, the run goes on
            problem = f"line {ev.line}: {ev.name}() raised {type(e).__name__}: {e}"
        at = self.now
        pending.returned_at = at
        pending.returned.set()
        if pending.done:  # already reported as not returning in time
            return
        pending.done = True
        if problem is not None:
            self._fail(at, problem)
        elif not pending.at_once and abs(at - pending.due) > pending.tol + EPS:
            self._fail(at, f"line {ev.line}: {ev.name}() returned at {at:.3f} s, script expects it at "
                           f"{pending.due:.3f} s (tolerance {pending.tol * 1000:.0f} ms)")

    def _unknown_option(self, ev: SyscallEvent, err: int | None) -> str | None:
        """The Linux socket option a call's ENOPROTOOPT says the stack does not know, if any."""
        if err != errno.ENOPROTOOPT or ev.name not in ("setsockopt", "getsockopt") or len(ev.args) < 3:
            return None
        option = ev.args[2]
        if isinstance(option, Symbol) and option.name in symbols.LINUX_NAMES:
            return option.name
        return None

    def _check_result(self, ev: SyscallEvent, got: tuple[int, int | None]) -> str | None:
        ret, err = got
        want = symbols.resolve(ev.result)
        if want is ...:
            return None
        shown = f"-1 {symbols.errno_name(err)}" if err is not None else str(ret)
        unknown = self._unknown_option(ev, err)
        if unknown is not None and ev.errno != "ENOPROTOOPT":
            return f"line {ev.line}: {self.target.name} does not support {ev.name}({unknown})"
        if ev.errno is not None:
            want_err = symbols.errno_value(ev.errno)
            if ret != want or err != want_err:
                return f"line {ev.line}: {ev.name}() returned {shown}, script expects {want} {ev.errno}"
            return None
        if want == -1 and ret == -1:
            return None  # packetdrill checks errno only when the script names one
        if err is not None or ret != want:
            return f"line {ev.line}: {ev.name}() returned {shown}, script expects {want}"
        return None

    def _new_fd(self, sock: TargetSocket, ev: SyscallEvent) -> int:
        want = symbols.resolve(ev.result)
        if ev.name == "accept" and isinstance(want, int) and want in self.fds:
            # packetdrill (run_syscall_accept) gives an accepted socket the script's number even
            # when a socket the script left open has it: that one stays open, out of reach.
            self.out_of_reach.append(self.fds.pop(want))
        fd = self._free_fd(want)
        self.fds[fd] = sock
        self.socket_under_test = fd
        return fd

    async def _call(self, ev: SyscallEvent) -> int:
        try:
            args = [symbols.resolve(a) for a in ev.args]
        except symbols.UnknownSymbol as e:
            raise ScriptFailure(f"line {ev.line}: unknown symbol {e.args[0]} in {ev.name}()") from None
        name = ev.name

        def arg(i: int, default: Any = None) -> Any:
            return args[i] if i < len(args) else default

        if name == "socket":
            # A new script socket (packetdrill): its connection's ISN is learned afresh.
            self.space.local_isn = None
            self.ts_base = None
            self.ts_map.clear()
            fd = self._new_fd(self.target.socket(), ev)
            self.new_sockets.add(fd)
            self.listening = self.connecting = False  # the new socket is the one under test
            return fd
        if name == "close" and isinstance(arg(0), int) and arg(0) in self.others:
            other = self.others.pop(arg(0))
            if isinstance(other, int):
                os.close(other)
            else:
                other.close()
            return 0
        on_socket = isinstance(arg(0), int) and arg(0) in self.fds
        sock = self._sock(arg(0)) if on_socket or name not in _NOT_ON_A_SOCKET else None
        if sock is not None:
            self.socket_under_test = arg(0)
        result = await self._linux_call(ev, args, sock)
        if result is not None:
            return result
        if sock is None:
            raise ScriptFailure(f"line {ev.line}: unsupported system call {name}()")
        if name == "close":
            sock.close()
            del self.fds[arg(0)]
            return 0
        if name == "bind":
            sock.bind((self.target.local_ip, BIND_PORT))
            self.local_port = BIND_PORT
            return 0
        if name == "listen":
            self.remote_synced = False
            self.new_sockets.discard(arg(0))
            self.listening = True
            sock.listen(arg(1, 128))
            return 0
        if name == "accept":
            child, _ = await sock.accept()
            return self._new_fd(child, ev)
        if name == "connect":
            self._connect_made(arg(0))
            await sock.connect((self.target.remote_ip, CONNECT_PORT))
            return 0
        if name in ("read", "recv"):
            flags = arg(3, 0) if name == "recv" else 0
            return len(await sock.recv(arg(2), flags))
        if name in ("write", "send"):
            flags = arg(3, 0) if name == "send" else 0
            size = arg(2)
            if not sock.getblocking() or flags & symbols.symbol_value("MSG_DONTWAIT"):
                return await sock.send(bytes(size), flags)
            sent = 0
            while sent < size:  # a blocking send(2) returns when all of it is queued
                sent += await sock.send(bytes(size - sent), flags)
            return sent
        if name == "shutdown":
            sock.shutdown(arg(1))
            return 0
        if name == "fcntl":
            cmd = arg(1)
            if cmd == symbols.symbol_value("F_GETFL"):
                return os.O_RDWR | (0 if sock.getblocking() else os.O_NONBLOCK)
            if cmd == symbols.symbol_value("F_SETFL"):
                sock.setblocking(not arg(2, 0) & os.O_NONBLOCK)
                return 0
            raise ScriptFailure(f"line {ev.line}: unsupported fcntl command {ev.args[1]}")
        if name == "setsockopt":
            value = arg(3)
            if isinstance(value, list):
                value = value[0] if value else 0
            if isinstance(value, dict):
                value = struct.pack("ii", int(value.get("onoff", 0)), int(value.get("linger", 0)))
            elif isinstance(value, str):  # a string option (TCP_CONGESTION), `optlen` bytes of it
                length = arg(4) if isinstance(arg(4), int) else len(value)
                value = value.encode().ljust(length, b"\0")[:length]
            elif isinstance(value, int) and not -(1 << 31) <= value < (1 << 31):
                value = (value & 0xFFFFFFFF).to_bytes(4, "little")  # an unsigned int (0xffffffff)
            sock.setsockopt(arg(1), arg(2), value)
            return 0
        if name == "getsockopt":
            return self._getsockopt(ev, sock, args)
        raise ScriptFailure(f"line {ev.line}: unsupported system call {name}()")

    def _getsockopt(self, ev: SyscallEvent, sock: TargetSocket, args: list[Any]) -> int:
        level, option = args[1], args[2]
        value = sock.getsockopt(level, option)
        want = args[3] if len(args) > 3 else ...
        if isinstance(want, list):
            want = want[0] if want else ...
        if want is ... or (level, option) in ((symbols.symbol_value("SOL_SOCKET"), symbols.symbol_value(
                "SO_RCVBUF")), (symbols.symbol_value("SOL_SOCKET"), symbols.symbol_value("SO_SNDBUF"))):
            return 0  # buffer sizes are the stack's own choice: never compared (docs/conformance.md)
        if isinstance(value, bytes):
            value = int.from_bytes(value[:4], "little", signed=True)
        if isinstance(value, int) and isinstance(want, int) and want > 0x7FFFFFFF:
            value &= 0xFFFFFFFF  # an unsigned option (TCP_NOTSENT_LOWAT's 0xffffffff)
        if value != want:
            if (level, option) == (symbols.symbol_value("SOL_SOCKET"), symbols.symbol_value("SO_ERROR")):
                got_s = symbols.errno_name(value) if value else "0"
                want_s = symbols.errno_name(want) if want else "0"
            else:
                got_s, want_s = str(value), str(want)
            name = ev.args[2].name if isinstance(ev.args[2], Symbol) else option
            raise ScriptFailure(f"line {ev.line}: getsockopt({name}) gave [{got_s}], "
                                f"script expects [{want_s}]")
        return 0
