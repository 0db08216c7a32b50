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

_MASK = (1 << 64) - 1


def _rotl(x: int, bits: int) -> int:
    return ((x << bits) | (x >> (64 - bits))) & _MASK


def siphash24(k0: int, k1: int, data: bytes) -> int:
    """SipHash-2-4 (Aumasson and Bernstein; lib/siphash.c) of `data` under the key (k0, k1)."""
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def sip_round() -> None:
        v[0] = (v[0] + v[1]) & _MASK
        v[1] = _rotl(v[1], 13) ^ v[0]
        v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & _MASK
        v[3] = _rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & _MASK
        v[3] = _rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & _MASK
        v[1] = _rotl(v[1], 17) ^ v[2]
        v[2] = _rotl(v[2], 32)

    whole = len(data) - len(data) % 8
    # The last word carries the leftover bytes and, in its top byte, the length.
    words = [*struct.unpack_from(f"<{whole // 8}Q", data),
             int.from_bytes(data[whole:], "little") | ((len(data) & 0xFF) << 56)]
    for m in words:
        v[3] ^= m
        sip_round()
        sip_round()
        v[0] ^= m
    v[2] ^= 0xFF
    for _ in range(4):
        sip_round()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def fastopen_cookie(client: str, server: str, key: str) -> str:
    """The cookie, as packetdrill writes it (hex bytes in wire order), that `server` with
    tcp_fastopen_key `key` ("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4") gives `client`."""
    raw = b"".join(struct.pack("<I", int(word, 16)) for word in key.split("-"))
    k0, k1 = struct.unpack("<QQ", raw)
    # tcp_fastopen_cookie_gen_cipher: the SYN's source and destination addresses, 4 or 16 bytes each.
    message = ipaddress.ip_address(client).packed + ipaddress.ip_address(server).packed
    return struct.pack("<Q", siphash24(k0, k1, message)).hex()
