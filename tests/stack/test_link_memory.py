"""The in-memory link pair, under Trio's virtual clock."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from minitcp.link.memory import memory_link_pair


async def test_packets_cross_in_both_directions(autojump_clock: MockClock) -> None:
    a, b = memory_link_pair()
    a.send(b"ping")
    b.send(b"pong")
    assert await b.recv_batch() == [(b"ping", False)]  # a memory link: no partial checksums
    assert await a.recv_batch() == [(b"pong", False)]


async def test_recv_batch_takes_all_waiting_up_to_the_bound(autojump_clock: MockClock) -> None:
    a, b = memory_link_pair(batch_limit=3)
    for i in range(5):
        a.send(bytes([i]))
    assert await b.recv_batch() == [(b"\0", False), (b"\1", False), (b"\2", False)]
    assert await b.recv_batch() == [(b"\3", False), (b"\4", False)]


async def test_recv_batch_waits_in_virtual_time(autojump_clock: MockClock) -> None:
    a, b = memory_link_pair()

    async def send_later() -> None:
        await trio.sleep(30)
        a.send(b"late")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_later)
        assert await b.recv_batch() == [(b"late", False)]
    assert trio.current_time() == 30


async def test_a_full_queue_drops_and_counts(autojump_clock: MockClock) -> None:
    a, b = memory_link_pair(capacity=2)
    for _ in range(5):
        a.send(b"x")
    assert a.tx_dropped == 3
    assert await b.recv_batch() == [(b"x", False), (b"x", False)]


def test_oversized_packet_is_a_bug_and_raises() -> None:
    a, _ = memory_link_pair(mtu=100)
    a.send(bytes(100))
    with pytest.raises(ValueError, match="exceeds the link MTU of 100"):
        a.send(bytes(101))


async def test_closing_one_end_ends_the_other_after_delivery(autojump_clock: MockClock) -> None:
    a, b = memory_link_pair()
    a.send(b"last words")
    a.close()
    assert await b.recv_batch() == [(b"last words", False)]
    with pytest.raises(trio.ClosedResourceError):
        await b.recv_batch()
    b.send(b"into the void")
    assert b.tx_dropped == 1
    with pytest.raises(trio.ClosedResourceError):
        await a.recv_batch()
