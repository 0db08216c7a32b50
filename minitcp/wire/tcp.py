"""IPv4 packets carrying TCP: one-call parse (validation, options, checksums) and build.

`parse_tcp_packet` and `build_tcp_packet` are the C hot paths when the
extension loads, else their pure-Python twins (see `accel`).
"""

from __future__ import annotations

from minitcp.wire.accel import build_tcp_packet, parse_tcp_packet
from minitcp.wire.tcp_options import encode_tcp_options

__all__ = ["build_tcp_packet", "encode_tcp_options", "parse_tcp_packet"]
