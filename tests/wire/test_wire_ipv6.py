"""IPv6 headers: round trips, the extension-header walk, each validation rule, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.ipv4 import PROTO_TCP
from minitcp.wire.ipv6 import (
    PROTO_DSTOPTS,
    PROTO_FRAGMENT,
    PROTO_HOPOPTS,
    PROTO_ICMPV6,
    PROTO_NONE,
    PROTO_ROUTING,
    Fragment,
    build_ipv6,
    ip6_int,
    ip6_str,
    parse_ipv6,
)

from .exthdr import ext, fragment

SRC = ip6_int("2001:2::1")
DST = ip6_int("2001:2::2")

# The IPv6 header of a SYN the Linux kernel sent through a TUN device (flow label 0x3cac3).
LINUX_SYN_HEADER = bytes.fromhex(
    "6003cac300280640" "20010002000000000000000000000001" "20010002000000000000000000000002"
)


def chain(first: int, *headers: bytes, payload: bytes = b"data") -> bytes:
    """An IPv6 packet whose fixed header names `first`, then `headers` and `payload`."""
    return build_ipv6(SRC, DST, first, b"".join(headers) + payload)


def test_addresses() -> None:
    assert ip6_int("2001:2::2") == 0x2001_0002 << 96 | 2
    assert ip6_str(0x2001_0002 << 96 | 2) == "2001:2::2"
    assert ip6_str(ip6_int("::ffff:198.18.0.1")) == "::ffff:c612:1"
    with pytest.raises(ValueError):
        ip6_int("2001:2:::1")


@given(
    src=st.integers(0, 2**128 - 1),
    dst=st.integers(0, 2**128 - 1),
    next_header=st.integers(0, 255).filter(lambda n: n not in (0, 43, 44, 60)),
    payload=st.binary(max_size=64),
    hop_limit=st.integers(0, 255),
    traffic_class=st.integers(0, 255),
    flow_label=st.integers(0, 0xFFFFF),
)
def test_round_trip(
    src: int, dst: int, next_header: int, payload: bytes, hop_limit: int, traffic_class: int, flow_label: int
) -> None:
    raw = build_ipv6(src, dst, next_header, payload, hop_limit=hop_limit, traffic_class=traffic_class,
                     flow_label=flow_label)  # fmt: skip
    packet = parse_ipv6(raw)
    assert (packet.src, packet.dst, packet.next_header) == (src, dst, next_header)
    assert packet.hop_limit == hop_limit
    assert (packet.traffic_class, packet.flow_label, packet.payload_length) == (
        traffic_class, flow_label, len(payload),
    )  # fmt: skip
    assert (packet.header_length, packet.extensions, packet.fragment) == (40, (), None)
    assert bytes(packet.payload) == payload


def test_header_layout() -> None:
    raw = build_ipv6(SRC, DST, PROTO_TCP, bytes(40), flow_label=0x3CAC3)
    assert raw[:40] == LINUX_SYN_HEADER
    packet = parse_ipv6(LINUX_SYN_HEADER + bytes(40))
    assert (packet.flow_label, packet.traffic_class, packet.hop_limit) == (0x3CAC3, 0, 64)
    assert "2001:2::1>2001:2::2" in repr(packet)


def test_trailing_padding_ignored() -> None:
    raw = build_ipv6(SRC, DST, PROTO_TCP, b"xy")
    assert bytes(parse_ipv6(raw + bytes(20)).payload) == b"xy"


def test_walk_every_extension_header() -> None:
    raw = chain(
        PROTO_HOPOPTS,
        ext(PROTO_DSTOPTS, b"\x05\x02\x00\x00"),  # router alert: type 0x05, top bits 00, skipped
        ext(PROTO_ROUTING, b""),  # padded to 8 bytes of zeros: Pad1s in an options header
        ext(PROTO_FRAGMENT, b"\x00\x00" + bytes(4)),  # routing type 0, segments left 0: ignored
        fragment(PROTO_ICMPV6, 0, False, 0x12345678),  # atomic (RFC 6946): read through
    )
    packet = parse_ipv6(raw)
    assert packet.extensions == (
        (PROTO_HOPOPTS, 40), (PROTO_DSTOPTS, 48), (PROTO_ROUTING, 56), (PROTO_FRAGMENT, 64),
    )  # fmt: skip
    assert (packet.next_header, packet.header_length, bytes(packet.payload)) == (PROTO_ICMPV6, 72, b"data")
    assert packet.fragment == Fragment(0, False, 0x12345678)
    assert not packet.is_fragment


def test_long_extension_header() -> None:
    # Header extension length 1: 16 bytes, a PadN of 12 zeros would be too much padding, so an
    # option of type 0x1e (top bits 00) fills it.
    raw = chain(PROTO_DSTOPTS, ext(PROTO_TCP, b"\x1e\x0c" + bytes(12)))
    packet = parse_ipv6(raw)
    assert (packet.header_length, packet.next_header) == (56, PROTO_TCP)


@pytest.mark.parametrize(("offset", "more"), [(0, True), (1448, True), (1448, False)])
def test_fragment_stops_the_walk(offset: int, more: bool) -> None:
    # What follows a fragment header is data for reassembly, even if it looks like a header.
    raw = chain(PROTO_FRAGMENT, fragment(PROTO_DSTOPTS, offset, more, 7), payload=b"\xff" * 16)
    packet = parse_ipv6(raw)
    assert packet.fragment == Fragment(offset, more, 7)
    assert packet.is_fragment
    assert (packet.next_header, packet.header_length, len(packet.payload)) == (PROTO_DSTOPTS, 48, 16)


def test_no_next_header() -> None:
    packet = parse_ipv6(chain(PROTO_DSTOPTS, ext(PROTO_NONE, b""), payload=b"ignored"))
    assert (packet.next_header, bytes(packet.payload)) == (PROTO_NONE, b"ignored")


GOOD = build_ipv6(SRC, DST, PROTO_TCP, b"0123456789")


def with_byte(raw: bytes, offset: int, value: int) -> bytes:
    return raw[:offset] + bytes((value,)) + raw[offset + 1 :]


EXT = DropReason.BAD_EXT_HEADER


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (GOOD[:39], DropReason.TRUNCATED),
        (with_byte(GOOD, 0, 0x40), DropReason.BAD_VERSION),
        (with_byte(GOOD, 5, 11), DropReason.BAD_TOTAL_LENGTH),
        # RFC 8200 section 4.3: hop-by-hop options only right after the IPv6 header.
        (chain(PROTO_DSTOPTS, ext(PROTO_HOPOPTS, b""), ext(PROTO_TCP, b"")), EXT),
        # Headers running past the payload length.
        (chain(PROTO_DSTOPTS, payload=b"\x06"), EXT),
        (chain(PROTO_DSTOPTS, payload=b"\x06\x00\x00"), EXT),
        (chain(PROTO_DSTOPTS, payload=b"\x06\x01" + bytes(12)), EXT),
        (chain(PROTO_FRAGMENT, payload=bytes(7)), EXT),
        # Options, judged as Linux's ip6_parse_tlv.
        (chain(PROTO_HOPOPTS, ext(PROTO_TCP, b"\x01\x05" + bytes(5)) + ext(0, b"")), EXT),
        (chain(PROTO_HOPOPTS, ext(PROTO_TCP, b"\x01\x04\x00\x01\x00\x00")), EXT),
        (chain(PROTO_DSTOPTS, ext(PROTO_TCP, b"\x00" * 6 + b"\x00\x00" + bytes(6))), EXT),
        (chain(PROTO_DSTOPTS, ext(PROTO_TCP, b"\x1e\x05" + bytes(4))), EXT),
        (chain(PROTO_DSTOPTS, ext(PROTO_TCP, b"\x00" * 5 + b"\x1e")), EXT),
        (chain(PROTO_DSTOPTS, ext(PROTO_TCP, b"\x1e\x00" * 9 + bytes(4))), EXT),
        # RFC 8200 section 4.2: the top two bits of an unknown option's type.
        (chain(PROTO_DSTOPTS, ext(PROTO_TCP, b"\x5e\x00" + bytes(4))), DropReason.UNKNOWN_OPTION),
        (chain(PROTO_DSTOPTS, ext(PROTO_TCP, b"\x9e\x00" + bytes(4))), DropReason.UNKNOWN_OPTION),
        (chain(PROTO_HOPOPTS, ext(PROTO_TCP, b"\xc2\x04" + bytes(4))), DropReason.UNKNOWN_OPTION),  # jumbo
        # RFC 8200 section 4.4: a routing header with segments left, of a type this host lacks.
        (chain(PROTO_ROUTING, ext(PROTO_TCP, b"\x00\x01" + bytes(4))), DropReason.ROUTING_HEADER),
        (chain(PROTO_ROUTING, ext(PROTO_TCP, b"\x04\x02" + bytes(4))), DropReason.ROUTING_HEADER),
    ],
)
def test_rejects(raw: bytes, reason: DropReason) -> None:
    with pytest.raises(WireError) as info:
        parse_ipv6(raw)
    assert info.value.reason is reason
    assert reason.label in str(info.value).replace(" ", "_")


def test_padding_limits() -> None:
    # Seven bytes of padding in a row are allowed, as PadN or as Pad1s; an option resets the count.
    assert parse_ipv6(chain(PROTO_DSTOPTS, ext(PROTO_TCP, b"\x01\x04" + bytes(4)))).next_header == PROTO_TCP
    assert parse_ipv6(chain(PROTO_DSTOPTS, ext(PROTO_TCP, bytes(6)))).next_header == PROTO_TCP
    spaced = b"\x00" * 4 + b"\x1e\x01\xaa" + b"\x01\x05" + bytes(5)
    assert parse_ipv6(chain(PROTO_DSTOPTS, ext(PROTO_TCP, spaced))).next_header == PROTO_TCP


def test_build_rejects_out_of_range() -> None:
    for kwargs in ({"flow_label": 1 << 20}, {"traffic_class": 256}, {"hop_limit": 256}):
        with pytest.raises(ValueError):
            build_ipv6(SRC, DST, PROTO_TCP, b"", **kwargs)
    with pytest.raises(ValueError):
        build_ipv6(1 << 128, DST, PROTO_TCP, b"")
    with pytest.raises(ValueError):
        build_ipv6(SRC, DST, PROTO_TCP, bytes(65536))


@given(st.binary(max_size=120))
def test_fuzz_random_bytes(raw: bytes) -> None:
    with contextlib.suppress(WireError):
        parse_ipv6(b"\x60" + raw)


@given(
    st.lists(st.tuples(st.sampled_from((0, 43, 44, 60)), st.binary(max_size=30)), max_size=4),
    st.integers(0, 120),
    st.binary(max_size=8),
)
def test_fuzz_mutated_chains(headers: list[tuple[int, bytes]], at: int, junk: bytes) -> None:
    kinds = [kind for kind, _ in headers] + [PROTO_TCP]
    body = b"".join(
        fragment(kinds[i + 1], 0, False, 1) if kind == PROTO_FRAGMENT else ext(kinds[i + 1], data)
        for i, (kind, data) in enumerate(headers)
    )
    raw = bytearray(build_ipv6(SRC, DST, kinds[0], body + b"tcp"))
    raw[at : at + len(junk)] = junk
    with contextlib.suppress(WireError):
        parse_ipv6(bytes(raw))
