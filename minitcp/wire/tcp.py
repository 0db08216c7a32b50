"""IPv4 and IPv6 packets carrying TCP: one-call parse (validation, options, checksums) and build.

`parse_tcp_packet` and `build_tcp_packet` (IPv4), `parse_tcp6_packet` and
`build_tcp6_packet` (IPv6) are the C hot paths when the extension loads, else
their pure-Python twins (see `accel`). A host reading both families from one
device tells them apart by the version nibble, `packet[0] >> 4`, and hands the
same buffer to the right parser: nothing is copied.
"""

from __future__ import annotations

from minitcp.wire.accel import build_tcp6_packet, build_tcp_packet, parse_tcp6_packet, parse_tcp_packet
from minitcp.wire.checksum import BytesLike
from minitcp.wire.segment import Segment
from minitcp.wire.tcp_options import encode_tcp_options

__all__ = [
    "build_tcp6_packet",
    "build_tcp_packet",
    "encode_tcp_options",
    "parse_any_tcp_packet",
    "parse_tcp6_packet",
    "parse_tcp_packet",
]


def parse_any_tcp_packet(buf: BytesLike) -> Segment:
    """A TCP packet of either family, told by its version nibble (for tools that look at
    traces: the host calls the family's parser itself). Malformed input raises WireError."""
    if len(buf) and buf[0] >> 4 == 6:
        return parse_tcp6_packet(buf)
    return parse_tcp_packet(buf)
