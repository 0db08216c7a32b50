"""IPv6+TCP parse and build: a Linux golden packet, round trips, extension headers, every drop reason.

Each test runs against both implementations, the pure-Python twin and the C
extension (skipped only when it is not built).
"""

from __future__ import annotations

import contextlib
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitcp.wire import tcp_pure
from minitcp.wire.checksum import checksum, pseudo_header_sum6
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.ipv4 import PROTO_TCP
from minitcp.wire.ipv6 import PROTO_DSTOPTS, PROTO_FRAGMENT, PROTO_HOPOPTS, PROTO_ICMPV6, build_ipv6, ip6_int
from minitcp.wire.segment import ACK, FIN, PSH, SYN, Segment, Segment6
from minitcp.wire.tcp_options import encode_tcp_options

from .exthdr import ext, fragment
from .impls import IMPLS

A = ip6_int("2001:2::1")
B = ip6_int("2001:2::2")

# Captured from Linux 6.x through a TUN device (full checksums, no offload): `connect()` from
# [2001:2::1]:44852 to [2001:2::2]:8080, SYN, flow label 0x3cac3, mss 1440, sackOK,
# TS val 4024260864 ecr 0, wscale 10.
LINUX_SYN6 = bytes.fromhex(
    "6003cac3002806402001000200000000000000000000000120010002000000000000000000000002"
    "af341f909320415a00000000a002fd201eca0000020405a00402080aefdd5900000000000103030a"
)


def with_headers(packet: bytes, first: int, *headers: bytes) -> bytes:
    """An IPv6+TCP `packet` with extension headers put between its IPv6 header and TCP.

    The TCP checksum stays right: the pseudo-header counts the upper layer's length only.
    """
    ip = bytearray(packet[:40])
    body = b"".join(headers) + packet[40:]
    ip[4:6] = len(body).to_bytes(2, "big")
    ip[6] = first
    return bytes(ip) + body


@pytest.mark.parametrize("impl", IMPLS)
def test_linux_syn(impl: ModuleType) -> None:
    seg = impl.parse_tcp6_packet(LINUX_SYN6)
    assert seg == Segment6(
        A, B, 44852, 8080, 0x9320415A, 0, SYN, 64800,
        mss=1440, wscale=10, sack_permitted=True, ts_val=4024260864, ts_ecr=0,
        ttl=64, tos=0, ip_id=0, df=True, flow_label=0x3CAC3,
    )  # fmt: skip
    # Our layout is Linux's: rebuilding gives the captured bytes back.
    assert impl.build_tcp6_packet(seg) == LINUX_SYN6


OPTION_CASES = {
    "none": {},
    "syn_all": {"mss": 1440, "sack_permitted": True, "ts_val": 7, "ts_ecr": 0, "wscale": 7},
    "ts_sack_3": {"ts_val": 5, "ts_ecr": 6, "sack": ((1, 2), (3, 4), (5, 6))},
    "sack_4": {"sack": ((1, 2), (3, 4), (5, 6), (7, 8))},
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("options", OPTION_CASES.values(), ids=OPTION_CASES.keys())
@pytest.mark.parametrize("payload", [b"", b"x", bytes(range(256)) * 6])
def test_round_trip(impl: ModuleType, options: dict, payload: bytes) -> None:
    flags = SYN if "mss" in options else ACK | PSH | FIN
    seg = Segment6(2**128 - 1, 0, 1, 65535, 0xFFFFFFFF, 12345, flags, 29200, payload, urgent=3, **options,
                   ttl=1, tos=0xB8, flow_label=0xFFFFF)  # fmt: skip
    raw = impl.build_tcp6_packet(seg)
    assert len(raw) == 60 + len(encode_tcp_options(seg)) + len(payload)
    assert raw[0] == 0x6B and raw[6] == PROTO_TCP
    back = impl.parse_tcp6_packet(raw)
    assert back == seg
    assert isinstance(back.payload, memoryview)
    assert back.payload.obj is raw  # a view of the input, not a copy


@pytest.mark.parametrize("impl", IMPLS)
def test_largest_segment(impl: ModuleType) -> None:
    # The payload length counts the TCP header and data: 65535 at most (RFC 8200 section 3).
    seg = Segment6(A, B, 1, 2, 3, 4, ACK, 5, bytes(65535 - 20))
    assert len(impl.build_tcp6_packet(seg)) == 40 + 65535
    seg.payload = bytes(65535 - 19)
    with pytest.raises(ValueError):
        impl.build_tcp6_packet(seg)


@pytest.mark.parametrize("impl", IMPLS)
def test_build_rejects_out_of_range(impl: ModuleType) -> None:
    for field, value in (("flow_label", 1 << 20), ("tos", 256), ("ttl", 256), ("sport", 65536),
                         ("src", 1 << 128), ("dst", -1)):  # fmt: skip
        seg = Segment6(A, B, 1, 2, 3, 4, ACK, 5)
        setattr(seg, field, value)
        with pytest.raises(ValueError):
            impl.build_tcp6_packet(seg)


@pytest.mark.parametrize("impl", IMPLS)
def test_extension_headers_walked(impl: ModuleType) -> None:
    plain = impl.build_tcp6_packet(Segment6(A, B, 1000, 80, 1, 2, ACK | PSH, 512, b"hello"))
    raw = with_headers(
        plain, PROTO_HOPOPTS,
        ext(PROTO_DSTOPTS, b"\x05\x02\x00\x00"),  # router alert, skipped as type 0x05 says
        ext(PROTO_FRAGMENT, b""),
        fragment(PROTO_TCP, 0, False, 99),  # atomic: a whole datagram (RFC 6946)
    )  # fmt: skip
    seg = impl.parse_tcp6_packet(raw)
    assert bytes(seg.payload) == b"hello"
    assert (seg.sport, seg.dport, seg.seq, seg.ack) == (1000, 80, 1, 2)
    assert seg.payload.obj is raw


@pytest.mark.parametrize("impl", IMPLS)
def test_csum_partial(impl: ModuleType) -> None:
    # A sender leaving the checksum to the device stores the pseudo-header sum only.
    raw = bytearray(impl.build_tcp6_packet(Segment6(A, B, 1, 2, 3, 4, ACK, 5, b"data")))
    raw[56:58] = pseudo_header_sum6(A, B, PROTO_TCP, len(raw) - 40).to_bytes(2, "big")
    with pytest.raises(WireError) as info:
        impl.parse_tcp6_packet(bytes(raw))
    assert info.value.reason is DropReason.BAD_TCP_CHECKSUM
    assert bytes(impl.parse_tcp6_packet(bytes(raw), csum_partial=True).payload) == b"data"


GOOD = tcp_pure.build_tcp6_packet(Segment6(A, B, 1000, 80, 1, 2, ACK, 512, b"0123456789"))


def with_tcp(tcp: bytes, next_header: int = PROTO_TCP) -> bytes:
    """An IPv6 packet around `tcp` bytes, its checksum fixed when it has a checksum field."""
    segment = bytearray(tcp)
    if len(segment) >= 18:
        segment[16:18] = b"\0\0"
        pseudo = pseudo_header_sum6(A, B, PROTO_TCP, len(segment))
        segment[16:18] = checksum(segment, pseudo).to_bytes(2, "big")
    return build_ipv6(A, B, next_header, segment)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (GOOD[:39], DropReason.TRUNCATED),
        (b"\x45" + GOOD[1:], DropReason.BAD_VERSION),  # an IPv4 packet is not for this parser
        (GOOD[:4] + b"\x00\x3f" + GOOD[6:], DropReason.BAD_TOTAL_LENGTH),
        (with_headers(GOOD, PROTO_DSTOPTS, ext(PROTO_HOPOPTS, b"")), DropReason.BAD_EXT_HEADER),
        (with_headers(GOOD, PROTO_DSTOPTS, ext(PROTO_TCP, b"\x9e\x00")), DropReason.UNKNOWN_OPTION),
        (with_headers(GOOD, 43, ext(PROTO_TCP, b"\x00\x01")), DropReason.ROUTING_HEADER),
        (with_headers(GOOD, PROTO_FRAGMENT, fragment(PROTO_TCP, 0, True, 1)), DropReason.FRAGMENT),
        (with_headers(GOOD, PROTO_FRAGMENT, fragment(PROTO_TCP, 8, False, 1)), DropReason.FRAGMENT),
        (with_tcp(GOOD[40:], PROTO_ICMPV6), DropReason.NOT_TCP),
        (with_tcp(GOOD[40:59]), DropReason.TRUNCATED),
        (with_tcp(GOOD[40:52] + b"\x40" + GOOD[53:]), DropReason.BAD_DATA_OFFSET),
        (with_tcp(GOOD[40:52] + b"\xf0" + GOOD[53:]), DropReason.BAD_DATA_OFFSET),
        (GOOD[:-1] + bytes((GOOD[-1] ^ 1,)), DropReason.BAD_TCP_CHECKSUM),
        # Data offset 6 words, and an MSS option whose length runs past them.
        (with_tcp(GOOD[40:52] + b"\x60" + GOOD[53:60] + b"\x02\x05\0\0" + GOOD[60:]), DropReason.BAD_OPTION),
    ],
)
def test_rejects(impl: ModuleType, raw: bytes, reason: DropReason) -> None:
    with pytest.raises(WireError) as info:
        impl.parse_tcp6_packet(raw)
    assert info.value.reason is reason


@pytest.mark.parametrize("impl", IMPLS)
def test_each_family_its_own_segment(impl: ModuleType) -> None:
    # An IPv4 segment stores nothing for the family (class attributes); an IPv6 one is a Segment6.
    v4 = impl.parse_tcp_packet(impl.build_tcp_packet(Segment(1, 2, 3, 4, 5, 6, ACK, 7, b"x")))
    v6 = impl.parse_tcp6_packet(impl.build_tcp6_packet(Segment6(1, 2, 3, 4, 5, 6, ACK, 7, b"x")))
    assert (type(v4), v4.ip_version, v4.flow_label) == (Segment, 4, 0)
    assert (type(v6), v6.ip_version, v6.flow_label) == (Segment6, 6, 0)
    assert v6.fields() == (*v4.fields()[:-2], 6, 0)
    assert v6 != v4  # the same numbers, in another family


@pytest.mark.parametrize("impl", IMPLS)
def test_ipv4_parser_refuses_ipv6(impl: ModuleType) -> None:
    # The two families have their own parsers; the host picks one by the version nibble.
    with pytest.raises(WireError) as info:
        impl.parse_tcp_packet(LINUX_SYN6)
    assert info.value.reason is DropReason.BAD_VERSION


@pytest.mark.parametrize("impl", IMPLS)
@given(raw=st.binary(max_size=120))
def test_fuzz_random_bytes(impl: ModuleType, raw: bytes) -> None:
    with contextlib.suppress(WireError):
        impl.parse_tcp6_packet(b"\x60" + raw)


@pytest.mark.parametrize("impl", IMPLS)
@given(at=st.integers(0, 100), junk=st.binary(min_size=1, max_size=8))
def test_fuzz_mutated(impl: ModuleType, at: int, junk: bytes) -> None:
    raw = bytearray(LINUX_SYN6)
    raw[at : at + len(junk)] = junk
    with contextlib.suppress(WireError):
        impl.parse_tcp6_packet(bytes(raw))
