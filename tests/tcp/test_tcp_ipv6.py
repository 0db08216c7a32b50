"""The engine with IPv6 addresses: 128-bit four-tuples, MTU - 60 for the MSS, Segment6 throughout."""

from __future__ import annotations

import errno

from minitcp.tcp.connection import conn_key
from minitcp.tcp.engine import TcpEngine
from minitcp.tcp.family import ANY6, IPV4_MAX
from minitcp.tcp.pair import EnginePair
from minitcp.tcp.reset import reset_for
from minitcp.tcp.states import State
from minitcp.trace.events import snapshot
from minitcp.wire.icmpv6 import ICMPV6_DEST_UNREACH, ICMPV6_PACKET_TOO_BIG
from minitcp.wire.segment import ACK, SYN, Segment6
from minitcp.wire.tso import split


class EnginePair6(EnginePair):
    ADDR_A = "2001:2::1"
    ADDR_B = "2001:2::2"


def _open(p: EnginePair, port: int = 80):  # type: ignore[no-untyped-def]
    lst = p.b.listen(p.addr_b, port, 16)
    client = p.a.connect(p.addr_a, 40000, p.addr_b, port, 0.0)
    p.run(until=1.0)
    return lst, client


def test_a_handshake_over_ipv6_advertises_mtu_less_60_and_sends_segment6() -> None:
    p = EnginePair6()
    lst, client = _open(p)
    assert client.state == State.ESTABLISHED
    server = lst.accept_queue[0]
    assert server.state == State.ESTABLISHED
    syn = p.sent("a")[0].seg
    assert isinstance(syn, Segment6) and syn.flags == SYN
    assert syn.mss == 1500 - 60  # RFC 8200: 40 bytes of IPv6 header, 20 of TCP
    assert client.mss == server.mss == 1440 - 12 and client.pmtu == 1500  # less the timestamps
    assert all(isinstance(e.seg, Segment6) for e in p.wire)


def test_data_both_ways_and_close_over_ipv6() -> None:
    p = EnginePair6()
    lst, client = _open(p)
    server = lst.accept_queue.popleft()
    data = bytes(range(256)) * 80  # within the first send buffer
    assert client.send(data, p.now) == len(data)
    p.run_for(1.0)
    assert server.recv(len(data), p.now) == data
    server.send(b"reply", p.now)
    p.run_for(1.0)
    assert client.recv(100, p.now) == b"reply"
    client.close(p.now)
    server.close(p.now)
    p.run_for(1.0)
    assert client.state == State.TIME_WAIT
    tw = p.a.timewait.get(conn_key(p.addr_a, 40000, p.addr_b, 80))
    assert tw is not None
    ack = tw.ack_segment(p.now)
    assert isinstance(ack, Segment6) and ack.src == p.addr_a


def test_ipv6_keys_never_meet_ipv4_keys() -> None:
    v6 = conn_key(0x2001_0002 << 96 | 1, 80, 0x2001_0002 << 96 | 2, 443)
    v4 = conn_key(0xC6120001, 80, 0xC6120002, 443)
    assert v6 > 1 << 192 > v4
    assert conn_key(IPV4_MAX, 0xFFFF, IPV4_MAX, 0xFFFF) < 1 << 112


def test_isn_and_ts_offset_hash_the_whole_ipv6_addresses() -> None:
    eng = TcpEngine(secret=b"s")
    a = 0x2001_0002 << 96 | 1
    b = a ^ (1 << 100)  # differs only far above the low 32 bits
    assert eng.isn.isn(a, 1, 5, 2, 0.0) != eng.isn.isn(b, 1, 5, 2, 0.0)
    assert eng.isn.ts_offset(a, 5 << 64) != eng.isn.ts_offset(b, 5 << 64)


def test_a_segment_to_a_closed_ipv6_port_is_reset_in_ipv6() -> None:
    syn = Segment6(0x2001_0002 << 96 | 1, 0x2001_0002 << 96 | 2, 40000, 81, 7, 0, SYN, 1000, flow_label=5)
    rst = reset_for(syn)
    assert isinstance(rst, Segment6) and rst.dst == syn.src and rst.ack == 8


def test_a_wildcard_ipv6_listener_that_is_dual_stack_takes_ipv4_too() -> None:
    eng = TcpEngine()
    lst = eng.listen(ANY6, 80, 8, dual_stack=True)
    assert eng.listeners[(0, 80)] is lst and eng.listeners[(ANY6, 80)] is lst
    eng.stop_listening(lst)
    assert not eng.listeners
    only6 = eng.listen(ANY6, 80, 8)
    assert (0, 80) not in eng.listeners and eng.listeners[(ANY6, 80)] is only6


def test_packet_too_big_lowers_the_ipv6_mss_by_60() -> None:
    p = EnginePair6()
    lst, client = _open(p)
    client.send(b"x" * 20000, p.now)
    p.pump()
    flight = [e.seg for e in p.wire if e.sender == "a" and len(e.seg.payload)]
    seq = flight[0].seq
    # ICMPv6 packet too big arrives as the engine's icmp_error with the MTU (the host's icmpv6.py).
    p.a.icmp_error(p.addr_a, 40000, p.addr_b, 80, seq, ICMPV6_DEST_UNREACH, 0, p.now)  # a soft error
    p.a.icmp_error(p.addr_a, 40000, p.addr_b, 80, seq, ICMPV6_PACKET_TOO_BIG, 0, p.now, 1280)
    assert client.pmtu == 1280 and client.mss == 1280 - 60 - 12  # timestamps on
    assert client.soft_error == errno.ENETUNREACH
    p.run_for(2.0)
    assert lst.accept_queue[0].recv(20000, p.now) == b"x" * 20000


def test_tso_split_and_snapshot_keep_segment6() -> None:
    big = Segment6(1 << 100, 2 << 100, 1, 2, 0, 0, ACK, 100, b"y" * 3000, gso=1000, flow_label=9)
    pieces = split(big)
    assert len(pieces) == 3 and all(isinstance(s, Segment6) and s.flow_label == 9 for s in pieces)
    copy = snapshot(big)
    assert isinstance(copy, Segment6) and copy.flow_label == 9 and copy == big
