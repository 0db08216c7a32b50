"""The in-order receive queue: what goes in comes out, in order, whatever the pieces and the reads."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given

from minitcp.tcp.bytequeue import COALESCE, TAIL_MAX, ByteQueue

payloads = st.one_of(
    st.binary(min_size=0, max_size=3 * COALESCE),
    st.binary(min_size=1, max_size=3 * COALESCE).map(bytearray),
    st.binary(min_size=1, max_size=3 * COALESCE).map(lambda b: memoryview(b"xx" + b)[2:]),
)


@given(st.lists(st.one_of(payloads.map(lambda p: ("in", p)),
                          st.tuples(st.sampled_from(["read", "peek"]), st.integers(0, 5000)))))
def test_reads_return_the_stream_in_order(ops: list) -> None:
    q = ByteQueue()
    model = bytearray()
    for op, arg in ops:
        if op == "in":
            q.append(arg)
            model += arg
        else:
            got = q.read(arg, peek=op == "peek")
            assert got == bytes(model[:arg])
            assert type(got) is bytes
            if op == "read":
                del model[:arg]
        assert len(q) == len(model)


def test_a_reused_buffer_is_copied_and_an_immutable_packet_is_not() -> None:
    q = ByteQueue()
    arena = bytearray(b"a" * 2000)
    q.append(memoryview(arena)[:1500])
    arena[:] = b"b" * 2000  # the link reuses its receive buffer
    packet = b"c" * 2000
    q.append(memoryview(packet)[500:])
    assert q.read(3000) == b"a" * 1500 + b"c" * 1500
    assert q._pieces == []


def test_small_payloads_are_gathered_into_one_piece() -> None:
    q = ByteQueue()
    for _ in range(TAIL_MAX):
        q.append(b"x")
    assert len(q._pieces) == 1 and len(q) == TAIL_MAX
    q.append(b"y")
    assert len(q._pieces) == 2


def test_a_partly_read_small_piece_still_grows_in_place() -> None:
    q = ByteQueue()
    q.append(b"hello")
    assert q.read(2) == b"he"
    q.append(b" world")  # the head is also the tail: a view left on it would forbid this
    assert q.read(100) == b"llo world"


def test_an_owned_block_is_queued_as_it_is() -> None:
    q = ByteQueue()
    block = bytearray(b"z" * 5000)
    q.append_owned(block)
    assert q._pieces[0] is block
    assert q.read(5000, peek=True) == bytes(block) and len(q) == 5000
