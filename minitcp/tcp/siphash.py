"""SipHash-2-4 (Aumasson and Bernstein, 2012): the keyed hash of Linux's secrets.

Linux lib/siphash.c computes every secret-keyed number of TCP with it: ISNs
(secure_tcp_seq), timestamp offsets (secure_tcp_ts_off), SYN cookies (cookie_hash) and
the ephemeral port walk's start (secure_ipv4_port_ephemeral). `siphash(key, data)` is
the 64-bit PRF of `data` under a 16-byte `key`: the C one (`mt_siphash`,
native/minitcp_native.c) unless MINITCP_PURE says otherwise (wire/accel.py), or
`siphash_pure`, its pure-Python twin with the same results. Linux's siphash_2u32,
siphash_3u32 and siphash_4u32 are this function of the words' little-endian bytes.
"""

from __future__ import annotations

from collections.abc import Callable

from ..wire.accel import NATIVE

MASK64 = 0xFFFFFFFFFFFFFFFF
KEY_LEN = 16  # siphash_key_t: two u64 words


def siphash_pure(key: bytes, data: bytes) -> int:
    """SipHash-2-4 of `data` under the 16-byte `key`, as Linux __siphash_unaligned: the
    key's words and each 8-byte block read little-endian, two rounds a block (SIPROUND),
    the last block the leftover bytes under the length's low byte, four rounds after."""
    k0 = int.from_bytes(key[0:8], "little")
    k1 = int.from_bytes(key[8:16], "little")
    v0 = 0x736F6D6570736575 ^ k0  # "somepseudorandomlygeneratedbytes", the paper's constants
    v1 = 0x646F72616E646F6D ^ k1
    v2 = 0x6C7967656E657261 ^ k0
    v3 = 0x7465646279746573 ^ k1
    n = len(data)
    end = n - n % 8
    blocks = [int.from_bytes(data[i:i + 8], "little") for i in range(0, end, 8)]
    blocks.append(((n & 0xFF) << 56) | int.from_bytes(data[end:], "little"))  # POSTAMBLE's b
    rounds = [2] * (len(blocks) - 1) + [6]  # the last block's two, then the finalization's four
    for m, count in zip(blocks, rounds, strict=True):
        v3 ^= m
        for r in range(count):
            if r == 2:  # the finalization (POSTAMBLE) starts
                v0 ^= m
                m = 0
                v2 ^= 0xFF
            # SIPROUND
            v0 = (v0 + v1) & MASK64
            v1 = ((v1 << 13) | (v1 >> 51)) & MASK64 ^ v0
            v0 = ((v0 << 32) | (v0 >> 32)) & MASK64
            v2 = (v2 + v3) & MASK64
            v3 = ((v3 << 16) | (v3 >> 48)) & MASK64 ^ v2
            v0 = (v0 + v3) & MASK64
            v3 = ((v3 << 21) | (v3 >> 43)) & MASK64 ^ v0
            v2 = (v2 + v1) & MASK64
            v1 = ((v1 << 17) | (v1 >> 47)) & MASK64 ^ v2
            v2 = ((v2 << 32) | (v2 >> 32)) & MASK64
        v0 ^= m
    return v0 ^ v1 ^ v2 ^ v3


def _native() -> Callable[[bytes, bytes], int] | None:
    """The C SipHash, when the extension loads and MINITCP_PURE is not set."""
    if not NATIVE:
        return None
    try:
        from minitcp._native import lib
    except ImportError:
        return None
    c_siphash = lib.mt_siphash

    def siphash_native(key: bytes, data: bytes) -> int:
        """`mt_siphash`: the same as `siphash_pure`."""
        return c_siphash(key, data, len(data))

    return siphash_native


siphash: Callable[[bytes, bytes], int] = _native() or siphash_pure
