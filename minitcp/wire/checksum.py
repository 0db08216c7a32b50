"""The Internet checksum in pure Python (RFC 1071, RFC 1624); `accel` binds the C twins.

The one's-complement sum of 16-bit words is the number the bytes spell,
reduced modulo 0xffff (65536 is 1 modulo 0xffff), so `int.from_bytes` plus
one modulo does in C speed what a word loop would do in Python. The result
keeps the end-around-carry convention: 0 only for an all-zero sum, otherwise
1..0xffff, which is what the C code's folding gives too.
"""

from __future__ import annotations

from typing import TypeAlias

# What the parse and checksum functions accept: anything exposing bytes.
BytesLike: TypeAlias = bytes | bytearray | memoryview


def _fold(total: int) -> int:
    """Fold a non-negative sum to 16 bits with end-around carries."""
    return (total - 1) % 0xFFFF + 1 if total else 0


def csum_add(buf: BytesLike, initial: int = 0) -> int:
    """RFC 1071 one's-complement sum of `buf` plus `initial`, folded, not inverted.

    An odd trailing byte is padded with a zero byte (RFC 1071 section 1), which
    is a shift by 8 of the number the bytes spell.
    """
    value = int.from_bytes(buf, "big")
    if len(buf) & 1:
        value <<= 8
    return _fold(value + initial)


def checksum(buf: BytesLike, initial: int = 0) -> int:
    """The value stored in a header: the complement of `csum_add`."""
    return ~csum_add(buf, initial) & 0xFFFF


def pseudo_header_sum(src: int, dst: int, proto: int, length: int) -> int:
    """Folded sum of the IPv4 pseudo-header (RFC 9293 section 3.1): addresses, zero+protocol, length."""
    return _fold((src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + length)


def pseudo_header_sum6(src: int, dst: int, proto: int, length: int) -> int:
    """Folded sum of the IPv6 pseudo-header (RFC 8200 section 8.1): addresses, 32-bit upper-layer
    length, three zero bytes and the next header. A number is congruent modulo 0xffff to the sum
    of its 16-bit words, so the 128-bit addresses and the length are added whole and folded once."""
    return _fold(src + dst + length + proto)


def csum_update16(csum: int, old: int, new: int) -> int:
    """Stored checksum after a 16-bit field changed from `old` to `new`: RFC 1624 eqn. 3."""
    return ~_fold((~csum & 0xFFFF) + (~old & 0xFFFF) + new) & 0xFFFF


def csum_update32(csum: int, old: int, new: int) -> int:
    """RFC 1624 eqn. 3 for a 32-bit field (an address or a sequence number): two 16-bit updates."""
    return (
        ~_fold((~csum & 0xFFFF) + (~old >> 16 & 0xFFFF) + (~old & 0xFFFF) + (new >> 16) + (new & 0xFFFF))
        & 0xFFFF
    )
