"""What the TIME_WAIT and closing labs put on the wire (--sim: both ends are minitcp, in
virtual time), beyond their own checks: the segments, states and times they rest on."""

from __future__ import annotations

import functools
import itertools
import re
import sys

import pytest

from minitcp.labs import LABS, Result, get, run_lab
from minitcp.labs.base import HOST, PEER_HOST
from minitcp.tcp.connection import conn_key
from minitcp.tcp.isn import IsnGenerator
from minitcp.tcp.timewait import TimeWaitTable, _pack
from minitcp.trace.events import DropEvent, SegmentEvent, StateEvent

NEW_LABS = ("old-duplicate-without-time-wait", "time-wait-expires", "time-wait-client-ports-tw-reuse",
            "time-wait-client-ports-linger", "time-wait-memory", "shutdown-vs-close-retries",
            "fin-wait-2-lifetime")


@functools.cache
def sim(name: str) -> Result:
    return run_lab(get(name), sim=True)


def segments(result: Result, host: str, direction: str) -> list[SegmentEvent]:
    return [e for e in result.trace.events
            if isinstance(e, SegmentEvent) and e.host == host and e.direction == direction]


def states(result: Result, host: str) -> list[StateEvent]:
    return [e for e in result.trace.events if isinstance(e, StateEvent) and e.host == host]


@pytest.mark.parametrize("name", NEW_LABS)
def test_the_new_labs_pass_with_every_check_in_both_languages(name: str) -> None:
    result = sim(name)
    assert result.passed, [c.what for c in result.checks if not c.ok]
    assert result.lab.group and result.lab.title_zh and result.lab.zh


def test_only_the_simultaneous_close_lab_passes_through_closing() -> None:
    closing = {name for name in LABS
               if any(e.new == "CLOSING" for e in states(sim(name), HOST) + states(sim(name), PEER_HOST))}
    assert closing == {"close-simultaneous"}


def test_the_fin_of_a_connection_without_data_is_acked_at_the_next_tick() -> None:
    result = sim("close-client-first")
    fin = next(e for e in segments(result, HOST, "out") if "F" in e.flags)
    ack = next(e for e in segments(result, HOST, "in") if e.flags == "." and e.time >= fin.time)
    assert 0 < ack.time - fin.time < 0.015  # a tick (4 ms at HZ 250) and the wire's delay, not 40 ms


def test_old_duplicate_with_time_wait_is_refused_by_the_window_without_timestamps() -> None:
    result = sim("time-wait-old-duplicate")
    assert all("ts_val" not in e.options for e in result.trace.events if isinstance(e, SegmentEvent))
    # The peer dropped the stale copy as out of window, and delivered only the new data.
    drops = [e for e in result.trace.events if isinstance(e, DropEvent) and e.host == PEER_HOST]
    assert ["receive window" in d.reason for d in drops] == [True]
    delivered = b"".join(e.segment.payload for e in segments(result, PEER_HOST, "in") if e.length)
    assert delivered.count(b"OLD-DATA") == 2  # the original, then the stale copy it dropped
    assert result.counters["peer"].get("PAWSEstabRejected", 0) == 0


def test_old_duplicate_without_time_wait_lands_at_the_next_expected_byte() -> None:
    result = sim("old-duplicate-without-time-wait")
    syns = [e for e in segments(result, HOST, "out") if e.flags == "S."]
    assert len(syns) == 2
    data = [e for e in segments(result, PEER_HOST, "in") if e.length]
    # The second connection: NEW-DATA at relative seq 1, then the stale OLD-DATA at 9, accepted
    # (no drop), then the server's real NEW-MORE at 9 too.
    second = [(e.seq, bytes(e.segment.payload)) for e in data if e.time >= syns[1].time]
    assert second == [(1, b"NEW-DATA"), (9, b"OLD-DATA"), (9, b"NEW-MORE")]
    acks = [e.ack for e in segments(result, PEER_HOST, "out") if e.flags == "." and e.time >= syns[1].time]
    assert acks[:4] == [1, 9, 17, 17]  # the handshake, NEW-DATA, OLD-DATA, NEW-MORE taken for a duplicate


def test_time_wait_ends_sixty_seconds_after_it_began() -> None:
    result = sim("time-wait-expires")
    peer = states(result, PEER_HOST)
    began = next(e.time for e in peer if e.new == "TIME_WAIT")
    ended = next(e.time for e in peer if e.old == "TIME_WAIT")
    assert ended - began == pytest.approx(60.0)
    # The port was then used again: a second SYN from the same client port.
    syns = [e for e in segments(result, HOST, "in") if e.flags == "S"]
    assert len(syns) == 2 and syns[0].remote == syns[1].remote and syns[1].time > ended


def test_tw_reuse_sends_no_syn_until_the_delay_has_passed() -> None:
    result = sim("time-wait-client-ports-tw-reuse")
    syns = [e for e in segments(result, HOST, "in") if e.flags == "S"]
    assert len(syns) == 11  # the failed connect() sent nothing
    last_fin = max(e.time for e in segments(result, HOST, "in") if "F" in e.flags and e.time < syns[-1].time)
    assert syns[-1].time - last_fin >= 1.0
    old = [e for e in syns[:-1] if e.remote == syns[-1].remote]
    assert len(old) == 1 and syns[-1].options["ts_val"] > old[0].options["ts_val"]


def test_linger_zero_closes_with_a_reset_and_no_fin() -> None:
    result = sim("time-wait-client-ports-linger")
    sent = [e.flags for e in segments(result, PEER_HOST, "out") if e.flags not in (".", "S")]
    assert sent[:10] == ["R."] * 10
    assert not [e for e in states(result, PEER_HOST) if e.new == "TIME_WAIT"]


def test_orphan_and_held_fins_back_off_until_their_limits() -> None:
    result = sim("shutdown-vs-close-retries")
    fins: dict[str, list[float]] = {}
    for e in segments(result, PEER_HOST, "out"):
        if "F" in e.flags:
            fins.setdefault(e.local, []).append(e.time)
    counts = sorted(len(times) for times in fins.values())
    # 1 + a loss probe + tcp_orphan_retries (2), 1 + a loss probe + tcp_retries2 (4): a lone FIN's
    # probe goes when the RTO would (Linux tcp_schedule_loss_probe) and counts against neither limit.
    assert counts == [4, 6]
    held = max(fins.values(), key=len)
    gaps = [b - a for a, b in itertools.pairwise(held)]
    assert gaps == pytest.approx([0.2, 0.2, 0.4, 0.8, 1.6], rel=0.1)  # probe, then RTO doubling
    gave_up = max(e.time for e in states(result, PEER_HOST) if e.new == "CLOSED")
    assert not [e for e in segments(result, PEER_HOST, "out") if "R" in e.flags and e.time <= gave_up]


def test_an_orphaned_fin_wait_2_ends_after_tcp_fin_timeout_and_a_held_one_does_not() -> None:
    result = sim("fin-wait-2-lifetime")
    by_conn: dict[str, list[StateEvent]] = {}
    for e in states(result, PEER_HOST):
        by_conn.setdefault(e.local, []).append(e)
    ends = {}
    for local, events in by_conn.items():
        began = next(e.time for e in events if e.new == "FIN_WAIT_2")
        ends[local] = next((e.new, e.time - began) for e in events if e.old == "FIN_WAIT_2")
    assert sorted(new for new, _ in ends.values()) == ["CLOSED", "TIME_WAIT"]
    orphan = next(t for new, t in ends.values() if new == "CLOSED")
    assert orphan == pytest.approx(3.0)  # tcp_fin_timeout, as the lab sets it


def test_the_time_wait_footprint_is_the_sum_of_what_the_table_holds() -> None:
    table = TimeWaitTable()
    assert table.footprint() == sys.getsizeof(table._records) + sys.getsizeof(table._queue)
    for port in range(100):
        record = _pack((1, port, 2, 80, 1000, 2000, True, 5, 0.0, 7, 512, 7, 60.0))
        table._put(conn_key(1, port, 2, 80), record)
    records = list(table._records.items())
    held = sum(sys.getsizeof(k) + sys.getsizeof(r) for k, r in records)
    assert table.footprint() == sys.getsizeof(table._records) + sys.getsizeof(table._queue) + held
    assert all(len(r) == 50 for _, r in records)  # an IPv4 entry's record
    # A restarted entry leaves its old record in the queue until it reaches the front: counted.
    before, queue = table.footprint(), sys.getsizeof(table._queue)
    key, old = records[0]
    table.restart(table.get(key), 1.0, 60.0)  # type: ignore[arg-type]
    assert table.footprint() == before + sys.getsizeof(old) + sys.getsizeof(table._queue) - queue
    result = sim("time-wait-memory")
    per_entry = re.search(r": (\d+) B per entry", result.checks[1].what)
    assert per_entry and 83 < int(per_entry.group(1)) < 300  # the record, its key, its slots


def test_a_pinned_isn_is_used_once_for_its_four_tuple_only() -> None:
    gen = IsnGenerator(b"k" * 16)
    natural = gen.isn(1, 2, 3, 4, 10.0)
    gen.pin(1, 2, 3, 4, 1234)
    assert gen.isn(1, 2, 3, 5, 10.0) != 1234
    assert gen.isn(1, 2, 3, 4, 10.0) == 1234
    assert gen.isn(1, 2, 3, 4, 10.0) == natural
