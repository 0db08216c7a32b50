"""The C extension and the pure-Python twin agree: same fields, same bytes, same drop reasons.

Both implementations are imported directly, so this runs whatever MINITCP_PURE
says; only the C side needs the extension built.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minitcp.wire import accel, tcp_pure
from minitcp.wire.checksum import checksum, pseudo_header_sum, pseudo_header_sum6
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.ipv6 import PROTO_DSTOPTS, PROTO_FRAGMENT, PROTO_HOPOPTS, PROTO_ROUTING
from minitcp.wire.segment import Segment, Segment6

from .exthdr import ext, fragment

try:
    from minitcp._native import lib

    from minitcp.wire import tcp_native
except ImportError:
    lib = tcp_native = None

needs_native = pytest.mark.skipif(
    tcp_native is None, reason="minitcp._native is not built (pip install -e .)"
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u128 = st.integers(0, 2**128 - 1)


@st.composite
def segments(draw: st.DrawFn) -> Segment:
    ts_val = draw(st.none() | u32)
    return Segment(
        draw(u32), draw(u32), draw(u16), draw(u16), draw(u32), draw(u32), draw(u8), draw(u16),
        draw(st.binary(max_size=200)),
        urgent=draw(u16),
        mss=draw(st.none() | u16),
        wscale=draw(st.none() | u8),
        sack_permitted=draw(st.booleans()),
        sack=tuple(draw(st.lists(st.tuples(u32, u32), max_size=5))),
        ts_val=ts_val,
        ts_ecr=None if ts_val is None else draw(u32),
        ttl=draw(u8),
        tos=draw(u8),
        ip_id=draw(u16),
        df=draw(st.booleans()),
    )  # fmt: skip


@st.composite
def segments6(draw: st.DrawFn) -> Segment6:
    """A segment as IPv6 carries it: 128-bit addresses, a flow label, no IPv4 ID or DF."""
    seg = draw(segments())
    return Segment6(
        draw(u128), draw(u128), seg.sport, seg.dport, seg.seq, seg.ack, seg.flags, seg.window, seg.payload,
        urgent=seg.urgent, mss=seg.mss, wscale=seg.wscale, sack_permitted=seg.sack_permitted, sack=seg.sack,
        ts_val=seg.ts_val, ts_ecr=seg.ts_ecr, ttl=seg.ttl, tos=seg.tos,
        flow_label=draw(st.integers(0, 0xFFFFF)),
    )  # fmt: skip


def outcome(impl: object, raw: bytes | bytearray | memoryview) -> tuple | DropReason:
    try:
        return impl.parse_tcp_packet(raw).fields()  # type: ignore[attr-defined]
    except WireError as exc:
        return exc.reason


def outcome6(
    impl: object, raw: bytes | bytearray | memoryview, csum_partial: bool = False
) -> tuple | DropReason:
    try:
        return impl.parse_tcp6_packet(raw, csum_partial).fields()  # type: ignore[attr-defined]
    except WireError as exc:
        return exc.reason


@needs_native
def test_reason_codes_match_c() -> None:
    assert lib is not None
    for reason in DropReason:
        if hasattr(lib, f"MT_{reason.name}"):
            assert getattr(lib, f"MT_{reason.name}") == reason.value
    assert lib.MT_BAD_TCP_CHECKSUM == DropReason.BAD_TCP_CHECKSUM


@needs_native
def test_accel_binds_native() -> None:
    if os.environ.get("MINITCP_PURE", "") not in ("", "0"):
        pytest.skip("MINITCP_PURE is set in this environment")
    assert accel.NATIVE is True
    assert accel.parse_tcp_packet is tcp_native.parse_tcp_packet  # type: ignore[union-attr]
    assert accel.parse_tcp6_packet is tcp_native.parse_tcp6_packet  # type: ignore[union-attr]
    assert accel.pseudo_header_sum6 is tcp_native.pseudo_header_sum6  # type: ignore[union-attr]


@pytest.mark.parametrize(("value", "native"), [("1", False), pytest.param("0", True, marks=needs_native)])
def test_minitcp_pure_env(value: str, native: bool) -> None:
    code = (
        "import minitcp.wire.accel as a, minitcp.wire.tcp_pure as p;"
        "print(a.NATIVE, a.parse_tcp_packet is p.parse_tcp_packet)"
    )
    env = dict(os.environ, MINITCP_PURE=value)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(native), str(not native)]


@needs_native
@settings(max_examples=300)
@given(seg=segments())
def test_valid_segments(seg: Segment) -> None:
    raw = tcp_native.build_tcp_packet(seg)  # type: ignore[union-attr]
    assert raw == tcp_pure.build_tcp_packet(seg)
    parsed = outcome(tcp_native, raw)
    assert parsed == outcome(tcp_pure, raw)
    # Everything comes back, but SACK blocks past the 40 option bytes are dropped.
    back = tcp_pure.parse_tcp_packet(raw)
    assert back.sack == seg.sack[: len(back.sack)]
    back.sack = seg.sack
    assert back == seg
    assert outcome(tcp_native, bytearray(raw)) == outcome(tcp_native, memoryview(b"?" + raw)[1:]) == parsed


@needs_native
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(seg=segments(), edits=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), max_size=4),
       cut=st.integers(0, 300), tail=st.binary(max_size=8))  # fmt: skip
def test_malformed_segments(seg: Segment, edits: list[tuple[int, int]], cut: int, tail: bytes) -> None:
    raw = bytearray(tcp_pure.build_tcp_packet(seg))
    for offset, value in edits:
        if offset < len(raw):
            raw[offset] = value
    for candidate in (bytes(raw), bytes(raw[:cut]), bytes(raw) + tail):
        assert outcome(tcp_native, candidate) == outcome(tcp_pure, candidate)


@needs_native
@settings(max_examples=300)
@given(raw=st.binary(max_size=100))
def test_random_bytes(raw: bytes) -> None:
    assert outcome(tcp_native, raw) == outcome(tcp_pure, raw)


@needs_native
@settings(max_examples=300)
@given(seg=segments(), options=st.binary(max_size=40))
def test_random_options(seg: Segment, options: bytes) -> None:
    # Splice random option bytes into a valid packet and fix both checksums,
    # so the option parsers themselves are compared.
    seg.sack, seg.mss, seg.wscale, seg.ts_val, seg.sack_permitted = (), None, None, None, False
    options = options.ljust(-(-len(options) // 4) * 4, b"\0")
    plain = tcp_pure.build_tcp_packet(seg)
    header = bytearray(plain[20:40])
    header[12] = (5 + len(options) // 4) << 4
    raw = rechecksum(plain[:20], bytes(header) + options + plain[40:])
    assert outcome(tcp_native, raw) == outcome(tcp_pure, raw)


def rechecksum(ip_header: bytes, segment: bytes) -> bytes:
    """Reassemble a packet with its total length and both checksums recomputed."""
    ip = bytearray(ip_header)
    ip[2:4] = (20 + len(segment)).to_bytes(2, "big")
    ip[10:12] = b"\0\0"
    ip[10:12] = checksum(ip).to_bytes(2, "big")
    tcp = bytearray(segment)
    tcp[16:18] = b"\0\0"
    src, dst = int.from_bytes(ip[12:16], "big"), int.from_bytes(ip[16:20], "big")
    tcp[16:18] = checksum(tcp, pseudo_header_sum(src, dst, 6, len(tcp))).to_bytes(2, "big")
    return bytes(ip + tcp)


@needs_native
@settings(max_examples=300)
@given(src=u128, dst=u128, proto=u8, length=u32)
def test_pseudo_header_sum6(src: int, dst: int, proto: int, length: int) -> None:
    expected = pseudo_header_sum6(src, dst, proto, length)
    assert tcp_native.pseudo_header_sum6(src, dst, proto, length) == expected  # type: ignore[union-attr]
    # The definition, RFC 8200 section 8.1: the one's-complement sum of the pseudo-header's words.
    words = b"".join((src.to_bytes(16, "big"), dst.to_bytes(16, "big"), length.to_bytes(4, "big"),
                      bytes((0, 0, 0, proto))))  # fmt: skip
    assert expected == accel.csum_add(words)


@needs_native
@settings(max_examples=300)
@given(seg=segments6())
def test_valid_segments6(seg: Segment6) -> None:
    raw = tcp_native.build_tcp6_packet(seg)  # type: ignore[union-attr]
    assert raw == tcp_pure.build_tcp6_packet(seg)
    parsed = outcome6(tcp_native, raw)
    assert parsed == outcome6(tcp_pure, raw)
    back = tcp_pure.parse_tcp6_packet(raw)
    assert back.sack == seg.sack[: len(back.sack)]
    back.sack = seg.sack
    assert back == seg
    assert outcome6(tcp_native, bytearray(raw)) == outcome6(tcp_native, memoryview(b"?" + raw)[1:]) == parsed


@needs_native
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(seg=segments6(), edits=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), max_size=4),
       cut=st.integers(0, 300), tail=st.binary(max_size=8), partial=st.booleans())  # fmt: skip
def test_malformed_segments6(
    seg: Segment6, edits: list[tuple[int, int]], cut: int, tail: bytes, partial: bool
) -> None:
    raw = bytearray(tcp_pure.build_tcp6_packet(seg))
    for offset, value in edits:
        if offset < len(raw):
            raw[offset] = value
    for candidate in (bytes(raw), bytes(raw[:cut]), bytes(raw) + tail):
        assert outcome6(tcp_native, candidate, partial) == outcome6(tcp_pure, candidate, partial)


@needs_native
@settings(max_examples=300)
@given(raw=st.binary(max_size=100))
def test_random_bytes6(raw: bytes) -> None:
    raw = b"\x60" + raw  # version 6, so the parsers go past the first check
    assert outcome6(tcp_native, raw) == outcome6(tcp_pure, raw)


# Extension headers as a walk meets them: any kind in any order, bodies of option bytes that
# are mostly padding and small options (so some chains pass), routing types and segments left,
# fragment offsets and M flags.
option_bytes = st.lists(
    st.sampled_from([b"\x00", b"\x01\x00", b"\x01\x02\x00\x00", b"\x01\x01\x01", b"\x05\x02\x00\x00",
                     b"\x1e\x00", b"\x5e\x00", b"\xc2\x04\x00\x00\x00\x00", b"\x1e\x09"]),
    max_size=12,
).map(b"".join)  # fmt: skip
headers = st.lists(
    st.one_of(
        st.tuples(st.sampled_from((PROTO_HOPOPTS, PROTO_DSTOPTS)), option_bytes),
        st.tuples(st.just(PROTO_ROUTING), st.tuples(u8, st.sampled_from((0, 0, 1))).map(bytes)),
        st.tuples(st.just(PROTO_FRAGMENT), st.tuples(st.sampled_from((0, 0, 8)), st.booleans())),
    ),
    max_size=5,
)


@needs_native
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(seg=segments6(), chain=headers, upper=st.sampled_from((6, 6, 6, 17, 59)), cut=st.integers(0, 40))
def test_extension_headers6(seg: Segment6, chain: list, upper: int, cut: int) -> None:
    # Both walkers, compared on chains of extension headers put between a valid IPv6 header and
    # a valid TCP segment (whose checksum does not cover them), whole and with bytes cut off.
    plain = tcp_pure.build_tcp6_packet(seg)
    kinds = [kind for kind, _ in chain] + [upper]
    parts = []
    for i, (kind, body) in enumerate(chain):
        if kind == PROTO_FRAGMENT:
            offset, more = body
            parts.append(fragment(kinds[i + 1], offset, more, 7))
        else:
            parts.append(ext(kinds[i + 1], body))
    body = b"".join(parts) + plain[40:]
    ip = bytearray(plain[:40])
    ip[4:6] = min(len(body), 0xFFFF).to_bytes(2, "big")
    ip[6] = kinds[0]
    raw = bytes(ip) + body
    for candidate in (raw, raw[: len(raw) - cut]):
        assert outcome6(tcp_native, candidate) == outcome6(tcp_pure, candidate)
