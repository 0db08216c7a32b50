"""Receive-buffer autotuning, Linux's dynamic right-sizing (tcp_rcv_space_adjust, tcp_grow_window,
tcp_rcv_rtt_measure), in virtual time.

The buffer starts at tcp_rmem[1] (a 64 KB window) and grows, once per receiver RTT, to what
the application reads per RTT, up to tcp_rmem[2]; rcv_ssthresh then opens the offered window
two segments per segment received. At MTU 65000 the difference is stop-and-wait or not.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import pytest

from minitcp.tcp.connection import Connection
from minitcp.tcp.pair import EnginePair
from minitcp.tcp.rtt import RcvRtt
from minitcp.tcp.seq import seq_ge
from minitcp.trace.ss import ss
from minitcp.wire.segment import ACK, SYN

from ..helpers.pairs import pair_connect
from .builders import established
from .peer import knobs

RMEM_MAX = 6291456  # Linux tcp_rmem[2]
MB = 1_000_000


def _bulk(p: EnginePair, client: Connection, server: Connection, total: int,
          reading: Callable[[float], bool] = lambda now: True) -> bytes:
    """Send `total` bytes client -> server as fast as the windows allow; the server's application
    reads everything there is after each event while `reading(now)`. Returns what it read."""
    data = bytes(range(256)) * (total // 256)
    sent = 0
    got = bytearray()
    while len(got) < len(data):
        if sent < len(data):
            sent += client.send(memoryview(data)[sent:], p.now)
        assert p.step(), "the transfer stalled"
        if reading(p.now):
            got += server.recv(1 << 24, p.now) or b""
    assert got == data
    return bytes(got)


def _offered(p: EnginePair, server: Connection) -> list[tuple[int, int]]:
    """(ack, window in bytes) of every segment the server sent after its SYN-ACK."""
    return [(e.seg.ack, e.seg.window << server.rcv_wscale) for e in p.sent("b") if not e.seg.flags & SYN]


def test_the_window_grows_to_tcp_rmem_max_when_the_application_reads() -> None:
    p = EnginePair(mtu=65000)
    client, server = pair_connect(p)
    # wscale 7 so that tcp_rmem[2] can be offered (Linux tcp_select_initial_window); the window
    # starts at half of tcp_rmem[1]: one 64960-byte segment.
    assert server.rcv_wscale == 7 and (server.rcvbuf_size, server.rwin.window_clamp) == (131072, 65536)
    start = p.now
    _bulk(p, client, server, 50 * MB)
    windows = [w for _, w in _offered(p, server)]
    assert windows[:2] == [640, 65536]  # the first segment fills it, the read reopens it
    assert 3_000_000 < max(windows) <= RMEM_MAX // 2
    assert (server.rcvbuf_size, server.rwin.window_clamp) == (RMEM_MAX, RMEM_MAX // 2)
    info = server.info()
    assert info["rcvbuf"] == RMEM_MAX and info["rcv_space"] > 2 * MB
    assert info["rcv_rtt"] == pytest.approx(0.001)  # the pair's round trip: 2 x 0.5 ms
    # Many segments in flight instead of one per round trip.
    assert p.now - start < 0.05
    # ss -i shows it as Linux's does.
    line = " ".join(ss(p.b, listening=False, info=True).splitlines()[1:]).split()  # the row, its TCP_INFO
    assert f"rcv_space:{info['rcv_space']}" in line and f"rcv_ssthresh:{server.rwin.rcv_ssthresh}" in line
    assert "rcv_rtt:1" in line


def test_at_mtu_1500_too_the_window_outgrows_64k() -> None:
    p = EnginePair()
    client, server = pair_connect(p)
    _bulk(p, client, server, 20 * MB)
    assert max(w for _, w in _offered(p, server)) > 2 * MB
    assert server.rcvbuf_size == RMEM_MAX


@pytest.mark.parametrize("how", ["SO_RCVBUF", "tcp_moderate_rcvbuf=0"])
def test_no_growth_once_the_application_sized_the_buffer_or_with_the_knob_off(how: str) -> None:
    if how == "SO_RCVBUF":
        p = EnginePair(mtu=65000)
        p.b.listen(p.addr_b, 80, 5).options["rcvbuf"] = 65536  # the default size, but locked
    else:
        p = EnginePair(knobs_b=knobs(tcp_moderate_rcvbuf=0), mtu=65000)
    client, server = pair_connect(p)
    start = p.now
    _bulk(p, client, server, 10 * MB)
    assert max(w for _, w in _offered(p, server)) == 65536
    assert (server.rcvbuf_size, server.rwin.window_clamp) == (131072, 65536)
    assert server.info()["rcv_space"] > 65536  # it measured, but did not act on it
    # One segment per round trip: 155 of them, 1 ms each.
    assert p.now - start > 0.15


def test_the_window_never_exceeds_what_tcp_rmem_max_allows() -> None:
    p = EnginePair(knobs_b=knobs(tcp_rmem="4096 131072 524288"), mtu=65000)
    client, server = pair_connect(p)
    _bulk(p, client, server, 20 * MB)
    windows = [w for _, w in _offered(p, server)]
    assert 65536 < max(windows) <= 524288 // 2
    assert (server.rcvbuf_size, server.rwin.window_clamp) == (524288, 262144)


def test_so_rcvbuf_set_before_the_syn_bounds_the_window_and_its_scale() -> None:
    """A buffer beyond tcp_rmem[2] (Linux allows it up to net.core.rmem_max) needs a larger scale."""
    p = EnginePair(mtu=65000)
    p.b.listen(p.addr_b, 80, 5).options["rcvbuf"] = 16 * MB  # 32 MB bookkept, 16 MB of window
    client, server = pair_connect(p)
    assert server.rcv_wscale == 8  # 65535 << 7 could not offer 16 MB
    assert server.rwin.window_clamp == server.rwin.rcv_ssthresh == 16 * MB
    _bulk(p, client, server, 40 * MB)
    assert 65535 << 7 < max(w for _, w in _offered(p, server)) <= 16 * MB
    assert server.rcvbuf_size == 32 * MB


def test_the_right_edge_never_moves_left_while_the_window_grows_and_shrinks() -> None:
    p = EnginePair(mtu=65000)
    client, server = pair_connect(p)
    # Once the buffer has grown, the application stops reading for a while: the sender fills
    # the window, which closes to less than a segment, then reopens when the reads resume.
    _bulk(p, client, server, 30 * MB, reading=lambda now: not 0.02 < now < 0.12)
    offered = _offered(p, server)
    windows = [w for _, w in offered]
    grown = next(i for i, w in enumerate(windows) if w > 2 * MB)
    closed = next(i for i, w in enumerate(windows) if i > grown and w < 64948)
    assert max(windows[closed:]) > 2 * MB
    edges = [(ack + w) & 0xFFFFFFFF for ack, w in offered]
    assert all(seq_ge(b, a) for a, b in pairwise(edges))


def test_without_reads_the_buffer_does_not_grow() -> None:
    p = EnginePair(mtu=65000)
    client, server = pair_connect(p)
    client.send(b"x" * 4 * MB, p.now)
    p.run_for(1.0)
    # 65536 and the rest of the last 128-byte unit the scaled window was rounded up to.
    assert server.recv_queued == 65536 + 52 and _offered(p, server)[-1][1] == 0
    assert server.rcvbuf_size == 131072


def test_rcv_space_adjust_sizes_the_buffer_from_one_rtt_of_reads() -> None:
    """Linux tcp_rcv_space_adjust arithmetic, then tcp_grow_window's first step, by hand."""
    p, conn = established(ts=True)
    mss = 1448  # 1460 less the timestamp option

    def ts(t: float) -> int:
        return (int(t * 1000) + conn.ts_offset) & 0xFFFFFFFF

    # A full-sized segment echoing our clock of 10 ms ago: a receiver RTT of 10 ms
    # (tcp_rcv_rtt_measure_ts), and the first measure of 10 segments (tcp_init_buffer_space).
    p.feed(p.seg(ACK, seq=1, payload=b"a" * mss, ts_val=200, ts_ecr=ts(0.19)), at=0.2)
    assert conn.rwin.rcv_rtt is not None and conn.rwin.rcv_rtt.rtt == pytest.approx(0.010)
    assert conn.info()["rcv_space"] == 10 * 1460
    assert len(conn.recv(1 << 20, p.now)) == mss  # less than an RTT since the measure began: nothing yet
    seq = 1 + mss
    for _ in range(21):
        p.feed(p.seg(ACK, seq=seq, payload=b"b" * mss, ts_val=201, ts_ecr=ts(0.19)), at=0.205)
        seq += mss
    assert len(conn.recv(1 << 20, p.now)) == 21 * mss
    assert conn.rcvbuf_size == 131072  # 5 ms: still within the RTT
    p.run_until(0.211)
    conn.recv(1 << 20, p.now)  # nothing to read: the measure waits for a read
    (ack,) = p.feed(p.seg(ACK, seq=seq, payload=b"c" * mss, ts_val=202, ts_ecr=ts(0.19)), at=0.212)
    assert ack.window << 7 <= 65536  # not grown yet
    seq += mss
    assert len(conn.recv(1 << 20, p.now)) == mss
    # 23 segments (33304 bytes) read in one RTT, against 14600 expected:
    # rcvwin = 2 * 33304 + 16 * 1460 = 89968, plus twice its growth 89968 * 18704 // 14600 = 115257.
    assert conn.rwin.window_clamp == 89968 + 2 * 115257
    assert conn.rcvbuf_size == 2 * conn.rwin.window_clamp  # tcp_space_from_win, tcp_adv_win_scale=1
    assert conn.info()["rcv_space"] == 23 * mss
    # tcp_grow_window: the next segment opens rcv_ssthresh by two advmss and is ACKed at once.
    (ack,) = p.feed(p.seg(ACK, seq=seq, payload=b"d" * mss, ts_val=203, ts_ecr=ts(0.19)), at=0.213)
    assert conn.rwin.rcv_ssthresh == 65536 + 2 * 1460
    assert p.rel(ack) == (".", 1, seq + mss, 0) and ack.window << 7 == (65536 + 2 * 1460) & ~127


def test_receiver_rtt_from_windows_without_timestamps() -> None:
    p = EnginePair(knobs_b=knobs(tcp_timestamps=0), latency=0.002)
    client, server = pair_connect(p)
    _bulk(p, client, server, 10 * MB)
    assert not server.ts_ok
    # The time one window takes to arrive is at least a round trip; the smallest sample is one.
    assert server.info()["rcv_rtt"] == pytest.approx(0.004, rel=0.05)
    assert server.rcvbuf_size > 1 * MB


def test_receiver_rtt_samples() -> None:
    """Linux tcp_rcv_rtt_update: per-window samples only lower the estimate; timestamp samples
    are averaged in with gain 1/8; a 0 ms timestamp difference is no sample (6.12.y)."""
    rr = RcvRtt()
    rr.update(0.008, win_dep=True)
    rr.update(0.016, win_dep=True)
    assert rr.rtt == 0.008
    rr.update(0.004, win_dep=True)
    assert rr.rtt == 0.004
    rr.update(0.012, win_dep=False)
    assert rr.rtt == pytest.approx(0.005)
    rr.measure_ts(tsecr=1000, ts_now=1000, seg_len=1448, rcv_mss=1448)
    rr.measure_ts(tsecr=1000, ts_now=1013, seg_len=1448, rcv_mss=1448)  # same echo: once only
    rr.measure_ts(tsecr=1001, ts_now=1013, seg_len=100, rcv_mss=1448)  # not a full segment
    assert rr.rtt == pytest.approx(0.005)
    rr.measure_ts(tsecr=1002, ts_now=1013, seg_len=1448, rcv_mss=1448)
    assert rr.rtt == pytest.approx(0.005 + (0.011 - 0.005) / 8)
