"""Packets a link read while the stack wrote (`EarlyLink.take_early`): the stack feeds them at their
read times, in order, never earlier than the engine's `now`; a FaultyLink passes them through its
rules at those times and lets a delayed packet go at its due time if it came during the writes.

Virtual time throughout (trio's MockClock): a "read time" is set by the test, not measured.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from minitcp.faults import FaultInjector
from minitcp.link.base import Link, Received, Stamped
from minitcp.link.faulty import FaultyLink
from minitcp.link.memory import MemoryLink, memory_link_pair
from minitcp.stack import Stack
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, RST, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet

PEER, ME = ip_int("198.18.0.1"), ip_int("198.18.0.2")


class EarlyMemoryLink:
    """A memory link end that also hands over `early`: packets as if read between its writes."""

    offload = False
    gro = False
    busy_poll = False

    def __init__(self, link: MemoryLink) -> None:
        self.link = link
        self.mtu = link.mtu
        self.early: list[Stamped] = []

    @property
    def tx_dropped(self) -> int:
        return self.link.tx_dropped

    async def recv_batch(self) -> list[Received]:
        return await self.link.recv_batch()

    def send(self, packet: bytes) -> None:
        self.link.send(packet)

    def close(self) -> None:
        self.link.close()

    def take_early(self) -> list[Stamped]:
        early, self.early = self.early, []
        return early


def _syn(sport: int) -> bytes:
    return build_tcp_packet(Segment(PEER, ME, sport, 9, 1000, 0, SYN, 65535))


def _ports_of(batch: list[Received]) -> list[tuple[int, int]]:
    """(destination port, flags) of each TCP segment in `batch`: our answers to `_syn`."""
    segs = [parse_tcp_packet(p) for p, _ in batch]
    return [(s.dport, s.flags) for s in segs]


def _sources(batch: list[Received]) -> list[int]:
    """The source port of each TCP segment in `batch`: which `_syn` it is."""
    return [parse_tcp_packet(p).sport for p, _ in batch]


async def test_the_stack_feeds_early_packets_at_their_read_times_never_going_back(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    near, far = memory_link_pair()
    link = EarlyMemoryLink(near)
    stack = Stack(link, "198.18.0.2")
    nursery.start_soon(stack.run)
    seen: list[float] = []
    receive = stack.engine.receive
    monkeypatch.setattr(stack.engine, "receive", lambda seg, now: (seen.append(now), receive(seg, now)))

    await trio.sleep(1)
    t = trio.current_time()
    stack.handle_packet(_syn(40000))  # a closed port: the engine answers RST, at t
    # Read "during writes" before the engine's now (a clock behind): taken in at the engine's now.
    link.early = [(t - 0.5, [(_syn(40001), False)]), (t - 0.1, [(_syn(40002), False)])]
    stack.kick()
    autojump_clock.jump(1.0)  # the clock moves on while the stack writes
    link.early = [(t + 0.3, [(_syn(40003), False), (_syn(40004), False)]), (t + 0.6, [(_syn(40005), False)])]
    stack.kick()
    assert link.early == []  # taken
    assert seen == [t, t, t, t + 0.3, t + 0.3, t + 0.6]
    assert stack.engine.now == t + 0.6
    with trio.fail_after(1):
        answers = await far.recv_batch()
    # Each answered once, in the order read, sent before the kick returned.
    assert _ports_of(answers) == [(port, RST | ACK) for port in range(40000, 40006)]
    with trio.move_on_after(1):
        more = await far.recv_batch()
        pytest.fail(f"answered twice: {_ports_of(more)}")


async def test_a_faulty_link_delays_early_packets_from_their_read_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    near, far = memory_link_pair()
    inner = EarlyMemoryLink(near)
    faulty = FaultyLink(inner, FaultInjector(["delay:dir=in,ms=20"]))
    link: Link = faulty
    t0 = trio.current_time()
    # Read at t0 - 0.002 while the stack wrote: its 20 ms count from then.
    faulty.send(_syn(1))
    inner.early = [(t0 - 0.002, [(_syn(50000), False)]), (t0 - 0.001, [(_syn(50001), False)])]
    assert faulty.take_early() == []  # both delayed
    faulty.send(_syn(1))  # another burst begins at t0 ...
    autojump_clock.jump(0.030)  # ... and lasts 30 ms: both came due during it
    early = faulty.take_early()
    assert [at for at, _ in early] == [pytest.approx(t0 + 0.018), pytest.approx(t0 + 0.019)]
    assert [_sources(batch) for _, batch in early] == [[50000], [50001]]
    # One read after the last writes, due when nothing was being written: the reader's.
    t1 = trio.current_time()
    faulty.send(_syn(1))
    inner.early = [(t1, [(_syn(50002), False)])]
    assert faulty.take_early() == []
    autojump_clock.jump(0.030)
    assert faulty.take_early() == []  # no write since: not taken here ...
    with trio.fail_after(1):
        assert _sources(await link.recv_batch()) == [50002]  # ... but by the reader, once
    with trio.move_on_after(1):
        more = await link.recv_batch()
        pytest.fail(f"delivered twice: {_sources(more)}")
    assert len(await far.recv_batch()) == 3  # the writes went out
