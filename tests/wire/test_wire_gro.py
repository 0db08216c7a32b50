"""GRO: a batch's segments that continue each other joined into one, nothing else joined."""

from __future__ import annotations

import random
from typing import Any

import pytest

from minitcp.wire.gro import GRO_MAX, Gro
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, FIN, PSH, SYN, URG, Segment

SRC, DST = ip_int("198.18.0.1"), ip_int("198.18.0.2")


def _data(seq: int, size: int = 1448, flags: int = ACK, *, dport: int = 80, ack: int = 7,
          window: int = 500, **options: Any) -> Segment:
    """A data segment from the kernel to us, ACK 7, window 500, timestamps (5, 6) unless changed."""
    options = {"ts_val": 5, "ts_ecr": 6, **options}
    payload = random.Random(seq).randbytes(size)
    return Segment(SRC, DST, 40000, dport, seq, ack, flags, window, payload, **options)


def _joined(segs: list[Segment]) -> list[Segment]:
    """What a stack's batch loop hands TCP for `segs`."""
    gro, out = Gro(), []
    for seg in segs:
        if not gro.join(seg):
            if gro.holding:
                out.append(gro.take())
            if not gro.hold(seg):
                out.append(seg)
    if gro.holding:
        out.append(gro.take())
    return out


def test_a_run_is_joined_up_to_the_short_segment_that_ends_it() -> None:
    segs = [_data(1000 + 1448 * i) for i in range(5)] + [_data(1000 + 1448 * 5, 100, ACK | PSH)]
    payload = b"".join(bytes(s.payload) for s in segs)
    (one,) = _joined(segs)
    assert (one.seq, one.flags, one.gso, bytes(one.payload)) == (1000, ACK | PSH, 1448, payload)
    assert (one.ack, one.window, one.ts_val, one.ts_ecr) == (7, 500, 5, 6)


def test_a_lone_segment_is_passed_on_as_it_is() -> None:
    seg = _data(1000)
    (out,) = _joined([seg])
    assert out is seg and out.gso == 0


def test_psh_or_a_short_segment_ends_the_joined_one() -> None:
    pushed = [_data(1000, flags=ACK | PSH), _data(2448)]
    assert [len(s.payload) for s in _joined(pushed)] == [1448, 1448]
    short = [_data(1000), _data(2448, 700), _data(3148)]
    assert [len(s.payload) for s in _joined(short)] == [2148, 1448]


@pytest.mark.parametrize(
    "second",
    [
        _data(9999),  # a gap in sequence numbers
        _data(2448, flags=ACK | FIN),
        _data(2448, flags=ACK | URG, urgent=1),
        _data(2448, ack=8),
        _data(2448, window=501),
        _data(2448, ts_val=9),
        _data(2448, ts_ecr=9),
        _data(2448, sack=((1, 2),)),
        _data(2448, tos=1),
        _data(2448, ttl=3),
        _data(2448, 1449),  # longer than the first
        _data(2448, dport=81),  # another connection
        _data(2448, 0),  # a bare ACK
    ],
)
def test_a_segment_that_differs_in_more_than_data_is_not_joined(second: Segment) -> None:
    assert len(_joined([_data(1000), second])) == 2


@pytest.mark.parametrize("first", [_data(1000, flags=SYN | ACK), _data(1000, 0), _data(1000, flags=ACK | FIN),
                                   _data(1000, mss=1460)])
def test_only_plain_data_starts_a_joined_segment(first: Segment) -> None:
    assert not Gro().hold(first)


def test_a_joined_segment_stays_within_the_ipv4_length_limit() -> None:
    segs = [_data(1000 + 1448 * i) for i in range(60)]
    stream = b"".join(bytes(s.payload) for s in segs)
    out = _joined(segs)
    assert [len(s.payload) for s in out] == [GRO_MAX // 1448 * 1448, (60 - GRO_MAX // 1448) * 1448]
    assert b"".join(bytes(s.payload) for s in out) == stream
