"""Fault injection holds memory by configuration, not by traffic (issue #17): a rule that fires on
every packet keeps its count, and the injector only the latest RECENT_FAULTS records."""

from __future__ import annotations

import tracemalloc

import trio
import trio.testing

from minitcp.faults import RECENT_FAULTS, FaultInjector
from minitcp.link.faulty import FaultyLink
from minitcp.link.memory import memory_link_pair
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, Segment
from minitcp.wire.tcp import build_tcp_packet

A, B = ip_int("198.18.0.1"), ip_int("198.18.0.2")


def _segment(i: int) -> Segment:
    return Segment(A, B, 40000, 7, 1000 + 1000 * i, 1, ACK, 65535, b"x" * 1000)


def test_a_rule_firing_on_every_segment_keeps_a_bounded_record() -> None:
    injector = FaultInjector(["delay:ms=0"])
    n = 3 * RECENT_FAULTS + 5
    for i in range(n):
        assert injector.decide("out", _segment(i), i * 0.001) == [0.0]
    assert injector.rules[0].fired == injector.rules[0].matched == n  # every fault still counted
    assert len(injector.injected) == RECENT_FAULTS
    # The ring holds the latest faults, oldest first.
    assert [f.seg.seq for f in injector.injected] == [_segment(i).seq for i in range(n - RECENT_FAULTS, n)]
    assert injector.injected[-1].time == (n - 1) * 0.001


def _grown(injector: FaultInjector, first: int, count: int) -> int:
    """Bytes the process holds more after `count` more segments went through `injector`."""
    before, _ = tracemalloc.get_traced_memory()
    for i in range(first, first + count):
        injector.decide("in", _segment(i), float(i))
    after, _ = tracemalloc.get_traced_memory()
    return after - before


def test_memory_stops_growing_once_the_ring_is_full() -> None:
    injector = FaultInjector(["dup:ms=0"])
    tracemalloc.start()
    try:
        _grown(injector, 0, RECENT_FAULTS)  # fill the ring
        grown = _grown(injector, RECENT_FAULTS, 20 * RECENT_FAULTS)  # ~20 MB of payload went by
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, grown  # before: every segment kept, over 20 MB


async def test_packets_through_a_faulty_link_keep_the_record_bounded() -> None:
    """The `--fault delay:ms=0` of `minitcp up`: a FaultyLink under traffic in both directions."""
    near, far = memory_link_pair(capacity=8192)
    injector = FaultInjector(["delay:ms=0"])
    faulty = FaultyLink(near, injector, clock=trio.current_time)
    n = 2 * RECENT_FAULTS
    packet = build_tcp_packet(_segment(0))
    for _ in range(n):
        faulty.send(packet)  # out: through the rules to the far end
        far.send(packet)  # in: read back through the rules below
    got = 0
    with trio.fail_after(5):
        while got < n:
            got += len(await faulty.recv_batch())
    assert injector.rules[0].fired == 2 * n
    assert len(injector.injected) == RECENT_FAULTS
    assert {f.direction for f in injector.injected} == {"in"}  # the latest were the incoming ones
