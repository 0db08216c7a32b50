"""SYN cookies (Linux net/ipv4/syncookies.c, tcp_conn_request, cookie_v4_check): the cookie's
round trip, forged and stale cookies, the options a TSecr brings back, tcp_syncookies 0/1/2,
and a flood of spoofed SYNs during which a legitimate client still connects."""

from __future__ import annotations

import logging

import pytest

from minitcp.tcp.isn import IsnGenerator
from minitcp.tcp.pair import EnginePair
from minitcp.tcp.seq import MASK
from minitcp.tcp.states import State
from minitcp.tcp.syncookies import (
    MSSTAB,
    MSSTAB6,
    SynCookies,
    cookie_timestamp,
    decode_timestamp_options,
    mss_index,
    timestamp_options,
)
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, CWR, ECE, RST, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet

from .peer import LOCAL, REMOTE, Peer, knobs

# ---------------------------------------------------------------------------- the cookie itself

COOKIES = SynCookies(IsnGenerator(b"cookie-tests"))
FOUR = (REMOTE, LOCAL, 40000, 80)  # the SYN's source, destination, ports


@pytest.mark.parametrize(("mss", "kept"), [(1460, 1460), (8960, 1460), (1452, 1440), (1400, 1300),
                                           (1299, 536), (536, 536), (100, 536)])
def test_the_mss_is_rounded_down_to_linux_table(mss: int, kept: int) -> None:
    assert MSSTAB[mss_index(mss)] == kept
    cookie, remembered = COOKIES.make(*FOUR, 12345, mss, now=10.0)
    assert remembered == kept
    # The client's ACK: seq = its ISN + 1, ack = the cookie + 1.
    assert COOKIES.check(*FOUR, 12346, (cookie + 1) & MASK, now=10.5) == kept


@pytest.mark.parametrize(("mss", "kept"), [(1440, 1440), (1430, 1420), (9000, 8940), (536, 1220)])
def test_an_ipv6_cookie_round_trips_with_the_ipv6_table(mss: int, kept: int) -> None:
    """net/ipv6/syncookies.c: the 128-bit addresses hashed whole, the MSS from IPv6's msstab."""
    four6 = (0x2001_0002 << 96 | 1, 0x2001_0002 << 96 | 2, 40000, 80)
    cookie, remembered = COOKIES.make(*four6, 777, mss, now=10.0)
    assert remembered == kept and kept in MSSTAB6
    assert COOKIES.check(*four6, 778, (cookie + 1) & MASK, now=10.5) == kept
    other_client = (four6[0] + 1, *four6[1:])
    assert COOKIES.check(*other_client, 778, (cookie + 1) & MASK, now=10.5) == 0


def test_a_cookie_lasts_its_minute_and_the_next() -> None:
    cookie, _ = COOKIES.make(*FOUR, 0xFFFFFFFF, 1460, now=59.0)  # count 0; the ISN wraps on +1
    ack = (cookie + 1) & MASK
    assert COOKIES.check(*FOUR, 0, ack, now=60.0) == 1460  # count 1: one minute old
    assert COOKIES.check(*FOUR, 0, ack, now=119.9) == 1460
    assert COOKIES.check(*FOUR, 0, ack, now=120.0) == 0  # MAX_SYNCOOKIE_AGE minutes: stale


def test_a_forged_cookie_fails() -> None:
    cookie, _ = COOKIES.make(*FOUR, 5000, 1460, now=1.0)
    assert COOKIES.check(*FOUR, 5001, (cookie + 2) & MASK, now=1.0) == 0  # another number
    assert COOKIES.check(*FOUR, 9001, (cookie + 1) & MASK, now=1.0) == 0  # another client ISN
    assert COOKIES.check(REMOTE, LOCAL, 40001, 80, 5001, (cookie + 1) & MASK, now=1.0) == 0
    other = SynCookies(IsnGenerator(b"another secret"))
    assert other.check(*FOUR, 5001, (cookie + 1) & MASK, now=1.0) == 0
    # Of 2^24 guesses for the low bits only 4 indices are valid: a random ACK passes ~1 in 4M.
    fails = sum(COOKIES.check(*FOUR, 5001, (cookie + 1 + (k << 8)) & MASK, now=1.0) == 0
                for k in range(1, 2000))
    assert fails == 1999


@pytest.mark.parametrize(("wscale", "sack", "ecn"), [(7, True, False), (None, True, True), (0, False, False),
                                                     (14, True, True), (None, False, False)])
def test_the_options_ride_in_the_low_bits_of_tsval(wscale: int | None, sack: bool, ecn: bool) -> None:
    bits = timestamp_options(wscale, sack, ecn)
    for ts_now in (0x40, 123456, 123456 + 63, 0xFFFFFFF0):
        ts = cookie_timestamp(ts_now, bits)
        assert ts <= ts_now < ts + 64  # never ahead of the clock, at most 63 ms behind
        assert decode_timestamp_options(ts) == (wscale, sack, ecn)


# ---------------------------------------------------------------------------- a listener's cookies

def _cookie_synack(p: Peer, ts: bool = True, **syn_opts: object) -> Segment:
    p.eng.listen(LOCAL, 80, 5)
    opts = p.syn_options(ts=ts, **syn_opts)  # type: ignore[arg-type]
    (synack,) = p.feed(p.seg(SYN, seq=0, window=64240, **opts), at=1.0)
    assert synack.flags & (SYN | ACK) == SYN | ACK
    p.iss = synack.seq
    return synack


def test_tcp_syncookies_2_answers_every_syn_with_a_cookie_and_keeps_nothing() -> None:
    p = Peer(knobs(tcp_syncookies=2))
    synack = _cookie_synack(p, ts=True, mss=1400, wscale=9, sack=True)
    lst = p.eng.listeners[(LOCAL, 80)]
    assert not lst.syn_queue and not p.eng.conns and p.eng.poll_at() is None
    assert p.eng.counters["SyncookiesSent"] == 1 and p.eng.counters["TCPReqQFullDoCookies"] == 1
    # The SYN-ACK offers our own MSS and options; the cookie is its ISN and TSval's low bits.
    assert (synack.mss, synack.wscale, synack.sack_permitted) == (1460, 7, True)
    assert p.eng.cookies.check(REMOTE, LOCAL, 40000, 80, p.peer_isn + 1, synack.seq + 1, 1.0) == 1300
    tsecr = (synack.ts_val - p.eng.isn.ts_offset(LOCAL, REMOTE)) & MASK
    assert decode_timestamp_options(tsecr) == (9, True, False)


def test_the_returning_ack_makes_the_connection_with_the_options_of_the_tsecr() -> None:
    p = Peer(knobs(tcp_syncookies=2))
    synack = _cookie_synack(p, ts=True, mss=1400, wscale=9, sack=True)
    assert p.feed(p.seg(ACK, ts_val=150, ts_ecr=synack.ts_val, payload=b"GET /"), at=1.01) \
        and p.eng.counters["SyncookiesRecv"] == 1
    conn = p.eng.listeners[(LOCAL, 80)].accept()
    assert conn is not None and conn.state == State.ESTABLISHED
    assert (conn.mss, conn.snd_wscale, conn.rcv_wscale) == (1300 - 12, 9, 7)  # the cookie's MSS
    assert conn.sack_ok and conn.ts_ok
    assert conn.ts_recent == 150 and conn.recv(100, 1.02) == b"GET /"
    assert p.eng.counters["PassiveOpens"] == 1 and p.eng.counters["CurrEstab"] == 1
    # Observers saw what Linux's child socket goes through: LISTEN -> SYN-RECEIVED -> ESTABLISHED.
    assert p.rec.state_path(conn) == [State.LISTEN, State.SYN_RECEIVED, State.ESTABLISHED]


def test_without_timestamps_the_cookie_keeps_only_the_mss() -> None:
    """Linux tcp_clear_options: no TSval to carry them, so the SYN-ACK offers no window
    scale and no SACK, and the connection goes without."""
    p = Peer(knobs(tcp_syncookies=2))
    synack = _cookie_synack(p, ts=False, mss=1460, wscale=7, sack=True)
    assert (synack.mss, synack.wscale, synack.sack_permitted, synack.ts_val) == (1460, None, False, None)
    p.feed(p.seg(ACK), at=1.01)
    conn = p.eng.listeners[(LOCAL, 80)].accept()
    assert conn is not None and conn.state == State.ESTABLISHED
    assert (conn.mss, conn.wscale_ok, conn.sack_ok, conn.ts_ok) == (1460, False, False, False)


def test_an_option_switched_off_since_the_synack_refuses_the_cookie() -> None:
    """Linux cookie_timestamp_decode: the TSecr says SACK, but tcp_sack is 0 now: RST."""
    p = Peer(knobs(tcp_syncookies=2))
    synack = _cookie_synack(p, ts=True, sack=True)
    p.eng.knobs.set("tcp_sack", 0)
    (rst,) = p.feed(p.seg(ACK, ts_val=101, ts_ecr=synack.ts_val), at=1.01)
    assert rst.flags == RST and p.eng.counters["SyncookiesRecv"] == 1 and not p.eng.conns


def test_with_timestamps_off_the_acks_timestamps_are_not_read() -> None:
    """tcp_timestamps=0 (Linux tcp_parse_options reads no timestamp on a listener then): the
    cookie SYN-ACK had none, and the ACK's are ignored: a connection without options."""
    p = Peer(knobs(tcp_syncookies=2, tcp_timestamps=0))
    synack = _cookie_synack(p, ts=True, wscale=7, sack=True)
    assert (synack.ts_val, synack.wscale, synack.sack_permitted) == (None, None, False)
    p.feed(p.seg(ACK, ts_val=101, ts_ecr=0), at=1.01)
    conn = p.eng.listeners[(LOCAL, 80)].accept()
    assert conn is not None and conn.state == State.ESTABLISHED
    assert (conn.ts_ok, conn.wscale_ok, conn.sack_ok) == (False, False, False)


def test_ecn_comes_back_from_the_tsecr() -> None:
    p = Peer(knobs(tcp_syncookies=2))
    p.eng.listen(LOCAL, 80, 5)
    (synack,) = p.feed(p.seg(SYN | ECE | CWR, seq=0, **p.syn_options(ts=True)), at=1.0)
    assert synack.flags == SYN | ACK | ECE
    p.iss = synack.seq
    p.feed(p.seg(ACK, ts_val=101, ts_ecr=synack.ts_val), at=1.01)
    conn = p.eng.listeners[(LOCAL, 80)].accept()
    assert conn is not None and conn.ecn_ok


def test_a_forged_or_stale_cookie_is_counted_and_answered_with_rst() -> None:
    p = Peer(knobs(tcp_syncookies=2))
    synack = _cookie_synack(p, ts=False)
    (rst,) = p.feed(p.seg(ACK, ack=2), at=1.01)  # one more than the cookie allows
    assert rst.flags == RST and p.eng.counters["SyncookiesFailed"] == 1
    (rst,) = p.feed(p.seg(ACK), at=121.0)  # made in minute 0, back in minute 2
    assert rst.flags == RST and p.eng.counters["SyncookiesFailed"] == 2
    assert p.eng.counters["SyncookiesRecv"] == 0 and not p.eng.conns
    assert synack.seq == p.iss


def test_acks_are_not_checked_for_cookies_long_after_the_last_one() -> None:
    """Linux tcp_synq_no_recent_overflow: TCP_SYNCOOKIE_VALID (2 minutes) after the last cookie
    sent, an ACK to a listener is just an ACK to a listener (RST), not counted as a failed cookie."""
    p = Peer(knobs(tcp_syncookies=2))
    _cookie_synack(p, ts=False)
    (rst,) = p.feed(p.seg(ACK), at=200.0)
    assert rst.flags == RST and p.eng.counters["SyncookiesFailed"] == 0


def test_tcp_syncookies_1_only_when_the_syn_queue_is_full() -> None:
    p = Peer()  # the default, 1
    lst = p.eng.listen(LOCAL, 80, 2)
    for port in (41000, 41001, 41002):
        p.rport = port
        (synack,) = p.feed(p.seg(SYN, seq=0, mss=1460), at=0.0)
        assert synack.flags == SYN | ACK
    assert len(lst.syn_queue) == 2  # the third has no entry: it got a cookie
    assert p.eng.counters["SyncookiesSent"] == 1 and p.eng.counters["ListenDrops"] == 0
    p.iss = synack.seq
    p.feed(p.seg(ACK), at=0.01)
    assert len(lst.accept_queue) == 1 and lst.accept_queue[0].rport == 41002


def test_the_flood_is_logged_once_per_listener(caplog: pytest.LogCaptureFixture) -> None:
    """Linux tcp_syn_flood_action: "Possible SYN flooding on port ...", once (net_info_ratelimited
    with synflood_warned), and not with tcp_syncookies=2, where every SYN gets a cookie."""
    for syncookies, said in ((1, "Sending cookies"), (0, "Dropping request"), (2, None)):
        caplog.clear()
        p = Peer(knobs(tcp_syncookies=syncookies))
        p.eng.listen(LOCAL, 80, 1)
        with caplog.at_level(logging.INFO, logger="minitcp.tcp.listener"):
            for port in range(41000, 41005):
                p.rport = port
                p.feed(p.seg(SYN, seq=0, mss=1460), at=0.0)
        lines = [r.getMessage() for r in caplog.records]
        assert lines == ([] if said is None else [f"Possible SYN flooding on port 198.18.0.2:80. {said}."])


def test_tcp_syncookies_0_drops_and_an_ack_is_never_a_cookie() -> None:
    p = Peer(knobs(tcp_syncookies=0))
    lst = p.eng.listen(LOCAL, 80, 1)
    p.feed(p.seg(SYN, seq=0, mss=1460), at=0.0)
    p.rport = 41000
    assert p.feed(p.seg(SYN, seq=0, mss=1460), at=0.0) == []
    assert p.eng.counters["TCPReqQFullDrop"] == 1 and p.eng.counters["SyncookiesSent"] == 0
    (rst,) = p.feed(p.seg(ACK), at=0.01)
    assert rst.flags == RST and p.eng.counters["SyncookiesFailed"] == 0
    assert len(lst.syn_queue) == 1


def test_a_cookie_ack_finding_the_accept_queue_full_is_dropped() -> None:
    """Linux tcp_v4_syn_recv_sock: no child for a full accept queue (ListenOverflows); the ACK is
    dropped without an answer, and the client's data or a later ACK tries again."""
    p = Peer(knobs(tcp_syncookies=2))
    lst = p.eng.listen(LOCAL, 80, 0)  # the accept queue holds backlog + 1 = 1
    cookies = []
    for port in (41000, 41001):
        p.rport = port
        (synack,) = p.feed(p.seg(SYN, seq=0, mss=1460), at=0.0)
        cookies.append(synack.seq)
    p.rport, p.iss = 41000, cookies[0]
    p.feed(p.seg(ACK), at=0.01)
    p.rport, p.iss = 41001, cookies[1]
    assert p.feed(p.seg(ACK), at=0.01) == []
    assert len(lst.accept_queue) == 1 and p.eng.counters["ListenOverflows"] == 1
    assert lst.accept() is not None
    p.feed(p.seg(ACK), at=0.02)
    assert len(lst.accept_queue) == 1 and lst.accept_queue[0].rport == 41001


# ---------------------------------------------------------------------------- a flood

SPOOFED = ip_int("198.18.0.100")  # the flood's first source; nobody answers for these


def flood(p: EnginePair, n: int, start: float, rate: float) -> None:
    """`n` spoofed SYNs to b's port 80 at `rate` per second from `start`, each from its own
    address and port; b's answers to them are lost (see `only_to_a`)."""
    for k in range(n):
        syn = Segment(SPOOFED + k % 100, p.addr_b, 1024 + k // 100, 80, (k * 2654435761) & MASK, 0,
                      SYN, 64240, mss=1460, wscale=7, sack_permitted=True, ts_val=k, ts_ecr=0)
        p.send_at("a", build_tcp_packet(syn), start + k / rate)


def only_to_a(sender: str, seg: Segment, now: float) -> list[float]:
    """The fault hook: b's segments to the spoofed addresses go nowhere."""
    return [0.0] if sender == "a" or seg.dst == ip_int(EnginePair.ADDR_A) else []


def legitimate_during_flood(syncookies: int, n_flood: int = 2000, clients: int = 20) -> int:
    """How many of `clients` connections, opened one every 0.1 s during the flood from 0.2 s, are
    established within 3 s of their first SYN."""
    p = EnginePair(knobs_b=knobs(tcp_syncookies=syncookies), fault=only_to_a)
    lst = p.b.listen(p.addr_b, 80, 128)
    flood(p, n_flood, start=0.0, rate=1000.0)
    p.run(until=0.2)  # 200 SYNs: the SYN queue (128) is full before the first client
    opened = []
    for k in range(clients):
        p.run(until=0.2 + k * 0.1)
        opened.append((p.now, p.a.connect(p.addr_a, 40000 + k, p.addr_b, 80, p.now)))
    p.run(until=opened[-1][0] + 3.0)
    while lst.accept() is not None:
        pass
    return sum(c.state == State.ESTABLISHED for _, c in opened)


def test_a_legitimate_client_connects_through_a_flood_with_cookies() -> None:
    assert legitimate_during_flood(1) == 20


def test_without_cookies_the_flood_locks_legitimate_clients_out() -> None:
    assert legitimate_during_flood(0) == 0
