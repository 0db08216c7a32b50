"""The stack: the Trio shell around the sans-IO host (`minitcp.host.Host`).

One task reads packets from the link (a batch at a time) and feeds them to
the host; one task sleeps until the engine's next deadline; with busy polling
on, one more polls the link while every other task waits. Socket calls talk to
the engine directly and then `kick()` the stack, which sends the engine's
segments through the host, wakes the sockets whose readiness changed and moves
the timer task's deadline; it also feeds the host what the link read while it wrote (an
`EarlyLink`), at the times it was read. Everything about packets (IPv4, ICMP, GRO, TSO,
drops and counters) is the host's; this module only waits and wakes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import trio

from minitcp.host.cookie_batch import CookieBatch
from minitcp.host.host import Host, PacketHook
from minitcp.link.base import CookieLink, Link, OffloadLink, PollingLink, Received, Stamped
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.observer import Observer

if TYPE_CHECKING:
    from minitcp.sockets.calls import CallHook


LATE_WAKE = 0.001  # s: a timer task woken later than this after its deadline lets woken tasks go first


class Stack:
    """A host with one IPv4 address and one IPv6 address on one link, served by Trio tasks.

    IPv6's address is `address6` (RFC 5180's benchmarking range by default, as
    198.18.0.0/15 is IPv4's; None: IPv4 only, IPv6 packets dropped and counted).

    The host (`minitcp.host.Host`) holds what the stack knows; its parts are
    here under the same names: `engine` (TCP), `drops` and `counters` (see
    `Host`), `ports` (the local ports), `address`/`addr`, `address6`/`addr6`. With `tso` (the
    default) the engine sends TSO segments, cut by the host or, on a link with
    `offload`, by the device; `gro` joins each batch's segments before TCP sees
    them, by default when the link says so (`Link.gro`: a TUN device, as a NIC).
    """

    def __init__(
        self,
        link: Link,
        address: str = "198.18.0.2",
        *,
        prefix_len: int = 24,
        address6: str | None = "2001:2::2",
        prefix6_len: int = 64,
        knobs: Knobs | None = None,
        observer: Observer | None = None,
        on_packet: PacketHook | None = None,
        tso: bool = True,
        gro: bool | None = None,
    ) -> None:
        self.link = link
        self.address = address
        self.host = Host(
            address,
            mtu=link.mtu,
            send=link.send,
            send_gso=cast(OffloadLink, link).send_gso if link.offload else None,
            prefix_len=prefix_len,
            address6=address6,
            prefix6_len=prefix6_len,
            knobs=knobs,
            observer=observer,
            on_packet=on_packet,
            tso=tso,
            gro=link.gro if gro is None else gro,
        )
        self.addr = self.host.addr
        self.address6 = address6
        self.addr6 = self.host.addr6
        self.engine = self.host.engine
        self.drops = self.host.drops
        self.counters = self.host.counters
        self.ports = self.host.ports
        # Socket calls told as they return (sockets/calls.py): set it before making the sockets.
        self.on_call: CallHook | None = None
        self._timer_scope: trio.CancelScope | None = None
        self._activity: trio.lowlevel.ParkingLot | None = None  # a busy poller waiting for traffic
        # Packets the link read while it wrote (an `EarlyLink`), fed by `kick` at their read times.
        self._take_early: Callable[[], list[Stamped]] | None = getattr(link, "take_early", None)
        if getattr(link, "answer_cookies", None) is not None:
            # A SYN flood's batches answered by the link (host/cookie_batch.py): the table is
            # None whenever an observer or `on_packet` watches, so traces stay complete.
            cast(CookieLink, link).answer_cookies(CookieBatch(self.host))

    @property
    def knobs(self) -> Knobs:
        return self.engine.knobs

    @property
    def on_packet(self) -> PacketHook | None:
        """The host's packet hook (`Host.on_packet`), which may be set after construction."""
        return self.host.on_packet

    @on_packet.setter
    def on_packet(self, hook: PacketHook | None) -> None:
        self.host.on_packet = hook

    def now(self) -> float:
        """The time to give the engine with a socket call (it never reads a clock itself): Trio's
        clock, the one the timer task and the packets are stamped with."""
        return trio.current_time()

    def on_link(self, addr: int) -> bool:
        """Whether `addr` is on the link's subnet: the only place the stack can reach."""
        return self.host.on_link(addr)

    async def run(self) -> None:
        """Serve the link until it is closed (or the task is cancelled)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._timer_task)
            busy_poll = self.knobs.busy_poll
            if busy_poll > 0 and self.link.busy_poll:
                nursery.start_soon(self._busy_poll_task, cast(PollingLink, self.link), busy_poll / 1e6)
            await self._reader_task()
            nursery.cancel_scope.cancel()

    async def _busy_poll_task(self, link: PollingLink, seconds: float) -> None:
        """net.core.busy_poll: once every task waits, poll the link for up to `seconds` before the
        process sleeps, so that a packet coming soon is taken at once rather than after a wake-up.

        A poll that found nothing waits for the reader task's next batch: an idle stack does
        not spin. Other tasks wait for at most one poll (they were all blocked when it began).
        """
        import trio.testing  # here, not at the top: it imports pytest, seconds of start-up for no use

        poll, handle = link.poll_batch, self._handle_batch
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

    def _handle_batch(self, batch: list[Received]) -> None:
        self.host.receive_batch(batch, trio.current_time())
        self.kick()

    async def _timer_task(self) -> None:
        """Sleep until the engine's earliest deadline; `kick()` moves the deadline as it changes."""
        host = self.host
        while True:
            with trio.CancelScope() as scope:
                self._timer_scope = scope
                deadline = host.poll_at()
                scope.deadline = math.inf if deadline is None else deadline
                await trio.sleep_forever()
            self._timer_scope = None
            if trio.current_time() - scope.deadline > LATE_WAKE:
                # Woken late (the process stalled): tasks due earlier woke in the same batch, in
                # Trio's random order, the reader among them with a packet the device held (or
                # a fault rule let go, after a checkpoint of its own). Let them go first, as the
                # kernel takes a packet in when it arrives: an ACK that came before the deadline
                # is not overtaken by the timeout it would have cancelled (a spurious RTO).
                await self._let_woken_tasks_run()
            now = trio.current_time()
            deadline = host.poll_at()
            if deadline is not None and deadline <= now:
                host.handle_timeout(now)
            self.kick()

    def kick(self) -> None:
        """After any engine call: send its segments, wake sockets, move the timer's deadline."""
        engine = self.engine
        if engine.out:
            self.host.transmit(trio.current_time())
        if self._take_early is not None:
            self._feed_early(self._take_early)
        if engine.events:
            for obj in engine.take_events():
                if obj.user is not None:
                    obj.user.wake()
        scope = self._timer_scope
        if scope is not None:
            # Only ever earlier: trio's setter re-files the scope (~3 us), and a deadline that
            # moved later (an RTO re-armed by every send, cancelled by every ACK) costs the
            # timer task one early wake-up, in which it finds nothing due and sleeps again.
            deadline = self.host.poll_at()
            if deadline is not None and deadline < scope.deadline:
                scope.deadline = deadline

    def _feed_early(self, take_early: Callable[[], list[Stamped]]) -> None:
        """Feed the host what the link read while it wrote (`EarlyLink`), at the times it read
        them, then send what they caused. What those writes read in turn waits for the next kick
        or the reader task: feeding on while packets kept coming (tried: up to 4 rounds) gained
        nothing in the loss bench's burst row and held the other tasks back (a test's task that
        waits for 100 KB in flight, tests/tun/test_tun_fragments_errors.py, sent its ICMP late).

        A packet is taken in at the time it could first be read, as Linux's tcp_ack takes its
        tcp_mstamp right after the NIC gave the ACK: read after a burst of writes instead, an
        ACK's RTT sample would hold the burst's length, a delay growing with cwnd that CUBIC's
        HyStart (hystart_update's HYSTART_DELAY) reads as a queue building. Never earlier than
        the engine's `now`, though: the sans-IO engine must see time only go forward."""
        early = take_early()
        if not early:
            return
        host, engine = self.host, self.engine
        for stamp, batch in early:
            host.receive_batch(batch, max(stamp, engine.now))
        # Nothing may keep a packet past here (see _reader_task: reused receive memory).
        del early, batch
        if engine.out:
            host.transmit(max(trio.current_time(), engine.now))

    def handle_packet(self, pkt: bytes | memoryview, now: float | None = None) -> None:
        """Process one received IP packet and send what it causes; `now` defaults to Trio time."""
        self.host.receive(pkt, trio.current_time() if now is None else now)
        self.kick()
