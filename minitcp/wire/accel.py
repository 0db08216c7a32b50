"""Binds the hot-path functions to the C extension, or to the pure-Python twins.

The rest of the stack imports these names from here (or from the public
modules that re-export them). The C versions are used when `minitcp._native`
loads; setting MINITCP_PURE=1 (any value but empty or "0") forces the pure
ones, for debugging and for proving the fallback works.
"""

from __future__ import annotations

import os

from minitcp.wire import checksum as _pure_checksum
from minitcp.wire import tcp_pure as _pure_tcp

NATIVE: bool

if os.environ.get("MINITCP_PURE", "") not in ("", "0"):
    NATIVE = False
else:
    try:
        from minitcp.wire import tcp_native as _native
    except ImportError:
        NATIVE = False
    else:
        NATIVE = True

# One source for each name: the C twins, or the pure-Python modules with the same results.
_sums, _tcp = (_native, _native) if NATIVE else (_pure_checksum, _pure_tcp)
csum_add = _sums.csum_add
checksum = _sums.checksum
pseudo_header_sum = _sums.pseudo_header_sum
pseudo_header_sum6 = _sums.pseudo_header_sum6
csum_update16 = _sums.csum_update16
csum_update32 = _sums.csum_update32
parse_tcp_packet = _tcp.parse_tcp_packet
build_tcp_packet = _tcp.build_tcp_packet
parse_tcp6_packet = _tcp.parse_tcp6_packet
build_tcp6_packet = _tcp.build_tcp6_packet

__all__ = [
    "NATIVE",
    "build_tcp6_packet",
    "build_tcp_packet",
    "checksum",
    "csum_add",
    "csum_update16",
    "csum_update32",
    "parse_tcp6_packet",
    "parse_tcp_packet",
    "pseudo_header_sum",
    "pseudo_header_sum6",
]
