"""The stack on an in-memory link, in virtual time: what it answers, what it drops and why."""

from __future__ import annotations

import struct

import pytest
import trio
from trio.testing import MockClock

from minitcp.link.memory import MemoryLink, memory_link_pair
from minitcp.stack import Stack
from minitcp.wire.ipv4 import PROTO_ICMP, PROTO_TCP, build_ipv4, ip_int
from minitcp.wire.segment import ACK, PSH, RST, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet

HOST = ip_int("198.18.0.1")
STACK = ip_int("198.18.0.2")
OTHER = ip_int("198.18.0.3")
PROTO_UDP = 17

Net = tuple[Stack, MemoryLink]  # the stack, and the host end of its link


def inet_checksum(data: bytes) -> int:
    """RFC 1071, written out independently of minitcp.wire so the test checks it."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_message(icmp_type: int, ident: int, seq: int, data: bytes) -> bytes:
    body = struct.pack("!BBHHH", icmp_type, 0, 0, ident, seq) + data
    return body[:2] + struct.pack("!H", inet_checksum(body)) + body[4:]


def echo_request(ident: int = 0x1234, seq: int = 7, data: bytes = bytes(range(56)), **ip: object) -> bytes:
    return build_ipv4(HOST, STACK, PROTO_ICMP, icmp_message(8, ident, seq, data), **ip)  # type: ignore[arg-type]


def tcp_packet(flags: int, seq: int = 1000, ack: int = 0, payload: bytes = b"", dst: int = STACK) -> bytes:
    return build_tcp_packet(Segment(HOST, dst, 43210, 80, seq, ack, flags, 64240, payload))


def with_ip_checksum(header_and_rest: bytearray) -> bytes:
    header_and_rest[10:12] = b"\0\0"
    header_and_rest[10:12] = struct.pack("!H", inet_checksum(bytes(header_and_rest[:20])))
    return bytes(header_and_rest)


# pytest-trio installs a clock only when the test itself asks for it, hence
# `autojump_clock` in each test's arguments rather than here.
@pytest.fixture
async def net(nursery: trio.Nursery) -> Net:
    stack_end, host_end = memory_link_pair()
    stack = Stack(stack_end)
    nursery.start_soon(stack.run)
    return stack, host_end


async def exchange(host: MemoryLink, *packets: bytes) -> list[bytes]:
    """Send packets to the stack; return what it sends back within one (virtual) second."""
    for pkt in packets:
        host.send(pkt)
    replies: list[bytes] = []
    with trio.move_on_after(1):
        while True:
            replies.extend(bytes(p) for p, _ in await host.recv_batch())
    return replies


async def test_echo_request_gets_echo_reply(net: Net, autojump_clock: MockClock) -> None:
    stack, host = net
    data = bytes(range(56))
    [reply] = await exchange(host, echo_request(ident=0x1234, seq=7, data=data, tos=0x10))

    version_ihl, tos, total, ident, frag, ttl, proto, _, src, dst = struct.unpack("!BBHHHBBH4s4s", reply[:20])
    assert (version_ihl, tos, total, ttl, proto) == (0x45, 0x10, 20 + 8 + 56, 64, PROTO_ICMP)
    assert frag == 0  # DF clear, like Linux's ICMP replies, so the IP ID must be set
    assert ident != 0
    assert inet_checksum(reply[:20]) == 0
    assert (src, dst) == (STACK.to_bytes(4, "big"), HOST.to_bytes(4, "big"))

    icmp = reply[20:]
    assert struct.unpack("!BBHH", icmp[:2] + icmp[4:8])[:2] == (0, 0)  # echo reply, code 0
    assert struct.unpack("!HH", icmp[4:8]) == (0x1234, 7)
    assert icmp[8:] == data
    assert inet_checksum(icmp) == 0
    assert stack.counters["InEchos"] == stack.counters["OutEchoReps"] == 1
    assert not stack.drops


async def test_syn_to_any_port_gets_rst_ack(net: Net, autojump_clock: MockClock) -> None:
    stack, host = net
    [reply] = await exchange(host, tcp_packet(SYN, seq=0xFFFFFFFF))
    rst = parse_tcp_packet(reply)
    assert (rst.src, rst.dst, rst.sport, rst.dport) == (STACK, HOST, 80, 43210)
    assert (rst.flags, rst.seq, rst.ack, rst.window) == (RST | ACK, 0, 0, 0)  # ack wraps: 2**32 - 1 + SYN
    assert stack.engine.counters["OutRsts"] == 1


async def test_segment_with_ack_gets_rst_with_its_ack_as_seq(net: Net, autojump_clock: MockClock) -> None:
    _, host = net
    [reply] = await exchange(host, tcp_packet(ACK | PSH, seq=5, ack=4242, payload=b"GET /"))
    rst = parse_tcp_packet(reply)
    assert (rst.flags, rst.seq, rst.ack) == (RST, 4242, 0)


async def test_rst_gets_no_answer(net: Net, autojump_clock: MockClock) -> None:
    stack, host = net
    assert await exchange(host, tcp_packet(RST), tcp_packet(RST | ACK, ack=9)) == []
    assert stack.engine.counters["InSegs"] == 2 and stack.counters["OutRequests"] == 0


async def test_malformed_packets_are_counted_and_not_answered(net: Net, autojump_clock: MockClock) -> None:
    stack, host = net
    bad_ip_checksum = bytearray(echo_request())
    bad_ip_checksum[10] ^= 0xFF
    bad_tcp_checksum = bytearray(tcp_packet(ACK, payload=b"data"))
    bad_tcp_checksum[-1] ^= 0xFF
    bad_icmp_checksum = bytearray(echo_request())
    bad_icmp_checksum[-1] ^= 0xFF
    fragment = bytearray(echo_request())
    fragment[6:8] = b"\x20\x00"  # MF set, offset 0: the first of several fragments, held
    ipv6 = bytes([0x60]) + bytes(39)  # IPv6, next header 0 (hop-by-hop options) but no room for it
    not_ipv4 = bytes([0x50]) + bytes(39)

    packets = [
        bytes(bad_ip_checksum),
        bytes(bad_tcp_checksum),
        bytes(bad_icmp_checksum),
        with_ip_checksum(fragment),
        tcp_packet(SYN)[:30],  # cut short in transit
        build_ipv4(HOST, STACK, PROTO_TCP, bytes(12)),  # whole IP packet, TCP header too short
        b"\x45\x00",
        b"",
        ipv6,
        not_ipv4,
    ]
    assert await exchange(host, *packets) == []
    assert stack.drops == {
        "bad_ip_checksum": 1,
        "bad_tcp_checksum": 1,
        "bad_icmp_checksum": 1,
        "truncated": 3,
        "bad_total_length": 1,  # 30 bytes received, the header says more
        "bad_ext_header": 1,  # the IPv6 packet: the stack speaks IPv6 (2001:2::2) since #16
        "bad_version": 1,
    }
    assert stack.counters["ReasmReqds"] == 1 and len(stack.host.reassembly.queues) == 1
    # Still serving after all that.
    assert len(await exchange(host, echo_request())) == 1


async def test_packets_for_other_addresses_are_dropped(net: Net, autojump_clock: MockClock) -> None:
    stack, host = net
    icmp = icmp_message(8, 1, 1, b"x")
    packets = [
        build_ipv4(HOST, OTHER, PROTO_ICMP, icmp),
        tcp_packet(SYN, dst=OTHER),
        build_ipv4(ip_int("224.0.0.1"), STACK, PROTO_ICMP, icmp),  # multicast source
        build_ipv4(STACK, STACK, PROTO_ICMP, icmp),  # our own address, spoofed
    ]
    assert await exchange(host, *packets) == []
    assert stack.drops == {"not_for_us": 2, "martian_source": 2}


async def test_udp_is_port_unreachable_and_other_icmp_types_are_ignored(
        net: Net, autojump_clock: MockClock) -> None:
    stack, host = net
    udp = struct.pack("!HHHH", 5353, 53, 9, 0) + b"q"  # no checksum (RFC 768 allows it in IPv4)
    echo_reply = icmp_message(0, 1, 1, b"")
    datagram = build_ipv4(HOST, STACK, PROTO_UDP, udp)
    [answer] = await exchange(host, datagram, build_ipv4(HOST, STACK, PROTO_ICMP, echo_reply))
    # No UDP socket: port unreachable quoting the datagram (Linux __udp4_lib_rcv, icmp_send).
    assert answer[20:22] == bytes((3, 3)) and answer[28:] == datagram
    assert stack.drops == {"icmp_other": 1}


async def test_on_packet_sees_every_packet_in_and_out(autojump_clock: MockClock) -> None:
    seen: list[tuple[str, bytes, float]] = []
    stack_end, host = memory_link_pair()
    stack = Stack(stack_end, on_packet=lambda d, p, now: seen.append((d, bytes(p), now)))
    await trio.sleep(5)
    request = tcp_packet(SYN)
    stack.handle_packet(request)
    [(reply, _)] = await host.recv_batch()
    assert seen == [("in", request, 5.0), ("out", reply, 5.0)]
    assert stack.counters["InReceives"] == stack.counters["OutRequests"] == 1


async def test_run_returns_when_the_link_closes(autojump_clock: MockClock) -> None:
    stack_end, host = memory_link_pair()
    stack = Stack(stack_end)
    host.send(echo_request())
    host.close()
    with trio.fail_after(1):
        await stack.run()
    assert stack.counters["InEchos"] == 1
    assert stack_end.tx_dropped == 1  # the reply had nowhere to go
