"""The host: the Trio shell around the sans-IO TCP engine.

One task reads packets from the link (a batch at a time) and feeds them to
the engine; one task sleeps until the engine's next deadline; socket calls
talk to the engine directly and then `kick()` the stack, which puts the
engine's segments on the link, wakes the sockets whose readiness changed and
moves the timer task's deadline. Input never raises: a malformed packet is
counted in `drops` under its reason and otherwise ignored, as RFC 1122
section 1.2.2 asks of hosts ("be liberal in what you accept").
"""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import cast

import trio

from minitcp.link.base import Link, OffloadLink
from minitcp.link.gso import tso_packet
from minitcp.link.vnet import complete_csum
from minitcp.sockets.ports import PortTable
from minitcp.sockets.socket import Socket
from minitcp.tcp.connection import conn_key
from minitcp.tcp.engine import TcpEngine
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.observer import Observer
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.gro import Gro
from minitcp.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_ECHO_REQUEST,
    ICMP_PARAMETERPROB,
    ICMP_TIME_EXCEEDED,
    IcmpMessage,
    echo_reply_for,
    parse_icmp,
    quoted_tcp,
)
from minitcp.wire.ipv4 import PROTO_ICMP, PROTO_TCP, IPv4Packet, build_ipv4, ip_int, parse_ipv4
from minitcp.wire.segment import Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet
from minitcp.wire.tso import TSO_MAX, build_packets, wire_count

log = logging.getLogger("minitcp")

PacketHook = Callable[[str, bytes | memoryview, float], None]
"""`on_packet(direction, packet, now)`: direction is "in" or "out"; `now` is Trio time."""


def _is_martian_source(addr: int) -> bool:
    # RFC 1122 section 3.2.1.3: silently discard a datagram whose source is
    # not one host: "this network" 0/8, loopback 127/8, multicast 224/4, the
    # reserved 240/4 and the limited broadcast 255.255.255.255.
    first = addr >> 24
    return first in (0, 127) or first >= 224


# The ICMP errors that quote a datagram of ours (RFC 792; source quench is obsolete, RFC 6633),
# by Linux's ICMP MIB name.
_ICMP_ERROR_COUNTERS = {ICMP_DEST_UNREACH: "InDestUnreachs", ICMP_TIME_EXCEEDED: "InTimeExcds",
                        ICMP_PARAMETERPROB: "InParmProbs"}

class Stack:
    """An IPv4 host with one address on one link.

    `drops` counts discarded packets by reason: the `DropReason` labels of the
    wire parsers, plus `ipv6`, `not_for_us` (another destination address),
    `martian_source` and `icmp_other` (an ICMP type the host does not act on).
    `counters` follows the names of Linux's SNMP counters (`nstat`):
    InReceives, InDelivers, OutRequests, InMsgs/OutMsgs, InEchos/OutEchoReps and
    InDestUnreachs/InTimeExcds/InParmProbs for ICMP. TCP's own counters (InSegs,
    OutSegs, ...) are `engine.counters`.

    With `tso` (the default) the engine sends runs of full-sized segments as one
    TSO segment (`minitcp.wire.tso`), which the stack cuts into wire packets; the
    wire and the engine's observer see the same segments either way. With `gro`
    (by default when the link says so: a TUN device, as a NIC) the segments of a
    batch that continue each other reach the engine joined (`minitcp.wire.gro`),
    as in a Linux host: one decision and one ACK per joined segment, which the
    engine's observer sees joined; `on_packet` and the IP counters see each packet.

    On a link with `offload` on (an `OffloadLink`), TCP packets whose checksum the
    kernel left partial skip that check, and TSO segments go out whole as
    super-segments (`minitcp.link.gso`); a super-segment counts
    as one packet here (as a GRO or TSO packet does in Linux's Ip counters), and
    `on_packet` sees it whole, its checksum completed.
    """

    def __init__(
        self,
        link: Link,
        address: str = "198.18.0.2",
        *,
        prefix_len: int = 24,
        knobs: Knobs | None = None,
        observer: Observer | None = None,
        on_packet: PacketHook | None = None,
        tso: bool = True,
        gro: bool | None = None,
    ) -> None:
        self.link = link
        self.address = address
        self.addr = ip_int(address)
        self._netmask = (0xFFFFFFFF << (32 - prefix_len)) & 0xFFFFFFFF
        self.on_packet = on_packet
        self.drops: collections.Counter[str] = collections.Counter()
        self.counters: collections.Counter[str] = collections.Counter()
        self._ip_ident = 0
        self._offload = cast(OffloadLink, link) if getattr(link, "offload", False) else None
        self.engine = TcpEngine(knobs, mtu=link.mtu, observer=observer)
        if tso:
            self.engine.tso_max = TSO_MAX
        self._gro = Gro() if (getattr(link, "gro", False) if gro is None else gro) else None
        self.ports = PortTable(self.engine)
        self._timer_scope: trio.CancelScope | None = None
        self._activity: trio.lowlevel.ParkingLot | None = None  # a busy poller waiting for traffic

    @property
    def knobs(self) -> Knobs:
        return self.engine.knobs

    def socket(self) -> Socket:
        """A new TCP socket on this stack (socket(AF_INET, SOCK_STREAM))."""
        return Socket(self)

    def now(self) -> float:
        """The time to give the engine with a socket call (it never reads a clock itself): Trio's
        clock, the one the timer task and the packets are stamped with."""
        return trio.current_time()

    def on_link(self, addr: int) -> bool:
        """Whether `addr` is on the link's subnet: the only place the stack can reach."""
        return (addr ^ self.addr) & self._netmask == 0 and addr != self.addr

    async def run(self) -> None:
        """Serve the link until it is closed (or the task is cancelled)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._timer_task)
            busy_poll = self.knobs.busy_poll
            if busy_poll > 0 and hasattr(self.link, "poll_batch"):
                nursery.start_soon(self._busy_poll_task, busy_poll / 1e6)
            await self._reader_task()
            nursery.cancel_scope.cancel()

    async def _busy_poll_task(self, seconds: float) -> None:
        """net.core.busy_poll: once every task waits, poll the link for up to `seconds` before the
        process sleeps, so that a packet coming soon is taken at once rather than after a wake-up.

        A poll that found nothing waits for the reader task's next batch: an idle stack does
        not spin. Other tasks wait for at most one poll (they were all blocked when it began).
        """
        import trio.testing  # here, not at the top: it imports pytest, seconds of start-up for no use

        if self._offload is not None:
            poll, handle = self._offload.poll_batch_csum, self._handle_offload_batch
        else:
            poll, handle = self.link.poll_batch, self._handle_batch  # type: ignore[attr-defined]
        clock = time.perf_counter
        self._activity = trio.lowlevel.ParkingLot()
        while True:
            await trio.testing.wait_all_tasks_blocked()
            end = clock() + seconds
            try:
                while not (batch := poll()) and clock() < end:
                    pass
            except trio.ClosedResourceError:
                return
            if batch:
                self.engine.counters["BusyPollRxPackets"] += len(batch)
                handle(batch)
            else:
                await self._activity.park()
            del batch

    async def _reader_task(self) -> None:
        recv_batch: Callable[[], Awaitable[list]]
        handle_batch: Callable[[list], None]
        if self._offload is not None:
            recv_batch, handle_batch = self._offload.recv_batch_csum, self._handle_offload_batch
        else:
            recv_batch, handle_batch = self.link.recv_batch, self._handle_batch
        while True:
            try:
                batch = await recv_batch()  # a checkpoint: other tasks run between batches
            except trio.ClosedResourceError:
                return
            handle_batch(batch)
            lone = len(batch) == 1
            # Nothing here may hold a packet while the next batch is read: a link that reads
            # into reused memory (link.arena) starts over in the same, cache-warm place then.
            del batch
            if self._activity:
                self._activity.unpark_all()  # busy polling may begin again
            if lone:
                await self._let_woken_tasks_run()

    @staticmethod
    async def _let_woken_tasks_run() -> None:
        """After a lone packet (a request, more often than a piece of a stream): let the tasks it
        woke answer before the reader waits again. Waiting costs a system call to re-arm the
        device's epoll entry, on the answer's path if it comes first; two checkpoints, because
        Trio runs each batch of tasks in random order. 103 -> 87 µs echo p50 (docs/performance.md);
        a burst of packets skips it (5-7 % of bulk throughput when it did not)."""
        await trio.lowlevel.cancel_shielded_checkpoint()
        await trio.lowlevel.cancel_shielded_checkpoint()

    def _handle_batch(self, batch: list[bytes | memoryview]) -> None:
        now, handle = trio.current_time(), self._input
        if len(batch) == 1:  # nothing to join it with: past GRO at once (a round trip's usual batch)
            handle(batch[0], now, gro=False)
        else:
            for pkt in batch:
                handle(pkt, now)
            self._flush_gro(now)
        self.kick()

    def _handle_offload_batch(self, batch: list[tuple[memoryview, bool]]) -> None:
        now, handle = trio.current_time(), self._input
        for pkt, csum_partial in batch:
            handle(pkt, now, csum_partial)
        self._flush_gro(now)
        self.kick()

    async def _timer_task(self) -> None:
        """Sleep until the engine's earliest deadline; `kick()` moves the deadline as it changes."""
        engine = self.engine
        while True:
            with trio.CancelScope() as scope:
                self._timer_scope = scope
                deadline = engine.poll_at()
                scope.deadline = math.inf if deadline is None else deadline
                await trio.sleep_forever()
            self._timer_scope = None
            now = trio.current_time()
            deadline = engine.poll_at()
            if deadline is not None and deadline <= now:
                engine.handle_timeout(now)
            self.kick()

    def kick(self) -> None:
        """After any engine call: send its segments, wake sockets, move the timer's deadline."""
        engine = self.engine
        if engine.out:
            now = trio.current_time()
            for seg in engine.take_output():
                if not seg.gso:
                    self._send(build_tcp_packet(seg), now)
                elif self._offload is not None:
                    self._send_tso(self._offload, seg, now)
                else:
                    for packet in build_packets(seg):
                        self._send(packet, now)
        if engine.events:
            for obj in engine.take_events():
                if obj.user is not None:
                    obj.user.wake()
        scope = self._timer_scope
        if scope is not None:
            # Only ever earlier: trio's setter re-files the scope (~3 us), and a deadline that
            # moved later (an RTO re-armed by every send, cancelled by every ACK) costs the
            # timer task one early wake-up, in which it finds nothing due and sleeps again.
            deadline = engine.poll_at()
            if deadline is not None and deadline < scope.deadline:
                scope.deadline = deadline

    def handle_packet(self, pkt: bytes | memoryview, now: float | None = None) -> None:
        """Process one received IPv4 packet and send what it causes; `now` defaults to Trio time."""
        self._input(pkt, trio.current_time() if now is None else now, gro=False)
        self.kick()

    def _input(self, pkt: bytes | memoryview, now: float, csum_partial: bool = False,
               gro: bool = True) -> None:
        self.counters["InReceives"] += 1
        if self.on_packet is not None:
            self.on_packet("in", complete_csum(pkt) if csum_partial else pkt, now)
        try:
            self._ip_input(pkt, now, csum_partial, gro)
        except WireError as e:
            self.drops[e.reason.label] += 1

    def _ip_input(self, pkt: bytes | memoryview, now: float, csum_partial: bool = False,
                  gro: bool = True) -> None:
        if not pkt:
            self.drops[DropReason.TRUNCATED.label] += 1
            return
        version = pkt[0] >> 4
        if version == 6:
            self.drops["ipv6"] += 1
            return
        if version == 4 and len(pkt) >= 20 and pkt[9] == PROTO_TCP:
            # TCP is the hot path: one call validates IPv4 and TCP together.
            seg = parse_tcp_packet(pkt, csum_partial)
            if self._accept(seg.src, seg.dst):
                self.counters["InDelivers"] += 1
                joiner = self._gro if gro else None
                if joiner is None:
                    self._tcp_input(seg, now)
                elif not joiner.join(seg):
                    if joiner.holding:
                        self._tcp_input(joiner.take(), now)
                    if not joiner.hold(seg):
                        self._tcp_input(seg, now)
            return
        self._flush_gro(now)  # what came before this packet is handled before it
        ip = parse_ipv4(pkt)
        if not self._accept(ip.src, ip.dst):
            return
        if ip.proto == PROTO_ICMP:
            self.counters["InDelivers"] += 1
            self._icmp_input(ip, now)
        else:
            self.drops[DropReason.UNSUPPORTED_PROTOCOL.label] += 1

    def _accept(self, src: int, dst: int) -> bool:
        if dst != self.addr:
            # A host does not forward (RFC 1122 section 3.3.1) and never
            # answers for an address that is not its own.
            self.drops["not_for_us"] += 1
            return False
        if _is_martian_source(src) or src == self.addr:
            self.drops["martian_source"] += 1
            return False
        return True

    def _icmp_input(self, ip: IPv4Packet, now: float) -> None:
        msg = parse_icmp(ip.payload)
        self.counters["InMsgs"] += 1
        counter = _ICMP_ERROR_COUNTERS.get(msg.type)
        if counter is not None:
            self.counters[counter] += 1
            self._icmp_error(msg, now)
            return
        if msg.type != ICMP_ECHO_REQUEST:
            self.drops["icmp_other"] += 1
            return
        # RFC 1122 section 3.2.2.6: every host answers echo requests, with the
        # same identifier, sequence number and data.
        self.counters["InEchos"] += 1
        reply = echo_reply_for(msg)
        self._ip_ident = (self._ip_ident + 1) & 0xFFFF
        # Linux sends ICMP replies with DF clear (its ICMP socket does not do
        # path MTU discovery), so each needs its own IP ID; TOS is the request's.
        self._send(
            build_ipv4(self.addr, ip.src, PROTO_ICMP, reply, ident=self._ip_ident, tos=ip.tos, df=False), now
        )
        self.counters["OutMsgs"] += 1
        self.counters["OutEchoReps"] += 1

    def _icmp_error(self, msg: IcmpMessage, now: float) -> None:
        """An error about a datagram of ours: the TCP engine decides (RFC 5927, Linux tcp_v4_err)."""
        quoted = quoted_tcp(msg)  # WireError for a short quote: counted as a drop by the caller
        if quoted is None or quoted[0] != self.addr:
            self.drops["icmp_other"] += 1
            return
        src, dst, sport, dport, seq = quoted
        self.engine.icmp_error(src, sport, dst, dport, seq, msg.type, msg.code, now)

    def _flush_gro(self, now: float) -> None:
        gro = self._gro
        if gro is not None and gro.holding:
            self._tcp_input(gro.take(), now)

    def _tcp_input(self, seg: Segment, now: float) -> None:
        """Every TCP segment addressed to us enters the engine here.

        A bug that one segment trips must not stop the host: the connection it
        belongs to is reset, the error logged and counted, and the stack goes on.
        """
        engine = self.engine
        try:
            engine.receive(seg, now)
        except Exception:
            conn = engine.conns.get(conn_key(seg.dst, seg.dport, seg.src, seg.sport))
            if conn is not None:
                # The engine's own handler (its timers use it too): it logs and counts, resets
                # an orphaned connection as well (abort() is close(), a no-op once closed) and
                # tells a program still holding the socket ECONNABORTED, as Linux's tcp_abort.
                engine.connection_failed(conn)
            else:
                log.exception("TCP input failed before any connection was involved")
                engine.counters["TCPConnectionErrors"] += 1

    def _send_tso(self, link: OffloadLink, seg: Segment, now: float) -> None:
        """A TSO segment to a device that cuts it itself: one packet (`minitcp.link.gso`)."""
        parts = tso_packet(seg)
        self.counters["OutRequests"] += 1
        if self.on_packet is not None:
            self.on_packet("out", complete_csum(b"".join(parts)), now)
        link.send_gso(parts, seg.gso, wire_count(seg))

    def _send(self, packet: bytes, now: float) -> None:
        self.counters["OutRequests"] += 1
        if self.on_packet is not None:
            self.on_packet("out", packet, now)
        self.link.send(packet)
