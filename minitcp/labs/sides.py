"""Application ends of a connection: a minitcp socket, or a kernel socket driven from a thread.

A minitcp socket's calls reach the trace through its stack's `on_call` (sockets/calls.py); a
kernel socket's are told to the same kind of hook here (`KernelCalls`), with its real descriptor
numbers, so the ladder shows both sides' calls. Kernel sockets a lab makes use CUBIC
(`kernel_socket`): Linux's default, where this machine's is BBR.
"""

from __future__ import annotations

import errno
import socket
import struct

import trio

from minitcp.sockets.calls import CallHook, SocketCall, errno_name
from minitcp.sockets.socket import Socket
from minitcp.stack import Stack
from minitcp.tcp.states import State
from minitcp.trace.ss_parse import ss_sockets, ss_timer

from .base import endpoint

TCPI_RTO_AT = 8  # struct tcp_info: eight u8 fields (state ... delivery_rate_app_limited), then tcpi_rto
LINGER_0 = struct.pack("ii", 1, 0)  # SO_LINGER {l_onoff 1, l_linger 0}: close() resets


def err_name(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, str(e))


KERNEL_CC = b"cubic"  # net.ipv4.tcp_congestion_control's default in Linux (tcp_cong.c)


def kernel_socket(family: int = socket.AF_INET) -> socket.socket:
    """A kernel TCP socket with CUBIC (TCP_CONGESTION, as the lab's peer should be Linux as
    shipped; an accepted socket inherits it from its listener)."""
    sock = socket.socket(family)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, KERNEL_CC)
    return sock


def _name(sock: socket.socket, peer: bool = False) -> str:
    try:
        return "{}:{}".format(*(sock.getpeername() if peer else sock.getsockname()))
    except OSError:
        return ""


class KernelCalls:
    """Tells a call hook what the lab's kernel sockets did, at Trio's time, with real fds."""

    def __init__(self, hook: CallHook | None) -> None:
        self.hook = hook

    def tell(self, sock: socket.socket, call: str, arg: str = "", ret: int = 0, error: OSError | None = None,
             note: str = "", *, fd: int | None = None, new: socket.socket | None = None,
             remote: str = "") -> None:
        if self.hook is None:
            return
        ends = new if new is not None else sock
        told = SocketCall(sock, call, arg, -1 if error else ret, _name(ends), _name(ends, True) or remote,
                          errno_name(error) if error else None, note, fd=sock.fileno() if fd is None else fd,
                          new_fd=new.fileno() if new is not None else None)
        self.hook(told, trio.current_time())


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

    async def abort(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
        self.sock.close()

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

    def rto(self) -> float:
        return self.conn.recovery.rto


class KernelSide:
    """One kernel socket. Blocking calls run in a thread, each bounded by a timeout."""

    def __init__(self, sock: socket.socket, host: str = "p", calls: KernelCalls | None = None,
                 refs: list[int] | None = None) -> None:
        self.sock, self.host = sock, host
        # As `ss -tan` writes them: an IPv6 address in brackets.
        self.local = endpoint(*sock.getsockname()[:2])
        self.remote = endpoint(*sock.getpeername()[:2])
        self.port = sock.getsockname()[1]
        self.calls = calls or KernelCalls(None)
        self._refs = refs if refs is not None else [1]  # open handles to this socket (dup)

    async def send(self, data: bytes) -> int | str:
        try:
            n = self.sock.send(data)
        except OSError as e:
            self.calls.tell(self.sock, "send", str(len(data)), error=e)
            return err_name(e)
        self.calls.tell(self.sock, "send", str(len(data)), n)
        return n

    async def recv(self, n: int = 65536, timeout: float = 1.0) -> bytes | str | None:
        def blocking() -> bytes | OSError | None:
            self.sock.settimeout(timeout)
            try:
                return self.sock.recv(n)
            except TimeoutError as e:
                # The socket's own timeout has no errno; a connection that timed out (ETIMEDOUT,
                # which Python also raises as TimeoutError) has one.
                return None if e.errno is None else e
            except OSError as e:
                return e
        got = await trio.to_thread.run_sync(blocking)
        if isinstance(got, OSError):
            self.calls.tell(self.sock, "recv", error=got)
            return err_name(got)
        if got is not None:  # a recv() that timed out is the lab giving up, not a call that returned
            self.calls.tell(self.sock, "recv", "", len(got), note="" if got else "eof")
        return got

    async def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.calls.tell(self.sock, "close", note="others_open" if self._refs[0] > 1 else "last")
            self._refs[0] -= 1
        self.sock.close()

    async def shutdown(self) -> None:
        self.calls.tell(self.sock, "shutdown", "SHUT_WR")
        self.sock.shutdown(socket.SHUT_WR)

    async def abort(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
        self.sock.close()

    def dup(self) -> KernelSide:
        new = self.sock.dup()
        self._refs[0] += 1
        self.calls.tell(self.sock, "dup", new=new)
        return KernelSide(new, self.host, self.calls, self._refs)

    async def state(self) -> str:
        table = await trio.to_thread.run_sync(ss_sockets)
        return table.get((self.local, self.remote), "CLOSED")

    async def timer(self) -> tuple[str, float] | None:
        return await trio.to_thread.run_sync(ss_timer, self.local, self.remote)

    def rto(self) -> float:
        """TCP_INFO's tcpi_rto (microseconds: the socket's icsk_rto, Linux tcp_get_info)."""
        info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCPI_RTO_AT + 4)
        return int(struct.unpack_from("I", info, TCPI_RTO_AT)[0]) / 1e6
