"""The kernel against minitcp's IP host: ping -s 2000 in both families (the kernel fragments the
request, minitcp reassembles it and fragments its reply, the kernel reassembles that), a
kernel UDP socket told "port unreachable" (ECONNREFUSED) in both families, and a path MTU
lowered from the kernel's side in the middle of a download, in both families."""

from __future__ import annotations

import errno
import functools
import hashlib
import http.client
import shutil
import socket
import struct
from collections.abc import Callable

import pytest
import trio

from minitcp.apps import HttpServer, pattern_sha256
from minitcp.stack import Stack
from minitcp.tcp.connection import Connection
from minitcp.wire.icmp import ICMP_DEST_UNREACH, UNREACH_FRAG_NEEDED, icmp_error
from minitcp.wire.icmpv6 import ICMPV6_PACKET_TOO_BIG, icmpv6_error
from minitcp.wire.ipv4 import PROTO_ICMP, PROTO_TCP, build_ipv4, ipv4_header
from minitcp.wire.ipv6 import PROTO_ICMPV6, build_ipv6, ipv6_header

ADDR, ADDR6 = "198.18.0.2", "2001:2::2"


@pytest.mark.skipif(shutil.which("ping") is None, reason="ping is not installed")
@pytest.mark.parametrize(("flag", "addr", "prefix"), [("-4", ADDR, ""), ("-6", ADDR6, "Ip6")])
async def test_ping_s_2000(tun_stack: Stack, flag: str, addr: str, prefix: str) -> None:
    with trio.fail_after(20):
        done = await trio.run_process(["ping", flag, "-s", "2000", "-c", "3", "-i", "0.2", "-W", "5", addr],
                                      capture_stdout=True, check=False)
    assert done.returncode == 0, done.stdout
    assert b" 3 received" in done.stdout and b"2008 bytes from" in done.stdout
    counters = tun_stack.counters
    assert counters[prefix + "ReasmOKs"] == 3 and counters[prefix + "ReasmFails"] == 0
    assert counters[prefix + "FragOKs"] == 3 and counters[prefix + "FragCreates"] == 6


def _udp_refused(family: int, addr: str) -> int:
    """A connected kernel UDP socket sends to a port minitcp does not serve; the next receive
    fails with the error the ICMP answer set (Linux: port unreachable is ECONNREFUSED). UDP may
    be lost (the device just came up), so it asks up to three times, as a UDP client would."""
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.connect((addr, 9))
        for _ in range(3):
            sock.send(b"anyone there?")
            try:
                sock.recv(100)
            except TimeoutError:
                continue
            except OSError as e:
                return e.errno or 0
        return 0


@pytest.mark.parametrize(("family", "addr", "counter"), [
    (socket.AF_INET, ADDR, "UdpNoPorts"), (socket.AF_INET6, ADDR6, "Udp6NoPorts")])
async def test_udp_to_a_closed_port_is_refused(tun_stack: Stack, family: int, addr: str,
                                               counter: str) -> None:
    with trio.fail_after(10):
        err = await trio.to_thread.run_sync(_udp_refused, family, addr)
    assert err == errno.ECONNREFUSED
    assert tun_stack.counters[counter] >= 1


def _download(addr: str, total: int) -> tuple[int, str]:
    """GET /bytes/total from minitcp's HTTP server with the kernel's client: size and SHA-256."""
    conn = http.client.HTTPConnection(addr, 80, timeout=20)
    try:
        conn.request("GET", f"/bytes/{total}")
        response = conn.getresponse()
        hasher, size = hashlib.sha256(), 0
        while chunk := response.read(1 << 16):
            hasher.update(chunk)
            size += len(chunk)
        return size, hasher.hexdigest()
    finally:
        conn.close()


def _too_big(family: int, conn: Connection) -> tuple[bytes, str]:
    """The kernel side's ICMP error about the connection's next segment: the path takes 1280 bytes."""
    ports_seq = struct.pack("!HHI", conn.lport, conn.rport, conn.snd_nxt)
    if family == socket.AF_INET6:
        quote = ipv6_header(conn.laddr, conn.raddr, PROTO_TCP, 1440) + ports_seq
        icmp = icmpv6_error(conn.raddr, conn.laddr, ICMPV6_PACKET_TOO_BIG, 0, 1280, quote)
        return build_ipv6(conn.raddr, conn.laddr, PROTO_ICMPV6, icmp), ADDR6
    quote = ipv4_header(conn.laddr, conn.raddr, PROTO_TCP, 1460) + ports_seq
    icmp = icmp_error(ICMP_DEST_UNREACH, UNREACH_FRAG_NEEDED, quote, 1280)
    return build_ipv4(conn.raddr, conn.laddr, PROTO_ICMP, icmp, df=False), ADDR


@pytest.mark.parametrize(("family", "addr"), [(socket.AF_INET, ADDR), (socket.AF_INET6, ADDR6)],
                         ids=["ipv4", "ipv6"])
async def test_a_lower_path_mtu_from_the_kernel_side_shrinks_segments_without_an_rto(
        nursery: trio.Nursery, tun_stack: Stack, family: int, addr: str) -> None:
    """A kernel client downloads 4 MB; meanwhile the test, on the kernel's side, sends "packet too
    big" / "fragmentation needed" (MTU 1280) about minitcp's next segment. The download goes on
    with smaller segments, no retransmission timeout, every byte intact."""
    # Each packet's direction, length, and its first byte past a plain IP header when it is
    # ICMP: the type of "fragmentation needed" (3) or "packet too big" (2).
    seen: list[tuple[str, int, int | None]] = []
    told: list[tuple[bytes, Connection]] = []  # the ICMP error sent, and the connection it is about
    raw = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)

    def on_packet(direction: str, packet: bytes | memoryview, now: float) -> None:
        seen.append((direction, len(packet), _icmp_type(packet)))
        # The ICMP leaves from the packet hook once 100 KB are in flight, within the stack's own
        # step: a test task polling for that moment waits behind the stack's busy tasks, and once
        # sent it after 2,532 of the ~2,760 packets.
        if not told and direction == "out":
            for conn in tun_stack.engine.conns.values():
                if conn.snd_nxt - conn.snd_una > 100_000:
                    icmp, dst = _too_big(family, conn)
                    raw.sendto(icmp, (dst, 0))
                    told.append((icmp, conn))

    tun_stack.on_packet = on_packet
    server = HttpServer()
    await nursery.start(functools.partial(server.serve, tun_stack, 80, family=family))
    total = 4 * 10**6
    try:
        with trio.fail_after(30):
            result: list[tuple[int, str]] = []
            await _run_into(result, _download, addr, total)
    finally:
        raw.close()
    [(packet, conn)] = told
    [(size, sha)] = result
    assert (size, sha) == (total, pattern_sha256(total))
    icmp = seen.index(("in", len(packet), 2 if family == socket.AF_INET6 else 3))
    after = [length for d, length, _ in seen[icmp:] if d == "out"]
    before = [length for d, length, _ in seen[:icmp] if d == "out"]
    # What the batch that brought the ICMP had let out before it went first (as a NIC's queue
    # would); from the first smaller packet on, nothing is larger than the path takes.
    shrunk = next(i for i, length in enumerate(after) if length <= 1280)
    assert max(before) == 1500 and max(after[shrunk:]) <= 1280 and conn.pmtu == 1280, \
        (max(before), max(after[shrunk:]), conn.pmtu)
    # Most of the 4 MB went after the ICMP.
    assert len(after) - shrunk > 1000, (len(before), shrunk, len(after))
    assert tun_stack.engine.counters["TCPTimeouts"] == 0, dict(tun_stack.engine.counters)


def _icmp_type(packet: bytes | memoryview) -> int | None:
    if packet[0] >> 4 == 4:
        return packet[20] if packet[9] == PROTO_ICMP else None
    return packet[40] if packet[6] == PROTO_ICMPV6 else None


async def _run_into(out: list[tuple[int, str]], fn: Callable[[str, int], tuple[int, str]], addr: str,
                    total: int) -> None:
    out.append(await trio.to_thread.run_sync(fn, addr, total))
