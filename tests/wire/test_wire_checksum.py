"""Internet checksum: RFC 1071 vectors, incremental updates (RFC 1624), C and pure alike."""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitcp.wire import checksum as pure

try:
    from minitcp.wire import tcp_native as native
except ImportError:
    native = None

IMPLS = [
    pytest.param(pure, id="pure"),
    pytest.param(
        native,
        id="native",
        marks=pytest.mark.skipif(native is None, reason="minitcp._native is not built (pip install -e .)"),
    ),
]

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


def reference_sum(data: bytes, initial: int = 0) -> int:
    """RFC 1071 section 4.1, word by word, as the RFC writes it."""
    if len(data) % 2:
        data += b"\0"
    total = initial + sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@pytest.mark.parametrize("impl", IMPLS)
def test_rfc1071_example(impl: ModuleType) -> None:
    # RFC 1071 section 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert impl.csum_add(data) == 0xDDF2
    assert impl.checksum(data) == 0x220D
    assert impl.csum_add(bytearray(data)) == impl.csum_add(memoryview(data)) == 0xDDF2


@pytest.mark.parametrize("impl", IMPLS)
def test_known_ipv4_header(impl: ModuleType) -> None:
    # The classic worked example: this header's checksum is 0xb861.
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert impl.checksum(header) == 0xB861
    assert impl.csum_add(header[:10] + b"\xb8\x61" + header[12:]) == 0xFFFF


@pytest.mark.parametrize("impl", IMPLS)
def test_edges(impl: ModuleType) -> None:
    assert impl.csum_add(b"") == 0
    assert impl.csum_add(b"\0\0\0") == 0
    assert impl.csum_add(b"\xff\xff") == 0xFFFF
    assert impl.csum_add(b"\xff") == 0xFF00  # odd byte padded with zero
    assert impl.csum_add(b"\x00\x01", 0xFFFF) == 1  # end-around carry
    assert impl.pseudo_header_sum(0xFFFFFFFF, 0xFFFFFFFF, 6, 0xFFFF) == reference_sum(
        b"\xff" * 8 + b"\x00\x06\xff\xff"
    )


@pytest.mark.parametrize("impl", IMPLS)
@given(data=st.binary(max_size=300), initial=u32)
def test_matches_reference(impl: ModuleType, data: bytes, initial: int) -> None:
    # Lengths up to 300 cover the C code's 32-byte, 8-byte and tail loops at every alignment.
    assert impl.csum_add(data, initial) == reference_sum(data, initial)
    assert impl.checksum(data, initial) == ~reference_sum(data, initial) & 0xFFFF


@pytest.mark.parametrize("impl", IMPLS)
@given(offset=st.integers(0, 7), data=st.binary(max_size=100))
def test_unaligned_views(impl: ModuleType, offset: int, data: bytes) -> None:
    view = memoryview(b"\x5a" * offset + data)[offset:]
    assert impl.csum_add(view) == reference_sum(data)


@pytest.mark.parametrize("impl", IMPLS)
@given(src=u32, dst=u32, proto=st.integers(0, 255), length=u16)
def test_pseudo_header(impl: ModuleType, src: int, dst: int, proto: int, length: int) -> None:
    # RFC 9293 section 3.1: source, destination, zero, protocol, TCP length.
    header = src.to_bytes(4, "big") + dst.to_bytes(4, "big") + bytes((0, proto)) + length.to_bytes(2, "big")
    assert impl.pseudo_header_sum(src, dst, proto, length) == reference_sum(header)


even_binary = st.binary(min_size=12, max_size=64).map(lambda b: b[: len(b) & ~1])


@pytest.mark.parametrize("impl", IMPLS)
@given(data=even_binary, at=st.integers(0, 5), new16=u16, new32=u32)
def test_incremental_update_equals_recompute(
    impl: ModuleType, data: bytes, at: int, new16: int, new32: int
) -> None:
    # A nonzero first word keeps the sum off the all-zero case, the one place
    # RFC 1624 eqn. 3 and a recompute differ (0xffff versus 0x0000).
    data = b"\x45\x00" + data
    at = 2 + 2 * at
    stored = impl.checksum(data)
    old16 = int.from_bytes(data[at : at + 2], "big")
    changed = data[:at] + new16.to_bytes(2, "big") + data[at + 2 :]
    assert impl.csum_update16(stored, old16, new16) == impl.checksum(changed)
    old32 = int.from_bytes(data[at : at + 4], "big")
    changed = data[:at] + new32.to_bytes(4, "big") + data[at + 4 :]
    assert impl.csum_update32(stored, old32, new32) == impl.checksum(changed)


@pytest.mark.skipif(native is None, reason="minitcp._native is not built (pip install -e .)")
@given(data=st.binary(max_size=200), initial=u32, a=u16, b=u16, c=u32, d=u32)
def test_native_matches_pure(data: bytes, initial: int, a: int, b: int, c: int, d: int) -> None:
    assert native is not None
    assert native.csum_add(data, initial) == pure.csum_add(data, initial)
    assert native.checksum(data, initial) == pure.checksum(data, initial)
    assert native.csum_update16(a, b, a ^ b) == pure.csum_update16(a, b, a ^ b)
    assert native.csum_update32(a, c, d) == pure.csum_update32(a, c, d)
    assert native.pseudo_header_sum(c, d, a & 0xFF, b) == pure.pseudo_header_sum(c, d, a & 0xFF, b)
