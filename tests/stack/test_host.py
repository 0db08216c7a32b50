"""The host without any I/O: packets and the time in, packets out through the functions it is given.

No Trio, no link: what `Stack` does with its tasks, done here by hand, so the
host's rules can be read off one call at a time.
"""

from __future__ import annotations

from minitcp.host import Host
from minitcp.wire.csum_partial import complete_csum
from minitcp.wire.gso import SuperSegment
from minitcp.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_ECHO_REPLY,
    ICMP_ECHO_REQUEST,
    UNREACH_FRAG_NEEDED,
    build_icmp,
    parse_icmp,
)
from minitcp.wire.ipv4 import PROTO_ICMP, build_ipv4, ip_int, parse_ipv4
from minitcp.wire.segment import ACK, PSH, RST, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet

PEER = ip_int("198.18.0.1")
ME = ip_int("198.18.0.2")


class Wire:
    """What the host sends: whole packets, and super-segments when it was given `send_gso`."""

    def __init__(self) -> None:
        self.packets: list[bytes] = []
        self.super_segments: list[SuperSegment] = []

    def send(self, packet: bytes) -> None:
        self.packets.append(packet)

    def send_gso(self, packet: SuperSegment) -> None:
        self.super_segments.append(packet)


def host_on(wire: Wire, **kw: object) -> Host:
    return Host("198.18.0.2", mtu=1500, send=wire.send, **kw)  # type: ignore[arg-type]


def ping(src: int = PEER, dst: int = ME) -> bytes:
    return build_ipv4(src, dst, PROTO_ICMP, build_icmp(ICMP_ECHO_REQUEST, 0, 0x00010002, b"hello"))


def test_an_echo_request_is_answered_at_once() -> None:
    wire = Wire()
    host = host_on(wire)
    host.receive(ping(), 1.0)
    [reply] = wire.packets
    ip = parse_ipv4(reply)
    msg = parse_icmp(ip.payload)
    assert (ip.src, ip.dst, msg.type, msg.rest_of_header, bytes(msg.payload)) == (
        ME, PEER, ICMP_ECHO_REPLY, 0x00010002, b"hello")
    assert host.counters == {"InReceives": 1, "InDelivers": 1, "InMsgs": 1, "InEchos": 1,
                             "OutRequests": 1, "OutMsgs": 1, "OutEchoReps": 1}


def test_what_a_host_must_not_take_is_counted_and_dropped() -> None:
    wire = Wire()
    host = host_on(wire)
    for packet in (ping(dst=ip_int("198.18.0.9")), ping(src=ip_int("127.0.0.1")), ping(src=ME),
                   bytes([0x60]) + bytes(39), b"", b"\x45\x00"):
        host.receive(packet, 1.0)
    assert host.drops == {"not_for_us": 1, "martian_source": 2, "ipv6": 1, "truncated": 2}
    assert wire.packets == []


def test_tcp_answers_go_out_when_the_engine_output_is_transmitted() -> None:
    wire = Wire()
    host = host_on(wire)
    host.receive_batch([(build_tcp_packet(Segment(PEER, ME, 40000, 80, 1, 0, SYN, 64240)), False)], 2.0)
    assert wire.packets == []  # the engine holds its RST until transmit
    host.transmit(2.0)
    [rst] = [parse_tcp_packet(p) for p in wire.packets]
    assert (rst.flags, rst.ack) == (RST | ACK, 2)
    assert host.engine.counters["OutRsts"] == 1


def test_a_partial_checksum_is_not_verified_when_the_link_says_so() -> None:
    wire = Wire()
    host = host_on(wire)
    syn = bytearray(build_tcp_packet(Segment(PEER, ME, 40000, 80, 1, 0, SYN, 64240)))
    syn[36:38] = b"\0\0"  # not the sum: only a device completing it would make it right
    host.receive(bytes(syn), 1.0, csum_partial=False)
    assert host.drops == {"bad_tcp_checksum": 1}
    host.receive(bytes(syn), 1.0, csum_partial=True)
    assert host.drops == {"bad_tcp_checksum": 1} and host.engine.counters["InSegs"] == 1


def test_a_tso_segment_is_cut_or_handed_whole_to_a_link_that_cuts_it() -> None:
    def tso_segment(host: Host) -> None:
        seg = Segment(ME, PEER, 80, 40000, 1, 1, ACK | PSH, 500, bytes(3000), gso=1448)
        host.engine.out.append(seg)

    wire = Wire()
    host = host_on(wire)
    tso_segment(host)
    host.transmit(3.0)
    assert [len(parse_tcp_packet(p).payload) for p in wire.packets] == [1448, 1448, 104]
    assert host.counters["OutRequests"] == 3

    wire = Wire()
    seen: list[bytes] = []
    host = host_on(wire, send_gso=wire.send_gso, on_packet=lambda d, p, now: seen.append(bytes(p)))
    tso_segment(host)
    host.transmit(3.0)
    [packet] = wire.super_segments
    assert (packet.gso_size, packet.segments, wire.packets) == (1448, 3, [])
    assert seen == [complete_csum(b"".join(packet.parts))]  # the hook sees it whole, completed
    assert host.counters["OutRequests"] == 1


def test_a_batch_of_continuing_segments_reaches_tcp_joined() -> None:
    wire = Wire()
    host = host_on(wire, gro=True)
    segs = [build_tcp_packet(Segment(PEER, ME, 40000, 80, 1 + i * 100, 1, ACK, 500, bytes(100)))
            for i in range(3)]
    host.receive_batch([(p, False) for p in segs], 1.0)
    assert host.counters["InReceives"] == 3 and host.engine.counters["InSegs"] == 1


def test_fragmentation_needed_reaches_tcp_with_the_next_hop_mtu() -> None:
    """A router's ICMP destination unreachable, code 4, quoting our segment: the host hands its
    next-hop MTU (RFC 1191 section 4) to TCP, which sends the data again at once, cut to the
    smaller MSS (Linux icmp_unreach -> tcp_v4_err -> tcp_v4_mtu_reduced)."""
    wire = Wire()
    host = host_on(wire)
    listener = host.engine.listen(ME, 80, 5)
    host.receive(build_tcp_packet(Segment(PEER, ME, 40000, 80, 100, 0, SYN, 64240, mss=1460)), 1.0)
    host.transmit(1.0)
    [synack] = [parse_tcp_packet(p) for p in wire.packets]
    host.receive(build_tcp_packet(Segment(PEER, ME, 40000, 80, 101, synack.seq + 1, ACK, 64240)), 1.01)
    conn = listener.accept()
    assert conn is not None
    wire.packets.clear()
    conn.send(bytes(2920), 1.1)
    host.transmit(1.1)
    first, _ = wire.packets
    assert [len(parse_tcp_packet(p).payload) for p in wire.packets] == [1460, 1460]
    wire.packets.clear()
    router = ip_int("198.18.0.254")
    frag_needed = build_icmp(ICMP_DEST_UNREACH, UNREACH_FRAG_NEEDED, 1400, first[:576 - 28])
    host.receive(build_ipv4(router, ME, PROTO_ICMP, frag_needed), 1.15)
    host.transmit(1.15)
    assert [len(parse_tcp_packet(p).payload) for p in wire.packets] == [1360, 1360, 200]
    assert host.counters["InDestUnreachs"] == 1 and conn.pmtu == 1400
