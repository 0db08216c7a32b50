"""The `-v` trace: tcpdump's line format, exactly."""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Iterator

import pytest

from minitcp.trace.tcpdump import clock, describe_packet, describe_segment, format_line, printer
from minitcp.wire.icmp import ICMP_ECHO_REQUEST, build_icmp, dest_unreachable
from minitcp.wire.ipv4 import PROTO_ICMP, build_ipv4, ip_int
from minitcp.wire.segment import ACK, FIN, PSH, RST, SYN, URG, Segment
from minitcp.wire.tcp import build_tcp_packet

HOST = ip_int("198.18.0.1")
STACK = ip_int("198.18.0.2")


def seg(flags: int, seq: int, ack: int = 0, payload: bytes = b"", **kw: object) -> Segment:
    return Segment(HOST, STACK, 43210, 80, seq, ack, flags, 64240, payload, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("segment", "line"),
    [
        (
            seg(SYN, 123, mss=1460, sack_permitted=True, ts_val=1, ts_ecr=0, wscale=7),
            "IP 198.18.0.1.43210 > 198.18.0.2.80: Flags [S], seq 123, win 64240, "
            "options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0",
        ),
        (
            seg(ACK, 124, 9001, ts_val=5, ts_ecr=4),
            "IP 198.18.0.1.43210 > 198.18.0.2.80: Flags [.], ack 9001, win 64240, "
            "options [nop,nop,TS val 5 ecr 4], length 0",
        ),
        (
            seg(PSH | ACK, 124, 9001, b"hello"),
            "IP 198.18.0.1.43210 > 198.18.0.2.80: Flags [P.], seq 124:129, ack 9001, win 64240, length 5",
        ),
        (
            seg(ACK, 129, 9001, sack=((9501, 10001), (11001, 12001))),
            "IP 198.18.0.1.43210 > 198.18.0.2.80: Flags [.], ack 9001, win 64240, "
            "options [nop,nop,sack 2 {9501:10001}{11001:12001}], length 0",
        ),
        (
            seg(FIN | ACK, 0xFFFFFFFE, 1, b"xyz"),
            "IP 198.18.0.1.43210 > 198.18.0.2.80: Flags [F.], seq 4294967294:1, ack 1, win 64240, length 3",
        ),
        (
            seg(RST, 77),
            "IP 198.18.0.1.43210 > 198.18.0.2.80: Flags [R], seq 77, win 64240, length 0",
        ),
        (
            seg(URG | ACK, 5, 6, b"!", urgent=1),
            "IP 198.18.0.1.43210 > 198.18.0.2.80: Flags [U.], seq 5:6, ack 6, win 64240, urg 1, length 1",
        ),
        (
            seg(SYN, 1, sack_permitted=True, wscale=0),
            "IP 198.18.0.1.43210 > 198.18.0.2.80: Flags [S], seq 1, win 64240, "
            "options [nop,nop,sackOK,nop,wscale 0], length 0",
        ),
    ],
)
def test_tcp_segment_lines(segment: Segment, line: str) -> None:
    assert describe_segment(segment) == line
    assert describe_packet(build_tcp_packet(segment)) == line


def test_icmp_echo_lines() -> None:
    request = build_ipv4(HOST, STACK, PROTO_ICMP, build_icmp(ICMP_ECHO_REQUEST, 0, 1 << 16 | 1, bytes(56)))
    assert describe_packet(request) == "IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 1, seq 1, length 64"
    reply = build_ipv4(STACK, HOST, PROTO_ICMP, build_icmp(0, 0, 7 << 16 | 300, b""))
    assert describe_packet(reply) == "IP 198.18.0.2 > 198.18.0.1: ICMP echo reply, id 7, seq 300, length 8"


def test_icmp_unreachable_quotes_the_offending_packet() -> None:
    udp = build_ipv4(HOST, STACK, 17, struct.pack("!HHHH", 5353, 53, 8, 0))
    error = dest_unreachable(3, udp)
    assert (
        describe_packet(build_ipv4(STACK, HOST, PROTO_ICMP, error))
        == f"IP 198.18.0.2 > 198.18.0.1: ICMP 198.18.0.2 udp port 53 unreachable, length {len(error)}"
    )


def test_other_protocols_and_bad_packets_never_raise() -> None:
    udp = build_ipv4(HOST, STACK, 17, struct.pack("!HHHH", 5353, 53, 13, 0) + b"hello")
    assert describe_packet(udp) == "IP 198.18.0.1.5353 > 198.18.0.2.53: UDP, length 5"
    gre = build_ipv4(HOST, STACK, 47, bytes(4))
    assert describe_packet(gre) == "IP 198.18.0.1 > 198.18.0.2: ip-proto-47 4"
    bad = bytearray(build_tcp_packet(seg(SYN, 1)))
    bad[-1] ^= 1
    assert describe_packet(bytes(bad)) == "IP 198.18.0.1 > 198.18.0.2: [bad tcp checksum], length 40"
    assert describe_packet(b"\x45") == "IP [truncated], length 1"
    loopback, all_routers = bytes(15) + b"\x01", b"\xff\x02" + bytes(13) + b"\x02"
    ipv6 = bytes([0x60, 0, 0, 0, 0, 8, 58, 255]) + loopback + all_routers
    assert describe_packet(ipv6) == "IP6 ::1 > ff02::2: ip-proto-58 8"


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_timestamp_is_wall_clock_to_the_microsecond(utc: None) -> None:
    ts = 1_700_000_000.123456  # 2023-11-14 22:13:20.123456 UTC
    assert clock(ts) == "22:13:20.123456"
    assert format_line(build_tcp_packet(seg(RST, 1)), ts).startswith("22:13:20.123456 IP 198.18.0.1.43210 > ")


def test_printer_writes_one_line_per_packet() -> None:
    out = io.StringIO()
    hook = printer(out, prefix="  ")
    hook("in", build_tcp_packet(seg(RST, 1)), 0.0)
    hook("out", build_tcp_packet(seg(RST, 2)), 0.0)
    first, second = out.getvalue().splitlines()
    assert first.startswith("  ") and first.endswith("Flags [R], seq 1, win 64240, length 0")
    assert second.startswith("  ") and second.endswith("Flags [R], seq 2, win 64240, length 0")
