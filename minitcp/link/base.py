"""The interface between the stack and whatever carries its packets, its features declared."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeAlias

from minitcp.wire.gso import SuperSegment

if TYPE_CHECKING:
    from minitcp.host.cookie_batch import CookieBatch

Received: TypeAlias = tuple[bytes | memoryview, bool]
"""A received packet and whether its TCP checksum was left partial by the sender (virtio-net's
NEEDS_CSUM: the host skips that one check, `minitcp.wire.csum_partial`); False on every link
without checksum offload."""

Stamped: TypeAlias = tuple[float, list[Received]]
"""Packets read together and the time they were read (the stack's clock, Trio's)."""


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

    What the link can do beyond that is declared, not probed:
    - `offload`: it carries TCP super-segments both ways (a TUN device with
      virtio-net offloads): received packets may have partial checksums, and
      it is an `OffloadLink` (`send_gso`).
    - `gro`: it stands for a NIC, whose packets a Linux host joins (GRO) before
      TCP sees them; the stack does so by default on such a link.
    - `busy_poll`: it can be read without waiting, a `PollingLink` (`poll_batch`),
      for net.core.busy_poll.
    - `take_early` (a method, looked up, as `answer_cookies`): it reads while it writes a
      burst, an `EarlyLink`.
    """

    mtu: int
    offload: bool
    gro: bool
    busy_poll: bool

    @property
    def tx_dropped(self) -> int: ...  # packets `send` could not hand over

    async def recv_batch(self) -> list[Received]: ...

    def send(self, packet: bytes) -> None: ...

    def close(self) -> None: ...


class OffloadLink(Link, Protocol):
    """A link with `offload`: `send_gso` sends one super-segment (`minitcp.wire.gso`) whole."""

    def send_gso(self, packet: SuperSegment) -> None: ...


class PollingLink(Link, Protocol):
    """A link with `busy_poll`: `poll_batch` is `recv_batch` without the wait (maybe empty)."""

    def poll_batch(self) -> list[Received]: ...


class CookieLink(Link, Protocol):
    """A link that can answer a SYN flood's batches itself (a TUN device, `minitcp.link.cookie_rx`):
    `answer_cookies` hands it the host's table (`minitcp.host.cookie_batch`), None to stop. A
    link wrapped by another (`FaultyLink`) is not one: every packet goes through the wrapper."""

    def answer_cookies(self, batch: CookieBatch | None) -> None: ...


class EarlyLink(Link, Protocol):
    """A link whose writes take long enough for the peer to answer inside a burst of them (a TUN
    device: a write runs the kernel's receive path, ~100 us a wire segment), so it polls itself
    between writes and keeps what it read with the time it read it.

    `take_early` hands those packets over, oldest first, with their read times; the stack feeds
    them to the host at those times right after the burst that read them (Linux stamps an ACK
    when tcp_ack runs, tcp_mstamp_refresh in tcp_rcv_established, right after the NIC gave it;
    minitcp, writing, could not take it earlier). What the stack does not take comes back from
    `recv_batch` or `poll_batch` first, before anything read later, so nothing is lost or
    reordered either way."""

    def take_early(self) -> list[Stamped]: ...
