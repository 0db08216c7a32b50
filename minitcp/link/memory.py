"""Two links joined back to back in memory: a network for tests and for learners without root.

With `latency` (seconds, one way) each packet arrives that long after it was sent, as on a
real wire, so segments in flight cross; time is Trio's clock, so a pair works as well under
`trio.testing.MockClock` (virtual time) as under the real one. Without it nothing here reads
the clock.
"""

from __future__ import annotations

from typing import Any

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
        tx: trio.MemorySendChannel[Any],
        rx: trio.MemoryReceiveChannel[Any],
        batch_limit: int,
        latency: float = 0.0,
    ) -> None:
        self.mtu = mtu
        self.tx_dropped = 0
        self.latency = latency
        self._tx = tx
        self._rx = rx
        self._batch_limit = batch_limit
        self._early: tuple[float, bytes] | None = None  # received from the channel, not yet due

    async def recv_batch(self) -> list[Received]:
        if self.latency:
            return await self._recv_due()
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

    async def _recv_due(self) -> list[Received]:
        """The packets whose time has come, waiting for the first (packets are (due, bytes) and
        queue in the order sent, so in the order due: the latency is the same for all)."""
        if self._early is None:
            try:
                self._early = await self._rx.receive()
            except trio.EndOfChannel:
                raise trio.ClosedResourceError("the other end of the memory link is closed") from None
        await trio.sleep_until(self._early[0])
        batch: list[Received] = []
        now = trio.current_time()
        while self._early is not None and self._early[0] <= now and len(batch) < self._batch_limit:
            batch.append((self._early[1], False))
            try:
                self._early = self._rx.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                self._early = None
        return batch

    def send(self, packet: bytes) -> None:
        """Queue `packet` for the peer; drop and count it if the peer's queue is full or closed.

        A packet longer than the MTU is a bug in the sender (a real device
        would refuse it too), so it raises rather than vanishing.
        """
        if len(packet) > self.mtu:
            raise ValueError(f"packet of {len(packet)} bytes exceeds the link MTU of {self.mtu}")
        try:
            if self.latency:
                self._tx.send_nowait((trio.current_time() + self.latency, bytes(packet)))
            else:
                self._tx.send_nowait(bytes(packet))
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self.tx_dropped += 1

    def close(self) -> None:
        self._tx.close()
        self._rx.close()


def memory_link_pair(
    mtu: int = 1500, *, capacity: int = DEFAULT_CAPACITY, batch_limit: int = 256, latency: float = 0.0
) -> tuple[MemoryLink, MemoryLink]:
    """Two links joined to each other, each direction queueing at most `capacity` packets and
    delivering each `latency` seconds after it was sent (one way: the round trip is twice that)."""
    a_to_b_tx, a_to_b_rx = trio.open_memory_channel[Any](capacity)
    b_to_a_tx, b_to_a_rx = trio.open_memory_channel[Any](capacity)
    return (
        MemoryLink(mtu, a_to_b_tx, b_to_a_rx, batch_limit, latency),
        MemoryLink(mtu, b_to_a_tx, a_to_b_rx, batch_limit, latency),
    )
