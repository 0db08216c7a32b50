"""The fast cookie path (minitcp/tcp/cookie_synack.py, Host._cookie_reply4/6): a listener in
cookie mode answers a SYN from its bytes, without a Connection, with the very packet the
usual path (Listener._send_cookie) sends, the same counters, and a cookie whose ACK makes
the connection. The C function and its pure-Python twin agree on random packets."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minitcp.host import Host
from minitcp.tcp import cookie_synack as cs
from minitcp.tcp.isn import IsnGenerator
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.listener import Listener
from minitcp.tcp.observer import BaseObserver
from minitcp.tcp.seq import MASK
from minitcp.tcp.states import State
from minitcp.tcp.syncookies import MSSTAB, MSSTAB6, SynCookies
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG, Segment, Segment6
from minitcp.wire.tcp import build_tcp6_packet, build_tcp_packet, parse_tcp6_packet, parse_tcp_packet

try:
    from minitcp._native import lib
except ImportError:
    lib = None

needs_native = pytest.mark.skipif(lib is None, reason="minitcp._native is not built (pip install -e .)")

ME = ip_int("198.18.0.2")
ME6 = 0x2001_0002 << 96 | 2
SECRET = b"fast-cookie-test"

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, MASK)


@st.composite
def syn_packets(draw: Any, v6: bool | None = None) -> bytes:
    """A SYN (now and then with ACK, RST or FIN too) to port 80 of our address, any options."""
    if v6 is None:
        v6 = draw(st.booleans())
    flags = SYN | draw(st.sampled_from([0, PSH, URG, ECE, CWR, ECE | CWR, ECE | CWR | PSH]))
    if draw(st.integers(0, 9)) == 0:
        flags |= draw(st.sampled_from([ACK, RST, FIN]))
    fields = dict(
        mss=draw(st.none() | st.sampled_from([0, 88, 535, 536, 1219, 1220, 1300, 1440, 1460, 8960]) | u16),
        wscale=draw(st.none() | st.integers(0, 20)), sack_permitted=draw(st.booleans()),
        ts_val=draw(st.none() | u32), tos=draw(u8), ttl=draw(u8),
    )
    if fields["ts_val"] is not None:
        fields["ts_ecr"] = draw(u32)
    payload = draw(st.binary(max_size=8))
    seq, window, sport = draw(u32), draw(u16), draw(st.integers(1, 0xFFFF))
    if v6:
        src = 0x2001_0002 << 96 | draw(st.integers(3, 2**64 - 1))
        seg6 = Segment6(src, ME6, sport, 80, seq, 0, flags, window, payload, **fields)  # type: ignore[arg-type]
        return build_tcp6_packet(seg6)
    src = ip_int("198.18.0.0") + draw(st.integers(3, 0x1FFFF))  # 198.18.0.0/15, not us
    return build_tcp_packet(Segment(src, ME, sport, 80, seq, 0, flags, window, payload, **fields))  # type: ignore[arg-type]


knob_sets = st.builds(
    dict, tcp_timestamps=st.sampled_from([0, 1, 2]), tcp_window_scaling=st.sampled_from([0, 1]),
    tcp_sack=st.sampled_from([0, 1]), tcp_ecn=st.sampled_from([0, 1, 2]),
    ip_default_ttl=st.sampled_from([64, 1, 255]),
    tcp_rmem=st.sampled_from([(4096, 131072, 6291456), (4096, 87380, 65536), (4096, 1 << 20, 1 << 25)]),
)
option_sets = st.dictionaries(
    st.sampled_from(["maxseg", "rcvbuf", "tos", "ttl", "nodelay"]), st.integers(0, 1 << 21), max_size=3,
).map(lambda d: {k: v % 9000 if k == "maxseg" else v % 256 if k in ("tos", "ttl") else v
                  for k, v in d.items()})


def _host(knobs: Knobs, observer: BaseObserver | None = None) -> Host:
    out: list[bytes] = []
    host = Host("198.18.0.2", mtu=1500, send=out.append, address6="2001:2::2", knobs=knobs, observer=observer)
    host.engine.isn = IsnGenerator(SECRET)
    host.engine.cookies = SynCookies(host.engine.isn)
    host.sent = out  # type: ignore[attr-defined]
    return host


def _listen(host: Host, options: dict[str, int], backlog: int = 5) -> list[Listener]:
    listeners = [host.engine.listen(ME, 80, backlog), host.engine.listen(ME6, 80, backlog)]
    for listener in listeners:
        listener.options.update(options)
    return listeners


def _run(host: Host, packets: list[bytes], now: float) -> list[bytes]:
    for k, pkt in enumerate(packets):
        host.receive_batch([(pkt, False)], now + k * 0.001)
        host.transmit(now + k * 0.001)
    return list(host.sent)  # type: ignore[attr-defined]


@given(syns=st.lists(syn_packets(), min_size=1, max_size=6), knob=knob_sets, options=option_sets,
       now=st.floats(0, 1e6))
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_fast_path_sends_the_usual_paths_bytes_and_counts(syns: list[bytes], knob: dict[str, Any],
                                                              options: dict[str, int], now: float) -> None:
    """tcp_syncookies=2: every SYN gets a cookie. The host with an observer takes the usual
    path (a stand-in Connection per SYN); without one, the fast path: the same packets out,
    the same counters, and the fast path did answer every plain SYN."""
    knobs = Knobs(tcp_syncookies=2, **knob)
    slow, fast = _host(knobs, BaseObserver()), _host(dataclasses.replace(knobs))
    _listen(slow, options)
    listeners = _listen(fast, options)
    fast.engine.last_cookie = now  # a cookie just sent: the fast path is on from the first SYN
    assert _run(fast, syns, now) == _run(slow, syns, now)
    assert fast.counters == slow.counters and fast.engine.counters == slow.engine.counters
    plain = [p for p in syns if (p[53] if p[0] >> 4 == 6 else p[33]) & (ACK | RST | FIN) == 0]
    assert fast.engine.counters["SyncookiesSent"] == len(plain)
    assert bool(plain) == any(listener.cookie_params for listener in listeners)
    assert not fast.engine.conns


@needs_native
@given(pkt=syn_packets(), knob=knob_sets, user_mss=st.integers(0, 9000), rcv_wscale=st.integers(0, 14),
       advmss=st.integers(64, 9000), window=u16, window_ts=u16, tos=u8, ttl=u8, now=st.floats(-1e3, 1e9),
       secret=st.binary(max_size=32), csum_partial=st.booleans(), flip=st.none() | st.integers(0, 200))
@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_c_function_and_its_pure_twin_agree(pkt: bytes, knob: dict[str, Any], user_mss: int,
                                                 rcv_wscale: int, advmss: int, window: int, window_ts: int,
                                                 tos: int, ttl: int, now: float, secret: bytes,
                                                 csum_partial: bool, flip: int | None) -> None:
    """Same bytes for any SYN and parameters; same refusal (0) or drop reason for any other
    or broken packet (a byte changed)."""
    if flip is not None and flip < len(pkt):
        pkt = pkt[:flip] + bytes([pkt[flip] ^ 0x5A]) + pkt[flip + 1:]
    params = cs.CookieParams(
        secret=secret, msstab=MSSTAB6 if pkt[0] >> 4 == 6 else MSSTAB, user_mss=user_mss, advmss=advmss,
        window=window, window_ts=window_ts, rcv_wscale=rcv_wscale, timestamps=bool(knob["tcp_timestamps"]),
        window_scaling=bool(knob["tcp_window_scaling"]), sack=bool(knob["tcp_sack"]),
        ecn=bool(knob["tcp_ecn"]), ttl=ttl, tos=tos)
    assert cs.cookie_synack_native(pkt, csum_partial, params, now) == \
        cs.cookie_synack_pure(pkt, csum_partial, params, now)


@pytest.mark.parametrize("v6", [False, True])
def test_a_full_syn_queue_turns_the_fast_path_on_and_the_cookie_ack_makes_the_connection(
        v6: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """tcp_syncookies=1: the first SYNs fill the SYN queue the usual way; the flood's first
    cookie goes the usual way too (it writes the log line); then every SYN is answered fast,
    and the ACK of a fast cookie becomes an ESTABLISHED connection with the options its
    TSecr brought back."""
    host = _host(Knobs())
    listener = _listen(host, {}, backlog=2)[v6]
    me, src = (ME6, 0x2001_0002 << 96 | 7) if v6 else (ME, ip_int("198.18.0.7"))
    cls, build, parse = ((Segment6, build_tcp6_packet, parse_tcp6_packet) if v6
                         else (Segment, build_tcp_packet, parse_tcp_packet))
    calls: list[Segment] = []
    usual = Listener._send_cookie
    monkeypatch.setattr(Listener, "_send_cookie", lambda self, syn: (calls.append(syn), usual(self, syn))[1])

    def syn(port: int) -> bytes:
        return build(cls(src, me, port, 80, 1000 * port, 0, SYN, 64240, mss=1460, wscale=7,
                         sack_permitted=True, ts_val=555, ts_ecr=0))

    sent = _run(host, [syn(p) for p in range(1000, 1010)], 5.0)
    assert len(listener.syn_queue) == 2 and len(calls) == 1 and listener.cookie_params
    assert host.engine.counters["SyncookiesSent"] == 8 and host.engine.counters["TCPReqQFullDoCookies"] == 8
    assert host.counters["OutRequests" if not v6 else "Ip6OutRequests"] == 10
    synack = parse(sent[-1])
    assert synack.flags == SYN | ACK and (synack.dport, synack.ack) == (1009, 1009 * 1000 + 1)
    assert (synack.mss, synack.wscale, synack.sack_permitted, synack.ts_ecr) == \
        (1440 if v6 else 1460, 7, True, 555)
    ack = cls(src, me, 1009, 80, 1009 * 1000 + 1, (synack.seq + 1) & MASK, ACK, 502, b"hi",
              ts_val=556, ts_ecr=synack.ts_val)
    host.receive(build(ack), 5.5)
    assert host.engine.counters["SyncookiesRecv"] == 1
    conn = listener.accept()
    assert conn is not None and conn.state == State.ESTABLISHED and conn.rport == 1009
    assert (conn.snd_wscale, conn.sack_ok, conn.ts_ok) == (7, True, True)
    assert conn.mss == (1440 if v6 else 1460) - 12  # the table's entry the cookie kept, less timestamps
    assert conn.recv(10, 5.6) == b"hi"


def test_the_fast_path_stands_aside_for_an_existing_connection_and_without_cookie_mode() -> None:
    """A SYN for a connection the engine holds goes to it (here: a retransmitted SYN in
    SYN-RECEIVED, answered by its own SYN-ACK, not a cookie); with the SYN queue not full no
    cookie is sent at all."""
    host = _host(Knobs())
    listener = _listen(host, {}, backlog=2)[0]
    src = ip_int("198.18.0.7")
    syn = build_tcp_packet(Segment(src, ME, 4000, 80, 77, 0, SYN, 64240, mss=1460))
    first = parse_tcp_packet(_run(host, [syn], 1.0)[-1])
    again = parse_tcp_packet(_run(host, [syn], 1.1)[-1])
    assert (first.seq, again.seq) == (listener.syn_queue[next(iter(listener.syn_queue))].iss,) * 2
    assert host.engine.counters["SyncookiesSent"] == 0 and not listener.cookie_mode()


def test_the_fast_path_waits_for_a_cookie_sent_in_the_last_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until a listener sent a cookie in the last second (engine.last_cookie), a SYN is not
    tried on the fast path: no flood, no cost (a SYN queue filling takes the usual path at
    once). tcp_syncookies=2: the first SYN's cookie is the usual path's, the next one's the
    fast path's, and after a quiet second the usual path's again; the same bytes either way."""
    usual: list[float] = []
    send_cookie = Listener._send_cookie

    def counted(self: Listener, syn: Segment) -> None:
        usual.append(self.engine.now)
        send_cookie(self, syn)

    monkeypatch.setattr(Listener, "_send_cookie", counted)
    host = _host(Knobs(tcp_syncookies=2))
    _listen(host, {})
    syns = [build_tcp_packet(Segment(ip_int("198.18.0.7"), ME, 1000 + k, 80, 5, 0, SYN, 64240, mss=1460))
            for k in range(4)]
    for at, pkt in zip((10.0, 10.5, 11.4, 12.5), syns, strict=True):
        host.receive_batch([(pkt, False)], at)
        host.transmit(at)
    assert usual == [10.0, 12.5] and host.engine.counters["SyncookiesSent"] == 4
    assert len(host.sent) == 4  # type: ignore[attr-defined]
