"""IPv4 headers: round trips, each validation rule, and fuzzing that only WireError escapes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitcp.wire.checksum import checksum
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.ipv4 import PROTO_ICMP, PROTO_TCP, build_ipv4, ip_int, ip_str, parse_ipv4
from minitcp.wire.tcp import parse_tcp_packet

SRC = ip_int("198.18.0.1")
DST = ip_int("198.18.0.2")


def with_header(packet: bytes, **byte_values: int) -> bytes:
    """`packet` with header bytes replaced (keyword `b<offset>`) and the checksum redone."""
    raw = bytearray(packet)
    for key, value in byte_values.items():
        raw[int(key[1:])] = value
    header_length = min((raw[0] & 0x0F) * 4, len(raw))
    raw[10:12] = b"\0\0"
    raw[10:12] = checksum(raw[:header_length]).to_bytes(2, "big")
    return bytes(raw)


def test_addresses() -> None:
    assert ip_int("198.18.0.1") == 0xC6120001
    assert ip_str(0xC6120001) == "198.18.0.1"
    assert ip_str(ip_int("255.255.255.255")) == "255.255.255.255"
    with pytest.raises(ValueError):
        ip_int("198.18.1")


@given(
    src=st.integers(0, 0xFFFFFFFF),
    dst=st.integers(0, 0xFFFFFFFF),
    proto=st.integers(0, 255),
    payload=st.binary(max_size=64),
    ttl=st.integers(0, 255),
    ident=st.integers(0, 0xFFFF),
    tos=st.integers(0, 255),
    df=st.booleans(),
)
def test_round_trip(
    src: int, dst: int, proto: int, payload: bytes, ttl: int, ident: int, tos: int, df: bool
) -> None:
    raw = build_ipv4(src, dst, proto, payload, ttl=ttl, ident=ident, tos=tos, df=df)
    packet = parse_ipv4(raw)
    assert (packet.src, packet.dst, packet.proto, packet.ttl, packet.ident, packet.tos, packet.df) == (
        src, dst, proto, ttl, ident, tos, df,
    )  # fmt: skip
    assert (packet.header_length, packet.total_length) == (20, 20 + len(payload))
    assert bytes(packet.payload) == payload


def test_header_layout() -> None:
    raw = build_ipv4(SRC, DST, PROTO_ICMP, b"abcd", ttl=64, ident=0x1234, df=True)
    assert raw.hex() == "450000181234400040019c89c6120001c612000261626364"


def test_trailing_padding_ignored() -> None:
    raw = build_ipv4(SRC, DST, PROTO_TCP, b"xy")
    assert bytes(parse_ipv4(raw + b"\0" * 20).payload) == b"xy"


def test_options_are_skipped() -> None:
    # IHL 6: one word of options (four NOPs) before the payload.
    base = build_ipv4(SRC, DST, PROTO_TCP, b"data")
    raw = with_header(base[:20] + b"\x01" * 4 + base[20:], b0=0x46, b3=28)
    packet = parse_ipv4(raw)
    assert packet.header_length == 24
    assert bytes(packet.payload) == b"data"


GOOD = build_ipv4(SRC, DST, PROTO_TCP, b"0123456789")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (GOOD[:19], DropReason.TRUNCATED),
        (with_header(GOOD, b0=0x65), DropReason.BAD_VERSION),
        (with_header(GOOD, b0=0x44), DropReason.BAD_IHL),
        (with_header(GOOD, b0=0x4F), DropReason.TRUNCATED),  # 60-byte header in 30 bytes
        (with_header(GOOD, b3=31), DropReason.BAD_TOTAL_LENGTH),
        (with_header(GOOD, b3=19), DropReason.BAD_TOTAL_LENGTH),
        (GOOD[:11] + b"\0" + GOOD[12:], DropReason.BAD_IP_CHECKSUM),
    ],
)
def test_rejects(raw: bytes, reason: DropReason) -> None:
    with pytest.raises(WireError) as info:
        parse_ipv4(raw)
    assert info.value.reason is reason
    assert reason.label in str(info.value).replace(" ", "_")


def test_fragments_parse_for_reassembly_but_are_no_tcp_segment() -> None:
    for raw, offset, more in ((with_header(GOOD, b6=0x60), 0, True), (with_header(GOOD, b7=0x01), 8, False)):
        ip = parse_ipv4(raw)
        assert (ip.frag_offset, ip.more_fragments, ip.is_fragment) == (offset, more, True)
        with pytest.raises(WireError) as info:
            parse_tcp_packet(raw)
        assert info.value.reason is DropReason.FRAGMENT
    whole = parse_ipv4(GOOD)
    assert (whole.frag_offset, whole.more_fragments, whole.is_fragment) == (0, False, False)


def test_build_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        build_ipv4(SRC, DST, 256, b"")
    with pytest.raises(ValueError):
        build_ipv4(SRC, DST, PROTO_TCP, bytes(65516))


@given(st.binary(max_size=80))
def test_fuzz_random_bytes(raw: bytes) -> None:
    with contextlib.suppress(WireError):
        parse_ipv4(raw)


@given(st.binary(max_size=40), st.integers(0, 60), st.binary(max_size=8))
def test_fuzz_mutated(payload: bytes, at: int, junk: bytes) -> None:
    raw = bytearray(build_ipv4(SRC, DST, PROTO_TCP, payload))
    raw[at : at + len(junk)] = junk
    with contextlib.suppress(WireError):
        parse_ipv4(bytes(raw))
