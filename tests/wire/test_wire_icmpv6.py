"""ICMPv6 (RFC 4443): Linux golden packets, round trips, the quote of an error, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.icmpv6 import (
    ICMPV6_DEST_UNREACH,
    ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST,
    ICMPV6_PACKET_TOO_BIG,
    ICMPV6_PARAMETER_PROBLEM,
    ICMPV6_TIME_EXCEEDED,
    MAX_QUOTE,
    PARAM_UNKNOWN_NEXT_HEADER,
    TIME_EXCEEDED_REASSEMBLY,
    UNREACH_PORT,
    build_icmpv6,
    echo_reply6_for,
    icmpv6_error,
    is_error,
    parse_icmpv6,
    quoted_tcp6,
)
from minitcp.wire.ipv6 import PROTO_DSTOPTS, PROTO_FRAGMENT, PROTO_ICMPV6, build_ipv6, ip6_int, parse_ipv6
from minitcp.wire.segment import SYN, Segment6
from minitcp.wire.tcp import build_tcp6_packet

from .exthdr import ext, fragment

KERNEL = ip6_int("2001:2::1")
STACK = ip6_int("2001:2::2")

# Captured from Linux 6.x through a TUN device: `ping -6 -c1 -p 6d696e69 2001:2::2`.
LINUX_PING6 = bytes.fromhex(
    "600984e500403a40200100020000000000000000000000012001000200000000000000000000000280003250142600013440"
    "166b00000000101d080000000000" + "6d696e69" * 10
)
# A UDP datagram to a closed port of the kernel, and the port unreachable Linux answered it with.
UDP_TO_CLOSED_PORT = bytes.fromhex(
    "6000000000141140200100020000000000000000000000022001000200000000000000000000000114ea00090014028d"
    "6d696e697463702d74657374"
)
LINUX_PORT_UNREACH6 = (
    bytes.fromhex(
        "60008c8d00443a40200100020000000000000000000000012001000200000000000000000000000201044d4500000000"
    )
    + UDP_TO_CLOSED_PORT
)


def test_linux_ping() -> None:
    packet = parse_ipv6(LINUX_PING6)
    request = parse_icmpv6(packet.payload, packet.src, packet.dst)
    assert (request.type, request.code, request.ident, request.seq) == (ICMPV6_ECHO_REQUEST, 0, 0x1426, 1)
    assert bytes(request.payload).endswith(b"mini" * 10)
    reply = echo_reply6_for(request, STACK, KERNEL)
    answer = parse_icmpv6(reply, STACK, KERNEL)
    assert (answer.type, answer.code, answer.rest_of_header) == (ICMPV6_ECHO_REPLY, 0, request.rest_of_header)
    assert bytes(answer.payload) == bytes(request.payload)
    # The checksum covers the pseudo-header: the same reply read between other addresses fails.
    with pytest.raises(WireError) as info:
        parse_icmpv6(reply, KERNEL, STACK + 1)
    assert info.value.reason is DropReason.BAD_ICMP_CHECKSUM


def test_linux_port_unreachable() -> None:
    # Built as Linux builds it: the same bytes as the kernel's (its flow label too), checksum included.
    message = icmpv6_error(KERNEL, STACK, ICMPV6_DEST_UNREACH, UNREACH_PORT, 0, UDP_TO_CLOSED_PORT)
    assert build_ipv6(KERNEL, STACK, PROTO_ICMPV6, message, flow_label=0x08C8D) == LINUX_PORT_UNREACH6
    packet = parse_ipv6(LINUX_PORT_UNREACH6)
    error = parse_icmpv6(packet.payload, packet.src, packet.dst)
    assert (error.type, error.code) == (ICMPV6_DEST_UNREACH, UNREACH_PORT)
    assert bytes(error.payload) == UDP_TO_CLOSED_PORT
    assert quoted_tcp6(error) is None  # it quotes UDP


@pytest.mark.parametrize(
    ("type_", "code", "rest"),
    [
        (ICMPV6_DEST_UNREACH, UNREACH_PORT, 0),
        (ICMPV6_PACKET_TOO_BIG, 0, 1280),  # the next-hop MTU (RFC 4443 section 3.2)
        (ICMPV6_TIME_EXCEEDED, TIME_EXCEEDED_REASSEMBLY, 0),
        (ICMPV6_PARAMETER_PROBLEM, PARAM_UNKNOWN_NEXT_HEADER, 6),  # a pointer into the quote
    ],
)
def test_errors_quote_what_fits_in_1280_bytes(type_: int, code: int, rest: int) -> None:
    assert is_error(type_)
    original = build_ipv6(KERNEL, STACK, 253, bytes(range(256)) * 8)
    message = icmpv6_error(STACK, KERNEL, type_, code, rest, original)
    assert len(build_ipv6(STACK, KERNEL, PROTO_ICMPV6, message)) == 1280
    error = parse_icmpv6(message, STACK, KERNEL)
    assert (error.type, error.code, error.rest_of_header) == (type_, code, rest)
    assert bytes(error.payload) == original[:MAX_QUOTE]


def test_informational_messages_are_not_errors() -> None:
    assert not is_error(ICMPV6_ECHO_REQUEST) and not is_error(ICMPV6_ECHO_REPLY)
    with pytest.raises(ValueError):
        icmpv6_error(STACK, KERNEL, ICMPV6_ECHO_REPLY, 0, 0, b"")
    with pytest.raises(ValueError):
        echo_reply6_for(parse_icmpv6(build_icmpv6(KERNEL, STACK, ICMPV6_ECHO_REPLY, 0, 0), KERNEL, STACK),
                        STACK, KERNEL)  # fmt: skip


@given(type_=st.integers(0, 255), code=st.integers(0, 255), rest=st.integers(0, 2**32 - 1),
       payload=st.binary(max_size=64), src=st.integers(0, 2**128 - 1),
       dst=st.integers(0, 2**128 - 1))  # fmt: skip
def test_round_trip(type_: int, code: int, rest: int, payload: bytes, src: int, dst: int) -> None:
    message = parse_icmpv6(build_icmpv6(src, dst, type_, code, rest, payload), src, dst)
    assert (message.type, message.code, message.rest_of_header) == (type_, code, rest)
    assert bytes(message.payload) == payload


def test_build_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        build_icmpv6(STACK, KERNEL, 256, 0, 0)
    with pytest.raises(ValueError):
        build_icmpv6(STACK, KERNEL, 1, 0, 1 << 32)


SYN6 = build_tcp6_packet(Segment6(KERNEL, STACK, 44852, 8080, 0x9320415A, 0, SYN, 64800))


def error_quoting(original: bytes) -> bytes:
    return icmpv6_error(STACK, KERNEL, ICMPV6_PACKET_TOO_BIG, 0, 1280, original)


def with_headers(packet: bytes, first: int, *headers: bytes) -> bytes:
    """`packet` with extension headers put after its IPv6 header (the quote need not be valid)."""
    return packet[:6] + bytes((first,)) + packet[7:40] + b"".join(headers) + packet[40:]


SYN6_QUOTED = (KERNEL, STACK, 44852, 8080, 0x9320415A)


@pytest.mark.parametrize(
    ("original", "quoted"),
    [
        (SYN6, SYN6_QUOTED),
        (SYN6[:48], SYN6_QUOTED),  # RFC 4443 asks for no more than this
        (with_headers(SYN6, PROTO_DSTOPTS, ext(6, b"")), SYN6_QUOTED),
        (with_headers(SYN6, PROTO_FRAGMENT, fragment(6, 0, True, 1)), SYN6_QUOTED),
        (with_headers(SYN6, PROTO_FRAGMENT, fragment(6, 1232, True, 1)), None),  # no TCP header there
        (UDP_TO_CLOSED_PORT, None),
    ],
)
def test_quoted_tcp(original: bytes, quoted: tuple | None) -> None:
    assert quoted_tcp6(parse_icmpv6(error_quoting(original), STACK, KERNEL)) == quoted


@pytest.mark.parametrize(
    "original",
    [SYN6[:39], b"\x45" + SYN6[1:], SYN6[:47], with_headers(SYN6, PROTO_DSTOPTS, ext(6, b""))[:53]],
)
def test_quote_cut_short(original: bytes) -> None:
    with pytest.raises(WireError) as info:
        quoted_tcp6(parse_icmpv6(error_quoting(original), STACK, KERNEL))
    assert info.value.reason is DropReason.BAD_ICMP


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (LINUX_PING6[40:47], DropReason.BAD_ICMP),
        (LINUX_PING6[40:-1], DropReason.BAD_ICMP_CHECKSUM),
    ],
)
def test_rejects(raw: bytes, reason: DropReason) -> None:
    with pytest.raises(WireError) as info:
        parse_icmpv6(raw, KERNEL, STACK)
    assert info.value.reason is reason


@given(st.binary(max_size=80))
def test_fuzz_random_bytes(raw: bytes) -> None:
    with contextlib.suppress(WireError):
        message = parse_icmpv6(raw, KERNEL, STACK)
        quoted_tcp6(message)


@given(st.binary(max_size=100))
def test_fuzz_quotes(original: bytes) -> None:
    with contextlib.suppress(WireError):
        quoted_tcp6(parse_icmpv6(error_quoting(b"\x60" + original), STACK, KERNEL))
