"""Two engines joined by a simulated wire, in virtual time (no Trio, no clock, no sockets).

The wire carries real bytes: each segment is built with the wire module and
parsed again on arrival, so options and checksums are exercised too. A
`fault` hook sees every segment and may drop, delay or duplicate it, so tests
and labs can lose exactly the segment they want to talk about.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from ..wire import tso
from ..wire.segment import Segment
from ..wire.tcp import build_tcp6_packet, build_tcp_packet, parse_tcp6_packet, parse_tcp_packet
from .engine import TcpEngine
from .family import parse_addr
from .knobs import Knobs

# A packet on the simulated wire: (arrival time, tiebreak, destination "a"/"b", bytes).
InFlight = tuple[float, float, str, bytes]

# A fault hook answers, for one segment, the list of extra delays to deliver it with:
# [] drops it, [0.0] delivers it once, [0.0, 0.0] duplicates it, [0.05] delays it.
Fault = Callable[[str, Segment, float], list[float]]


@dataclass
class WireEvent:
    """One segment on the simulated wire: sent at `time` by `sender` ("a" or "b")."""

    time: float
    sender: str
    seg: Segment
    delivered: bool


class EnginePair:
    # Either family: a subclass with IPv6 addresses puts IPv6 packets on the wire.
    ADDR_A = "198.18.0.1"
    ADDR_B = "198.18.0.2"

    def __init__(
        self,
        knobs_a: Knobs | None = None,
        knobs_b: Knobs | None = None,
        *,
        latency: float = 0.0005,
        mtu: int = 1500,
        fault: Fault | None = None,
        seed: bytes = b"minitcp-pair-secret",
    ) -> None:
        self.a = TcpEngine(knobs_a, mtu=mtu, secret=seed + b"a")
        self.b = TcpEngine(knobs_b, mtu=mtu, secret=seed + b"b")
        self.addr_a = parse_addr(self.ADDR_A)
        self.addr_b = parse_addr(self.ADDR_B)
        self.latency = latency
        self.fault = fault
        self.now = 0.0
        self.wire: list[WireEvent] = []
        self._flight: list[InFlight] = []
        self._tick = itertools.count()

    def engine(self, name: str) -> TcpEngine:
        return self.a if name == "a" else self.b

    def pump(self) -> None:
        """Move every segment the engines produced onto the wire."""
        for name in ("a", "b"):
            for out in self.engine(name).take_output():
                for seg in tso.split(out) if out.gso else (out,):  # an engine with tso_max set
                    delays = self.fault(name, seg, self.now) if self.fault is not None else [0.0]
                    self.wire.append(WireEvent(self.now, name, seg, bool(delays)))
                    packet = build_tcp6_packet(seg) if seg.ip_version == 6 else build_tcp_packet(seg)
                    for extra in delays:
                        self.send_at(name, packet, self.now + self.latency + extra)

    def send_at(self, sender: str, packet: bytes, at: float, after_next: bool = False) -> InFlight:
        """Put a packet from `sender` on the wire to arrive at `at`; returns a handle for `cancel_send`.

        `after_next` orders it just after the next segment the pair itself queues for the same
        moment (a fault that lets one segment overtake another uses it).
        """
        tick: float = next(self._tick)
        if after_next:
            tick += 1.5
        entry = (at, tick, "b" if sender == "a" else "a", packet)
        heapq.heappush(self._flight, entry)
        return entry

    def cancel_send(self, entry: InFlight) -> bool:
        """Take a packet off the wire before it arrives; False when it has arrived already."""
        if entry not in self._flight:
            return False
        self._flight.remove(entry)
        heapq.heapify(self._flight)
        return True

    def next_event(self) -> float | None:
        times = [t for t in (self.a.poll_at(), self.b.poll_at()) if t is not None]
        if self._flight:
            times.append(self._flight[0][0])
        return min(times) if times else None

    def step(self) -> bool:
        """Advance to the next arrival or timer and process it; False when nothing is left."""
        self.pump()
        t = self.next_event()
        if t is None:
            return False
        self.now = max(self.now, t)
        while self._flight and self._flight[0][0] <= self.now:
            _, _, dest, packet = heapq.heappop(self._flight)
            seg = parse_tcp6_packet(packet) if packet[0] >> 4 == 6 else parse_tcp_packet(packet)
            self.engine(dest).receive(seg, self.now)
            self.pump()
        for eng in (self.a, self.b):
            due = eng.poll_at()
            if due is not None and due <= self.now:
                eng.handle_timeout(self.now)
        self.pump()
        return True

    def run(self, until: float | None = None, max_steps: int = 1_000_000) -> None:
        """Run until `until` (virtual seconds) or until nothing is left to do."""
        for _ in range(max_steps):
            self.pump()
            t = self.next_event()
            if t is None or (until is not None and t > until):
                break
            self.step()
        else:
            raise RuntimeError(f"still busy after {max_steps} steps at t={self.now:.3f}")
        if until is not None:
            self.now = max(self.now, until)  # what the application does next is given this time

    def run_for(self, seconds: float) -> None:
        self.run(until=self.now + seconds)

    def sent(self, sender: str | None = None) -> list[WireEvent]:
        return [e for e in self.wire if sender is None or e.sender == sender]
