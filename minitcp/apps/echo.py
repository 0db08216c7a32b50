"""The echo service (RFC 862, port 7): every byte received is sent back.

When the client finishes sending (its FIN: receive_some returns b""), every
byte has been echoed, so the server closes too and sends its own FIN. A client
that only half-closed (shutdown(SHUT_WR)) still receives the whole echo first.
"""

from __future__ import annotations

import trio

from .base import DEFAULT_IDLE_TIMEOUT, AppServer

CHUNK = 65536


class EchoServer(AppServer):
    name = "echo"
    default_port = 7

    def __init__(self, *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT, keepalive: bool = False) -> None:
        super().__init__(idle_timeout=idle_timeout, keepalive=keepalive)
        self.bytes_echoed = 0

    async def handle(self, stream: trio.abc.HalfCloseableStream) -> None:
        while True:
            data = await stream.receive_some(CHUNK)
            if not data:
                break  # the client's FIN: all echoed
            await stream.send_all(data)
            self.bytes_echoed += len(data)
        await stream.aclose()
