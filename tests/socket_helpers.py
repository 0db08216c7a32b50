"""Fixtures for the socket API tests: two Stacks joined by a memory link, in virtual time.

`A` (198.18.0.1) plays the kernel-like peer, `B` (198.18.0.2) the other host.
Both run in the test's nursery. Every segment either stack puts on the wire
is kept in `Net.wire` (parsed, with the sender and the virtual time), and
every state change either engine reports in `Net.states`, so tests can assert
what went on the wire and which states a connection passed through.

A test module imports the fixture functions (`autojump_clock_fixture`,
`make_net_fixture`, `net_fixture`); the fixtures they define are named
`autojump_clock`, `make_net` and `net`. pytest-trio only
runs a test in virtual time when the test itself asks for the clock, so every
test takes `autojump_clock` as an argument; `make_net` checks that it did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.testing

from minitcp.link.base import Received
from minitcp.link.memory import MemoryLink, memory_link_pair
from minitcp.sockets.socket import Socket
from minitcp.stack import Stack
from minitcp.tcp.observer import BaseObserver
from minitcp.tcp.states import State
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, FIN, PSH, RST, SYN, Segment, flag_str
from minitcp.wire.tcp import parse_tcp_packet

A_ADDR = "198.18.0.1"
B_ADDR = "198.18.0.2"
A_INT = ip_int(A_ADDR)
B_INT = ip_int(B_ADDR)

__all__ = [
    "ACK", "A_ADDR", "B_ADDR", "FIN", "PSH", "RST", "SYN", "Net", "NetFactory", "Sent",
    "autojump_clock_fixture", "connected_pair", "make_net_fixture", "net_fixture", "settle",
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


class StateLog(BaseObserver):
    """An engine observer that keeps the state changes."""

    def __init__(self, name: str, sink: list[tuple[str, object, State, State, float]]) -> None:
        self.name = name
        self.sink = sink

    def on_state(self, conn: object, old: State, new: State, now: float) -> None:
        self.sink.append((self.name, conn, old, new, now))


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
    wire: list[Sent] = field(default_factory=list)
    states: list[tuple[str, object, State, State, float]] = field(default_factory=list)

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
        path: list[State] = []
        for _, c, old, new, _ in self.states:
            if c is conn:
                if not path:
                    path.append(old)
                path.append(new)
        return path


def _recorder(net: Net, name: str) -> Callable[[str, bytes | memoryview, float], None]:
    def on_packet(direction: str, packet: bytes | memoryview, now: float) -> None:
        if direction != "out":
            return
        packet = bytes(packet)
        if packet[9] == 6:  # TCP
            net.wire.append(Sent(name, now, parse_tcp_packet(packet)))

    return on_packet


@pytest.fixture(name="autojump_clock")
def autojump_clock_fixture() -> trio.testing.MockClock:
    """Virtual time that jumps to the next deadline as soon as every task is blocked."""
    return trio.testing.MockClock(autojump_threshold=0)


NetFactory = Callable[..., Net]


@pytest.fixture(name="make_net")
def make_net_fixture(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> NetFactory:
    """`make_net(run_a=True, run_b=True, mtu=1500, capacity=1024, **knobs)`: a fresh network.

    A stack that does not run never reads its link: whatever is sent to it is
    lost (after the link's queue fills), as if the host were down. Knobs are
    set on both engines (`tcp_syn_retries=2`, ...).
    """

    def factory(*, run_a: bool = True, run_b: bool = True, mtu: int = 1500, capacity: int = 1024,
                **knobs: Any) -> Net:
        assert trio.lowlevel.current_clock() is autojump_clock, "the test must take `autojump_clock`"
        la, lb = memory_link_pair(mtu, capacity=capacity)
        states: list[tuple[str, object, State, State, float]] = []
        a = Stack(Cable(la), A_ADDR, observer=StateLog("a", states))
        b = Stack(Cable(lb), B_ADDR, observer=StateLog("b", states))
        net = Net(a, b, states=states)
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

    return factory


@pytest.fixture(name="net")
def net_fixture(make_net: NetFactory) -> Net:
    return make_net()


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
