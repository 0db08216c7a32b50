"""Initial sequence numbers per RFC 6528 section 3: ISN = M + F(4-tuple, secret), and the
engine's other secrets.

M is a clock ticking every 64 ns (Linux's choice; RFC 6528 suggests 4 us), so
a new incarnation of a four-tuple starts above the old one's sequence space.
F is SipHash-2-4 (siphash.py) of the four-tuple under a secret key, as Linux's
secure_tcp_seq, so ISNs cannot be guessed from outside. `now` comes from the
caller: the engine has no clock of its own.

Linux keeps a key per use (net/core/secure_seq.c net_secret and ts_secret,
net/ipv4/syncookies.c syncookie_secret[2], net/ipv6/syncookies.c
syncookie6_secret[2]), 16 random bytes each; here they are derived from one
secret (random unless given, for reproducible tests), so that the C cookie path
(cookie_synack.py) and anything else given the secret gets the same keys.
"""

from __future__ import annotations

import hashlib
import os

from .family import IPV4_MAX
from .siphash import KEY_LEN, siphash

MASK = 0xFFFFFFFF


def derive_key(secret: bytes, name: bytes) -> bytes:
    """The 16-byte key `name` (a Linux secret's name) of `secret`: BLAKE2b keyed with the
    secret (at most 64 bytes) over the name, so that no key tells anything of another."""
    return hashlib.blake2b(name, key=secret, digest_size=KEY_LEN).digest()


class IsnGenerator:
    __slots__ = ("_pinned", "net_secret", "secret", "syncookie6_secret", "syncookie_secret", "ts_secret")

    def __init__(self, secret: bytes | None = None) -> None:
        self._pinned: dict[tuple[int, int, int, int], int] = {}  # see pin()
        # What every key is derived from (CookieParams makes the C path's keys from it).
        self.secret = secret if secret is not None else os.urandom(16)
        self.net_secret = derive_key(self.secret, b"net_secret")  # secure_tcp_seq, port_ephemeral
        self.ts_secret = derive_key(self.secret, b"ts_secret")  # secure_tcp_ts_off
        # cookie_hash's two independent keys per family (syncookies.py).
        self.syncookie_secret = (derive_key(self.secret, b"syncookie_secret[0]"),
                                 derive_key(self.secret, b"syncookie_secret[1]"))
        self.syncookie6_secret = (derive_key(self.secret, b"syncookie6_secret[0]"),
                                  derive_key(self.secret, b"syncookie6_secret[1]"))

    def pin(self, laddr: int, lport: int, raddr: int, rport: int, isn: int) -> None:
        """Make the next ISN of this four-tuple `isn`, once: a teaching hook, not a Linux feature.

        The labs use it to show what RFC 9293 section 3.4.1 guards against: a new incarnation
        whose sequence space overlaps the old one's (as after a reboot, or when a connection
        sent faster than the 64 ns clock ticks), something M and F make unlikely, not
        impossible. A TIME_WAIT takeover still picks its own ISN (TimeWait.reuse_isn)."""
        self._pinned[(laddr, lport, raddr, rport)] = isn & MASK

    def pinned(self) -> bool:
        """Whether an ISN is pinned (`pin`): the batch path (request_synack.py) leaves SYNs to
        the usual path, which takes it."""
        return bool(self._pinned)

    def isn(self, laddr: int, lport: int, raddr: int, rport: int, now: float) -> int:
        if self._pinned:
            pinned = self._pinned.pop((laddr, lport, raddr, rport), None)
            if pinned is not None:
                return pinned
        # Linux secure_tcp_seq: siphash_3u32(saddr, daddr, sport << 16 | dport) of the __be32 and
        # __be16 values, whose little-endian bytes are our address, the peer's, its port and ours;
        # secure_tcpv6_seq: struct {saddr, daddr, sport, dport}. Then seq_scale's 64 ns clock.
        if laddr <= IPV4_MAX:
            data = ((laddr << 64) | (raddr << 32) | (rport << 16) | lport).to_bytes(12, "big")
        else:
            data = ((laddr << 160) | (raddr << 32) | (lport << 16) | rport).to_bytes(36, "big")
        return (siphash(self.net_secret, data) + (int(now * 1e9) >> 6)) & MASK

    def ts_offset(self, laddr: int, raddr: int) -> int:
        """A random TSval offset per pair of hosts (RFC 7323 section 5.4), as Linux's
        secure_tcp_ts_off since 4.13: per host pair, not per connection, so that a new
        connection's timestamps continue an old one's and PAWS can tell them apart (what
        TIME_WAIT reuse relies on)."""
        if laddr <= IPV4_MAX:  # siphash_2u32(saddr, daddr): our address first
            return siphash(self.ts_secret, ((laddr << 32) | raddr).to_bytes(8, "big")) & MASK
        return siphash(self.ts_secret, ((laddr << 128) | raddr).to_bytes(32, "big")) & MASK  # tcpv6_ts_off
