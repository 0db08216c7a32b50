"""The discard service (RFC 863, port 9): read everything, answer nothing.

Each finished connection is recorded (peer, bytes, and with `digest=True`
the SHA-256 of what arrived), so a test can check that an upload arrived
whole without the server keeping the bytes. Only the last `RECENT` records
are kept, beside the totals: a server that runs for weeks does not grow with
every connection it served.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib

import trio

from .base import DEFAULT_IDLE_TIMEOUT, AppServer

CHUNK = 262144
RECENT = 1000  # records of finished connections kept (the totals count them all)


@dataclasses.dataclass
class Received:
    peer: tuple[str, int] | None
    nbytes: int
    sha256: str | None  # hex digest, when the server was asked to compute it
    seconds: float  # from accept to the client's FIN


class DiscardServer(AppServer):
    name = "discard"
    default_port = 9

    def __init__(self, *, digest: bool = False, idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 keepalive: bool = False) -> None:
        super().__init__(idle_timeout=idle_timeout, keepalive=keepalive)
        self.digest = digest
        self.received: collections.deque[Received] = collections.deque(maxlen=RECENT)
        self.finished = 0  # connections read to their end, all of them
        self.bytes_discarded = 0
        self._done = trio.Event()

    async def handle(self, stream: trio.abc.HalfCloseableStream) -> None:
        sock = getattr(stream, "socket", None)
        peer = sock.getpeername() if sock is not None else None
        hasher = hashlib.sha256() if self.digest else None
        start = trio.current_time()
        nbytes = 0
        while True:
            data = await stream.receive_some(CHUNK)
            if not data:
                break
            nbytes += len(data)
            self.bytes_discarded += len(data)
            if hasher is not None:
                hasher.update(data)
        self.received.append(
            Received(peer, nbytes, hasher.hexdigest() if hasher else None, trio.current_time() - start)
        )
        self.finished += 1
        self._done.set()
        self._done = trio.Event()
        await stream.aclose()

    async def wait_received(self, count: int = 1) -> list[Received]:
        """Wait until `count` connections have finished; returns the records kept (the last RECENT)."""
        while self.finished < count:
            await self._done.wait()
        return list(self.received)
