"""Fragments built on the way out and put back by the reassembly, in any order; UDP round trips."""

from __future__ import annotations

import collections

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitcp.host.reassembly import Reassembly
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.fragment import fragment_header, fragment_ipv4, fragment_ipv6
from minitcp.wire.ipv4 import PROTO_UDP, parse_ipv4
from minitcp.wire.ipv6 import MIN_MTU, PROTO_ICMPV6, parse_ipv6
from minitcp.wire.udp import build_udp, parse_udp

SRC, DST = 0xC6120001, 0xC6120002
SRC6, DST6 = 0x2001_0002 << 96 | 1, 0x2001_0002 << 96 | 2


def _reassembly() -> Reassembly:
    return Reassembly(collections.Counter(), "", lambda: (4 << 20, 30.0))


@given(payload=st.binary(min_size=1, max_size=5000), mtu=st.integers(68, 1500), seed=st.randoms())
def test_ipv4_fragments_reassemble_in_any_order(payload: bytes, mtu: int, seed: object) -> None:
    packets = fragment_ipv4(SRC, DST, PROTO_UDP, payload, mtu, ident=77)
    assert all(len(p) <= mtu for p in packets)
    seed.shuffle(packets)  # type: ignore[attr-defined]
    reasm = _reassembly()
    results = []
    for packet in packets:
        ip = parse_ipv4(packet)
        assert ip.ident == 77 and not ip.df and ip.frag_offset % 8 == 0
        results.append(reasm.add("k", ip.frag_offset, ip.payload, ip.more_fragments, "head", 0xFFFF, 0.0))
    assert results[:-1] == [None] * (len(packets) - 1)
    assert results[-1] == ("head", payload)
    assert reasm.mem == 0


@given(payload=st.binary(min_size=1, max_size=5000), mtu=st.integers(MIN_MTU, 9000))
def test_ipv6_fragments_carry_the_upper_layer_in_pieces(payload: bytes, mtu: int) -> None:
    packets = fragment_ipv6(SRC6, DST6, PROTO_ICMPV6, payload, mtu, ident=0xDEADBEEF)
    assert all(len(p) <= mtu for p in packets)
    reasm = _reassembly()
    done = None
    for packet in reversed(packets):
        ip = parse_ipv6(packet)
        assert ip.fragment is not None and ip.fragment.ident == 0xDEADBEEF
        assert ip.next_header == PROTO_ICMPV6
        done = reasm.add("k", ip.fragment.offset, ip.payload, ip.fragment.more, None, 0xFFFF, 0.0)
    assert done == (None, payload)


def test_the_hole_list_tells_duplicates_from_overlaps() -> None:
    counters: collections.Counter[str] = collections.Counter()
    reasm = Reassembly(counters, "", lambda: (4 << 20, 30.0))
    assert reasm.add("k", 16, bytes(16), True, None, 0xFFFF, 0.0) is None  # [16, 32)
    assert reasm.add("k", 16, bytes(8), True, None, 0xFFFF, 0.0) is None  # inside: a duplicate
    assert counters["ReasmOverlaps"] == 0 and "k" in reasm.queues
    assert reasm.add("k", 8, bytes(16), True, None, 0xFFFF, 0.0) is None  # [8, 24): overlaps
    assert counters["ReasmOverlaps"] == 1 and counters["ReasmFails"] == 1 and not reasm.queues
    # Data beyond a final fragment, or a second final one elsewhere, is corruption.
    reasm.add("j", 8, bytes(8), False, None, 0xFFFF, 0.0)  # ends at 16
    reasm.add("j", 16, bytes(8), True, None, 0xFFFF, 0.0)
    assert counters["ReasmFails"] == 2 and not reasm.queues
    reasm.add("i", 8, bytes(8), False, None, 0xFFFF, 0.0)
    reasm.add("i", 16, bytes(8), False, None, 0xFFFF, 0.0)
    assert counters["ReasmFails"] == 3 and not reasm.queues and reasm.mem == 0


def test_a_datagram_longer_than_its_header_allows_fails() -> None:
    counters: collections.Counter[str] = collections.Counter()
    reasm = Reassembly(counters, "", lambda: (4 << 20, 30.0))
    reasm.add("k", 0, bytes(64), True, None, 100, 0.0)
    assert reasm.add("k", 64, bytes(64), False, None, 0xFFFF, 0.0) is None
    assert counters["ReasmFails"] == 1 and counters["ReasmOKs"] == 0


def test_fragment_header_fields_are_checked() -> None:
    assert fragment_header(6, 8, True, 1) == bytes((6, 0, 0, 9, 0, 0, 0, 1))
    with pytest.raises(ValueError):
        fragment_header(6, 3, False, 1)
    with pytest.raises(ValueError):
        fragment_ipv4(SRC, DST, PROTO_UDP, bytes(100), 24, ident=1)


@given(data=st.binary(max_size=200), sport=st.integers(0, 0xFFFF), dport=st.integers(0, 0xFFFF),
       v6=st.booleans())
def test_udp_round_trips_in_both_families(data: bytes, sport: int, dport: int, v6: bool) -> None:
    src, dst = (SRC6, DST6) if v6 else (SRC, DST)
    datagram = build_udp(src, dst, sport, dport, data)
    got_sport, got_dport, got = parse_udp(datagram + b"pad", src, dst)
    assert (got_sport, got_dport, bytes(got)) == (sport, dport, data)
    broken = bytearray(datagram)
    broken[-1 if data else 0] ^= 0x40
    with pytest.raises(WireError) as caught:
        parse_udp(bytes(broken), src, dst)
    assert caught.value.reason == DropReason.BAD_UDP_CHECKSUM


def test_udp_lengths_are_checked() -> None:
    datagram = build_udp(SRC, DST, 1, 2, b"abc")
    for bad in (datagram[:7], datagram[:10]):
        with pytest.raises(WireError) as caught:
            parse_udp(bad, SRC, DST)
        assert caught.value.reason == DropReason.BAD_UDP
