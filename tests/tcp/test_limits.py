"""Memory bounded by configuration, not by traffic: each table a peer can fill has Linux's
limit, and a flood of it stays within that limit (issue #17). The SYN queue (backlog,
tcp_max_syn_backlog; SYN cookies beyond it), the accept queue (backlog + 1, somaxconn),
reassembly (the receive window), TIME_WAIT (tcp_max_tw_buckets) and orphans (tcp_max_orphans)."""

from __future__ import annotations

from minitcp.tcp.pair import EnginePair
from minitcp.tcp.states import State
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, SYN, Segment

from .builders import established
from .peer import LOCAL, Peer, knobs

FLOOD = 5000
SPOOFED = ip_int("198.18.0.100")  # the flood's first source address; nobody answers for these


def _spoofed(k: int) -> Segment:
    return Segment(SPOOFED + k % 100, LOCAL, 1024 + k // 100, 80, k * 7919, 0, SYN, 64240, mss=1460)


def test_a_syn_flood_without_cookies_keeps_the_syn_queue_at_the_backlog() -> None:
    p = Peer(knobs(tcp_syncookies=0))
    lst = p.eng.listen(LOCAL, 80, 64)
    for k in range(FLOOD):
        p.feed(_spoofed(k), at=k * 1e-4)
    assert len(lst.syn_queue) == 64 and len(p.eng.requests) == 64 and not p.eng.conns
    assert p.eng.counters["ListenDrops"] == FLOOD - 64 == p.eng.counters["TCPReqQFullDrop"]


def test_a_syn_flood_with_cookies_keeps_the_syn_queue_at_the_backlog_and_nothing_else() -> None:
    p = Peer(knobs(tcp_max_syn_backlog=32))  # below the backlog: this knob bounds it here
    lst = p.eng.listen(LOCAL, 80, 64)
    for k in range(FLOOD):
        assert len(p.feed(_spoofed(k), at=k * 1e-4)) == 1  # every SYN answered
    assert len(lst.syn_queue) == 32 and len(p.eng.requests) == 32 and not p.eng.conns
    assert p.eng.counters["SyncookiesSent"] == FLOOD - 32 and p.eng.counters["ListenDrops"] == 0


def test_a_connection_flood_keeps_the_accept_queue_at_backlog_plus_one() -> None:
    """Linux sk_acceptq_is_full: clients that complete the handshake while nobody accepts."""
    p = EnginePair()
    lst = p.b.listen(p.addr_b, 80, 8)
    clients = [p.a.connect(p.addr_a, 30000 + k, p.addr_b, 80, 0.0) for k in range(200)]
    p.run(until=2.0)
    assert len(lst.accept_queue) == 9
    assert len(p.b.conns) <= 9 + 8  # the accept queue, and half-open ones waiting for room
    assert p.b.counters["ListenOverflows"] > 0
    assert sum(c.state == State.ESTABLISHED for c in clients) >= 9


def test_a_reassembly_flood_is_bounded_by_the_receive_window() -> None:
    """Out-of-order segments far beyond what we offered are dropped; those inside are kept,
    at most the window's worth (Linux tcp_data_queue: out of window, TCPOFODrop or tcp_prune_ofo_queue)."""
    p, conn = established()
    window = (conn.rcv_adv - conn.rcv_nxt) & 0xFFFFFFFF
    for k in range(2000):
        # A hole at sequence 1, then 1000-byte segments leaving a gap between each two.
        p.feed(p.seg(ACK, seq=2 + k * 2000, payload=b"z" * 1000), at=1.0 + k * 1e-4)
    assert conn.rcvbuf is not None
    assert 0 < conn.rcvbuf.ooo_bytes <= window
    assert len(conn.rcvbuf.ooo) <= window // 1000 + 1


def test_a_time_wait_flood_stops_at_tcp_max_tw_buckets() -> None:
    p = EnginePair(knobs_b=knobs(tcp_max_tw_buckets=50))
    lst = p.b.listen(p.addr_b, 80, 256)
    for k in range(150):
        p.a.connect(p.addr_a, 30000 + k, p.addr_b, 80, p.now)
    p.run_for(0.1)
    servers = []
    while (s := lst.accept()) is not None:
        servers.append(s)
    for s in servers:
        s.close(p.now)  # the server closes first: the TIME_WAIT would be its
    p.run_for(1.0)
    for c in list(p.a.conns.values()):
        c.close(p.now)
    p.run_for(1.0)
    assert len(servers) == 150
    assert len(p.b.timewait) == 50 and p.b.counters["TCPTimeWaitOverflow"] == 100
    assert not p.b.conns


def test_orphans_beyond_tcp_max_orphans_are_reset() -> None:
    """The peer vanished (nothing it sends arrives, nothing reaches it): each close() leaves an
    orphan in FIN_WAIT_1 retransmitting its FIN; past tcp_max_orphans the next one is reset at
    once (Linux __tcp_close -> tcp_check_oom, TCPAbortOnMemory)."""
    unplugged = {"on": False}

    def wire(_sender: str, _seg: Segment, _now: float) -> list[float]:
        return [] if unplugged["on"] else [0.0]

    p = EnginePair(knobs_b=knobs(tcp_max_orphans=10), fault=wire)
    lst = p.b.listen(p.addr_b, 80, 64)
    for k in range(30):
        p.a.connect(p.addr_a, 30000 + k, p.addr_b, 80, p.now)
    p.run_for(0.1)
    servers = []
    while (s := lst.accept()) is not None:
        servers.append(s)
    unplugged["on"] = True
    for s in servers:
        s.close(p.now)
    assert len(servers) == 30
    assert len(p.b.orphans) == 10 and p.b.counters["TCPAbortOnMemory"] == 20
    assert sum(s.state == State.FIN_WAIT_1 for s in servers) == 10
    assert sum(s.state == State.CLOSED for s in servers) == 20
    p.run_for(2000.0)  # tcp_orphan_retries: the ten give up in time, and the count goes with them
    assert not p.b.orphans and not p.b.conns
