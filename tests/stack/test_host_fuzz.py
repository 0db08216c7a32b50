"""A fuzz of the sans-IO host: arbitrary packet sequences in, invariants checked after every step.

The host (`minitcp.host.Host`, no Trio, no TUN) listens on port 80 and holds one
live connection with a legitimate peer scripted here. Hypothesis draws a
sequence of steps mixing random bytes, mutated valid TCP/ICMP/IPv4 packets
(checksums recomputed or not), segments with any flags and numbers on the live
four-tuple, RFC 5961 attacks made with the numbers the peer knows (an RST or a
SYN inside the window, data whose ACK is unacceptable), ICMP errors quoting the
connection, SYNs to the listener, the peer's own data, the application reading,
writing and closing, and time passing. After each step (`check`):

- no exception escaped, and none was caught inside the engine (TCPConnectionErrors 0);
- every connection is keyed by its own four-tuple, in a state of `State` that a
  connection table may hold (not CLOSED, LISTEN or TIME_WAIT), with
  SND.UNA <= SND.NXT <= SND.MAX in sequence space;
- no TIME_WAIT entry is also a connection; the listener's queues hold only its own
  connections, in SYN-RECEIVED (SYN queue);
- the bytes the application read are a prefix of what the legitimate peer sent:
  delivered in order, or not at all.

Deterministic: derandomized examples and a fixed ISN secret (a test may not depend
on luck); 300 examples of up to 60 steps, a few seconds.
"""

from __future__ import annotations

import dataclasses
import errno
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minitcp.host import Host
from minitcp.soak.packets import fix_checksums
from minitcp.tcp.connection import Connection, conn_key
from minitcp.tcp.isn import IsnGenerator
from minitcp.tcp.reqsk import RequestSock
from minitcp.tcp.seq import seq_le
from minitcp.tcp.states import State
from minitcp.wire.errors import WireError
from minitcp.wire.icmp import ICMP_DEST_UNREACH, ICMP_ECHO_REQUEST, UNREACH_FRAG_NEEDED, build_icmp
from minitcp.wire.ipv4 import PROTO_ICMP, build_ipv4, ip_int
from minitcp.wire.segment import ACK, FIN, PSH, RST, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet

ME = ip_int("198.18.0.2")
PEER = ip_int("198.18.0.1")
OTHER = ip_int("198.18.0.77")  # a third host: mutated packets start from its segments
PORT, PEER_PORT = 80, 40000
PEER_ISS = 1_000_000
MASK = 0xFFFFFFFF
FAR = 1 << 30  # further than any window: outside RFC 5961 section 5.2's acceptable ACKs
STREAM = bytes(range(256)) * 64  # what the legitimate peer sends, in order (16 KB)
# Connection states a connection table may hold: CLOSED ones are forgotten, TIME_WAIT ones
# live in the TIME_WAIT table, LISTEN is a listener's.
LIVE_STATES = set(State) - {State.CLOSED, State.LISTEN, State.TIME_WAIT}


@dataclasses.dataclass
class Peer:
    """The legitimate peer's side of the live connection: what it sent and what it was told."""

    snd_una: int = PEER_ISS + 1  # the host's latest ACK
    rcv_nxt: int = 0  # the host's next in-order byte
    host_nxt: int = 0  # the end of the host's latest segment (its SND.NXT as far as seen)
    window: int = 65535


class World:
    """The host, its listener, the live connection, and the peer that talks to it."""

    def __init__(self) -> None:
        self.wire: list[bytes] = []
        self.host = Host("198.18.0.2", mtu=1500, send=self.wire.append)
        self.host.engine.isn = IsnGenerator(b"fuzz-isn-secret!")  # deterministic ISNs
        self.engine = self.host.engine
        self.now = 1.0
        self.listener = self.engine.listen(ME, PORT, 16)
        self.peer = Peer()
        self.delivered = bytearray()
        self.app_closed = False
        self._input(Segment(PEER, ME, PEER_PORT, PORT, PEER_ISS, 0, SYN, 65535, mss=1460))
        self._input(Segment(PEER, ME, PEER_PORT, PORT, PEER_ISS + 1, self.peer.rcv_nxt, ACK, 65535))
        conn = self.listener.accept()
        assert conn is not None and conn.state == State.ESTABLISHED
        self.conn: Connection = conn

    # ------------------------------------------------------------------ moving packets

    def feed(self, packet: bytes) -> None:
        self.host.receive(packet, self.now)
        self.host.transmit(self.now)
        self._watch_wire()

    def _input(self, seg: Segment) -> None:
        self.feed(build_tcp_packet(seg))

    def _watch_wire(self) -> None:
        """What the host sent: the peer learns the host's ACK, window and numbers from it."""
        peer = self.peer
        for packet in self.wire:
            try:
                seg = parse_tcp_packet(packet)
            except WireError:
                continue  # ICMP
            if (seg.dst, seg.dport, seg.sport) != (PEER, PEER_PORT, PORT):
                continue
            if seg.flags & SYN:
                peer.rcv_nxt = (seg.seq + 1) & MASK
            if seg.flags & ACK:
                peer.snd_una = seg.ack
                peer.window = seg.window  # unscaled: the peer's SYN offered no window scale
            if seg.seq == peer.rcv_nxt and not seg.flags & SYN:
                peer.rcv_nxt = (seg.seq + seg.seg_len) & MASK
            peer.host_nxt = (seg.seq + seg.seg_len) & MASK
        self.wire.clear()

    def offset_sent(self) -> int:
        """How many of STREAM's bytes the host has acknowledged."""
        return (self.peer.snd_una - PEER_ISS - 1) & MASK

    # ------------------------------------------------------------------ steps

    def step(self, step: tuple) -> None:
        getattr(self, "do_" + step[0])(*step[1:])

    def do_raw(self, data: bytes) -> None:
        if len(data) >= 20:
            data = data[:16] + ME.to_bytes(4, "big") + data[20:]
        self.feed(data)

    def do_mutated(self, base: str, flips: list[tuple[int, int]], fix: bool) -> None:
        packet = bytearray(self._base(base))
        for where, value in flips:
            packet[where % len(packet)] = value
        if fix:
            fix_checksums(packet)
        try:
            seg = parse_tcp_packet(packet)
        except (WireError, ValueError):
            seg = None
        if seg is not None and (seg.src, seg.sport, seg.dport) == (PEER, PEER_PORT, PORT) and seg.payload:
            return  # mutated into the peer's own data with valid checksums: legitimate-looking, skip
        self.feed(bytes(packet))

    def _base(self, base: str) -> bytes:
        if base == "syn":
            return build_tcp_packet(Segment(OTHER, ME, 5555, PORT, 7, 0, SYN, 65535, mss=1460, wscale=7,
                                            sack_permitted=True, ts_val=1, ts_ecr=0))
        if base == "data":
            return build_tcp_packet(Segment(OTHER, ME, 5556, PORT, 9, 1, ACK | PSH, 65535, b"x" * 40,
                                            ts_val=5, ts_ecr=6, sack=((1, 2),)))
        if base == "echo":
            return build_ipv4(OTHER, ME, PROTO_ICMP, build_icmp(ICMP_ECHO_REQUEST, 0, 1, b"ping"))
        return self._icmp_error(ICMP_DEST_UNREACH, UNREACH_FRAG_NEEDED, 576, exact=True)

    def do_flags(self, flags: int, seq: int, ack: int, window: int) -> None:
        # No payload: a random segment with data at the right numbers would be the peer's own.
        self._input(Segment(PEER, ME, PEER_PORT, PORT, seq, ack, flags, window))

    def do_attack(self, kind: str, offset: int) -> None:
        peer, rcv_nxt = self.peer, (PEER_ISS + 1 + self.offset_sent()) & MASK
        inside = (rcv_nxt + 1 + offset % max(1, peer.window - 1)) & MASK
        seg = {
            "rst_in_window": Segment(PEER, ME, PEER_PORT, PORT, inside, 0, RST, 0),
            "rst_ack_in_window": Segment(PEER, ME, PEER_PORT, PORT, inside, peer.host_nxt, RST | ACK, 0),
            "syn_in_window": Segment(PEER, ME, PEER_PORT, PORT, inside, 0, SYN, 65535, mss=1460),
            "data_ack_ahead": Segment(PEER, ME, PEER_PORT, PORT, rcv_nxt, (peer.host_nxt + offset) & MASK,
                                      ACK | PSH, 65535, b"INJECTED"),
            "data_ack_old": Segment(PEER, ME, PEER_PORT, PORT, rcv_nxt, (peer.host_nxt - FAR - offset) & MASK,
                                    ACK | PSH, 65535, b"INJECTED"),
        }[kind]
        self._input(seg)

    def do_legit(self, n: int, fin: bool) -> None:
        """The peer sends (again) from what the host acknowledged: n bytes of STREAM, maybe a FIN."""
        start = self.offset_sent()
        if start > len(STREAM):
            return  # past our FIN: nothing left to say
        data = STREAM[start:start + n]
        flags = ACK | PSH | (FIN if fin and start + len(data) == len(STREAM) else 0)
        peer = self.peer
        self._input(Segment(PEER, ME, PEER_PORT, PORT, peer.snd_una, peer.rcv_nxt, flags, 65535, data))

    def do_icmp(self, icmp_type: int, code: int, rest: int, exact: bool) -> None:
        self.feed(self._icmp_error(icmp_type, code, rest, exact))

    def _icmp_error(self, icmp_type: int, code: int, rest: int, exact: bool) -> bytes:
        # Exactly: the host's oldest unacknowledged byte, as a router would quote it.
        seq = (self.peer.rcv_nxt if exact else self.peer.rcv_nxt + FAR) & MASK
        quoted = build_tcp_packet(Segment(ME, PEER, PORT, PEER_PORT, seq, self.peer.snd_una, ACK, 1000))
        return build_ipv4(PEER, ME, PROTO_ICMP, build_icmp(icmp_type, code, rest, quoted[:28]))

    def do_syns(self, count: int) -> None:
        for i in range(count):
            self._input(Segment(OTHER, ME, 10000 + i, PORT, i * 7919, 0, SYN, 65535, mss=536))

    def do_time(self, ms: int) -> None:
        self.now += ms / 1000
        deadline = self.engine.poll_at()
        if deadline is not None and deadline <= self.now:
            self.engine.handle_timeout(self.now)
        self.host.transmit(self.now)
        self._watch_wire()

    def do_read(self) -> None:
        if self.app_closed:
            return
        try:
            data = self.conn.recv(65536, self.now)
        except OSError as e:
            assert e.errno in (errno.ECONNRESET, errno.ETIMEDOUT, errno.ECONNABORTED, errno.EPIPE), e
            return
        if data:
            self.delivered += data
        self.host.transmit(self.now)
        self._watch_wire()

    def do_write(self, n: int) -> None:
        if self.app_closed:
            return
        try:
            self.conn.send(b"w" * n, self.now)
        except OSError as e:
            assert e.errno in (errno.ECONNRESET, errno.ETIMEDOUT, errno.ECONNABORTED, errno.EPIPE), e
        self.host.transmit(self.now)
        self._watch_wire()

    def do_close(self) -> None:
        if not self.app_closed:
            self.app_closed = True
            self.conn.close(self.now)
            self.host.transmit(self.now)
            self._watch_wire()

    # ------------------------------------------------------------------ the invariants

    def check(self) -> None:
        engine = self.engine
        assert engine.counters["TCPConnectionErrors"] == 0, "an exception was caught inside the engine"
        for key, conn in engine.conns.items():
            assert key == conn_key(*conn.four_tuple) == conn.key
            assert conn.state in LIVE_STATES, conn
            assert seq_le(conn.snd_una, conn.snd_nxt) and seq_le(conn.snd_nxt, conn.snd_max), conn
            assert key not in engine.timewait, "a four-tuple both connected and in TIME_WAIT"
        for key, req in engine.requests.items():
            assert key == req.key and key not in engine.conns and key not in engine.timewait, req
        for key, half in self.listener.syn_queue.items():
            # A request (reqsk.py), or the connection born of one, in the engine's tables.
            table: dict[int, Any] = engine.requests if isinstance(half, RequestSock) else engine.conns
            assert table.get(key) is half and half.state == State.SYN_RECEIVED, half
        for conn in self.listener.accept_queue:
            assert conn.listener is self.listener
        assert bytes(self.delivered) == STREAM[:len(self.delivered)], "bytes delivered out of order or forged"


_BYTE_FLIPS = st.lists(st.tuples(st.integers(0, 1500), st.integers(0, 255)), min_size=1, max_size=4)
_U32 = st.integers(0, MASK)
STEPS = st.one_of(
    st.tuples(st.just("raw"), st.binary(max_size=80)),
    st.tuples(st.just("mutated"), st.sampled_from(["syn", "data", "echo", "icmp"]), _BYTE_FLIPS,
              st.booleans()),
    st.tuples(st.just("flags"), st.integers(0, 255), _U32, _U32, st.integers(0, 65535)),
    st.tuples(st.just("attack"),
              st.sampled_from(["rst_in_window", "rst_ack_in_window", "syn_in_window", "data_ack_ahead",
                               "data_ack_old"]),
              st.integers(1, FAR - 1)),
    st.tuples(st.just("legit"), st.integers(1, 3000), st.booleans()),
    st.tuples(st.just("icmp"), st.sampled_from([3, 4, 5, 11, 12]), st.integers(0, 15), st.integers(0, MASK),
              st.booleans()),
    st.tuples(st.just("syns"), st.integers(1, 20)),
    st.tuples(st.just("time"), st.integers(0, 5000)),
    st.tuples(st.just("read")),
    st.tuples(st.just("write"), st.integers(1, 5000)),
    st.tuples(st.just("close")),
)  # fmt: skip


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEPS, min_size=1, max_size=60))
def test_no_packet_sequence_breaks_the_host(steps: list[tuple]) -> None:
    world = World()
    world.check()
    for step in steps:
        world.step(step)
        world.check()


def test_the_legitimate_peer_alone_gets_every_byte_through() -> None:
    """The fuzz's peer is right: with nothing hostile, the whole stream arrives in order."""
    world = World()
    while len(world.delivered) < len(STREAM):
        world.do_legit(3000, fin=True)
        world.do_read()
        world.check()
    assert bytes(world.delivered) == STREAM
