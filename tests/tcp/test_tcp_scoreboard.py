"""The SACK scoreboard (scoreboard.py) fed through the engine: blocks tag what they cover,
cut TSO packets at segment boundaries, D-SACKs are recognised, invalid blocks ignored, and
whatever the blocks (overlapping, out of window, D-SACK, across the sequence wrap) the
queue and its counts stay consistent (Linux tcp_verify_left_out)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minitcp.tcp.cc import CaState
from minitcp.tcp.connection import Connection
from minitcp.tcp.scoreboard import LOST, SACKED_ACKED, AckState, Scoreboard
from minitcp.tcp.seq import MASK, seq_gt, seq_le
from minitcp.tcp.states import State
from minitcp.wire.segment import ACK

from .builders import established
from .peer import Peer

MSS = 1460


def _flight(segments: int, tso: bool = False, **knobs: object) -> tuple[Peer, Connection]:
    p, conn = established(**knobs)
    if tso:
        p.eng.tso_max = 65536
    conn.apply_option("nodelay", True, p.now)
    conn.send(b"x" * segments * MSS, p.now)
    p.out()
    return p, conn


def _sack(p: Peer, ack: int, *blocks: tuple[int, int], at: float | None = None) -> list:
    """The peer's ACK of `ack` with SACK blocks, offsets from our first data byte (1)."""
    sack = tuple(((p.iss + a) & MASK, (p.iss + b) & MASK) for a, b in blocks)
    return p.feed(p.seg(ACK, seq=1, ack=ack, window=65535, sack=sack), at=at)


def _check(conn: Connection) -> None:
    conn.recovery.board.check_invariants(conn.snd_una, conn.snd_nxt)


def test_sack_blocks_tag_records_and_counts() -> None:
    p, conn = _flight(10, tcp_min_tso_segs=5)
    board = conn.recovery.board
    assert (board.packets_out, board.sacked_out, board.in_flight) == (10, 0, 10)
    _sack(p, 1, (1 + MSS, 1 + 3 * MSS), at=0.05)
    assert board.sacked_out == 2 and board.in_flight == 8
    # The flight was two packets of half cwnd (two skbs: tcp_cwnd_test, with tcp_min_tso_segs
    # 5); the block cut the first (tcp_fragment in the rtx queue).
    assert [(r.data_len, bool(r.sacked & SACKED_ACKED)) for r in board.recs] == [
        (MSS, False), (2 * MSS, True), (2 * MSS, False), (5 * MSS, False)]
    assert conn.recovery.ca_state == CaState.DISORDER
    _check(conn)


def test_a_block_cuts_a_tso_packet_at_segment_boundaries() -> None:
    p, conn = _flight(4, tso=True, tcp_min_tso_segs=4)
    board = conn.recovery.board
    assert len(board.recs) == 1 and board.recs[0].pcount == 4
    # A block covering a segment and a half tags only the whole segment (tcp_match_skb_to_sack).
    _sack(p, 1, (1 + MSS, 1 + MSS + MSS + MSS // 2), at=0.05)
    assert [(r.data_len, bool(r.sacked & SACKED_ACKED)) for r in board.recs] == [
        (MSS, False), (MSS, True), (2 * MSS, False)]
    assert board.sacked_out == 1 and board.packets_out == 4
    _check(conn)


def test_invalid_blocks_are_ignored() -> None:
    p, conn = _flight(4)
    board = conn.recovery.board
    _sack(p, 1, (1 + 5 * MSS, 1 + 6 * MSS), at=0.05)  # beyond snd_nxt
    _sack(p, 1, (1 + 2 * MSS, 1 + MSS), at=0.06)  # reversed
    assert board.sacked_out == 0
    assert p.eng.counters["TCPSACKDiscard"] == 2
    _check(conn)


def test_dsack_below_the_ack_is_recognised() -> None:
    p, conn = _flight(4, tso=False)
    _sack(p, 1 + MSS, at=0.05)
    # A D-SACK of data never resent is dubious (tcp_dsack_seen: more D-SACKed than resent).
    _sack(p, 1 + MSS, (1, 1 + MSS), at=0.06)
    assert p.eng.counters["TCPDSACKRecv"] == 1 and p.eng.counters["TCPDSACKIgnoredDubious"] == 1
    _check(conn)


def test_after_a_timeout_everything_not_sacked_is_lost_and_sacked_is_kept() -> None:
    p, conn = _flight(6, tcp_early_retrans=0)
    _sack(p, 1, (1 + 2 * MSS, 1 + 4 * MSS), at=0.05)
    sent = p.run_until(0.05 + 0.3)  # the first RTO (RTT 10 ms: 210 ms)
    board = conn.recovery.board
    assert conn.recovery.ca_state == CaState.LOSS
    lost = {((r.seq - p.iss - 1) & MASK) // MSS + k for r in board.recs if r.sacked & LOST
            for k in range(r.pcount)}
    assert lost == {0, 1, 4, 5} and board.lost_out == 4 and board.sacked_out == 2
    resent = {(s.seq - p.iss - 1) // MSS for _, s in sent if s.payload}
    assert resent == {0}  # the RTO resends the head; cwnd 1 holds the rest for now
    # The ACK of the head lets the other holes go, never the SACKed segments.
    out = _sack(p, 1 + MSS, (1 + 2 * MSS, 1 + 4 * MSS), at=0.36)
    assert {(s.seq - p.iss - 1) // MSS for s in out if s.payload} <= {1, 4, 5}
    _check(conn)


blocks = st.lists(st.tuples(st.integers(-3 * MSS, 14 * MSS), st.integers(-3 * MSS, 14 * MSS)),
                  min_size=1, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10), blocks), min_size=1, max_size=12), st.booleans())
def test_fuzzed_sack_blocks_never_break_the_scoreboard(acks: list, tso: bool) -> None:
    """Random cumulative ACKs with random blocks (overlapping, reversed, out of window, below
    snd_una as D-SACKs) through the engine, timers running between them."""
    p = Peer()
    conn = p.accept(at=0.0, rtt=0.01)
    if tso:
        p.eng.tso_max = 65536
    conn.apply_option("nodelay", True, p.now)
    conn.send(b"y" * 10 * MSS, p.now)
    p.out()
    t = 0.02
    acked = 1
    for segs, bl in acks:
        acked = max(acked, 1 + min(segs, 10) * MSS)
        _sack(p, acked, *bl, at=t)
        t += 0.003
        assert conn.state == State.ESTABLISHED  # no engine error reset it
        _check(conn)
        p.run_until(t)
        _check(conn)


class _Rack:
    def advance(self, sacked: int, end: int, sent: float, order: int, now: float) -> None:
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 3 * 1000), min_size=1, max_size=12),
       st.lists(st.tuples(st.sampled_from(["sack", "dsack", "ack", "lost", "resent"]),
                          st.integers(-2000, 40000), st.integers(-2000, 40000)), max_size=20))
def test_the_scoreboard_keeps_its_counts_across_the_sequence_wrap(sizes: list, ops: list) -> None:
    """The queue itself, its first byte 3000 below 2**32: any block, any order of events."""
    board = Scoreboard(1000)
    base = (MASK - 3000) & MASK
    seq = base
    for i, n in enumerate(sizes):
        end = (seq + n) & MASK
        board.add(seq, end, float(i), False)
        seq = end
    una, nxt = base, seq
    rack = _Rack()
    for op, a, b in ops:
        start, stop = (base + a) & MASK, (base + b) & MASK
        st_ = AckState(nxt, nxt, base, 0)
        if op in ("sack", "dsack"):
            board.sacktag(start, stop, op == "dsack", una, st_, rack, 50.0)
        elif op == "ack":
            if seq_gt(start, una) and seq_le(start, nxt):
                una = start
                board.clean(una, True, st_, rack, 50.0)
        elif board.recs:
            rec = board.recs[a % len(board.recs)]
            if op == "lost":
                board.mark_lost(rec)
            elif rec.sacked & LOST:
                board.resent(rec, 50.0)
        board.check_invariants(una, nxt)
