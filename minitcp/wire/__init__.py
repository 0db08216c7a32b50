"""Wire formats: IPv4, TCP with options and ICMP, parsed and built apart from any state.

Beside them: TSO cutting (`tso`), GRO joining (`gro`), and what a device with
offloads exchanges, partial checksums (`csum_partial`) and super-segments (`gso`).
"""

# The checksum functions are not re-exported here: the name `checksum` would
# shadow the `minitcp.wire.checksum` submodule. Import them from `accel`.
from minitcp.wire.accel import NATIVE, build_tcp_packet, parse_tcp_packet
from minitcp.wire.errors import DropReason, WireError
from minitcp.wire.icmp import IcmpMessage, build_icmp, dest_unreachable, echo_reply_for, parse_icmp
from minitcp.wire.ipv4 import PROTO_ICMP, PROTO_TCP, IPv4Packet, build_ipv4, ip_int, ip_str, parse_ipv4
from minitcp.wire.segment import Segment, flag_str
from minitcp.wire.tcp_options import encode_tcp_options

__all__ = [
    "NATIVE",
    "PROTO_ICMP",
    "PROTO_TCP",
    "DropReason",
    "IPv4Packet",
    "IcmpMessage",
    "Segment",
    "WireError",
    "build_icmp",
    "build_ipv4",
    "build_tcp_packet",
    "dest_unreachable",
    "echo_reply_for",
    "encode_tcp_options",
    "flag_str",
    "ip_int",
    "ip_str",
    "parse_icmp",
    "parse_ipv4",
    "parse_tcp_packet",
]
