"""The TCP Fast Open cookie Linux gives a client, for the TFO_COOKIE name packetdrill scripts use.

google/packetdrill's run_all.py passes `-D TFO_COOKIE=3021b9d889017eeb`: the
cookie a Linux server with defaults.sh's tcp_fastopen_key gives the client
192.0.2.1 talking to 192.168.0.1. With the addresses moved into 198.18.0.0/24
the cookie changes, so the referee computes it as the kernel does
(`__tcp_fastopen_cookie_gen_cipher`, net/ipv4/tcp_fastopen.c): SipHash-2-4
over the SYN's source then destination IPv4 address, keyed with the sysctl's
four 32-bit words stored little-endian (`proc_tcp_fastopen_key`), the 64-bit
result written little-endian.
"""

from __future__ import annotations

import ipaddress
import struct

from ..tcp.siphash import siphash_pure


def fastopen_cookie(client: str, server: str, key: str) -> str:
    """The cookie, as packetdrill writes it (hex bytes in wire order), that `server` with
    tcp_fastopen_key `key` ("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4") gives `client`."""
    raw = b"".join(struct.pack("<I", int(word, 16)) for word in key.split("-"))
    # tcp_fastopen_cookie_gen_cipher: the SYN's source and destination addresses, 4 or 16 bytes each.
    message = ipaddress.ip_address(client).packed + ipaddress.ip_address(server).packed
    return struct.pack("<Q", siphash_pure(raw, message)).hex()
