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
    __slots__ = ("_keyed", "_pinned", "secret")

    def __init__(self, secret: bytes | None = None) -> None:
        self._pinned: dict[tuple[int, int, int, int], int] = {}  # see pin()
        # The key of every hash (the C cookie path, cookie_synack.py, hashes with it too).
        self.secret = secret if secret is not None else os.urandom(16)
        # The hash with the secret already absorbed: each connection copies it rather than keying
        # a new one (the key is a whole BLAKE2 block of work), for the same digests.
        self._keyed = hashlib.blake2s(key=self.secret, digest_size=4)

    def _f(self, prefix: bytes, laddr: int, lport: int, raddr: int, rport: int) -> int:
        """F(4-tuple, secret) as a 32-bit number; `prefix` keeps the ISN's and the TS offset's apart."""
        h = self._keyed.copy()
        if laddr <= 0xFFFFFFFF:
            h.update(prefix + ((laddr << 64) | (raddr << 32) | (lport << 16) | rport).to_bytes(12, "big"))
        else:  # IPv6: both whole addresses, as Linux's secure_tcpv6_seq hashes them
            h.update(prefix + ((laddr << 160) | (raddr << 32) | (lport << 16) | rport).to_bytes(36, "big"))
        return int.from_bytes(h.digest(), "big")

    def keyed(self, data: bytes) -> int:
        """A 32-bit keyed hash of `data` under this engine's secret, for the other secrets an
        engine needs (SYN cookies, syncookies.py): one key, told apart by what is hashed."""
        h = self._keyed.copy()
        h.update(data)
        return int.from_bytes(h.digest(), "big")

    def pin(self, laddr: int, lport: int, raddr: int, rport: int, isn: int) -> None:
        """Make the next ISN of this four-tuple `isn`, once: a teaching hook, not a Linux feature.

        The labs use it to show what RFC 9293 section 3.4.1 guards against: a new incarnation
        whose sequence space overlaps the old one's (as after a reboot, or when a connection
        sent faster than the 64 ns clock ticks), something M and F make unlikely, not
        impossible. A TIME_WAIT takeover still picks its own ISN (TimeWait.reuse_isn)."""
        self._pinned[(laddr, lport, raddr, rport)] = isn & 0xFFFFFFFF

    def isn(self, laddr: int, lport: int, raddr: int, rport: int, now: float) -> int:
        if self._pinned:
            pinned = self._pinned.pop((laddr, lport, raddr, rport), None)
            if pinned is not None:
                return pinned
        m = int(now * 1e9) >> 6
        return (m + self._f(b"", laddr, lport, raddr, rport)) & 0xFFFFFFFF

    def ts_offset(self, laddr: int, raddr: int) -> int:
        """A random TSval offset per pair of hosts (RFC 7323 section 5.4), as Linux's
        secure_tcp_ts_off since 4.13: per host pair, not per connection, so that a new
        connection's timestamps continue an old one's and PAWS can tell them apart (what
        TIME_WAIT reuse relies on)."""
        return self._f(b"ts", laddr, 0, raddr, 0)
