"""The interface between the stack and whatever carries its packets."""

from __future__ import annotations

from typing import Protocol


class Link(Protocol):
    """A point-to-point carrier of whole IPv4 packets (no link-layer header).

    `recv_batch` waits until at least one packet has arrived, then returns
    every packet already waiting (up to a bound), so the stack pays one wake-up
    per burst rather than per packet. It is always a Trio checkpoint, and once
    the link is closed it raises `trio.ClosedResourceError`.

    `send` never blocks: the stack's single task must not stall on a full
    queue. When the carrier cannot take a packet right now (EAGAIN from a TUN
    device, a full memory queue), the packet is dropped and counted in
    `tx_dropped`, exactly as a congested router queue would drop it; TCP
    retransmission recovers, as it would on a real network.
    """

    mtu: int
    tx_dropped: int

    async def recv_batch(self) -> list[bytes | memoryview]: ...

    def send(self, packet: bytes) -> None: ...

    def close(self) -> None: ...
