"""The sans-IO host in IPv6: echo answered, discovery counted and dropped, errors to TCP, Ip6 counters."""

from __future__ import annotations

from minitcp.host import Host
from minitcp.wire.icmpv6 import (
    ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST,
    ICMPV6_PACKET_TOO_BIG,
    build_icmpv6,
    icmpv6_error,
    parse_icmpv6,
)
from minitcp.wire.ipv6 import PROTO_ICMPV6, build_ipv6, ip6_int, parse_ipv6
from minitcp.wire.segment import ACK, SYN, Segment6
from minitcp.wire.tcp import build_tcp6_packet, parse_tcp6_packet

US = ip6_int("2001:2::2")
PEER = ip6_int("2001:2::1")
ALL_NODES = ip6_int("ff02::1")


def _host() -> tuple[Host, list[bytes]]:
    sent: list[bytes] = []
    return Host("198.18.0.2", mtu=1500, send=sent.append, address6="2001:2::2"), sent


def _icmp6(src: int, dst: int, type_: int, rest: int, body: bytes = b"") -> bytes:
    return build_ipv6(src, dst, PROTO_ICMPV6, build_icmpv6(src, dst, type_, 0, rest, body), hop_limit=255)


def test_an_echo_request_is_answered_with_its_id_sequence_and_data() -> None:
    host, sent = _host()
    host.receive(_icmp6(PEER, US, ICMPV6_ECHO_REQUEST, 0x1234_0007, b"abc" * 10), 0.0)
    [reply] = sent
    ip = parse_ipv6(reply)
    msg = parse_icmpv6(ip.payload, ip.src, ip.dst)
    assert (ip.src, ip.dst, msg.type, msg.rest_of_header, bytes(msg.payload)) == (
        US, PEER, ICMPV6_ECHO_REPLY, 0x1234_0007, b"abc" * 10)
    assert host.counters["Ip6InReceives"] == host.counters["Ip6OutRequests"] == 1
    assert host.counters["Icmp6InEchos"] == host.counters["Icmp6OutEchoReplies"] == 1
    assert host.counters["InReceives"] == 0  # IPv4's counters are IPv4's


def test_discovery_is_counted_and_dropped_without_an_answer() -> None:
    host, sent = _host()
    host.receive(_icmp6(PEER, ALL_NODES, 134, 0), 0.0)  # router advertisement
    host.receive(_icmp6(PEER, US, 135, 0, US.to_bytes(16, "big")), 0.0)  # neighbour solicitation
    host.receive(_icmp6(PEER, ip6_int("ff02::2"), 133, 0), 0.0)  # to the routers: not ours
    assert sent == []
    assert host.drops["neighbour_discovery"] == 2 and host.drops["not_for_us"] == 1
    assert host.counters["Icmp6InRouterAdvertisements"] == host.counters["Icmp6InNeighborSolicits"] == 1


def test_martian_sources_and_other_destinations_are_dropped() -> None:
    host, sent = _host()
    syn = Segment6(PEER, US, 40000, 80, 1, 0, SYN, 1000)
    for src, dst in ((ip6_int("::1"), US), (ip6_int("::ffff:198.18.0.1"), US), (PEER, ip6_int("2001:2::3"))):
        syn.src, syn.dst = src, dst
        host.receive(build_tcp6_packet(syn), 0.0)
    assert sent == []
    assert host.drops["martian_source"] == 2 and host.drops["not_for_us"] == 1


def test_a_syn_to_a_closed_port_is_reset_in_ipv6() -> None:
    host, sent = _host()
    host.receive(build_tcp6_packet(Segment6(PEER, US, 40000, 81, 1, 0, SYN, 1000)), 0.0)
    host.transmit(0.0)
    [rst] = [parse_tcp6_packet(p) for p in sent]
    assert (rst.src, rst.dst, rst.ack) == (US, PEER, 2)


def test_packet_too_big_reaches_the_connection() -> None:
    host, sent = _host()
    host.engine.listen(US, 80, 8)
    host.receive(build_tcp6_packet(Segment6(PEER, US, 40000, 80, 1, 0, SYN, 65535, mss=1440)), 0.0)
    host.transmit(0.0)
    synack = parse_tcp6_packet(sent[-1])
    ack = Segment6(PEER, US, 40000, 80, 2, (synack.seq + 1) & 0xFFFFFFFF, ACK, 65535)
    host.receive(build_tcp6_packet(ack), 0.01)
    conn = next(iter(host.engine.conns.values()))  # (born of its request by the ACK)
    conn.send(b"x" * 5000, 0.02)
    host.transmit(0.02)
    first_data = next(parse_tcp6_packet(p) for p in sent if len(p) > 1000)
    quote = bytes(build_tcp6_packet(first_data))
    host.receive(build_ipv6(PEER, US, PROTO_ICMPV6,
                            icmpv6_error(PEER, US, ICMPV6_PACKET_TOO_BIG, 0, 1280, quote)), 0.03)
    assert host.counters["Icmp6InPktTooBigs"] == 1
    assert conn.pmtu == 1280 and conn.mss == 1280 - 60
