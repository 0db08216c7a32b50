"""Two Stacks on a memory link, both running, with one connection between them: the start of
the tests that watch a stack at work (GRO, the trace's socket calls, the web's TSO events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from minitcp.sockets import Socket
from minitcp.stack import Stack


@asynccontextmanager
async def connected(client: Stack, server: Stack, address: str,
                    port: int) -> AsyncIterator[tuple[Socket, Socket]]:
    """Run both stacks while the block runs (stopped when it ends): a listener on the server's
    `address`:`port` and one connection to it from the client, accepted; (client's socket,
    server's)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.run)
        nursery.start_soon(server.run)
        listener = Socket(server)
        listener.bind((address, port))
        listener.listen(8)
        sock = Socket(client)
        await sock.connect((address, port))
        accepted, _ = await listener.accept()
        yield sock, accepted
        nursery.cancel_scope.cancel()
