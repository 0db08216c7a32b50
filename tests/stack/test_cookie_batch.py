"""A SYN flood's read batches answered in C (minitcp/host/cookie_batch.py, minitcp/link/cookie_rx.py):
the C scan and its pure-Python twin agree on any batch; a batch read and answered by the link
leaves the host with the packets out and the counters of the usual path, each flow's packets in
their order; and nothing is answered so while anything watches the packets."""

from __future__ import annotations

import collections
import dataclasses
import socket
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minitcp.bench.synfill import drain
from minitcp.host import cookie_batch as cb
from minitcp.host.host import Host
from minitcp.link.base import Received
from minitcp.link.memory import MemoryLink, memory_link_pair
from minitcp.stack import Stack
from minitcp.tcp import cookie_synack as cs
from minitcp.tcp.connection import conn_key
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.observer import BaseObserver
from minitcp.tcp.syncookies import MSSTAB, MSSTAB6
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, FIN, RST, SYN, Segment, Segment6
from minitcp.wire.tcp import build_tcp6_packet, build_tcp_packet, parse_tcp6_packet, parse_tcp_packet
from tests.stack.test_host_cookie_fastpath import ME, ME6, _host, knob_sets, option_sets, syn_packets, u8, u16

try:
    from minitcp._native import lib

    from minitcp.link.cookie_rx import CookieReader
except ImportError:
    lib = None

pytestmark = pytest.mark.skipif(lib is None, reason="minitcp._native is not built (pip install -e .)")
batch_path = pytest.mark.skipif(lib is None or not CookieReader.available, reason="MINITCP_PURE set")

PEER6 = 0x2001_0002 << 96 | 7


@st.composite
def other_packets(draw: Any) -> bytes:
    """What a batch holds besides SYNs to port 80: ACKs, RSTs and FINs of the same flows as
    syn_packets' (a few ports), SYNs to another port or address or from a martian, IPv4
    fragments and IPv6 extension headers, bytes that are no packet."""
    v6 = draw(st.booleans())
    kind = draw(st.sampled_from(["flow", "port81", "other_dst", "martian", "fragment", "ext", "junk"]))
    if kind == "junk":
        return draw(st.binary(max_size=70))
    flags = draw(st.sampled_from([ACK, RST, FIN | ACK, ACK | SYN])) if kind == "flow" else SYN
    sport = draw(st.integers(1002, 1003))  # not the flows of the SYN queue (see flow_syns)
    dport = 81 if kind == "port81" else 80
    if v6:
        src = 0xFF02 << 112 | 1 if kind == "martian" else PEER6
        dst = ME6 + 1 if kind == "other_dst" else ME6
        pkt = build_tcp6_packet(Segment6(src, dst, sport, dport, draw(u16), 1, flags, 1000, mss=1400))
        if kind == "ext":  # a hop-by-hop options header (8 bytes of padding) before TCP
            pkt = pkt[:4] + (len(pkt) - 40 + 8).to_bytes(2, "big") + b"\x00" + pkt[7:40] \
                + bytes([6, 0, 1, 4, 0, 0, 0, 0]) + pkt[40:]
        return pkt
    src = ip_int("127.0.0.1") if kind == "martian" else ip_int("198.18.0.7")
    dst = ME + 5 if kind == "other_dst" else ME
    pkt = build_tcp_packet(Segment(src, dst, sport, dport, draw(u16), 1, flags, 1000, mss=1400))
    if kind == "fragment":  # More Fragments set (the checksum left wrong: dropped either way)
        pkt = pkt[:6] + b"\x20" + pkt[7:]
    return pkt


def _flow_syns(draw: Any) -> bytes:
    """A SYN of the flows other_packets' ACKs belong to (198.18.0.7 or PEER6, ports 1002-1003),
    or the very SYN of a flow in the SYN queue (ports 1000-1001, sequence number 5) again."""
    v6 = draw(st.booleans())
    cls, src, me, build = (Segment6, PEER6, ME6, build_tcp6_packet) if v6 else \
        (Segment, ip_int("198.18.0.7"), ME, build_tcp_packet)
    sport = draw(st.integers(1000, 1003))
    if sport < 1002:
        return build(cls(src, me, sport, 80, 5, 0, SYN, 64240, mss=1460))
    return build(cls(src, me, sport, 80, draw(u16), 0, SYN, 64240, mss=1460, wscale=7, sack_permitted=True,
                     ts_val=draw(u16), ts_ecr=0))


flow_syns = st.composite(lambda draw: _flow_syns(draw))()
batches = st.lists(st.one_of(syn_packets(), other_packets(), flow_syns), min_size=1, max_size=24)


@st.composite
def flipped(draw: Any, packets: st.SearchStrategy[list[bytes]]) -> list[bytes]:
    """A batch with now and then a byte of a packet changed."""
    out = []
    for pkt in draw(packets):
        at = draw(st.none() | st.integers(0, 80))
        if at is not None and at < len(pkt) and draw(st.integers(0, 3)) == 0:
            pkt = pkt[:at] + bytes([pkt[at] ^ 0x21]) + pkt[at + 1:]
        out.append(pkt)
    return out


def _params(v6: bool, knob: dict[str, Any], user_mss: int, secret: bytes, tos: int) -> cs.CookieParams:
    return cs.CookieParams(
        secret=secret, msstab=MSSTAB6 if v6 else MSSTAB, user_mss=user_mss, advmss=1400 if v6 else 1460,
        window=64000, window_ts=65000, rcv_wscale=7, timestamps=bool(knob["tcp_timestamps"]),
        window_scaling=bool(knob["tcp_window_scaling"]), sack=bool(knob["tcp_sack"]),
        ecn=bool(knob["tcp_ecn"]), ttl=64, tos=tos)


ROW_CHOICES = [(80, False), (80, True), (81, False), (7, True)]


@given(packets=flipped(batches), ports=st.lists(st.sampled_from(ROW_CHOICES), max_size=4, unique=True),
       states=st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=4, max_size=4),
       knob=knob_sets, user_mss=st.integers(0, 2000), secret=st.binary(max_size=32), tos=u8,
       has6=st.booleans(), df=st.booleans(), now=st.floats(0, 1e7))
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_c_scan_and_its_pure_twin_agree(packets: list[bytes], ports: list[tuple[int, bool]],
                                            states: list[tuple[int, bool]], knob: dict[str, Any],
                                            user_mss: int, secret: bytes, tos: int, has6: bool, df: bool,
                                            now: float) -> None:
    """The same answer for every packet of any batch (IPv4 and IPv6, any options, broken ones,
    flows handed to the host before their SYN) and any table: rows answering with requests while
    they have room (then with cookies, or not at all), or with cookies alone."""
    states = states[:len(ports)]
    # DF on or off (ip_no_pmtu_disc): a cookie's SYN-ACK and a request's follow it alike.
    rows = [(port, v6, dataclasses.replace(_params(v6, knob, user_mss, secret, tos), df=df))
            for port, v6 in ports]
    addr6 = ME6 if has6 else None
    table = cb.new_table(ME, addr6)
    cb.load_rows(table, rows)
    cb.set_clocks(table, now)
    cb.set_states(table, states)
    got = cb.scan_native(packets, table)
    assert got == cb.scan_pure(packets, ME, addr6, rows, states, now)
    for pkt, answer in zip(packets, got, strict=True):
        if answer is not None:  # the answer is the per-SYN path's, and its key the SYN's
            r, synack, key, fields = answer
            if fields is None:
                assert synack == cs.cookie_synack_pure(pkt, False, rows[r][2], now)
            seg = (parse_tcp6_packet if pkt[0] >> 4 == 6 else parse_tcp_packet)(synack)
            assert seg.flags & (SYN | ACK) == SYN | ACK
            assert key == conn_key(seg.src, seg.sport, seg.dst, seg.dport)


def test_a_flow_the_host_takes_keeps_its_later_syns() -> None:
    """A SYN after another packet of its flow in the batch is the host's (after that one);
    a SYN of another flow is answered."""
    rows = [(80, False, _params(False, dict(tcp_timestamps=1, tcp_window_scaling=1, tcp_sack=1, tcp_ecn=0),
                                0, b"k", 0))]
    table = cb.new_table(ME, None)
    cb.load_rows(table, rows)
    cb.set_clocks(table, 5.0)
    cb.set_states(table, [(0, True)])

    def seg(sport: int, flags: int) -> bytes:
        return build_tcp_packet(Segment(ip_int("198.18.0.7"), ME, sport, 80, 1, 0, flags, 1000, mss=1460))

    got = cb.scan_native([seg(1000, SYN), seg(1001, RST), seg(1001, SYN), seg(1002, SYN)], table)
    assert [a is not None for a in got] == [True, False, False, True]
    fragment = bytearray(seg(1003, SYN))
    fragment[6] = 0x20  # MF: its flow unknown, so every later SYN follows it to the host
    got = cb.scan_native([seg(1000, SYN), bytes(fragment), seg(1002, SYN)], table)
    assert [a is not None for a in got] == [True, False, False]


def _seqpacket() -> tuple[socket.socket, socket.socket]:
    """A pair standing for a TUN device: one read or write is one packet."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    theirs.setblocking(False)
    return ours, theirs



def _by_flow(packets: list[bytes]) -> dict[tuple[int, int], list[bytes]]:
    flows = collections.defaultdict(list)
    for pkt in packets:
        seg = (parse_tcp6_packet if pkt[0] >> 4 == 6 else parse_tcp_packet)(pkt)
        flows[(seg.dst, seg.dport)].append(pkt)
    return dict(flows)


@batch_path
@given(syns=st.lists(st.one_of(syn_packets(), flow_syns), min_size=1, max_size=20),
       others=st.lists(other_packets(), max_size=8), order=st.randoms(use_true_random=False),
       knob=knob_sets, options=option_sets, cookies=st.sampled_from([1, 2]))
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_a_batch_answered_by_the_link_is_the_usual_paths(syns: list[bytes], others: list[bytes], order: Any,
                                                         knob: dict[str, Any], options: dict[str, int],
                                                         cookies: int) -> None:
    """The same batch, read and answered by the link (CookieReader) then the rest given to the
    host, or given whole to the host: the same counters, the same packets to each flow in the
    same order. The SYN queue holds two flows' SYN-RECEIVED connections (tcp_syncookies=1):
    their SYNs again get their own SYN-ACKs, not cookies. (No packet here changes whether the
    listener is in cookie mode: one that did would take effect for the SYNs of other flows
    after the batch, see host/cookie_batch.py.)"""
    knobs = Knobs(tcp_syncookies=cookies, **knob)
    packets = syns + others
    order.shuffle(packets)
    hosts = []
    for _ in range(2):
        host = _host(dataclasses.replace(knobs))
        for addr in (ME, ME6):
            host.engine.listen(addr, 80, 2).options.update(options)
        # Two flows in the SYN queue, and a third SYN that turns cookie mode on (usual path).
        for sport in (1000, 1001, 1002):
            for src, me, cls, build in ((ip_int("198.18.0.7"), ME, Segment, build_tcp_packet),
                                        (PEER6, ME6, Segment6, build_tcp6_packet)):
                host.receive(build(cls(src, me, sport, 80, 5, 0, SYN, 64240, mss=1460)), 1.0)
        host.transmit(1.0)
        host.sent.clear()  # type: ignore[attr-defined]
        hosts.append(host)
    fast, slow = hosts
    now = 1.25
    slow.receive_batch([(p, False) for p in packets], now)
    slow.transmit(now)
    ours, theirs = _seqpacket()
    with ours, theirs:
        for pkt in packets:
            theirs.send(pkt)
        reader, rest, dropped = _read_batch(fast, ours, now)
        assert dropped == 0 and drain(ours) == []
        if rest:
            fast.receive_batch(rest, now)
        fast.transmit(now)
        assert reader.flush() == 0
        answered = drain(theirs)
    assert fast.counters == slow.counters and fast.engine.counters == slow.engine.counters
    assert _by_flow(answered + fast.sent) == _by_flow(slow.sent)  # type: ignore[attr-defined]
    assert len(rest) + len(answered) == len(packets)


def _read_batch(host: Host, ours: socket.socket, now: float) -> tuple[CookieReader, list[Received], int]:
    """One read of the socket `ours` (standing for the device) by a CookieReader in front of
    `host`, whose listener is in cookie mode: the reader, what it left the host, the refused
    SYN-ACKs."""
    batch = cb.CookieBatch(host)
    table = batch.table(now)
    assert table is not None
    reader = CookieReader(ours.fileno(), 256, 65535)
    rest, dropped = reader.read(batch, table, now)
    return reader, rest, dropped


def _read_mixed(packets: list[bytes]) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """`packets` read as one batch by a CookieReader in front of a host in cookie mode: what the
    host got, the SYN-ACKs written by the read, and those written by the flush after it."""
    host = _host(Knobs(tcp_syncookies=2))
    host.engine.listen(ME, 80, 64)
    now = host.engine.last_cookie = 1.0  # a cookie just sent: the batch path is on
    ours, theirs = _seqpacket()
    with ours, theirs:
        for pkt in packets:
            theirs.send(pkt)
        reader, rest, dropped = _read_batch(host, ours, now)
        at_read = drain(theirs)
        assert reader.flush() == dropped == 0
        at_flush = drain(theirs)
        assert reader.flush() == 0 and drain(theirs) == []  # written once
    return [bytes(p) for p, _ in rest], at_read, at_flush


@batch_path
def test_syn_acks_wait_for_the_host_s_packets_of_other_flows() -> None:
    """A batch with packets for the host: its SYN-ACKs are written after the host took them
    (`flush`), so a user's packet is not held behind the batch's writes; a batch of SYNs alone
    is answered at once; a packet of an answered SYN's flow after it (its RST here) keeps the
    flow's order: that batch's SYN-ACKs are written as it is read."""
    src = ip_int("198.18.0.7")

    def seg(sport: int, flags: int) -> bytes:
        ack = 9 if flags & ACK else 0
        return build_tcp_packet(Segment(src, ME, sport, 80, 5, ack, flags, 64240, mss=1460))

    syns = [seg(1000 + i, SYN) for i in range(3)]
    user = seg(2000, ACK)  # another flow's: the host's (an RST answers it)
    rest, at_read, at_flush = _read_mixed([syns[0], user, *syns[1:]])
    assert rest == [user] and at_read == [] and len(at_flush) == 3
    assert [parse_tcp_packet(p).dport for p in at_flush] == [1000, 1001, 1002]
    rest, at_read, at_flush = _read_mixed(syns)
    assert rest == [] and len(at_read) == 3 and at_flush == []
    reset = seg(1001, RST)  # after its flow's SYN
    rest, at_read, at_flush = _read_mixed([*syns, reset])
    assert rest == [reset] and len(at_read) == 3 and at_flush == []


@batch_path
def test_nothing_is_answered_in_batches_while_something_watches() -> None:
    """No table with an observer or a packet hook (traces stay complete), nor before a listener
    sent a cookie the usual way, nor long after."""
    host = _host(Knobs(tcp_syncookies=2))
    host.engine.listen(ME, 80, 5)
    batch = cb.CookieBatch(host)
    assert batch.table(1.0) is None  # no cookie sent yet
    host.receive(build_tcp_packet(Segment(ip_int("198.18.0.7"), ME, 1000, 80, 5, 0, SYN, 64240)), 1.0)
    assert host.engine.counters["SyncookiesSent"] == 1
    assert batch.table(1.5) is not None
    assert batch.table(1.0 + cb.RECENT + 0.1) is None
    host.on_packet = lambda direction, pkt, now: None
    assert batch.table(1.5) is None
    host.on_packet = None
    host.engine.observer = BaseObserver()
    assert batch.table(1.5) is None


def test_a_stack_hands_its_table_only_to_a_link_that_takes_it() -> None:
    """A TUN device answers cookies itself (answer_cookies); a memory link, or any link wrapped by
    another (FaultyLink), has no such method and is never asked."""
    given_to: list[Any] = []

    class AnsweringLink(MemoryLink):
        def answer_cookies(self, batch: Any) -> None:
            given_to.append(batch)

    inner = memory_link_pair()[0]
    stack = Stack(AnsweringLink(1500, inner._tx, inner._rx, 256))
    assert len(given_to) == 1 and given_to[0].host is stack.host
    Stack(memory_link_pair()[0])
    assert len(given_to) == 1
