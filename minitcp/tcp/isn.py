"""Initial sequence numbers per RFC 6528 section 3: ISN = M + F(4-tuple, secret).

M is a clock ticking every 64 ns (Linux's choice; RFC 6528 suggests 4 us), so
a new incarnation of a four-tuple starts above the old one's sequence space.
F is a keyed hash (BLAKE2s here, SipHash in Linux) of the four-tuple, so ISNs
cannot be guessed from outside. `now` comes from the caller: the engine has
no clock of its own.
"""

from __future__ import annotations

import hashlib
import os


class IsnGenerator:
    __slots__ = ("_secret",)

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else os.urandom(16)

    def isn(self, laddr: int, lport: int, raddr: int, rport: int, now: float) -> int:
        key = laddr.to_bytes(4, "big") + raddr.to_bytes(4, "big") + lport.to_bytes(2, "big") + rport.to_bytes(
            2, "big"
        )
        f = int.from_bytes(hashlib.blake2s(key, key=self._secret, digest_size=4).digest(), "big")
        m = int(now * 1e9) >> 6
        return (m + f) & 0xFFFFFFFF

    def ts_offset(self, laddr: int, lport: int, raddr: int, rport: int) -> int:
        """A per-connection random TSval offset, as Linux 4.10+ does (RFC 7323 section 5.4)."""
        key = b"ts" + laddr.to_bytes(4, "big") + raddr.to_bytes(4, "big") + lport.to_bytes(
            2, "big"
        ) + rport.to_bytes(2, "big")
        return int.from_bytes(hashlib.blake2s(key, key=self._secret, digest_size=4).digest(), "big")
