"""Two Stacks joined by a memory link, in virtual time: the network of the socket API tests.

`A` (198.18.0.1, 2001:2::1) plays the kernel-like peer, `B` (198.18.0.2, 2001:2::2) the other host.
Both run in the test's nursery. Every segment either stack puts on the wire
is kept in `Net.wire` (parsed, with the sender and the virtual time), and
both engines report to one `trace.Recorder` (`Net.trace`, hosts "a" and "b"),
so tests can assert what went on the wire and which states a connection passed
through.

The fixtures `make_net` and `net` (tests/conftest.py) build a `Net` with `new_net`.
pytest-trio only runs a test in virtual time when the test itself asks for the
clock, so every test takes `autojump_clock` (pytest-trio's fixture) as an
argument; `make_net` checks that it did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing

from minitcp.link.base import Received
from minitcp.link.memory import MemoryLink, memory_link_pair
from minitcp.sockets.socket import Socket
from minitcp.stack import Stack
from minitcp.tcp.states import State
from minitcp.trace.recorder import Recorder
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, FIN, PSH, RST, SYN, Segment, flag_str
from minitcp.wire.tcp import parse_tcp6_packet, parse_tcp_packet

from ..helpers.recorded import state_path

A_ADDR = "198.18.0.1"
B_ADDR = "198.18.0.2"
A_ADDR6 = "2001:2::1"
B_ADDR6 = "2001:2::2"
A_INT = ip_int(A_ADDR)
B_INT = ip_int(B_ADDR)

__all__ = [
    "ACK", "A_ADDR", "B_ADDR", "FIN", "PSH", "RST", "SYN", "Net", "NetFactory", "Sent", "connected_pair",
    "new_net", "settle",
]


@dataclass
class Sent:
    """One segment on the wire: who sent it ("a" or "b"), when, and the parsed segment."""

    sender: str
    time: float
    seg: Segment

    @property
    def flags(self) -> int:
        return self.seg.flags

    def __repr__(self) -> str:
        s = self.seg
        return f"{self.time:.3f} {self.sender} {s.sport}>{s.dport} [{flag_str(s.flags)}] len={len(s.payload)}"


class Cable:
    """A link as the stack sees it, with a plug: unplugged, nothing goes out or comes in."""

    offload = gro = busy_poll = False  # a plain memory link's features

    def __init__(self, link: MemoryLink) -> None:
        self.inner = link
        self.mtu = link.mtu
        self.unplugged = False

    @property
    def tx_dropped(self) -> int:
        return self.inner.tx_dropped

    async def recv_batch(self) -> list[Received]:
        while True:
            batch = await self.inner.recv_batch()
            if not self.unplugged:
                return batch

    def send(self, packet: bytes) -> None:
        if not self.unplugged:
            self.inner.send(packet)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Net:
    a: Stack
    b: Stack
    trace: Recorder  # both engines' observer, as hosts "a" and "b"
    wire: list[Sent] = field(default_factory=list)

    def stack(self, name: str) -> Stack:
        return self.a if name == "a" else self.b

    def unplug(self, name: str) -> None:
        """Pull host `name`'s cable: from now on nothing it sends arrives and nothing reaches it.
        Its stack keeps running (and retransmitting into the void); the wire log still shows
        what it sent."""
        link = self.stack(name).link
        assert isinstance(link, Cable)
        link.unplugged = True

    def sent(self, sender: str | None = None, *, port: int | None = None, has: int = 0,
             lacks: int = 0, since: int = 0) -> list[Sent]:
        """Segments on the wire, from `sender`, with `port` as either port, carrying flags `has`
        and none of `lacks`; `since` skips the first entries (a mark taken with len(net.wire))."""
        out = []
        for s in self.wire[since:]:
            if sender is not None and s.sender != sender:
                continue
            if port is not None and port not in (s.seg.sport, s.seg.dport):
                continue
            if s.flags & has != has or s.flags & lacks:
                continue
            out.append(s)
        return out

    def state_path(self, conn: object) -> list[State]:
        """The states `conn` went through, starting with the first one it left."""
        return state_path(self.trace, conn)


def _recorder(net: Net, name: str) -> Callable[[str, bytes | memoryview, float], None]:
    def on_packet(direction: str, packet: bytes | memoryview, now: float) -> None:
        if direction != "out":
            return
        packet = bytes(packet)
        if packet[0] >> 4 == 6:
            if packet[6] == 6:  # TCP, no extension headers
                net.wire.append(Sent(name, now, parse_tcp6_packet(packet)))
        elif packet[9] == 6:  # TCP
            net.wire.append(Sent(name, now, parse_tcp_packet(packet)))

    return on_packet


NetFactory = Callable[..., Net]


def new_net(nursery: trio.Nursery, *, run_a: bool = True, run_b: bool = True, mtu: int = 1500,
            capacity: int = 1024, **knobs: Any) -> Net:
    """A fresh network whose stacks run in `nursery` (see the `make_net` fixture)."""
    la, lb = memory_link_pair(mtu, capacity=capacity)
    trace = Recorder(timers=False)
    a = Stack(Cable(la), A_ADDR, address6=A_ADDR6, observer=trace.host("a"))
    b = Stack(Cable(lb), B_ADDR, address6=B_ADDR6, observer=trace.host("b"))
    net = Net(a, b, trace)
    a.on_packet = _recorder(net, "a")
    b.on_packet = _recorder(net, "b")
    for name, value in knobs.items():
        a.knobs.set(name, value)
        b.knobs.set(name, value)
    if run_a:
        nursery.start_soon(a.run)
    if run_b:
        nursery.start_soon(b.run)
    return net


async def settle() -> None:
    """Let every packet in flight be delivered and answered, without virtual time passing."""
    await trio.testing.wait_all_tasks_blocked()


async def connected_pair(net: Net, port: int = 5000, *, listener: Socket | None = None
                         ) -> tuple[Socket, Socket]:
    """A connection from A (client) to B (server) on `port`: (client socket, accepted socket).

    Without `listener` a fresh one is made on B and closed once the connection is accepted.
    """
    own = listener is None
    if listener is None:
        listener = Socket(net.b)
        listener.bind(("", port))
        listener.listen(8)
    client = Socket(net.a)
    result: dict[str, Socket] = {}

    async def accept() -> None:
        result["server"], _ = await listener.accept()

    async with trio.open_nursery() as n:
        n.start_soon(accept)
        await client.connect((B_ADDR, listener.getsockname()[1]))
    if own:
        listener.close()
    return client, result["server"]
