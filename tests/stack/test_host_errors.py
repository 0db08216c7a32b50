"""The errors a host sends, as Linux sends them: protocol unreachable (IPv4), port unreachable for
UDP (both families), parameter problem for an unknown next header (IPv6); never about an ICMP
error or a fragment but the first; rate-limited per destination and globally."""

from __future__ import annotations

from minitcp.host import Host
from minitcp.wire.icmp import (
    ICMP_DEST_UNREACH,
    UNREACH_PORT,
    UNREACH_PROTOCOL,
    build_icmp,
    icmp_error,
    parse_icmp,
)
from minitcp.wire.icmpv6 import (
    ICMPV6_DEST_UNREACH,
    ICMPV6_PARAMETER_PROBLEM,
    PARAM_UNKNOWN_NEXT_HEADER,
    icmpv6_error,
    parse_icmpv6,
)
from minitcp.wire.icmpv6 import UNREACH_PORT as UNREACH_PORT6
from minitcp.wire.ipv4 import PROTO_ICMP, PROTO_UDP, build_ipv4, ip_int, parse_ipv4
from minitcp.wire.ipv6 import PROTO_DSTOPTS, PROTO_ICMPV6, build_ipv6, ip6_int, parse_ipv6
from minitcp.wire.udp import build_udp

from ..wire.exthdr import ext

PEER, ME = ip_int("198.18.0.1"), ip_int("198.18.0.2")
PEER6, ME6 = ip6_int("2001:2::1"), ip6_int("2001:2::2")


def _host(**knobs: object) -> tuple[Host, list[bytes]]:
    sent: list[bytes] = []
    host = Host("198.18.0.2", mtu=1500, send=sent.append, address6="2001:2::2")
    for name, value in knobs.items():
        host.engine.knobs.set(name, value)
    return host, sent


def _error4(packet: bytes) -> tuple[int, int, bytes]:
    ip = parse_ipv4(packet)
    assert (ip.src, ip.dst, ip.tos & 0xE0) == (ME, PEER, 0xC0)  # precedence internetwork control
    msg = parse_icmp(ip.payload)
    return msg.type, msg.code, bytes(msg.payload)


def _error6(packet: bytes) -> tuple[int, int, int, bytes]:
    ip = parse_ipv6(packet)
    assert (ip.src, ip.dst) == (ME6, PEER6)
    msg = parse_icmpv6(ip.payload, ip.src, ip.dst)
    return msg.type, msg.code, msg.rest_of_header, bytes(msg.payload)


def test_an_unknown_protocol_is_answered_protocol_unreachable() -> None:
    host, sent = _host()
    sctp = build_ipv4(PEER, ME, 132, b"\x00" * 40)
    host.receive(sctp, 1.0)
    [error] = sent
    assert _error4(error) == (ICMP_DEST_UNREACH, UNREACH_PROTOCOL, sctp)
    assert host.counters["InUnknownProtos"] == 1 and host.counters["OutDestUnreachs"] == 1
    assert host.counters["OutMsgs"] == 1


def test_udp_is_answered_port_unreachable_in_both_families() -> None:
    host, sent = _host()
    dns = build_ipv4(PEER, ME, PROTO_UDP, build_udp(PEER, ME, 5353, 53, b"query"))
    dns6 = build_ipv6(PEER6, ME6, PROTO_UDP, build_udp(PEER6, ME6, 5353, 53, b"query"))
    host.receive(dns, 1.0)
    host.receive(dns6, 1.0)
    assert _error4(sent[0]) == (ICMP_DEST_UNREACH, UNREACH_PORT, dns)
    assert _error6(sent[1]) == (ICMPV6_DEST_UNREACH, UNREACH_PORT6, 0, dns6)
    assert host.counters["UdpNoPorts"] == host.counters["Udp6NoPorts"] == 1
    assert host.counters["Icmp6OutDestUnreachs"] == 1


def test_a_udp_datagram_with_a_bad_checksum_is_dropped_unanswered() -> None:
    host, sent = _host()
    datagram = bytearray(build_udp(PEER, ME, 5353, 53, b"query"))
    datagram[-1] ^= 1
    host.receive(build_ipv4(PEER, ME, PROTO_UDP, bytes(datagram)), 1.0)
    zero6 = bytearray(build_udp(PEER6, ME6, 5353, 53, b"query"))
    zero6[6:8] = b"\0\0"  # RFC 8200 section 8.1: IPv6 needs the checksum
    host.receive(build_ipv6(PEER6, ME6, PROTO_UDP, bytes(zero6)), 1.0)
    assert sent == []
    assert host.counters["UdpInCsumErrors"] == host.counters["Udp6InCsumErrors"] == 1
    assert host.drops["bad_udp_checksum"] == 2


def test_an_unknown_next_header_is_a_parameter_problem_pointing_at_its_field() -> None:
    host, sent = _host()
    bare = build_ipv6(PEER6, ME6, 132, bytes(16))
    behind_options = build_ipv6(PEER6, ME6, PROTO_DSTOPTS, ext(132, b"") + bytes(16))
    host.receive(bare, 1.0)
    host.receive(behind_options, 1.0)
    # RFC 4443 section 3.4: code 1, the pointer at the next-header field that named it.
    assert _error6(sent[0]) == (ICMPV6_PARAMETER_PROBLEM, PARAM_UNKNOWN_NEXT_HEADER, 6, bare)
    assert _error6(sent[1]) == (ICMPV6_PARAMETER_PROBLEM, PARAM_UNKNOWN_NEXT_HEADER, 40, behind_options)
    assert host.counters["Ip6InUnknownProtos"] == 2 and host.counters["Icmp6OutParmProblems"] == 2


def test_no_error_answers_an_icmp_error_or_a_later_fragment() -> None:
    host, sent = _host()
    # An ICMP error quoting a UDP datagram of ours to a closed port: the host has nothing to do
    # with it, and it is never answered with an error (RFC 1122 section 3.2.2).
    quote = build_ipv4(ME, PEER, PROTO_UDP, build_udp(ME, PEER, 53, 5353, b"x"))
    host.receive(build_ipv4(PEER, ME, PROTO_ICMP, icmp_error(ICMP_DEST_UNREACH, UNREACH_PORT, quote)), 1.0)
    quote6 = build_ipv6(ME6, PEER6, PROTO_UDP, build_udp(ME6, PEER6, 53, 5353, b"x"))
    host.receive(build_ipv6(PEER6, ME6, PROTO_ICMPV6,
                            icmpv6_error(PEER6, ME6, ICMPV6_DEST_UNREACH, 4, 0, quote6)), 1.0)
    assert sent == []
    # A later fragment of an unknown protocol: send_error refuses it (only the first is answered).
    later = build_ipv4(PEER, ME, 132, bytes(16), df=False, frag_offset=8)
    host.icmp.send_error(later, parse_ipv4(later), ICMP_DEST_UNREACH, UNREACH_PROTOCOL, 1.0)
    assert sent == []
    # An unknown ICMP type (above 18) is taken for an error too (Linux __icmp_send).
    odd = build_ipv4(PEER, ME, PROTO_ICMP, build_icmp(40, 0, 0))
    host.icmp.send_error(odd, parse_ipv4(odd), ICMP_DEST_UNREACH, UNREACH_PROTOCOL, 1.0)
    assert sent == []


def test_errors_to_one_destination_are_limited_to_a_burst_of_six_then_one_a_second() -> None:
    host, sent = _host()
    sctp = build_ipv4(PEER, ME, 132, bytes(8))
    for _ in range(20):
        host.receive(sctp, 1.0)
    assert len(sent) == 6  # inet_peer_xrlim_allow: XRLIM_BURST_FACTOR times icmp_ratelimit
    assert host.counters["OutRateLimitHost"] == 14
    host.receive(sctp, 1.999)
    assert len(sent) == 6
    host.receive(sctp, 2.0)
    assert len(sent) == 7
    # Echo replies are outside icmp_ratemask: never limited.
    ping = build_ipv4(PEER, ME, PROTO_ICMP, build_icmp(8, 0, 1, b"x"))
    for _ in range(20):
        host.receive(ping, 2.0)
    assert len(sent) == 27


def test_ipv6_errors_cost_a_quarter_second_on_a_64_bit_prefix() -> None:
    host, sent = _host()
    sctp6 = build_ipv6(PEER6, ME6, 132, bytes(8))
    for _ in range(10):
        host.receive(sctp6, 1.0)
    assert len(sent) == 6 and host.counters["Icmp6OutRateLimitHost"] == 4
    host.receive(sctp6, 1.25)  # icmpv6_xrlim_allow: 1000 ms >> ((128 - 64) >> 5)
    assert len(sent) == 7


def test_the_global_bucket_holds_a_burst_of_50_across_destinations_and_families() -> None:
    host, sent = _host(icmp_ratelimit=0, icmpv6_ratelimit=0)
    for _ in range(40):
        host.receive(build_ipv4(PEER, ME, 132, bytes(8)), 1.0)
        host.receive(build_ipv6(PEER6, ME6, 132, bytes(8)), 1.0)
    assert len(sent) == 50 and host.counters["OutRateLimitGlobal"] == 30
    host.receive(build_ipv4(PEER, ME, 132, bytes(8)), 1.01)  # refilled no sooner than 20 ms
    assert len(sent) == 50
    for _ in range(30):
        host.receive(build_ipv4(PEER, ME, 132, bytes(8)), 1.02)  # 20 ms: 20 more credits
    assert len(sent) == 70


def test_no_error_answers_a_broadcast_or_a_multicast() -> None:
    """RFC 1122 section 3.2.2 and RFC 4443 section 2.4 (e.3): UDP to the subnet's broadcast,
    the limited broadcast or all-nodes is not answered "port unreachable"."""
    host, sent = _host()
    for dst in (ip_int("198.18.0.255"), ip_int("255.255.255.255")):
        host.receive(build_ipv4(PEER, dst, PROTO_UDP, build_udp(PEER, dst, 5353, 53, b"?")), 1.0)
    all_nodes = ip6_int("ff02::1")
    host.receive(build_ipv6(PEER6, all_nodes, PROTO_UDP, build_udp(PEER6, all_nodes, 5353, 53, b"?")), 1.0)
    assert sent == [] and host.counters["OutDestUnreachs"] == host.counters["Icmp6OutDestUnreachs"] == 0
