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
from minitcp.wire.checksum import checksum, pseudo_header_sum
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.segment import Segment

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


def outcome(impl: object, raw: bytes | bytearray | memoryview) -> tuple | DropReason:
    try:
        return impl.parse_tcp_packet(raw).fields()  # type: ignore[attr-defined]
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
