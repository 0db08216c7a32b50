"""The interface between the stack and whatever carries its packets."""

from __future__ import annotations

from typing import Protocol


class Link(Protocol):
    """A point-to-point carrier of whole IPv4 packets (no link-layer header).

    `recv_batch` waits until at least one packet has arrived, then returns
    every packet already waiting (up to a bound), so the stack pays one wake-up
    per burst rather than per packet. It is always a Trio checkpoint, and once
    the link is closed it raises `trio.ClosedResourceError`. A packet may be a
    view of receive memory that is reused once no view of it is left (see
    `arena`): whoever keeps packets (or payload views) for long keeps copies.

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


class OffloadLink(Link, Protocol):
    """A link that carries TCP super-segments both ways (a TUN device with virtio-net offloads).

    `offload` is True when the capability is switched on. `recv_batch_csum` is
    `recv_batch` with each packet paired with whether its TCP checksum was left
    partial by the sender (to skip verifying it; plain `recv_batch` completes such
    checksums instead). `send_gso` sends one super-segment standing for `segments`
    segments of `gso_size` payload bytes: `parts[0]` is its IPv4 and TCP header (the
    TCP checksum partial), the payload follows in the other parts.
    """

    offload: bool

    async def recv_batch_csum(self) -> list[tuple[memoryview, bool]]: ...

    def send_gso(self, parts: list[bytes | memoryview], gso_size: int, segments: int) -> None: ...
