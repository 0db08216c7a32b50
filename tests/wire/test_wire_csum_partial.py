"""A packet whose TCP checksum the sender left partial (virtio NEEDS_CSUM): only that check is skipped.

Both implementations, and the two agree on every input, reason codes included.
"""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minitcp.wire import tcp_pure
from minitcp.wire.csum_partial import complete_csum, partial_tcp_csum
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, PSH, Segment

from .impls import IMPLS, needs_native, tcp_native

A, B = ip_int("198.18.0.1"), ip_int("198.18.0.2")
TCP_CSUM = 20 + 16  # the TCP checksum's place in a packet without IP options


def _partial(seg: Segment) -> bytes:
    """`seg` as a NEEDS_CSUM sender hands it over: the pseudo-header sum in the checksum field."""
    raw = bytearray(tcp_pure.build_tcp_packet(seg))
    raw[TCP_CSUM : TCP_CSUM + 2] = partial_tcp_csum(seg.src, seg.dst, len(raw) - 20).to_bytes(2, "big")
    return bytes(raw)


def _outcome(impl: ModuleType, raw: bytes, csum_partial: bool) -> tuple | DropReason:
    try:
        return impl.parse_tcp_packet(raw, csum_partial).fields()
    except WireError as e:
        return e.reason


@pytest.mark.parametrize("impl", IMPLS)
def test_partial_checksum_passes_only_when_said_so(impl: ModuleType) -> None:
    seg = Segment(A, B, 40000, 80, 1, 2, ACK | PSH, 502, b"payload " * 100, ts_val=3, ts_ecr=4)
    raw = _partial(seg)
    assert _outcome(impl, raw, False) == DropReason.BAD_TCP_CHECKSUM
    assert impl.parse_tcp_packet(raw, True) == seg
    assert impl.parse_tcp_packet(complete_csum(raw)) == seg  # what the device would have sent


@pytest.mark.parametrize("impl", IMPLS)
def test_the_ip_header_checksum_is_still_verified(impl: ModuleType) -> None:
    raw = bytearray(_partial(Segment(A, B, 40000, 80, 1, 2, ACK, 502, b"x")))
    raw[8] ^= 1  # the TTL, under the IP header checksum
    assert _outcome(impl, bytes(raw), True) == DropReason.BAD_IP_CHECKSUM


@needs_native
@settings(max_examples=300)
@given(payload=st.binary(max_size=300), field=st.integers(0, 0xFFFF),
       edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=3))
def test_c_and_python_agree(payload: bytes, field: int, edits: list[tuple[int, int]]) -> None:
    raw = bytearray(tcp_pure.build_tcp_packet(Segment(A, B, 1, 2, 3, 4, ACK, 5, payload, ts_val=6, ts_ecr=7)))
    raw[TCP_CSUM : TCP_CSUM + 2] = field.to_bytes(2, "big")
    for offset, value in edits:
        if offset < len(raw):
            raw[offset] = value
    for partial in (False, True):
        assert _outcome(tcp_native, bytes(raw), partial) == _outcome(tcp_pure, bytes(raw), partial)
