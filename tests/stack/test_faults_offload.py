"""Fault rules over an offloading link: super-segments meet the rules as the wire segments they
stand for, with the very decisions, counts and timing those segments get sent one by one."""

from __future__ import annotations

import random

import pytest
import trio
from trio.testing import MockClock

from minitcp.faults import FaultInjector, FaultRule
from minitcp.link.base import Received
from minitcp.link.faulty import FaultyLink
from minitcp.wire.csum_partial import complete_csum
from minitcp.wire.gso import SuperSegment, super_segment, tso_packet
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, CWR, FIN, PSH, Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet
from minitcp.wire.tso import build_packets

A, B = ip_int("198.18.0.1"), ip_int("198.18.0.2")
MSS = 1448  # the segment size of a 1500-byte MTU, with timestamps


class WireLink:
    """A link that records what it sends as wire packets (super-segments cut as a device cuts
    them) and receives what a test puts in `inbox`."""

    gro = False
    busy_poll = False
    mtu = 1500
    tx_dropped = 0

    def __init__(self, offload: bool) -> None:
        self.offload = offload
        self.sent: list[tuple[float, bytes]] = []
        self.supers = 0  # super-segments taken whole
        self.inbox: list[Received] = []
        self.arrived = trio.Event()

    def put(self, item: Received) -> None:
        self.inbox.append(item)
        self.arrived.set()

    def send(self, packet: bytes) -> None:
        self.sent.append((trio.current_time(), bytes(packet)))

    def send_gso(self, packet: SuperSegment) -> None:
        self.supers += 1
        seg = parse_tcp_packet(complete_csum(b"".join(packet.parts)))
        seg.gso = packet.gso_size
        self.sent += [(trio.current_time(), p) for p in build_packets(seg)]

    async def recv_batch(self) -> list[Received]:
        while not self.inbox:
            await self.arrived.wait()
        batch, self.inbox, self.arrived = self.inbox, [], trio.Event()
        return batch

    def close(self) -> None:
        pass


def tso_segment(seq: int, segments: int, flags: int = ACK | PSH, src: int = A, dst: int = B) -> Segment:
    payload = (bytes(range(256)) * 60)[seq % 256 : seq % 256 + segments * MSS - 100]
    return Segment(src, dst, 40000, 80, seq, 1, flags, 1000, payload, ts_val=7, ts_ecr=3, gso=MSS)


RULES = [
    "drop:dir=out,nth=3", "drop:dir=out,prob=0.08,seed=5", "delay:dir=out,nth=7,ms=30",
    "dup:dir=out,nth=12,ms=5", "reorder:dir=out,nth=20", "drop:dir=out,flags=P,nth=2",
    "delay:dir=out,over=1000,prob=0.05,seed=2,ms=10", "drop:dir=out,flags=W,count=1",
    "drop:dir=in,nth=4", "reorder:dir=in,prob=0.1,seed=9,ms=15", "delay:dir=in,flags=F,ms=20",
    "drop:dir=in,over=1400,nth=9",
]


def _rule_counts(injector: FaultInjector) -> list[tuple[int, int]]:
    return [(r.matched, r.fired) for r in injector.rules]


def test_choosing_over_pieces_counts_and_draws_as_deciding_one_by_one() -> None:
    rng = random.Random(1)
    flags = [ACK, ACK | PSH, ACK | FIN, ACK | CWR]
    for trial in range(200):
        rules = [_random_rule(rng, trial) for _ in range(rng.randrange(1, 6))]
        batches = [[(rng.choice(flags), rng.choice([0, 300, 1448])) for _ in range(rng.randrange(1, 12))]
                   for _ in range(8)]
        one = FaultInjector([FaultRule(**_args(r)) for r in rules])
        many = FaultInjector([FaultRule(**_args(r)) for r in rules])
        for k, batch in enumerate(batches):
            direction = "out" if k % 3 else "in"
            expected = {}
            for i, (f, n) in enumerate(batch):
                seg = Segment(A, B, 1, 2, 0, 0, f, 0, bytes(n))
                if one.decide(direction, seg, 0.0) != [0.0]:
                    expected[i] = one._pick  # type: ignore[attr-defined]
            got = many.choose(direction, batch)
            assert _indices(many, got) == _indices(one, expected), (trial, k)
        assert _rule_counts(one) == _rule_counts(many)


def _random_rule(rng: random.Random, seed: int) -> FaultRule:
    action = rng.choice(["drop", "delay", "dup"])
    prob = rng.choice([None, 0.3, 0.7])
    return FaultRule(action, direction=rng.choice([None, "in", "out"]), flags=rng.choice([0, 0, ACK, PSH]),
                     nth=rng.choice([None, rng.randrange(1, 30)]),
                     count=rng.choice([None, rng.randrange(1, 4)]),
                     prob=prob, seed=seed if prob is not None else None, over=rng.choice([None, None, 500]),
                     ms=None if action == "drop" else 1)


def _indices(injector: FaultInjector, chosen: dict[int, FaultRule]) -> dict[int, int]:
    """Segment index -> the index of the rule that decided it."""
    return {i: next(k for k, r in enumerate(injector.rules) if r is rule) for i, rule in chosen.items()}


def _args(rule: FaultRule) -> dict[str, object]:
    return dict(action=rule.action, direction=rule.direction, flags=rule.flags, nth=rule.nth,
                count=rule.count, prob=rule.prob, seed=rule.seed, ms=rule.ms, over=rule.over)


@pytest.fixture(autouse=True)
def _note_the_pick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the one-by-one injector say which rule decided (`apply` is told it)."""
    original = FaultInjector.apply

    def apply(self: FaultInjector, direction: str, seg: Segment, chosen: FaultRule | None, now: float,
              item: object = None) -> list[float]:
        self._pick = chosen  # type: ignore[attr-defined]
        return original(self, direction, seg, chosen, now, item)

    monkeypatch.setattr(FaultInjector, "apply", apply)


async def _run(link: WireLink, faulty: FaultyLink, work: list[tuple[float, object]]) -> list[Received]:
    """Do `work` ((time, what) in turn: a super-segment to send, or a packet to receive) and
    collect what the faulty link hands the stack until nothing is due any more."""
    got: list[Received] = []
    async with trio.open_nursery() as nursery:

        async def reader() -> None:
            while True:
                got.extend(await faulty.recv_batch())

        nursery.start_soon(reader)
        for at, what in work:
            await trio.sleep_until(at)
            if isinstance(what, Segment):
                if link.offload:
                    faulty.send_gso(super_segment(what))
                else:
                    for packet in build_packets(what):
                        faulty.send(packet)
            else:
                link.put(what)  # type: ignore[arg-type]
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    return got


def _wire(received: list[Received], offload: bool) -> list[tuple]:
    """The wire segments of what came in, super-packets cut at the MTU's segment size."""
    out = []
    for packet, partial in received:
        seg = parse_tcp_packet(complete_csum(packet) if partial else packet)
        if offload and len(seg.payload) > MSS:
            seg.gso = MSS
            out += [parse_tcp_packet(p).fields() for p in build_packets(seg)]
        else:
            out.append(seg.fields())
    return out


def _incoming(seg: Segment, offload: bool, partial: bool) -> list[Received]:
    """What a device hands over of `seg` (from B to A): the super-packet (its checksum partial or
    not) with offload, else its wire packets."""
    if not offload:
        return [(p, False) for p in build_packets(seg)]
    if partial:
        return [(b"".join(tso_packet(seg)), True)]
    seg.gso = 0
    return [(build_tcp_packet(seg), False)]


@pytest.mark.parametrize("partial", [False, True])
async def test_a_faulty_link_treats_super_segments_as_their_wire_segments(
    autojump_clock: MockClock, partial: bool
) -> None:
    results = {}
    for offload in (False, True):
        link = WireLink(offload)
        t0 = trio.current_time()
        injector = FaultInjector(RULES)
        faulty = FaultyLink(link, injector, clock=trio.current_time)
        assert faulty.offload is offload
        work: list[tuple[float, object]] = []
        seq_out, seq_in = 1000, 5000
        for k in range(8):
            n = 3 + k % 5
            flags = ACK | PSH | (CWR if k == 2 else 0) | (FIN if k == 7 else 0)
            work.append((t0 + k * 0.004, tso_segment(seq_out, n, flags)))
            seq_out += n * MSS - 100
            incoming = tso_segment(seq_in, n, ACK | PSH | (FIN if k == 7 else 0), src=B, dst=A)
            for item in _incoming(incoming, offload, partial):
                work.append((t0 + k * 0.004 + 0.002, item))
            seq_in += n * MSS - 100
        got = await _run(link, faulty, work)
        sent = [(round(t - t0, 9), p) for t, p in link.sent]
        faults = [(round(f.time - t0, 9), f.direction, f.action, f.seg.fields()) for f in injector.injected]
        results[offload] = (sent, _wire(got, offload), _rule_counts(injector), link.supers, faults)
    plain, offloaded = results[False], results[True]
    assert offloaded[0] == plain[0]  # the same wire packets out, at the same times, in the same order
    assert offloaded[1] == plain[1]  # the same segments in
    assert offloaded[2] == plain[2]  # each rule matched and fired as often
    assert offloaded[4] == plain[4]  # the same faults recorded
    assert all(fired for _, fired in plain[2][:5])  # and the rules did act, both ways
    assert plain[2][8][1] and plain[2][10][1]
    # Passing runs went as super-segments: fewer device calls than wire segments.
    assert 0 < offloaded[3] < len(offloaded[0]) // 2
    assert plain[3] == 0


async def test_a_super_segment_no_rule_touches_goes_on_whole(autojump_clock: MockClock) -> None:
    link = WireLink(offload=True)
    faulty = FaultyLink(link, FaultInjector(["drop:dir=out,nth=100", "delay:dir=in,ms=20"]),
                        clock=trio.current_time)
    seg = tso_segment(1, 10)
    packet = super_segment(seg)
    sent: list[SuperSegment] = []
    link.send_gso = sent.append  # type: ignore[method-assign]
    faulty.send_gso(packet)
    assert sent == [packet] and sent[0] is packet  # untouched, not copied
    assert faulty.injector.rules[0].matched == 10  # yet counted as its ten wire segments
