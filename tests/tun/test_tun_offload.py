"""TSO/GSO offload on the TUN device: super-segments both ways, bytes intact, the plain path beside it.

With `TunLink(offload=True)` the kernel hands the stack TCP super-segments of
up to 64 KB with partial checksums and takes super-segments from it; the wire
MSS stays 1460. The transfers here check every byte by SHA-256 and the link's
counters show that super-segments really crossed in each direction.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from minitcp.apps import DiscardServer, EchoServer, HttpServer, pattern_sha256
from minitcp.cli import _build_parser
from minitcp.cli_options import offload_wanted
from minitcp.faults import FaultInjector, parse_rule
from minitcp.link.arena import RecvArena
from minitcp.link.faulty import FaultyLink
from minitcp.link.tun import TunLink
from minitcp.stack import Stack
from minitcp.tcp.observer import BaseObserver
from minitcp.wire.csum_partial import complete_csum
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.gso import tso_packet
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, PSH, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet

from ..tcp.peer import Peer
from .kernel import http_download_sha

ADDR = "198.18.0.2"
KERNEL = "198.18.0.1"
MB = 1 << 20
MSS_1500 = 1448  # MTU 1500 less IPv4, TCP and the timestamp option: what the wire carries


class LargestSegment(BaseObserver):
    """The longest payload the engine took in and sent, and the longest it was asked to send."""

    def __init__(self) -> None:
        self.largest = {"in": 0, "out": 0}

    def on_segment(self, conn: Any, direction: str, seg: Segment, now: float) -> None:
        self.largest[direction] = max(self.largest[direction], len(seg.payload))


def _drops_of_ours(stack: Stack) -> dict[str, int]:
    """Drops of packets sent to the stack. Not `not_for_us`: a kernel socket of an earlier test
    (one to 198.18.0.9, say, still closing) may retransmit into this device, which now routes
    the subnet."""
    return {reason: n for reason, n in stack.drops.items() if reason != "not_for_us"}


@pytest.fixture
async def offload_stack(nursery: trio.Nursery, tun_name: str) -> AsyncIterator[Stack]:
    link = TunLink(tun_name, offload=True)
    stack = Stack(link, ADDR, observer=LargestSegment())
    nursery.start_soon(stack.run)
    yield stack
    link.close()


def _upload(total: int, port: int = 9) -> str:
    block = random.Random(7).randbytes(MB)
    hasher = hashlib.sha256()
    with socket.create_connection((ADDR, port), timeout=20) as sock:
        for _ in range(total // MB):
            sock.sendall(block)
            hasher.update(block)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b""
    return hasher.hexdigest()




def _echo(total: int) -> tuple[str, str]:
    """Send `total` bytes to the echo server while reading them back (both directions at once)."""
    data = random.Random(8).randbytes(total)
    got = hashlib.sha256()
    with socket.create_connection((ADDR, 7), timeout=20) as sock:

        def send() -> None:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        while chunk := sock.recv(MB):
            got.update(chunk)
        sender.join()
    return hashlib.sha256(data).hexdigest(), got.hexdigest()


async def test_upload_arrives_as_super_segments_with_partial_checksums(
    nursery: trio.Nursery, offload_stack: Stack
) -> None:
    link = offload_stack.link
    assert isinstance(link, TunLink)
    server = DiscardServer(digest=True)
    await nursery.start(server.serve, offload_stack, 9)
    total = 16 * MB
    with trio.fail_after(60):
        sha = await trio.to_thread.run_sync(_upload, total)
        (got,) = await server.wait_received(1)
    assert (got.nbytes, got.sha256) == (total, sha)
    assert link.rx_gso > 0 and link.rx_csum_partial >= link.rx_gso
    observer = offload_stack.engine.observer
    assert isinstance(observer, LargestSegment)
    assert observer.largest["in"] > 10 * MSS_1500  # the engine took super-segments whole
    assert offload_stack.engine.counters["InSegs"] < total // MSS_1500 // 4
    assert not _drops_of_ours(offload_stack)


async def test_download_leaves_as_super_segments_of_wire_sized_segments(
    nursery: trio.Nursery, offload_stack: Stack
) -> None:
    link = offload_stack.link
    assert isinstance(link, TunLink)
    await nursery.start(HttpServer().serve, offload_stack, 80)
    total = 16 * MB
    with trio.fail_after(60):
        size, sha = await trio.to_thread.run_sync(http_download_sha, total)
    assert size == total and sha == pattern_sha256(total)
    assert link.tx_gso > 0 and link.tx_gso_segments >= 10 * link.tx_gso
    observer = offload_stack.engine.observer
    assert isinstance(observer, LargestSegment)
    assert observer.largest["out"] == MSS_1500  # the engine still cuts wire-sized segments
    assert offload_stack.counters["OutRequests"] < offload_stack.engine.counters["OutSegs"] // 10
    assert not _drops_of_ours(offload_stack)


async def test_echo_both_directions_at_once(nursery: trio.Nursery, offload_stack: Stack) -> None:
    link = offload_stack.link
    assert isinstance(link, TunLink)
    await nursery.start(EchoServer().serve, offload_stack, 7)
    with trio.fail_after(60):
        sent, echoed = await trio.to_thread.run_sync(_echo, 8 * MB)
    assert echoed == sent
    assert link.rx_gso > 0 and link.tx_gso > 0
    assert not _drops_of_ours(offload_stack)


async def test_fault_rules_meet_the_wire_segments_of_the_kernels_super_segments(
    nursery: trio.Nursery, tun_name: str
) -> None:
    """A fault injector over an offloading device: the kernel's super-segments reach the rules as
    the wire segments they stand for (each counted), and what passes reaches the stack intact."""
    link = TunLink(tun_name, offload=True)
    try:
        injector = FaultInjector([parse_rule("delay:dir=in,ms=0")])
        faulty = FaultyLink(link, injector)
        assert faulty.offload
        stack = Stack(faulty, ADDR)
        nursery.start_soon(stack.run)
        server = DiscardServer(digest=True)
        await nursery.start(server.serve, stack, 9)
        with trio.fail_after(60):
            sha = await trio.to_thread.run_sync(_upload, 4 * MB)
            (got,) = await server.wait_received(1)
        assert got.sha256 == sha
        assert link.rx_gso > 0  # super-segments came
        assert injector.rules[0].fired >= 4 * MB // MSS_1500  # every wire segment met the rule
        assert not _drops_of_ours(stack)
    finally:
        link.close()


async def test_syn_from_the_kernel_has_a_partial_checksum(tun_name: str) -> None:
    link = TunLink(tun_name, offload=True)
    sock = socket.socket()
    try:
        sock.setblocking(False)
        assert sock.connect_ex((ADDR, 9)) != 0  # in progress: the SYN is on its way
        port = sock.getsockname()[1]

        def ours(pkt: bytes | memoryview, partial: bool = False) -> bool:
            # Only this socket's SYN: an earlier test's kernel connection may still be
            # retransmitting its FIN to the same address, into this new device.
            seg = parse_tcp_packet(pkt, partial)
            return seg.sport == port and seg.flags == SYN

        with trio.fail_after(2):
            while not (mine := [(p, c) for p, c in await link.recv_batch() if ours(p, c)]):
                pass
        syn, partial = mine[0]
        assert partial and link.rx_gso == 0
        seg = parse_tcp_packet(syn, True)
        assert seg.dport == 9 and seg.mss == 1460  # the MSS of the device's MTU
        assert parse_tcp_packet(complete_csum(syn)).fields() == seg.fields()
        with trio.fail_after(5):  # a retransmitted SYN (1 s, 3 s)
            while not (again := [(p, c) for p, c in await link.recv_batch() if ours(p, c)]):
                pass
        assert parse_tcp_packet(*again[0]).seq == seg.seq
    finally:
        sock.close()
        link.close()


async def test_large_packets_are_never_overwritten_while_held(tun_name: str) -> None:
    """At MTU 65000 packets are views into reused arenas; held ones must keep their bytes."""
    link = TunLink(tun_name, mtu=65000, batch_limit=4)
    held: list[bytes | memoryview] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for round_ in range(6):  # 6 x 8 x 60 kB: several arenas' worth
                for i in range(8):
                    s.sendto(bytes([round_ * 8 + i]) * 60000, (ADDR, 9))
                with trio.fail_after(2):
                    while len(held) < (round_ + 1) * 8:
                        held.extend(p for p, _ in await link.recv_batch())
        assert [bytes(p[28:29]) * 60000 == bytes(p[28:]) for p in held] == [True] * 48
        assert [p[28] for p in held] == list(range(48))
    finally:
        link.close()


def test_an_arena_is_reused_only_when_no_view_of_it_is_left() -> None:
    arena = RecvArena(frame=100, size=300)
    mv, off = arena.begin()
    first = mv.obj
    packet = mv[off : off + 50]
    arena.end(off + 50)
    del mv
    assert arena.begin()[1] == 50  # the packet is still held: the batch goes on after it
    arena.end(250)
    other = arena.next_arena().obj  # the spare, never used
    arena.end(0)
    assert arena.next_arena().obj is not first  # `packet` pins the first arena: a fresh one
    del packet
    arena.end(0)
    assert arena.next_arena().obj is other  # nothing left of the spare's views: reused
    arena.end(0)


# -------------------------------------------------------------------- a TSO segment as one packet (no device)

SRC, DST = ip_int(ADDR), ip_int(KERNEL)


def test_a_tso_segment_goes_as_one_packet_with_a_partial_checksum() -> None:
    payload = random.Random(1).randbytes(3 * 1448 + 10)
    seg = Segment(SRC, DST, 80, 40000, 1000, 7, ACK | PSH, 500, payload, ts_val=5, ts_ecr=6, gso=1448)
    parts = tso_packet(seg)
    assert parts[1] is payload  # not copied
    packet = b"".join(parts)
    with pytest.raises(WireError) as e:
        parse_tcp_packet(packet)  # only the pseudo-header sum is in the field
    assert e.value.reason == DropReason.BAD_TCP_CHECKSUM
    whole = parse_tcp_packet(complete_csum(packet))  # what the kernel takes it for (IP checksum too)
    assert whole.fields() == parse_tcp_packet(packet, True).fields()
    # The same packet as the one segment's, header and all, but for the checksum.
    seg.gso = 0
    assert whole.fields() == parse_tcp_packet(build_tcp_packet(seg)).fields()
    assert seg.payload is payload


# -------------------------------------------------------------------- the engine and the CLI


def test_the_engine_acks_a_super_segment_at_once() -> None:
    """Linux's receiver ACKs a GRO packet of many segments at once (more than one full segment
    unacknowledged); the engine does the same with a segment longer than the MSS."""
    p = Peer()
    conn = p.accept(at=0.0)
    size = 20 * 1460
    out = p.feed(p.seg(ACK | PSH, seq=1, payload=bytes(size)), at=1.0)
    assert p.rels(out) == [(".", 1, 1 + size, 0)]
    assert conn.recv(size, p.now) == bytes(size)


@pytest.mark.parametrize(
    ("args", "offload"),
    [([], True), (["--fault", "drop:dir=in,nth=1"], True), (["--no-offload"], False),
     (["--no-offload", "--fault", "drop:dir=in,nth=1"], False)],
)
def test_offload_is_on_unless_turned_off_fault_rules_or_not(args: list[str], offload: bool) -> None:
    """Fault rules meet wire segments with offload on too (FaultyLink), so they leave it on."""
    parsed: argparse.Namespace = _build_parser().parse_args(["up", *args])
    assert offload_wanted(parsed) is offload
