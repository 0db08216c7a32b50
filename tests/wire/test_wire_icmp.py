"""ICMP echo and destination unreachable (RFC 792): Linux golden packets, round trips, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_ECHO_REPLY,
    ICMP_ECHO_REQUEST,
    UNREACH_PORT,
    IcmpMessage,
    build_icmp,
    dest_unreachable,
    echo_reply_for,
    parse_icmp,
    quoted_tcp,
)
from minitcp.wire.ipv4 import PROTO_ICMP, build_ipv4, ip_int, parse_ipv4
from minitcp.wire.segment import SYN, Segment
from minitcp.wire.tcp import build_tcp_packet

# Captured from Linux 6.x through a TUN device: `ping -p 6d696e69 198.18.0.2`.
LINUX_PING = bytes.fromhex(
    "45000054b23640004001fc4ac6120001c61200020800ce9b16420001a720056b00000000c2580e0000000000"
    + "6d696e69" * 10
)
# A UDP datagram to a closed port, and the port unreachable Linux answered it with.
UDP_TO_CLOSED_PORT = bytes.fromhex(
    "450000281234400040119c69c6120002c612000114e90009001400006d696e697463702d74657374"
)
LINUX_PORT_UNREACH = (
    bytes.fromhex("45c00044de4e000040010f83c6120001c612000203033fb900000000") + UDP_TO_CLOSED_PORT
)


def test_linux_echo_request() -> None:
    message = parse_icmp(parse_ipv4(LINUX_PING).payload)
    assert (message.type, message.code, message.ident, message.seq) == (ICMP_ECHO_REQUEST, 0, 0x1642, 1)
    assert bytes(message.payload).endswith(b"mini" * 10)
    reply = parse_icmp(echo_reply_for(message))
    assert (reply.type, reply.code, reply.rest_of_header) == (ICMP_ECHO_REPLY, 0, message.rest_of_header)
    assert bytes(reply.payload) == bytes(message.payload)


def test_port_unreachable_matches_linux() -> None:
    linux = parse_ipv4(LINUX_PORT_UNREACH)
    assert bytes(linux.payload) == dest_unreachable(UNREACH_PORT, UDP_TO_CLOSED_PORT)
    message = parse_icmp(linux.payload)
    assert (message.type, message.code, message.rest_of_header) == (ICMP_DEST_UNREACH, UNREACH_PORT, 0)
    assert bytes(message.payload) == UDP_TO_CLOSED_PORT


def test_unreachable_quotes_at_most_576_bytes() -> None:
    original = build_ipv4(ip_int("198.18.0.2"), ip_int("198.18.0.1"), 6, bytes(1400))
    message = dest_unreachable(UNREACH_PORT, original)
    # RFC 1812 section 4.3.2.3: the whole ICMP datagram stays within 576 bytes.
    assert 20 + len(message) == 576
    assert bytes(parse_icmp(message).payload) == original[:548]


@given(
    type_=st.integers(0, 255),
    code=st.integers(0, 255),
    rest=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=64),
)
def test_round_trip(type_: int, code: int, rest: int, payload: bytes) -> None:
    message = parse_icmp(build_icmp(type_, code, rest, payload))
    assert (message.type, message.code, message.rest_of_header, bytes(message.payload)) == (
        type_, code, rest, payload,
    )  # fmt: skip


def test_rejects() -> None:
    good = build_icmp(ICMP_ECHO_REQUEST, 0, 0x00010002, b"abc")
    for raw, reason in (
        (good[:7], DropReason.BAD_ICMP),
        (good[:-1] + b"x", DropReason.BAD_ICMP_CHECKSUM),
    ):
        with pytest.raises(WireError) as info:
            parse_icmp(raw)
        assert info.value.reason is reason
    with pytest.raises(ValueError):
        echo_reply_for(IcmpMessage(ICMP_ECHO_REPLY, 0, 0))
    with pytest.raises(ValueError):
        build_icmp(256, 0, 0)


def test_whole_packet() -> None:
    request = build_ipv4(ip_int("198.18.0.1"), ip_int("198.18.0.2"), PROTO_ICMP, build_icmp(8, 0, 7, b"hi"))
    message = parse_icmp(parse_ipv4(request).payload)
    assert (message.ident, message.seq, bytes(message.payload)) == (0, 7, b"hi")


@given(st.binary(max_size=40))
def test_fuzz(raw: bytes) -> None:
    with contextlib.suppress(WireError):
        parse_icmp(raw)


def test_quoted_tcp_reads_the_addresses_ports_and_sequence_of_our_segment() -> None:
    src, dst = ip_int("198.18.0.2"), ip_int("198.18.0.1")
    ours = build_tcp_packet(Segment(src, dst, 40000, 80, 0xDEADBEEF, 0, SYN, 64240))
    msg = parse_icmp(dest_unreachable(UNREACH_PORT, ours))
    assert quoted_tcp(msg) == (src, dst, 40000, 80, 0xDEADBEEF)
    # Only 8 bytes past the IP header are needed (RFC 792), and they must be there.
    assert quoted_tcp(parse_icmp(dest_unreachable(UNREACH_PORT, ours[:28]))) is not None
    with pytest.raises(WireError) as e:
        quoted_tcp(parse_icmp(dest_unreachable(UNREACH_PORT, ours[:27])))
    assert e.value.reason == DropReason.BAD_ICMP
    # A quoted datagram of another protocol is not TCP's business.
    udp = build_ipv4(src, dst, 17, bytes(8))
    assert quoted_tcp(parse_icmp(dest_unreachable(UNREACH_PORT, udp))) is None
