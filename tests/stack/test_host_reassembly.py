"""The host reassembles IPv4 and IPv6 fragments as Linux does: ping -s 2000 answered (in fragments),
overlaps drop the datagram, duplicates only themselves, a timeout answers "reassembly time
exceeded" when the first fragment came, and memory stays bounded under a fragment flood."""

from __future__ import annotations

import tracemalloc

import pytest

from minitcp.host import Host
from minitcp.host.reassembly import QUEUE_SIZE, SKB_OVERHEAD
from minitcp.wire.fragment import fragment_header, fragment_ipv4, fragment_ipv6
from minitcp.wire.icmp import ICMP_ECHO_REPLY, ICMP_TIME_EXCEEDED, build_icmp, parse_icmp
from minitcp.wire.icmpv6 import (
    ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST,
    ICMPV6_PARAMETER_PROBLEM,
    ICMPV6_TIME_EXCEEDED,
    build_icmpv6,
    parse_icmpv6,
)
from minitcp.wire.ipv4 import PROTO_ICMP, PROTO_TCP, build_ipv4, ip_int, parse_ipv4
from minitcp.wire.ipv6 import PROTO_FRAGMENT, PROTO_ICMPV6, ip6_int, ipv6_header, parse_ipv6
from minitcp.wire.segment import SYN, Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet

PEER, ME = ip_int("198.18.0.1"), ip_int("198.18.0.2")
PEER6, ME6 = ip6_int("2001:2::1"), ip6_int("2001:2::2")
DATA = bytes(range(256)) * 8  # 2048 bytes: ping -s 2048


def _host(**knobs: object) -> tuple[Host, list[bytes]]:
    sent: list[bytes] = []
    host = Host("198.18.0.2", mtu=1500, send=sent.append, address6="2001:2::2")
    for name, value in knobs.items():
        host.engine.knobs.set(name, value)
    return host, sent


def _echo4(ident: int = 7, mtu: int = 1500) -> list[bytes]:
    return fragment_ipv4(PEER, ME, PROTO_ICMP, build_icmp(8, 0, 0x0001_0002, DATA), mtu, ident=ident)


def _echo6(ident: int = 9, mtu: int = 1500) -> list[bytes]:
    msg = build_icmpv6(PEER6, ME6, ICMPV6_ECHO_REQUEST, 0, 0x0001_0002, DATA)
    return fragment_ipv6(PEER6, ME6, PROTO_ICMPV6, msg, mtu, ident=ident)


def _reassemble4(packets: list[bytes]) -> bytes:
    """The replies' payload put back together by hand (independent of the host's reassembly)."""
    ips = sorted((parse_ipv4(p) for p in packets), key=lambda ip: ip.frag_offset)
    assert [ip.more_fragments for ip in ips] == [True] * (len(ips) - 1) + [False]
    assert len({ip.ident for ip in ips}) == 1 and not any(ip.df for ip in ips)
    return b"".join(bytes(ip.payload) for ip in ips)


def test_ping_s_2000_is_reassembled_and_answered_in_fragments() -> None:
    host, sent = _host()
    for packet in reversed(_echo4(mtu=576)):  # any order
        host.receive(packet, 1.0)
    assert all(len(p) <= 1500 for p in sent) and len(sent) == 2
    msg = parse_icmp(_reassemble4(sent))
    assert (msg.type, msg.rest_of_header, bytes(msg.payload)) == (ICMP_ECHO_REPLY, 0x0001_0002, DATA)
    assert host.counters["ReasmReqds"] == 4 and host.counters["ReasmOKs"] == 1
    assert host.counters["FragOKs"] == 1 and host.counters["FragCreates"] == 2
    assert not host.reassembly.queues and host.reassembly.mem == 0


def test_ping6_s_2000_is_reassembled_and_the_reply_fragmented_by_its_source() -> None:
    host, sent = _host()
    for packet in _echo6(mtu=1280):
        host.receive(packet, 1.0)
    assert len(sent) == 2 and all(len(p) <= 1500 for p in sent)
    ips = [parse_ipv6(p) for p in sent]
    assert all(ip.next_header == PROTO_ICMPV6 and ip.fragment is not None for ip in ips)
    assert len({ip.fragment.ident for ip in ips if ip.fragment}) == 1
    ips.sort(key=lambda ip: ip.fragment.offset if ip.fragment else 0)
    body = b"".join(bytes(ip.payload) for ip in ips)
    msg = parse_icmpv6(body, ME6, PEER6)
    assert (msg.type, bytes(msg.payload)) == (ICMPV6_ECHO_REPLY, DATA)
    assert host.counters["Ip6ReasmOKs"] == 1 and host.counters["Ip6FragCreates"] == 2


def test_a_fragmented_tcp_segment_reaches_the_engine_whole() -> None:
    host, sent = _host()
    host.engine.listen(ME, 80, 8)
    syn = build_tcp_packet(Segment(PEER, ME, 40000, 80, 1, 0, SYN, 65535, mss=1460))
    ip = parse_ipv4(syn)
    tcp = bytes(ip.payload)
    for offset, more in ((8, True), (0, True), (16, False)):
        piece = tcp[offset : offset + 8] if more else tcp[offset:]
        host.receive(build_ipv4(PEER, ME, PROTO_TCP, piece, ident=5, df=False, frag_offset=offset,
                                more_fragments=more), 1.0)
    host.transmit(1.0)
    [synack] = [parse_tcp_packet(p) for p in sent]
    assert synack.flags & SYN and synack.ack == 2


@pytest.mark.parametrize("family", [4, 6])
def test_an_overlapping_fragment_drops_the_whole_datagram(family: int) -> None:
    host, sent = _host()
    frags = _echo4(mtu=576) if family == 4 else _echo6(mtu=1280)
    host.receive(frags[0], 1.0)
    # The second fragment moved 8 bytes back: it covers the end of the first (RFC 5722).
    if family == 4:
        ip = parse_ipv4(frags[1])
        moved = build_ipv4(PEER, ME, PROTO_ICMP, bytes(8) + bytes(ip.payload), ident=7, df=False,
                           frag_offset=ip.frag_offset - 8, more_fragments=ip.more_fragments)
    else:
        ip6 = parse_ipv6(frags[1])
        assert ip6.fragment is not None
        header = fragment_header(PROTO_ICMPV6, ip6.fragment.offset - 8, ip6.fragment.more, 9)
        body = header + bytes(8) + bytes(ip6.payload)
        moved = ipv6_header(PEER6, ME6, PROTO_FRAGMENT, len(body)) + body
    host.receive(moved, 1.0)
    for packet in frags[1:]:
        host.receive(packet, 1.0)  # a new queue, never complete without its first fragment
    prefix = "" if family == 4 else "Ip6"
    assert sent == []
    assert host.counters[prefix + "ReasmOverlaps"] == 1 and host.counters[prefix + "ReasmFails"] == 1
    assert host.counters[prefix + "ReasmOKs"] == 0


def test_a_duplicate_fragment_is_dropped_alone() -> None:
    host, sent = _host()
    frags = _echo4(mtu=576)
    host.receive(frags[0], 1.0)
    host.receive(frags[0], 1.0)
    for packet in frags[1:]:
        host.receive(packet, 1.0)
    assert len(sent) == 2 and host.counters["ReasmOKs"] == 1 and host.counters["ReasmFails"] == 0


@pytest.mark.parametrize("family", [4, 6])
def test_a_timeout_answers_time_exceeded_only_when_the_first_fragment_came(family: int) -> None:
    host, sent = _host()
    frags = _echo4(ident=1) if family == 4 else _echo6(ident=1)
    host.receive(frags[0], 10.0)  # the first fragment: quoted in the error
    later = _echo4(ident=2) if family == 4 else _echo6(ident=2)
    host.receive(later[1], 10.0)  # only a later one: expires silently
    lifetime = 30.0 if family == 4 else 60.0  # ipfrag_time; ip6frag_time is IPV6_FRAG_TIMEOUT
    assert host.poll_at() == 10.0 + lifetime
    host.handle_timeout(10.0 + lifetime - 0.001)
    assert sent == []
    host.handle_timeout(10.0 + lifetime)
    [error] = sent
    if family == 4:
        ip = parse_ipv4(error)
        msg = parse_icmp(ip.payload)
        assert (msg.type, msg.code) == (ICMP_TIME_EXCEEDED, 1) and host.counters["OutTimeExcds"] == 1
        assert bytes(msg.payload) == frags[0][: 576 - 28]
    else:
        ip6 = parse_ipv6(error)
        msg = parse_icmpv6(ip6.payload, ME6, PEER6)
        assert (msg.type, msg.code) == (ICMPV6_TIME_EXCEEDED, 1) and host.counters["Icmp6OutTimeExcds"] == 1
        assert bytes(msg.payload) == frags[0][: 1280 - 48]
    prefix = "" if family == 4 else "Ip6"
    assert host.counters[prefix + "ReasmTimeout"] == 2 and host.counters[prefix + "ReasmFails"] == 2
    assert host.poll_at() is None


def test_an_ipv6_fragment_not_a_multiple_of_8_is_a_parameter_problem() -> None:
    host, sent = _host()
    body = fragment_header(PROTO_ICMPV6, 0, True, 3) + bytes(13)
    host.receive(ipv6_header(PEER6, ME6, PROTO_FRAGMENT, len(body)) + body, 1.0)
    [error] = sent
    ip = parse_ipv6(error)
    msg = parse_icmpv6(ip.payload, ME6, PEER6)
    # RFC 8200 section 4.5: code 0, pointing at the payload length field.
    assert (msg.type, msg.code, msg.rest_of_header) == (ICMPV6_PARAMETER_PROBLEM, 0, 4)
    assert not host.reassembly6.queues


def test_a_fragment_flood_keeps_memory_bounded() -> None:
    """10 000 first fragments of datagrams that never complete: the queues' memory stops at
    ipfrag_high_thresh (here 1 MB), every fragment past it is dropped (ReasmFails), and the
    Python memory the host holds stays within a small multiple of it."""
    high = 1 << 20
    host, sent = _host(ipfrag_low_thresh=high // 2, ipfrag_high_thresh=high)
    payload = bytes(1000)
    tracemalloc.start()
    try:
        for ident in range(10_000):
            host.receive(build_ipv4(PEER, ME, 200, payload, ident=ident & 0xFFFF, df=False,
                                    more_fragments=True, frag_offset=(ident >> 16) * 8), 1.0)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_queue = QUEUE_SIZE + SKB_OVERHEAD + len(payload)
    assert host.reassembly.mem <= high + per_queue
    assert len(host.reassembly.queues) == host.reassembly.mem // per_queue
    assert host.counters["ReasmFails"] == 10_000 - len(host.reassembly.queues)
    assert held < 3 * high
    assert sent == []  # first fragments of an unknown protocol: nothing answered before reassembly
    host.handle_timeout(31.0)  # all expire: memory back to nothing
    assert host.reassembly.mem == 0 and not host.reassembly.queues
