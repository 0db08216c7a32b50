"""Two links joined back to back in memory: a network for tests and for learners without root.

Nothing here reads the clock, so a pair works as well under
`trio.testing.MockClock` (virtual time) as under the real one.
"""

from __future__ import annotations

import trio

from minitcp.link.base import Received

DEFAULT_CAPACITY = 1024  # packets queued towards one end before further ones are dropped


class MemoryLink:
    """One end of a `memory_link_pair`: what it sends, the other end receives.

    A plain wire: no offloads (every checksum is complete), no GRO by default, no busy polling.
    """

    offload = False
    gro = False
    busy_poll = False

    def __init__(
        self,
        mtu: int,
        tx: trio.MemorySendChannel[bytes],
        rx: trio.MemoryReceiveChannel[bytes],
        batch_limit: int,
    ) -> None:
        self.mtu = mtu
        self.tx_dropped = 0
        self._tx = tx
        self._rx = rx
        self._batch_limit = batch_limit

    async def recv_batch(self) -> list[Received]:
        try:
            batch: list[Received] = [(await self._rx.receive(), False)]
        except trio.EndOfChannel:
            raise trio.ClosedResourceError("the other end of the memory link is closed") from None
        while len(batch) < self._batch_limit:
            try:
                batch.append((self._rx.receive_nowait(), False))
            except (trio.WouldBlock, trio.EndOfChannel):
                # EndOfChannel: the peer closed; what it sent first is still
                # delivered, and the next call reports the closed link.
                break
        return batch

    def send(self, packet: bytes) -> None:
        """Queue `packet` for the peer; drop and count it if the peer's queue is full or closed.

        A packet longer than the MTU is a bug in the sender (a real device
        would refuse it too), so it raises rather than vanishing.
        """
        if len(packet) > self.mtu:
            raise ValueError(f"packet of {len(packet)} bytes exceeds the link MTU of {self.mtu}")
        try:
            self._tx.send_nowait(bytes(packet))
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self.tx_dropped += 1

    def close(self) -> None:
        self._tx.close()
        self._rx.close()


def memory_link_pair(
    mtu: int = 1500, *, capacity: int = DEFAULT_CAPACITY, batch_limit: int = 256
) -> tuple[MemoryLink, MemoryLink]:
    """Two links joined to each other, each direction queueing at most `capacity` packets."""
    a_to_b_tx, a_to_b_rx = trio.open_memory_channel[bytes](capacity)
    b_to_a_tx, b_to_a_rx = trio.open_memory_channel[bytes](capacity)
    return (
        MemoryLink(mtu, a_to_b_tx, b_to_a_rx, batch_limit),
        MemoryLink(mtu, b_to_a_tx, a_to_b_rx, batch_limit),
    )
