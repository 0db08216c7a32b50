"""A TSO segment cut into its wire segments: consecutive pieces of `gso` bytes, flags as GSO sets them."""

from __future__ import annotations

import random

import pytest

from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, CWR, ECE, FIN, PSH, Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet
from minitcp.wire.tso import TSO_MAX, build_packets, pieces, split

SRC, DST = ip_int("198.18.0.2"), ip_int("198.18.0.1")


def _tso(size: int, flags: int = ACK | PSH, seq: int = 0xFFFFF000, gso: int = 1448) -> Segment:
    payload = random.Random(size).randbytes(size)
    return Segment(SRC, DST, 80, 40000, seq, 7, flags, 500, payload, ts_val=5, ts_ecr=6, sack=((1, 2),),
                   tos=2, gso=gso)


def test_pieces_are_gso_sized_but_the_last_with_psh_and_fin_last_and_cwr_first() -> None:
    seg = _tso(3 * 1448 + 100, ACK | PSH | FIN | CWR | ECE)
    assert pieces(seg) == [
        (0, 1448, ACK | CWR | ECE),
        (1448, 1448, ACK | ECE),
        (2896, 1448, ACK | ECE),
        (4344, 100, ACK | PSH | FIN | ECE),
    ]


@pytest.mark.parametrize("size", [1448, 1000, 0])
def test_a_segment_within_one_piece_is_itself(size: int) -> None:
    seg = _tso(size, ACK | PSH | FIN | CWR)
    assert pieces(seg) == [(0, size, ACK | PSH | FIN | CWR)]


@pytest.mark.parametrize("size", [2 * 1448, 5 * 1448 + 1, TSO_MAX // 1448 * 1448])
def test_the_wire_segments_are_the_payload_in_order_across_the_sequence_wrap(size: int) -> None:
    seg = _tso(size)
    before = seg.fields()
    wire = split(seg)
    assert seg.fields() == before  # split leaves the TSO segment as it was
    assert b"".join(bytes(s.payload) for s in wire) == bytes(seg.payload)
    assert [s.seq for s in wire] == [(seg.seq + i * 1448) & 0xFFFFFFFF for i in range(len(wire))]
    assert all(s.gso == 0 and s.ack == 7 and s.sack == ((1, 2),) and s.tos == 2 for s in wire)
    # Built in place, the packets are the wire segments' packets, byte for byte.
    packets = build_packets(seg)
    assert packets == [build_tcp_packet(s) for s in wire]
    assert seg.fields() == before
    assert [parse_tcp_packet(p).fields() for p in packets] == [s.fields() for s in wire]
