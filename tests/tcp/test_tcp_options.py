"""Options negotiated on the SYN: MSS (RFC 9293 section 3.7.1), window scaling and
timestamps (RFC 7323), SACK (RFC 2018)."""

from __future__ import annotations

from minitcp.tcp.engine import TcpEngine
from minitcp.tcp.pair import EnginePair
from minitcp.tcp.rcvwindow import window_space
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, FIN, PSH, SYN

from ..helpers.pairs import pair_connect
from .builders import established
from .peer import LOCAL, REMOTE, RPORT, Peer, knobs

# ---------------------------------------------------------------------------- MSS


def test_mss_option_comes_from_the_mtu() -> None:
    p = Peer(mtu=1400)
    p.eng.connect(LOCAL, 80, REMOTE, RPORT, 0.0)
    (syn,) = p.out()
    assert syn.mss == 1360
    assert syn.window == 65535 - 65535 % 1360


def test_segments_fill_a_jumbo_mtu_through_the_wire() -> None:
    p = EnginePair(mtu=9000)
    client, server = pair_connect(p)
    assert client.mss == server.mss == 8960 - 12  # timestamps take 12 bytes of every segment
    client.send(b"j" * 20_000, p.now)
    p.run_for(0.1)
    sizes = [len(e.seg.payload) for e in p.wire if e.sender == "a" and e.seg.payload]
    assert sizes == [8948, 8948, 20_000 - 2 * 8948]
    assert server.recv(30_000, p.now) == b"j" * 20_000


def test_without_an_mss_option_the_peer_gets_536() -> None:
    p = Peer()
    conn = p.accept(mss=None, wscale=None, sack=False)
    assert conn.mss == 536
    conn.send(b"m" * 2000, p.now)
    assert [len(s.payload) for s in p.out()] == [536, 536, 536, 392]


def test_the_smaller_mss_wins() -> None:
    p = Peer()
    conn = p.accept(mss=9000)
    assert conn.mss == 1460
    p = Peer()
    conn = p.accept(mss=1000)
    assert conn.mss == 1000


def test_maxseg_is_advertised_in_the_syn_and_caps_our_segments() -> None:
    """TCP_MAXSEG before connect(): Linux clamps the advertised MSS too (tcp_mss_clamp)."""
    p = Peer()
    conn = p.eng.connect(LOCAL, 80, REMOTE, RPORT, 0.0, maxseg=1000)
    (syn,) = p.out()
    p.iss = syn.seq
    assert syn.mss == 1000
    p.feed(p.seg(SYN | ACK, seq=0, ack=1, mss=1460), at=0.01)
    conn.send(b"k" * 2500, p.now)
    assert [len(s.payload) for s in p.out()] == [1000, 1000, 500]


# ---------------------------------------------------------------------------- window scaling


def test_peer_window_is_scaled_after_the_syn() -> None:
    p = Peer()
    conn = p.accept(mss=1000, wscale=3, sack=False)
    p.feed(p.seg(ACK, seq=1, ack=1, window=500), at=0.05)  # 500 << 3 = 4000 bytes
    assert conn.snd_wnd == 4000
    conn.send(b"w" * 10_000, p.now)
    assert [len(s.payload) for s in p.out()] == [1000] * 4


def test_window_in_a_syn_is_never_scaled() -> None:
    """RFC 7323 section 2.2: the SYN-ACK's 1000 is 1000 bytes, though it offers wscale 3."""
    p = Peer()
    conn = p.connect(window=1000, mss=500, wscale=3, sack=False)
    assert conn.snd_wnd == 1000
    conn.send(b"v" * 5000, p.now)
    assert [len(s.payload) for s in p.out()] == [500, 500]


def test_our_window_is_scaled_by_our_shift() -> None:
    p = Peer()
    conn = p.accept(wscale=2)
    assert (conn.snd_wscale, conn.rcv_wscale) == (2, 7)
    out = p.feed(p.seg(ACK | PSH, seq=1, payload=b"hi"), at=0.1)
    # 64 KiB (half of the 128 KiB buffer) less the 2 unread bytes, rounded UP to the 128-byte
    # unit so the right edge we promised does not move back (Linux ALIGN in __tcp_select_window).
    assert out[0].window == 512
    conn.recv(10, p.now)
    p.feed(p.seg(ACK | PSH, seq=3, payload=b"x" * 1000), at=0.2)
    assert conn.info()["rcv_wnd"] == 64640  # 65536 - 1000 = 64536, rounded up to 128


def test_no_scaling_unless_both_offer_it() -> None:
    p = Peer()
    conn = p.accept(wscale=None)
    assert (conn.snd_wscale, conn.rcv_wscale) == (0, 0)
    out = p.feed(p.seg(ACK | PSH, seq=1, payload=b"hi"), at=0.1)
    assert 60_000 < out[0].window <= 65535  # unscaled: the window itself
    p.feed(p.seg(ACK, seq=3, ack=1, window=700), at=0.2)
    assert conn.snd_wnd == 700


def test_window_scaling_knob_off() -> None:
    p = Peer(knobs(tcp_window_scaling=0))
    p.eng.connect(LOCAL, 80, REMOTE, RPORT, 0.0)
    (syn,) = p.out()
    assert syn.wscale is None


# ---------------------------------------------------------------------------- SACK


def _sack_rel(p: Peer, seg: object) -> list[tuple[int, int]]:
    return [((a - p.peer_isn) & 0xFFFFFFFF, (b - p.peer_isn) & 0xFFFFFFFF) for a, b in seg.sack]


def test_sack_blocks_follow_rfc_2018_order_with_timestamps() -> None:
    """The block holding the newest segment first, then the most recently reported ones;
    three at most beside the timestamp option."""
    p = Peer()
    p.accept(ts=True)
    reports = []
    for i, start in enumerate((1001, 3001, 5001, 7001)):
        (ack,) = p.feed(p.seg(ACK, seq=start, payload=b"s" * 1000, ts_val=200 + i, ts_ecr=0), at=0.1)
        assert p.rel(ack)[2] == 1
        reports.append(_sack_rel(p, ack))
    assert reports == [
        [(1001, 2001)],
        [(3001, 4001), (1001, 2001)],
        [(5001, 6001), (3001, 4001), (1001, 2001)],
        [(7001, 8001), (5001, 6001), (3001, 4001)],
    ]
    # Filling 2001..3001 joins two blocks: that block comes first.
    (ack,) = p.feed(p.seg(ACK, seq=2001, payload=b"s" * 1000, ts_val=210, ts_ecr=0), at=0.1)
    assert _sack_rel(p, ack) == [(1001, 4001), (7001, 8001), (5001, 6001)]
    # The hole at the start filled: everything up to 4001 is acknowledged, SACK shows the rest.
    (ack,) = p.feed(p.seg(ACK, seq=1, payload=b"s" * 1000, ts_val=211, ts_ecr=0), at=0.1)
    assert p.rel(ack)[2] == 4001
    assert _sack_rel(p, ack) == [(7001, 8001), (5001, 6001)]


def test_four_sack_blocks_without_timestamps() -> None:
    p = Peer()
    p.accept()
    for start in (1001, 3001, 5001, 7001):
        (ack,) = p.feed(p.seg(ACK, seq=start, payload=b"s" * 100), at=0.1)
    assert _sack_rel(p, ack) == [(7001, 7101), (5001, 5101), (3001, 3101), (1001, 1101)]


def test_a_sack_block_ending_at_an_out_of_order_fin_covers_the_fin() -> None:
    """Linux queues the FIN with its segment, whose end_seq counts it: `<sack 16:33>` for
    bytes 16..31 and the FIN at 32 (the kernel comparison showed it)."""
    p = Peer()
    p.accept()
    (ack,) = p.feed(p.seg(ACK | FIN, seq=16, payload=b"x" * 16), at=1.0)
    assert _sack_rel(p, ack) == [(16, 33)]


def test_no_sack_blocks_unless_permitted() -> None:
    p = Peer()
    p.accept(sack=False)
    (ack,) = p.feed(p.seg(ACK, seq=1001, payload=b"s" * 100), at=0.1)
    assert ack.sack == ()


def test_sack_knob_off() -> None:
    p = Peer(knobs(tcp_sack=0))
    p.eng.listen(LOCAL, 80, 5)
    (synack,) = p.feed(p.seg(SYN, seq=0, mss=1460, sack_permitted=True))
    assert synack.sack_permitted is False


# ---------------------------------------------------------------------------- timestamps


def test_timestamps_echo_the_peer_and_cost_12_bytes_of_mss() -> None:
    p, conn = established(ts=True)
    assert conn.ts_ok and conn.mss == 1448
    out = p.feed(p.seg(ACK | PSH, seq=1, payload=b"t", ts_val=5000, ts_ecr=0), at=0.5)
    assert out[0].ts_ecr == 5000
    first = out[0].ts_val
    out = p.feed(p.seg(ACK | PSH, seq=2, payload=b"t", ts_val=5100, ts_ecr=0), at=1.0)
    assert out[0].ts_ecr == 5100
    assert (out[0].ts_val - first) & 0xFFFFFFFF == 500  # a 1 ms clock, like Linux


def test_timestamps_off_by_knob() -> None:
    p = Peer(knobs(tcp_timestamps=0))
    p.eng.connect(LOCAL, 80, REMOTE, RPORT, 0.0)
    (syn,) = p.out()
    assert syn.ts_val is None and syn.ts_ecr is None
    p.iss = syn.seq
    (ack,) = p.feed(p.seg(SYN | ACK, seq=0, ack=1, mss=1460, ts_val=9, ts_ecr=0), at=0.01)
    assert ack.ts_val is None


def test_no_timestamps_when_the_peer_does_not_offer_them() -> None:
    p = Peer()
    conn = p.accept(ts=False)
    assert not conn.ts_ok and conn.mss == 1460
    conn.send(b"x", p.now)
    assert p.out()[0].ts_val is None


def test_paws_drops_a_segment_with_an_old_timestamp() -> None:
    """RFC 7323 section 5: an old TSval means an old duplicate, whatever its sequence number."""
    p, conn = established(ts=True)
    p.feed(p.seg(ACK | PSH, seq=1, payload=b"new", ts_val=5000, ts_ecr=0), at=0.5)
    out = p.feed(p.seg(ACK | PSH, seq=4, payload=b"old", ts_val=4000, ts_ecr=0), at=0.6)
    assert p.rels(out) == [(".", 1, 4, 0)]  # dropped, answered with a duplicate ACK
    assert conn.recv(100, p.now) == b"new"
    assert p.eng.counters["PAWSEstabRejected"] == 1


# ---------------------------------------------------------------------------- the SYN's window


def _syn_window(mtu: int = 1500, **values: object) -> int:
    p = Peer(knobs(**values), mtu=mtu)
    p.eng.connect(LOCAL, 80, REMOTE, RPORT, 0.0)
    (syn,) = p.out()
    return syn.window


def test_syn_window_is_rounded_to_the_mss_only_when_the_space_exceeds_it() -> None:
    """Linux tcp_select_initial_window: `if (space > mss) space = rounddown(space, mss)`."""
    assert _syn_window() == 64240  # 65536 of space, 44 segments of 1460
    # MTU 65535 (MSS 65495) with a 32 KB space: the space itself, not a zero window.
    assert _syn_window(mtu=65535, tcp_rmem="4096 65536 6291456") == 32768
    assert _syn_window(mtu=65535) == 65495  # 65536 > 65495: one whole segment
    # Rounded first, then capped at 65535 (RFC 7323 section 2.2: a SYN's window is not scaled).
    assert _syn_window(tcp_rmem="4096 262144 6291456") == 65535


def test_synack_window_with_a_large_mss_is_not_zero() -> None:
    p = Peer(knobs(tcp_rmem="4096 65536 6291456"), mtu=65535)
    p.eng.listen(LOCAL, p.lport, 5)
    (synack,) = p.feed(p.seg(SYN, seq=0, **p.syn_options(mss=65495)), at=0.0)
    assert synack.window == 32768


def test_freebsd_recvspace_is_minitcps_receive_space() -> None:
    """net.inet.tcp.recvspace=N is a window of N bytes: tcp_rmem 2N, as Linux offers half the buffer."""
    from minitcp.conformance.sysctls import apply_sysctl

    k = knobs()
    assert apply_sysctl(k, "net.inet.tcp.recvspace", "65536")
    assert apply_sysctl(k, "net.inet.tcp.sendspace", "32768")
    assert k.tcp_rmem[1] == 131072 and k.tcp_wmem[1] == 32768
    p = Peer(k)
    conn = p.eng.connect(LOCAL, 80, REMOTE, RPORT, 0.0)
    assert window_space(conn) == 65536
    (syn,) = p.out()
    assert syn.window == 64240


def test_the_timestamp_offset_is_per_host_pair_and_the_isn_per_connection() -> None:
    """Linux (secure_tcp_ts_off, 4.13+): connections between the same two hosts share one TSval
    offset, so a new one's timestamps carry on from an old one's (PAWS across incarnations, TIME_WAIT
    reuse); ISNs stay per four-tuple (RFC 6528)."""
    eng = TcpEngine(secret=b"ts-offset")
    a, b, c = ip_int("198.18.0.2"), ip_int("198.18.0.1"), ip_int("198.18.0.3")
    one = eng.connect(a, 40000, b, 80, 0.0)
    two = eng.connect(a, 40001, b, 81, 0.0)
    other = eng.connect(a, 40002, c, 80, 0.0)
    assert one.ts_offset == two.ts_offset != other.ts_offset
    assert one.iss != two.iss


def test_a_bare_out_of_order_fin_gets_a_sack_block_of_its_own() -> None:
    """Linux queues a lone FIN beyond a hole (tcp_data_queue_ofo): SACK [fin, fin + 1), first as
    the newest arrival; data filling the hole then takes the FIN in."""
    p, conn = established(ts=True)
    (ack,) = p.feed(p.seg(ACK, seq=1001, payload=b"d" * 500, ts_val=200, ts_ecr=0), at=0.1)
    assert _sack_rel(p, ack) == [(1001, 1501)]
    (ack,) = p.feed(p.seg(ACK | FIN, seq=3001, ts_val=201, ts_ecr=0), at=0.1)
    assert p.rel(ack)[2] == 1 and _sack_rel(p, ack) == [(3001, 3002), (1001, 1501)]
    (ack,) = p.feed(p.seg(ACK, seq=1, payload=b"d" * 1000, ts_val=202, ts_ecr=0), at=0.1)
    assert p.rel(ack)[2] == 1501 and _sack_rel(p, ack) == [(3001, 3002)]
    (ack,) = p.feed(p.seg(ACK, seq=1501, payload=b"d" * 1500, ts_val=203, ts_ecr=0), at=0.1)
    assert p.rel(ack)[2] == 3002 and not ack.sack  # the FIN is in: CLOSE_WAIT
    assert conn.state.name == "CLOSE_WAIT"
