"""IPv6 extension headers built by hand, independent of the parser, for the IPv6 wire tests."""

from __future__ import annotations


def ext(next_header: int, body: bytes) -> bytes:
    """An options or routing header naming `next_header`, `body` zero-padded to its 8-byte unit
    (zeros read as Pad1 options; RFC 8200 section 4.2)."""
    raw = bytes((next_header, 0)) + body
    raw += bytes(-len(raw) % 8)
    return bytes((next_header, len(raw) // 8 - 1)) + raw[2:]


def fragment(next_header: int, offset: int, more: bool, ident: int) -> bytes:
    """A fragment header (RFC 8200 section 4.5); `offset` in bytes, a multiple of 8."""
    return bytes((next_header, 0)) + (offset | more).to_bytes(2, "big") + ident.to_bytes(4, "big")
