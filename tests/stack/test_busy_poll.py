"""net.core.busy_poll, without timing races: what arrives while every task waits is taken by the
poll, not by a wake-up; a fruitless poll parks until the reader's next batch; traffic wakes it.

The link is scripted: `poll_batch` hands over a staged packet on its third call, as a packet
landing while the stack spins would come, and the reader only ever gets what the test delivers.
A poll is synchronous (no other task runs while it spins), so each step below happens in one
order whatever the machine's load; the TUN tests show the same knob against a kernel client.
"""

from __future__ import annotations

import trio

from minitcp.link.base import Received
from minitcp.sockets import Socket
from minitcp.stack import Stack
from minitcp.tcp.knobs import Knobs
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet

STACK, PEER = "198.18.0.2", "198.18.0.1"
WINDOW_US = 300_000  # the poll's window: long beside the three calls a staged packet waits for


class ScriptedPollLink:
    """A PollingLink: `stage()` makes the third `poll_batch` call after it return a packet;
    `deliver()` hands a packet to the reader's `recv_batch` instead (a wake-up)."""

    mtu = 1500
    offload = False
    gro = False
    busy_poll = True

    def __init__(self) -> None:
        self.tx_dropped = 0
        self.polls = 0
        self.read_by_reader = 0
        self.sent: list[Segment] = []
        self.answered = trio.Event()
        self._staged: bytes | None = None
        self._empty_polls_left = 0
        self._tx, self._rx = trio.open_memory_channel[bytes](16)

    def stage(self, packet: bytes) -> None:
        self._staged, self._empty_polls_left = packet, 2

    def deliver(self, packet: bytes) -> None:
        self._tx.send_nowait(packet)

    def poll_batch(self) -> list[Received]:
        self.polls += 1
        if self._staged is None:
            return []
        if self._empty_polls_left:
            self._empty_polls_left -= 1
            return []
        packet, self._staged = self._staged, None
        return [(packet, False)]

    async def recv_batch(self) -> list[Received]:
        try:
            packet = await self._rx.receive()
        except trio.EndOfChannel:
            raise trio.ClosedResourceError("closed") from None
        self.read_by_reader += 1
        return [(packet, False)]

    def send(self, packet: bytes) -> None:
        self.sent.append(parse_tcp_packet(packet))
        self.answered.set()

    def close(self) -> None:
        self._tx.close()


def _from_peer(flags: int, seq: int, ack: int = 0) -> bytes:
    return build_tcp_packet(Segment(ip_int(PEER), ip_int(STACK), 40000, 7, seq, ack, flags, 65535, b""))


async def _parked(link: ScriptedPollLink) -> int:
    """Wait until the poll has given up (it spins synchronously, so once this task runs again
    after a sleep longer than the window, the poll is parked) and return its call count."""
    await trio.sleep(2 * WINDOW_US / 1e6)
    return link.polls


async def test_the_poll_takes_what_arrives_while_all_wait_and_parks_when_nothing_comes(
        nursery: trio.Nursery) -> None:
    link = ScriptedPollLink()
    stack = Stack(link, STACK, knobs=Knobs(busy_poll=WINDOW_US))
    listener = Socket(stack)
    listener.bind((STACK, 7))
    listener.listen(5)
    nursery.start_soon(stack.run)

    # Nothing comes: one fruitless poll, then it parks (an idle stack does not spin).
    idle = await _parked(link)
    assert idle > 0
    await trio.sleep(WINDOW_US / 1e6)
    assert link.polls == idle

    # The reader's next batch (here a stray ACK, answered by an RST) lets the poll begin again;
    # a SYN staged for the poll's third call is taken by the poll, not by a wake-up.
    link.stage(_from_peer(SYN, seq=1000))
    link.deliver(_from_peer(ACK, seq=5, ack=5))
    with trio.fail_after(10):
        while not any(s.flags == SYN | ACK for s in link.sent):
            link.answered = trio.Event()
            await link.answered.wait()
    synack = next(s for s in link.sent if s.flags == SYN | ACK)
    assert synack.ack == 1001
    assert link.read_by_reader == 1  # the stray ACK; the SYN never reached the reader
    assert stack.engine.counters["BusyPollRxPackets"] == 1

    # Nothing more comes: the poll parks again.
    after = await _parked(link)
    await trio.sleep(WINDOW_US / 1e6)
    assert link.polls == after
    link.close()
