"""Socket calls told to a hook as they return: what the application did, for ladders and traces.

Setting `stack.on_call = hook` makes every `Socket` created on that stack from then on a
`TracedSocket` (Socket.__init__ swaps the class; sockets made earlier stay untraced): its
connect, accept, send, recv, shutdown, close and dup each tell the hook one `SocketCall`,
with the result or the errno. Calls that wait for the network (connect, accept, recv) are
told when they return; calls that act on it (send, shutdown) are told as they start,
`pending`, and again, completed, when they return, so that a trace has the call before the
segments it sends. A stack without a hook makes plain Sockets: one test per socket made
(~190 instructions of ~5,200), nothing per call.
The trace `Recorder` is such a hook (`HostObserver.on_call`); the labs' kernel sockets
(labs/sides.py) tell the same hook what the kernel's end did.
"""

from __future__ import annotations

import errno
import socket as _s
from collections.abc import Callable
from dataclasses import dataclass

from ..tcp.family import endpoint_str
from .addresses import parse
from .socket import Socket


@dataclass
class SocketCall:
    """One call: `call(fd, arg) = ret` (-1 and `error` on failure), as strace would print it.

    `handle` is the handle called (a recorder numbers it like a descriptor unless `fd` says its
    number); `new_handle`/`new_fd` is the handle accept() or dup() returned. `note` says what
    TCP did not show on the wire: "others_open" (close() of one of several handles), "eof"
    (recv() returned 0: the peer had sent FIN), "last" (close() of the last handle).
    """

    handle: object
    call: str
    arg: str
    ret: int
    local: str
    remote: str
    error: str | None = None
    note: str = ""
    fd: int | None = None
    new_handle: object | None = None
    new_fd: int | None = None
    pending: bool = False  # told as it starts; told again, the same object completed, when it returns


CallHook = Callable[[SocketCall, float], None]


def errno_name(e: OSError) -> str:
    """The errno's C name, "EADDRNOTAVAIL"; the message when it has none."""
    return errno.errorcode.get(e.errno or 0, str(e))


SHUT_NAMES = {_s.SHUT_RD: "SHUT_RD", _s.SHUT_WR: "SHUT_WR", _s.SHUT_RDWR: "SHUT_RDWR"}


class TracedSocket(Socket):
    """A Socket that tells its stack's `on_call` hook about each call (see the module's doc)."""

    __slots__ = ()

    def _ends(self) -> tuple[str, str]:
        ep = self._ep
        conn = ep.conn
        local = endpoint_str(ep.laddr, ep.lport) if ep.lport else ""
        remote = endpoint_str(conn.raddr, conn.rport) if conn is not None else ""
        return local, remote

    def _tell(self, call: str, arg: str, ret: int, error: str | None = None, note: str = "", *,
              remote: str = "", new: TracedSocket | None = None) -> None:
        """Tell the hook; the connection named is the new handle's for accept() (the listener's
        own has no peer), this handle's otherwise (`remote`: the address a failed connect() tried)."""
        stack = self._ep.stack
        hook = stack.on_call
        if hook is not None:
            local, known = (new or self)._ends()
            hook(SocketCall(self, call, arg, ret, local, known or remote, error, note, new_handle=new),
                 stack.now())

    async def connect(self, address: tuple) -> None:
        try:
            raddr, port = parse(self._ep.family, address, errno.ENETUNREACH)
            arg = endpoint_str(raddr, port)
        except OSError:  # not an address at all: connect() will say so; the call is still told
            arg = ":".join(map(str, address)) if isinstance(address, tuple) else str(address)
        try:
            await super().connect(address)
        except OSError as e:
            self._tell("connect", arg, -1, errno_name(e), remote=arg)
            raise
        self._tell("connect", arg, 0)

    async def accept(self) -> tuple[Socket, tuple]:
        try:
            sock, addr = await super().accept()
        except OSError as e:
            self._tell("accept", "", -1, errno_name(e))
            raise
        assert isinstance(sock, TracedSocket)
        self._tell("accept", "", 0, new=sock)
        return sock, addr

    def _begin(self, call: str, arg: str) -> SocketCall | None:
        stack = self._ep.stack
        if stack.on_call is None:
            return None
        local, remote = self._ends()
        told = SocketCall(self, call, arg, 0, local, remote, pending=True)
        stack.on_call(told, stack.now())
        return told

    def _end(self, told: SocketCall | None, ret: int, error: str | None = None) -> None:
        stack = self._ep.stack
        if told is not None and stack.on_call is not None:
            told.ret, told.error, told.pending = ret, error, False
            local, remote = self._ends()
            told.local, told.remote = local or told.local, remote or told.remote
            stack.on_call(told, stack.now())

    async def send(self, data: bytes | bytearray | memoryview, flags: int = 0) -> int:
        # The byte count alone: the reader says "bytes" in its own language (trace/words.py).
        told = self._begin("send", str(len(memoryview(data).cast("B"))))
        try:
            n = await super().send(data, flags)
        except OSError as e:
            self._end(told, -1, errno_name(e))
            raise
        self._end(told, n)
        return n

    async def recv(self, bufsize: int, flags: int = 0) -> bytes:
        try:
            data = await super().recv(bufsize, flags)
        except OSError as e:
            self._tell("recv", "", -1, errno_name(e))
            raise
        self._tell("recv", "", len(data), note="eof" if not data and bufsize else "")
        return data

    def shutdown(self, how: int) -> None:
        told = self._begin("shutdown", SHUT_NAMES.get(how, str(how)))
        try:
            super().shutdown(how)
        except OSError as e:
            self._end(told, -1, errno_name(e))
            raise
        self._end(told, 0)

    def close(self) -> None:
        if self._closed:
            return
        others = self._ep.refs > 1
        # Told before the close itself, so the call precedes the FIN it causes in the trace.
        self._tell("close", "", 0, note="others_open" if others else "last")
        super().close()

    def dup(self) -> Socket:
        new = super().dup()
        assert isinstance(new, TracedSocket)
        self._tell("dup", "", 0, new=new)
        return new
