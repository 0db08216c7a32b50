"""A Link that puts every packet through a FaultInjector (`minitcp.faults`): the rules under a
`Stack`, on the wire segments a packet stands for."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from minitcp.faults import FaultInjector, FaultRule, PacketFaultHook
from minitcp.wire.csum_partial import complete_csum
from minitcp.wire.errors import WireError
from minitcp.wire.gso import SuperSegment, super_segment
from minitcp.wire.ipv4 import PROTO_TCP, parse_ipv4
from minitcp.wire.segment import Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp6_packet, parse_tcp_packet
from minitcp.wire.tso import cuts, pieces, run, wire_count

if TYPE_CHECKING:
    from minitcp.link.base import EarlyLink, Link, OffloadLink, Received, Stamped


class FaultyLink:
    """A Link that puts every packet through a FaultInjector: `Stack(FaultyLink(link, injector))`.

    `dir=out` is what the stack sends, `dir=in` what it receives. Other IPv4
    packets (a ping) meet the rules as a segment with no flags, so a rule
    without `flags=` bends them too, as netem would, while `flags=S` still
    only ever matches SYNs; what is not IPv4 (the kernel's IPv6 chatter) or
    does not parse passes untouched, for the stack to count. Delayed and held
    packets are let go by `recv_batch`, which the stack is always waiting in,
    so no extra task is needed; `clock` is the stack's clock (Trio time by
    default). `report(direction, action, packet, now)`, when given, hears of
    each fault with the whole packet (for `-v` lines), besides the injector's
    own observer.

    It offloads as the link it wraps does (`offload`, a TUN device with virtio-net
    offloads), and the rules still meet the segments a wire carries, one by one:
    a super-segment, the stack's (`send_gso`) or the kernel's (a received packet
    with more payload than the MTU leaves room for: the device cut at the MTU's
    segment size, which is the kernel's gso_size as long as the stack's MSS is the
    MTU's), is as many wire segments to the rules (`minitcp.wire.tso.pieces`), with
    the decisions and counts they would get one by one. A run of segments that
    pass goes on as one super-segment (the stack's, untouched, when all of it
    passes); one a rule acts on goes apart as a plain packet. Packets whose checksum
    the device left partial pass as they are, and are completed when a rule acts
    on them. No GRO or busy polling is declared: delayed packets come one by one.

    `take_early` (`EarlyLink`): what the link under it read between writes goes through the
    rules at the time it was read (a delay counts from then), and a delayed packet whose time
    came while the stack was writing (since its first send after the last `take_early`) is let
    go at that time, so the stack takes it in when it arrived on this wire, not after the burst.
    """

    gro = False
    busy_poll = False

    def __init__(self, link: Link, injector: FaultInjector, *,
                 clock: Callable[[], float] | None = None, report: PacketFaultHook | None = None) -> None:
        self.link = link
        self.injector = injector
        self.mtu = link.mtu
        self.offload: bool = link.offload
        self._clock = clock
        self.report = report
        self._packet: bytes | memoryview = b""  # the packet being decided, for `report`
        self._observer = injector.observer
        injector.observer = self  # to add the packet to what the injector's observer hears
        self._timed: list[tuple[float, int, str, bytes]] = []  # (due, tiebreak, direction, packet)
        self._tick = itertools.count()
        self._ready: list[tuple[float, Received]] = []  # incoming packets due now, with their time
        self._writing_since: float | None = None  # the first send since the last take_early
        self._scope: Any = None  # the CancelScope recv_batch waits in, to move its deadline

    @property
    def tx_dropped(self) -> int:
        return self.link.tx_dropped

    @property
    def name(self) -> str:
        return getattr(self.link, "name", "")

    def on_fault(self, direction: str, seg: Segment, action: str, now: float) -> None:
        """The injector's observer hook: pass it on, and to `report` with the packet."""
        if self._observer is not None and hasattr(self._observer, "on_fault"):
            self._observer.on_fault(direction, seg, action, now)
        if self.report is not None:
            self.report(direction, action, self._packet, now)

    def now(self) -> float:
        if self._clock is not None:
            return self._clock()
        import trio

        return trio.current_time()

    def send(self, packet: bytes) -> None:
        now = self.now()
        if self._writing_since is None:
            self._writing_since = now
        self._pass("out", packet, False, now)

    def send_gso(self, packet: SuperSegment) -> None:
        """With `offload`: the stack's super-segment, its wire segments through the rules."""
        header = packet.parts[0]
        ihl = (header[0] & 0x0F) * 4
        data = int.from_bytes(header[2:4], "big") - ihl - (header[ihl + 12] >> 4) * 4
        wire = [(flags, n) for _, n, flags in cuts(data, packet.gso_size, header[ihl + 13])]
        now = self.now()
        if self._writing_since is None:
            self._writing_since = now
        chosen = self.injector.choose("out", wire)
        if not chosen and not self.injector.holding("out"):
            cast("OffloadLink", self.link).send_gso(packet)
            return
        seg = parse_tcp_packet(b"".join(packet.parts), True)
        seg.gso = packet.gso_size
        self._pieces("out", seg, chosen, now)

    def close(self) -> None:
        self.link.close()

    async def recv_batch(self) -> list[Received]:
        import trio

        while True:
            self._let_go(self.now())
            if self._ready:
                await trio.lowlevel.checkpoint()
                ready, self._ready = self._ready, []
                return [packet for _, packet in ready]
            due = self._next_due()
            with trio.CancelScope(deadline=math.inf if due is None else due) as scope:
                self._scope = scope
                try:
                    batch = await self.link.recv_batch()
                finally:
                    self._scope = None
            if scope.cancelled_caught:
                continue
            now = self.now()
            for pkt, csum_partial in batch:
                self._pass("in", pkt, csum_partial, now)

    def take_early(self) -> list[Stamped]:
        """The packets that reached this end while the stack wrote, oldest first, each batch
        with the time it did: those the link under it read between writes, through the rules
        at their read times, and those a delay let go meanwhile, at their due times."""
        inner = getattr(self.link, "take_early", None)
        if inner is not None:
            for stamp, batch in cast("EarlyLink", self.link).take_early():
                for pkt, csum_partial in batch:
                    self._pass("in", pkt, csum_partial, stamp)
        since, self._writing_since = self._writing_since, None
        if since is not None:
            # Only what came due during the writes: one due before them is the reader task's,
            # and goes first (so also all after it, in order).
            now, timed = self.now(), self._timed
            while timed and since < timed[0][0] <= now:
                due, _, direction, packet = heapq.heappop(timed)
                self._deliver(direction, packet, due)
        if not self._ready:
            return []
        ready, self._ready = self._ready, []
        ready.sort(key=lambda item: item[0])  # in the order they came (stable: ties as passed)
        early: list[Stamped] = []
        for at, received in ready:
            if early and early[-1][0] == at:
                early[-1][1].append(received)
            else:
                early.append((at, [received]))
        return early

    def _pass(self, direction: str, packet: bytes | memoryview, partial: bool, now: float) -> None:
        seg = _subject(packet, partial)
        if seg is None:
            self._deliver(direction, complete_csum(packet) if partial else packet, now)
            return
        gso = self.mtu - (len(packet) - len(seg.payload))  # the MTU's segment size
        if direction == "in" and seg.ip_version == 4 and gso > 0 and len(seg.payload) > gso:
            seg.gso = gso  # a super-segment from an offloading device: its wire segments in turn
            chosen = self.injector.choose(direction, [(flags, n) for _, n, flags in pieces(seg)])
            if chosen or self.injector.holding(direction):
                self._pieces(direction, seg, chosen, now)
            else:
                self._ready.append((now, (packet, partial)))
            return
        rule = self.injector.choose(direction, [(seg.flags, len(seg.payload))]).get(0)
        if rule is None and not self.injector.holding(direction):
            self._deliver(direction, packet, now, partial)  # the usual case, untouched
            return
        if partial:
            packet = complete_csum(packet)
        self._decided(direction, seg, rule, bytes(packet), now)

    def _pieces(self, direction: str, seg: Segment, chosen: dict[int, FaultRule], now: float) -> None:
        """The wire segments of `seg` (a TSO segment) in turn, `chosen` the rule that acts on each:
        runs of those that pass go on together, the others through `_decided` one by one."""
        count = wire_count(seg)
        first = 0  # the run of passing segments not yet sent: first .. i - 1
        for i in range(count):
            rule = chosen.get(i)
            if rule is None and not self.injector.holding(direction):
                continue
            if first < i:
                self._deliver_run(direction, run(seg, first, i), now)
            piece = run(seg, i, i + 1)
            self._decided(direction, piece, rule, build_tcp_packet(piece), now)
            first = i + 1
        if first < count:
            self._deliver_run(direction, run(seg, first, count), now)

    def _deliver_run(self, direction: str, seg: Segment, now: float) -> None:
        if direction == "out" and seg.gso:
            cast("OffloadLink", self.link).send_gso(super_segment(seg))
        else:
            self._deliver(direction, build_tcp_packet(seg), now)

    def _decided(self, direction: str, seg: Segment, rule: FaultRule | None, packet: bytes,
                 now: float) -> None:
        """`seg` (whose packet is `packet`) as `rule` (None: no rule) has it, then whatever a
        reorder rule held back in `direction` and it overtook."""
        self._packet = packet
        delays = self.injector.apply(direction, seg, rule, now, item=packet)
        for delay in delays:
            if delay <= 0:
                self._deliver(direction, packet, now)
            else:
                self._schedule(now + delay, direction, packet)
        for held in self.injector.take_released(direction):
            if delays and min(delays) > 0:
                self._schedule(now + min(delays), direction, held.item)
            else:
                self._deliver(direction, held.item, now)
        if self._scope is not None:
            due = self._next_due()
            self._scope.deadline = math.inf if due is None else due

    def _schedule(self, due: float, direction: str, packet: bytes) -> None:
        heapq.heappush(self._timed, (due, next(self._tick), direction, packet))

    def _deliver(self, direction: str, packet: bytes | memoryview, at: float, partial: bool = False) -> None:
        """Send `packet`, or keep it for the stack as arrived at `at`."""
        if direction == "out":
            self.link.send(bytes(packet))
        else:
            self._ready.append((at, (packet, partial)))

    def _let_go(self, now: float) -> None:
        while self._timed and self._timed[0][0] <= now:
            _, _, direction, packet = heapq.heappop(self._timed)
            self._deliver(direction, packet, now)
        for held in self.injector.expired(now):
            self._deliver(held.direction, held.item, now)

    def _next_due(self) -> float | None:
        times = [t for t in (self._timed[0][0] if self._timed else None, self.injector.next_deadline())
                 if t is not None]
        return min(times) if times else None


def _subject(packet: bytes | memoryview, partial: bool = False) -> Segment | None:
    """What the rules see of a packet (`partial`: its TCP checksum left partial): its TCP segment
    (of either family), a flagless stand-in for other IPv4, or None."""
    try:
        if len(packet) >= 20 and packet[0] >> 4 == 4 and packet[9] == PROTO_TCP:
            return parse_tcp_packet(packet, partial)
        if len(packet) >= 40 and packet[0] >> 4 == 6:
            return parse_tcp6_packet(packet, partial)  # other IPv6 (ICMPv6, fragments) raises: passed on
        ip = parse_ipv4(packet)
    except WireError:
        return None  # malformed or not IPv4: the stack counts it; faults are for real traffic
    return Segment(ip.src, ip.dst, 0, 0, 0, 0, 0, 0)
