"""Wire formats: IPv4, IPv6, TCP with options, ICMP and ICMPv6, parsed and built apart from any state.

Beside them: TSO cutting (`tso`), GRO joining (`gro`), and what a device with
offloads exchanges, partial checksums (`csum_partial`) and super-segments (`gso`).
"""

# The checksum functions are not re-exported here: the name `checksum` would
# shadow the `minitcp.wire.checksum` submodule. Import them from `accel`.
from minitcp.wire.accel import (
    NATIVE,
    build_tcp6_packet,
    build_tcp_packet,
    parse_tcp6_packet,
    parse_tcp_packet,
)
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.icmp import IcmpMessage, build_icmp, dest_unreachable, echo_reply_for, parse_icmp
from minitcp.wire.icmpv6 import build_icmpv6, echo_reply6_for, icmpv6_error, parse_icmpv6
from minitcp.wire.ipv4 import PROTO_ICMP, PROTO_TCP, IPv4Packet, build_ipv4, ip_int, ip_str, parse_ipv4
from minitcp.wire.ipv6 import PROTO_ICMPV6, IPv6Packet, build_ipv6, ip6_int, ip6_str, parse_ipv6
from minitcp.wire.segment import Segment, flag_str
from minitcp.wire.tcp_options import encode_tcp_options

__all__ = [
    "NATIVE",
    "PROTO_ICMP",
    "PROTO_ICMPV6",
    "PROTO_TCP",
    "DropReason",
    "IPv4Packet",
    "IPv6Packet",
    "IcmpMessage",
    "Segment",
    "WireError",
    "build_icmp",
    "build_icmpv6",
    "build_ipv4",
    "build_ipv6",
    "build_tcp6_packet",
    "build_tcp_packet",
    "dest_unreachable",
    "echo_reply6_for",
    "echo_reply_for",
    "encode_tcp_options",
    "flag_str",
    "icmpv6_error",
    "ip6_int",
    "ip6_str",
    "ip_int",
    "ip_str",
    "parse_icmp",
    "parse_icmpv6",
    "parse_ipv4",
    "parse_ipv6",
    "parse_tcp6_packet",
    "parse_tcp_packet",
]
