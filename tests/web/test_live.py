"""A long live trace stays bounded: LiveFeed empties the recorder every poll, the log sums closed
connections up, and what both remember of a summed-up connection is forgotten."""

from __future__ import annotations

import trio
from trio.testing import MockClock

from minitcp.web.live import LiveFeed
from minitcp.web.log import EventLog

from ..conftest import NetFactory
from ..sockets.net import connected_pair, settle


async def test_many_closed_connections_leave_summaries_and_no_memory_behind(
        make_net: NetFactory, autojump_clock: MockClock) -> None:
    net = make_net(tcp_timewait_len=1.0)
    log = EventLog(full_conns=2)
    feed = LiveFeed(net.trace, log, (net.a.engine.counters,), host="a", timewait_len=1.0)
    for n in range(6):
        client, server = await connected_pair(net, 5000 + n)
        client.close()  # A closes first: A goes through TIME_WAIT (1 s here), B through LAST_ACK
        await settle()
        server.close()
        await trio.sleep(2.0)  # TIME_WAIT over: closed on both hosts
        feed.pump(trio.current_time())
        assert net.trace.events == []  # emptied at every poll
    kept = log.replay()
    summaries = [e for e in kept if e["kind"] == "summary"]
    assert len(summaries) == 4
    assert len({e["conn"] for e in kept if e["kind"] != "summary" and e["conn"]}) == 2
    assert summaries[0]["states"]["a"][-3:] == ["FIN_WAIT_2", "TIME_WAIT", "CLOSED"]
    assert summaries[0]["states"]["b"][-2:] == ["LAST_ACK", "CLOSED"]
    timers = [e for e in kept if e["kind"] == "timer" and e["timer"] == "TIME_WAIT"]
    assert [t["action"] for t in timers] == ["set", "fire"] * 2  # the two connections kept whole
    # What is remembered: the fingerprints and ISN bases of the two connections kept whole only.
    assert len({(fp[2], fp[3]) for fp in feed.web._sent}) <= 4
    assert len(net.trace._bases) <= 2 * 2 * 2  # two hosts x two directions x two connections
    counters = [e for e in kept if e["kind"] == "counters"]
    assert sum(e["moved"].get("ActiveOpens", 0) for e in counters) == 6
