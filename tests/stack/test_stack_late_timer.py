"""A stalled stack process wakes with a timer overdue and a packet that came before it: the
packet goes first (Stack._timer_task), as the kernel takes a packet in when it arrives, so an
ACK is not overtaken by the loss probe it would have cancelled."""

from __future__ import annotations

import trio
import trio.testing

from minitcp.faults import FaultInjector, parse_rule
from minitcp.link.faulty import FaultyLink
from minitcp.link.memory import memory_link_pair
from minitcp.stack import Stack

from ..helpers.stacks import connected

TRIES = 10  # Trio runs the tasks woken together in random order: half the tries would fail


async def test_an_ack_due_before_an_overdue_timer_is_taken_in_first(
        autojump_clock: trio.testing.MockClock) -> None:
    for _ in range(TRIES):
        la, lb = memory_link_pair(latency=0.001)
        # The ACKs reach the client's stack 10 ms late: a fault rule holds them in its link.
        link = FaultyLink(la, FaultInjector([parse_rule("delay:dir=in,ms=10")]))
        a, b = Stack(link, "198.18.0.1"), Stack(lb, "198.18.0.2")
        async with connected(a, b, "198.18.0.2", 80) as (client, server):
            await trio.sleep(1.0)
            await client.send(b"x" * 100)
            await trio.sleep(0.005)  # the server's ACK is held until 12 ms, the probe due later
            probes, timeouts = a.engine.counters["TCPLossProbes"], a.engine.counters["TCPTimeouts"]
            autojump_clock.jump(0.5)  # the process stalls half a second: both are overdue
            assert await server.recv(1000) == b"x" * 100
            await trio.sleep(1.0)
            assert a.engine.counters["TCPLossProbes"] == probes, "the probe went before the ACK was read"
            assert a.engine.counters["TCPTimeouts"] == timeouts
