"""GRO in the stack: a batch's segments reach the engine joined, the bytes intact, fewer ACKs."""

from __future__ import annotations

import random
from typing import Any

import trio
import trio.testing

from minitcp.link.memory import memory_link_pair
from minitcp.stack import Stack
from minitcp.tcp.observer import BaseObserver
from minitcp.wire.segment import Segment

from ..helpers.stacks import connected


class Sizes(BaseObserver):
    def __init__(self) -> None:
        self.inbound: list[tuple[int, int]] = []

    def on_segment(self, conn: Any, direction: str, seg: Segment, now: float) -> None:
        if direction == "in" and seg.payload:
            self.inbound.append((len(seg.payload), seg.gso))


async def _upload(gro: bool) -> tuple[bytes, Sizes, Stack, Stack]:
    la, lb = memory_link_pair()
    seen = Sizes()
    a = Stack(la, "198.18.0.1")
    b = Stack(lb, "198.18.0.2", gro=gro, observer=seen)
    data = random.Random(1).randbytes(2_000_000)
    got = bytearray()
    async with connected(a, b, "198.18.0.2", 9) as (client, server), trio.open_nursery() as transfer:
        transfer.start_soon(client.sendall, data)
        while len(got) < len(data):
            got += await server.recv(1 << 20)
    return bytes(got), seen, a, b


async def test_segments_of_one_batch_reach_the_engine_joined(autojump_clock: trio.testing.MockClock) -> None:
    got, seen, a, b = await _upload(gro=True)
    assert got == random.Random(1).randbytes(2_000_000)
    mss = 1448
    assert max(size for size, _ in seen.inbound) > 10 * mss
    assert all(gso in (0, mss) for _, gso in seen.inbound)
    data_segs = a.engine.counters["OutSegs"]
    # One InSegs and one decision per joined segment, as Linux counts a GRO packet; every wire
    # packet still counts at the IP layer.
    assert b.engine.counters["InSegs"] < data_segs // 4
    assert b.counters["InDelivers"] >= data_segs - 5


async def test_without_gro_every_segment_reaches_the_engine(autojump_clock: trio.testing.MockClock) -> None:
    got, seen, a, b = await _upload(gro=False)
    assert got == random.Random(1).randbytes(2_000_000)
    assert max(size for size, _ in seen.inbound) == 1448 and all(gso == 0 for _, gso in seen.inbound)
    assert b.engine.counters["InSegs"] >= a.engine.counters["OutSegs"] - 5
