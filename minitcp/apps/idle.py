"""An idle limit for a server's connection: a stream whose every transfer pushes a deadline on.

A connection whose peer went quiet, or vanished without a FIN or RST that
arrived (its address removed, its reset lost), would otherwise hold its task and
its buffers for good. The server runs each handler inside a trio CancelScope
whose deadline this wrapper moves `seconds` ahead on every byte received or sent,
so only a connection silent for that long (to within 1%) is cancelled, and closed.
"""

from __future__ import annotations

import trio


class IdleLimitedStream(trio.abc.HalfCloseableStream):
    """`stream` as it is, with `scope`'s deadline pushed `seconds` ahead by every transfer."""

    __slots__ = ("scope", "seconds", "slack", "socket", "stream")  # one per connection: no dict

    def __init__(self, stream: trio.abc.HalfCloseableStream, scope: trio.CancelScope, seconds: float) -> None:
        self.stream = stream
        self.scope = scope
        self.seconds = seconds
        # Moving a trio deadline costs a heap entry; moving it on every transfer would cost each
        # echo round trip two. The deadline moves only once it lags by 1% of the limit, so a
        # silent connection is closed after 99% to 100% of `seconds` of silence.
        self.slack = seconds / 100
        # DiscardServer asks for the peer's address through the socket, when there is one.
        self.socket = getattr(stream, "socket", None)
        scope.deadline = trio.current_time() + seconds

    def _active(self) -> None:
        deadline = trio.current_time() + self.seconds
        if deadline - self.scope.deadline > self.slack:
            self.scope.deadline = deadline

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.stream.receive_some(max_bytes)
        self._active()
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)
        self._active()

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        await self.stream.aclose()
