"""The byte queue of the send and receive buffers: what goes in comes out, in order, whatever the
pieces, the reads, the views and the drops."""

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


@given(st.integers(1, 20_000), st.lists(st.one_of(payloads.map(lambda p: ("in", p)),
                                                  st.tuples(st.just("view"), st.integers(0, 4000)),
                                                  st.tuples(st.just("drop"), st.integers(0, 4000)))))
def test_a_sender_sees_the_bytes_at_every_offset(coalesce: int, ops: list) -> None:
    q = ByteQueue(coalesce)
    model = bytearray()
    sent = 0  # a sender's next offset: views move forward, drops move it back
    for op, arg in ops:
        if op == "in":
            q.append(arg)
            model += arg
        elif op == "view":
            n = min(arg, len(model) - sent)
            if n > 0:
                assert bytes(q.view(sent, n)) == bytes(model[sent : sent + n])
                sent += n
            elif model:
                sent = 0  # a retransmission from the head
        else:
            n = min(arg, len(model))
            q.drop(n)
            del model[:n]
            sent = max(sent - n, 0)
        assert len(q) == len(model)
    assert q.read(len(model)) == bytes(model)


def test_an_immutable_write_is_sent_from_without_a_copy() -> None:
    q = ByteQueue()
    block = bytes(range(256)) * 16
    q.append(block)
    seg = q.view(100, 1000)
    assert type(seg) is memoryview and seg.obj is block
    assert q.view(0, len(block)) is block


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
