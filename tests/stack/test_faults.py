"""Fault injection: the rule language, each action, counting and chance, on an EnginePair, under a Stack."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from minitcp.faults import FaultInjector, FaultRule, parse_rule
from minitcp.link.faulty import FaultyLink
from minitcp.link.memory import memory_link_pair
from minitcp.sockets import Socket
from minitcp.stack import Stack
from minitcp.tcp.pair import EnginePair
from minitcp.trace.events import FaultEvent
from minitcp.trace.ladder import render_ladder
from minitcp.trace.recorder import Recorder
from minitcp.wire.ipv4 import PROTO_ICMP, build_ipv4, ip_int
from minitcp.wire.segment import ACK, FIN, PSH, RST, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet

from ..helpers.pairs import pair_connect

A, B = ip_int("198.18.0.1"), ip_int("198.18.0.2")


def seg(flags: int, seq: int = 1000, payload: bytes = b"") -> Segment:
    return Segment(A, B, 40000, 80, seq, 1, flags, 1000, payload)


# ---------------------------------------------------------------------- the rule language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("drop:dir=out,flags=F,nth=1", FaultRule("drop", "out", FIN, nth=1)),
        ("drop", FaultRule("drop")),
        ("DROP: dir = IN , flags = sa", FaultRule("drop", "in", SYN | ACK)),
        ("drop:flags=S.", FaultRule("drop", flags=SYN | ACK)),
        ("delay:ms=50", FaultRule("delay", ms=50.0)),
        ("dup:count=2,ms=1.5", FaultRule("dup", count=2, ms=1.5)),
        ("reorder:dir=out,flags=P", FaultRule("reorder", "out", PSH)),
        ("drop:prob=0.25,seed=7", FaultRule("drop", prob=0.25, seed=7)),
        ("drop:flags=R", FaultRule("drop", flags=RST)),
        ("drop:dir=out,over=1228", FaultRule("drop", "out", over=1228)),
    ],
)
def test_parse(text: str, expected: FaultRule) -> None:
    rule = parse_rule(text)
    assert rule == expected
    assert parse_rule(str(rule)) == rule  # str() gives the rule back in the same language


def test_canonical_text() -> None:
    assert str(parse_rule("drop:nth=1,flags=F,dir=out")) == "drop:dir=out,flags=F,nth=1"
    assert str(parse_rule("drop:flags=AS")) == "drop:flags=S."
    assert parse_rule("delay:ms=50").description == "delay 50ms"
    assert parse_rule("dup").description == "dup" and parse_rule("dup:ms=3").description == "dup 3ms"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("drip", "unknown action 'drip' \\(expected drop, delay, dup, reorder\\)"),
        ("drop:dir=sideways", "dir must be in or out, not 'sideways'"),
        ("drop:flags=FX", "unknown flag 'X' in flags=FX"),
        ("drop:nth=0", "nth counts from 1, not 0"),
        ("drop:count=-1", "count counts from 1"),
        ("drop:nth=first", "nth must be a number, not 'first'"),
        ("drop:prob=1.5", "prob is a probability between 0 and 1"),
        ("drop:seed=3", "seed= only makes sense with prob="),
        ("delay", "delay needs ms=N"),
        ("delay:ms=-5", "ms must be a finite number >= 0"),
        ("drop:ms=5", "ms= does not apply to drop"),
        ("drop:nth", "'nth' is not key=value"),
        ("drop:nth=1,nth=2", "nth given twice"),
        ("drop:colour=red", "unknown key 'colour' \\(known: dir, flags, nth, count, prob, seed, ms\\)"),
        ("drop:dir=out,,nth=1", "'' is not key=value"),
    ],
)
def test_bad_rules_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^fault rule '{text.replace('.', '[.]')}': {message}"):
        parse_rule(text)


def test_rules_built_directly_are_checked_too() -> None:
    with pytest.raises(ValueError, match="delay needs ms=N"):
        FaultRule("delay")


# ---------------------------------------------------------------------- each action


def test_each_action_decides_the_deliveries() -> None:
    assert FaultInjector(["drop"]).decide("out", seg(ACK), 0.0) == []
    assert FaultInjector(["delay:ms=50"]).decide("out", seg(ACK), 0.0) == [0.05]
    assert FaultInjector(["dup"]).decide("out", seg(ACK), 0.0) == [0.0, 0.0]
    assert FaultInjector(["dup:ms=2"]).decide("out", seg(ACK), 0.0) == [0.0, 0.002]
    assert FaultInjector([]).decide("out", seg(ACK), 0.0) == [0.0]


def test_dir_and_flags_select_segments() -> None:
    inj = FaultInjector(["drop:dir=out,flags=F."])
    assert inj.decide("out", seg(FIN | ACK), 0.0) == []
    assert inj.decide("in", seg(FIN | ACK), 0.0) == [0.0]  # other direction
    assert inj.decide("out", seg(FIN), 0.0) == [0.0]  # lacks ACK
    assert inj.decide("out", seg(ACK), 0.0) == [0.0]  # lacks FIN
    assert inj.rules[0].matched == 1 and inj.rules[0].fired == 1


def test_reorder_holds_until_the_next_segment_passes() -> None:
    inj = FaultInjector(["reorder:dir=out,nth=1"])
    first, second, other_way = seg(ACK, 1), seg(ACK, 2), seg(ACK, 3)
    assert inj.decide("out", first, 0.0, item="first") == []
    assert [h.item for h in inj.held] == ["first"]
    assert inj.decide("in", other_way, 0.1) == [0.0] and inj.take_released() == []  # other direction
    assert inj.decide("out", second, 0.2, item="second") == [0.0]
    assert [h.item for h in inj.take_released("out")] == ["first"] and inj.held == []


def test_reorder_with_ms_lets_go_when_nothing_passes() -> None:
    inj = FaultInjector(["reorder:ms=30"])
    assert inj.decide("out", seg(ACK), 1.0, item="x") == []
    assert inj.next_deadline() == pytest.approx(1.03)
    assert inj.expired(1.02) == []
    assert [h.item for h in inj.expired(1.03)] == ["x"] and inj.next_deadline() is None


def test_first_rule_that_fires_decides_and_every_rule_counts() -> None:
    inj = FaultInjector(["drop:flags=F,nth=2", "delay:ms=10"])
    assert inj.decide("out", seg(FIN), 0.0) == [0.01]  # the drop rule counted it (1st), delay fired
    assert inj.decide("out", seg(FIN), 0.0) == []  # the 2nd FIN: dropped
    assert inj.decide("out", seg(FIN), 0.0) == [0.01]
    assert [r.matched for r in inj.rules] == [3, 3]  # the delay rule saw the dropped FIN too
    assert [r.fired for r in inj.rules] == [1, 2]


# ---------------------------------------------------------------------- counting and chance


def test_over_selects_segments_carrying_more_data_than_a_path_takes() -> None:
    rule = parse_rule("drop:over=1000")
    assert not rule.fires("out", seg(ACK, payload=bytes(1000)))
    assert rule.fires("out", seg(ACK, payload=bytes(1001)))
    assert rule.matched == 1  # a segment it does not select is not counted either


def test_nth_only_the_nth() -> None:
    inj = FaultInjector(["drop:nth=3"])
    assert [inj.decide("out", seg(ACK), 0.0) for _ in range(5)] == [[0.0], [0.0], [], [0.0], [0.0]]


def test_count_at_most_n_times() -> None:
    inj = FaultInjector(["drop:flags=P,count=2"])
    got = [bool(inj.decide("out", seg(ACK | PSH if i % 2 else ACK), 0.0)) for i in range(8)]
    assert got == [True, False, True, False, True, True, True, True]


def fates(rule: str, n: int = 200) -> list[bool]:
    inj = FaultInjector([rule])
    return [bool(inj.decide("out", seg(ACK), 0.0)) for _ in range(n)]


def test_prob_is_seeded_and_repeatable() -> None:
    a, b = fates("drop:prob=0.3,seed=42"), fates("drop:prob=0.3,seed=42")
    assert a == b
    assert fates("drop:prob=0.3,seed=43") != a
    assert 40 <= a.count(False) <= 80  # about 30 % of 200 lost
    assert fates("drop:prob=0.3") == fates("drop:prob=0.3,seed=0")  # seed 0 unless told
    assert all(fates("drop:prob=0")) and not any(fates("drop:prob=1"))
    inj = FaultInjector(["drop:prob=0.5,seed=1,count=3"])
    results = [inj.decide("out", seg(ACK), 0.0) for _ in range(100)]
    assert results.count([]) == 3
    rule = inj.rules[0]
    rule.reset()
    assert (rule.matched, rule.fired) == (0, 0)
    assert [FaultInjector([rule]).decide("out", seg(ACK), 0.0) for _ in range(100)] == results


# ---------------------------------------------------------------------- on an EnginePair


def test_first_fin_dropped_goes_out_again_after_one_rto() -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    inj = FaultInjector([parse_rule("drop:dir=out,flags=F,nth=1")], observer=rec.host("client")).attach(p)
    client, server = pair_connect(p)
    client.close(p.now)
    p.run_for(1.0)
    fins = [e for e in p.sent("a") if e.seg.flags & FIN]
    assert [e.delivered for e in fins] == [False, True]
    # The first RTO after a handshake with a 1 ms RTT: 200 ms (tcp_rto_min) + srtt; a lone FIN is
    # probed (TLP) when its RTO would fire (Linux tcp_schedule_loss_probe).
    assert 0.200 <= fins[1].time - fins[0].time <= 0.205
    assert fins[0].seg.seq == fins[1].seg.seq
    assert [(f.direction, f.action) for f in inj.injected] == [("out", "drop")]
    (fault,) = rec.select("fault")
    assert isinstance(fault, FaultEvent)
    assert (fault.host, fault.direction, fault.action, fault.flags, fault.seq, fault.ack) == (
        "client", "out", "drop", "F.", 1, 1)
    assert fault.to_dict()["kind"] == "fault" and fault.time == pytest.approx(fins[0].time)
    text = render_ladder(rec)
    assert "FIN seq=1 ack=1 [dropped]" in text and "FIN seq=1 ack=1 (retransmit)" in text
    assert server.rcv_fin_reached


def test_dir_in_is_what_the_side_receives() -> None:
    """From the client's side, dropping what comes in with SYN and ACK loses the SYN-ACK."""
    p = EnginePair()
    inj = FaultInjector(["drop:dir=in,flags=SA,nth=1"]).attach(p, side="a")
    lst = p.b.listen(p.addr_b, 80, 5)
    client = p.a.connect(p.addr_a, 40000, p.addr_b, 80, 0.0)
    p.run_for(3.0)
    synacks = [e for e in p.sent("b") if e.seg.flags == SYN | ACK]
    assert [e.delivered for e in synacks][:2] == [False, True]
    assert client.state.name == "ESTABLISHED" and lst.accept() is not None
    assert [f.direction for f in inj.injected] == ["in"]
    # The same rule seen from the server's side means its own SYN-ACK going out.
    p2 = EnginePair()
    FaultInjector(["drop:dir=out,flags=SA,nth=1"]).attach(p2, side="b")
    p2.b.listen(p2.addr_b, 80, 5)
    p2.a.connect(p2.addr_a, 40000, p2.addr_b, 80, 0.0)
    p2.run_for(3.0)
    assert [e.delivered for e in p2.sent("b") if e.seg.flags == SYN | ACK][:2] == [False, True]


def test_delay_and_dup_on_the_pair() -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    client, server = pair_connect(p)
    FaultInjector(["delay:dir=out,flags=P,nth=1,ms=50", "dup:dir=out,flags=P,nth=2"],
                  observer=rec.host("client")).attach(p)
    t0 = p.now
    client.send(b"one", p.now)
    p.run_for(0.2)
    client.send(b"two", p.now)
    p.run_for(0.2)
    arrivals = [e for e in rec.segments("server") if e.direction == "in" and e.length]
    assert arrivals[0].time == pytest.approx(t0 + 0.050 + p.latency)
    assert [e.length for e in arrivals] == [3, 3, 3]  # "two" arrived twice
    assert server.recv(100, p.now) == b"onetwo"
    text = render_ladder(rec)
    assert "[delay 50ms]" in text and "[dup]" in text


def test_reorder_on_the_pair() -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    client, server = pair_connect(p)
    inj = FaultInjector(["reorder:dir=out,nth=1"]).attach(p)
    assert inj.observer is rec.host("client")  # found on the engine: faults land in the trace
    data = bytes(range(256)) * 12  # 3072 bytes: three segments in one burst
    client.send(data, p.now)
    p.run_for(0.5)
    ins = [e.seq for e in rec.segments("server") if e.direction == "in" and e.length]
    first_sent = [e.seq for e in rec.segments("client") if e.direction == "out" and e.length]
    assert len(first_sent) == 3
    assert ins == [first_sent[1], first_sent[0], first_sent[2]]  # the first came right after the second
    # The receiver saw a hole and said so at once: a duplicate ACK with a SACK block.
    acks = [e for e in rec.segments("server") if e.direction == "out" and not e.length]
    assert any(e.options.get("sack") for e in acks)
    assert server.recv(10_000, p.now) == data
    assert "[reorder]" in render_ladder(rec)


def test_reorder_with_ms_on_the_pair_when_nothing_follows() -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    client, server = pair_connect(p)
    FaultInjector(["reorder:dir=out,nth=1,ms=30"]).attach(p)
    t0 = p.now
    client.send(b"alone", p.now)
    p.run_for(0.1)
    (arrival,) = [e for e in rec.segments("server") if e.direction == "in" and e.length]
    assert arrival.time == pytest.approx(t0 + 0.030 + p.latency)
    assert server.recv(10, p.now) == b"alone"


def test_reorder_needs_the_pair_attached() -> None:
    p = EnginePair()
    client, _ = pair_connect(p)
    p.fault = FaultInjector(["reorder:dir=out"])
    client.send(b"x", p.now)
    with pytest.raises(RuntimeError, match="attach"):
        p.run_for(0.1)


# ---------------------------------------------------------------------- under a Stack


def tcp(flags: int, seq: int, payload: bytes = b"") -> bytes:
    return build_tcp_packet(Segment(A, B, 40000, 80, seq, 1, flags, 1000, payload))


async def test_faulty_link_reorders_delays_and_bends_non_tcp_too(autojump_clock: MockClock) -> None:
    near, far = memory_link_pair()
    inj = FaultInjector(["reorder:dir=out,nth=1", "delay:dir=in,flags=F,ms=100"])
    link = FaultyLink(near, inj)
    ping = build_ipv4(A, B, PROTO_ICMP, b"\x08\x00\xf7\xff\x00\x00\x00\x00")
    link.send(tcp(ACK, 1))  # held
    link.send(ping)  # not TCP, but IPv4: it is "the next one" and lets the held one go
    link.send(tcp(ACK, 2))  # passes
    got = [p for p, _ in await far.recv_batch()]
    assert got[0] == ping and [parse_tcp_packet(p).seq for p in got[1:]] == [1, 2]
    start = trio.current_time()
    far.send(tcp(FIN | ACK, 3))
    far.send(tcp(ACK, 4))
    first = [p for p, _ in await link.recv_batch()]
    assert [parse_tcp_packet(p).seq for p in first] == [4]
    second = [p for p, _ in await link.recv_batch()]
    assert [parse_tcp_packet(p).seq for p in second] == [3]
    assert trio.current_time() - start == pytest.approx(0.1)
    assert link.mtu == near.mtu and link.tx_dropped == 0


async def test_stack_on_a_faulty_link_sends_its_first_fin_twice(
    nursery: trio.Nursery, autojump_clock: MockClock
) -> None:
    la, lb = memory_link_pair()
    rec = Recorder("client")
    inj = FaultInjector(["drop:dir=out,flags=F,nth=1"], observer=rec)
    out_a: list[tuple[float, Segment]] = []
    in_b: list[Segment] = []

    def sent_by_a(direction: str, pkt: bytes | memoryview, now: float) -> None:
        if direction == "out":  # what the stack sent, before the faulty link lost any of it
            out_a.append((now, parse_tcp_packet(pkt)))

    def received_by_b(direction: str, pkt: bytes | memoryview, now: float) -> None:
        if direction == "in":
            in_b.append(parse_tcp_packet(pkt))

    a = Stack(FaultyLink(la, inj), "198.18.0.1", observer=rec, on_packet=sent_by_a)
    b = Stack(lb, "198.18.0.2", on_packet=received_by_b)
    nursery.start_soon(a.run)
    nursery.start_soon(b.run)
    server = Socket(b)
    server.bind(("198.18.0.2", 80))
    server.listen()
    client = Socket(a)
    await client.connect(("198.18.0.2", 80))
    conn, _ = await server.accept()
    client.close()
    assert await conn.recv(10) == b""  # the retransmitted FIN got through
    fins = [(t, s) for t, s in out_a if s.flags & FIN]
    assert len(fins) == 2 and 0.2 <= fins[1][0] - fins[0][0] <= 0.21
    assert sum(1 for s in in_b if s.flags & FIN) == 1
    (fault,) = rec.select("fault")
    assert (fault.direction, fault.action) == ("out", "drop")
    assert "[dropped]" in render_ladder(rec)
    conn.close()


@pytest.fixture
def autojump_clock() -> MockClock:
    return MockClock(autojump_threshold=0)
