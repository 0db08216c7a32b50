"""SYN cookies: a SYN-ACK whose ISN remembers the SYN, so a full SYN queue costs no memory
(D. J. Bernstein's idea, as Linux net/ipv4/syncookies.c does it).

When the SYN queue is full (or always, with tcp_syncookies=2) a listener keeps
nothing for a SYN: it answers with a SYN-ACK whose ISN, the cookie, is

    hash0(4-tuple) + client ISN + (count << 24) + ((hash1(4-tuple, count) + mssind) mod 2^24)

where count is the minute (Linux tcp_cookie_time) and mssind the index of the
client's MSS, rounded down, in Linux's table `MSSTAB` (IPv6: `MSSTAB6`). The client's ACK
returns cookie + 1: subtracting the first hash and the client's ISN gives the
count back (too old after `MAX_SYNCOOKIE_AGE` minutes), and the second hash
of that count gives the MSS index back; anything else is a forgery.

The options a SYN asked for (window scale, SACK, ECN) have no room in the ISN.
With timestamps they ride in the low 6 bits of the SYN-ACK's TSval, which the
client echoes in every TSecr (`cookie_init_timestamp`, `cookie_timestamp_decode`);
without timestamps the connection goes without them, as in Linux.

The hashes are Linux cookie_hash's: SipHash-2-4 (siphash.py) under two independent
keys per family, the engine's `IsnGenerator.syncookie_secret` (IPv6:
`syncookie6_secret`). Pure functions of their arguments and
`now`: the listener (listener.py) decides when to send a cookie and what to do
with one that comes back. cookie_synack.py makes the same cookie in C (and in a
pure-Python twin) for the SYN-ACKs of a flood.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .siphash import siphash

if TYPE_CHECKING:
    from .isn import IsnGenerator

MASK = 0xFFFFFFFF
COOKIEBITS = 24  # Linux COOKIEBITS: the low 24 bits carry hash + MSS index, the top 8 the count
COOKIEMASK = (1 << COOKIEBITS) - 1
# Linux msstab (syncookies.c): the MSS values most SYNs carry (Alcock and Nelson, 2011), sorted.
MSSTAB = (536, 1300, 1440, 1460)
# IPv6's (net/ipv6/syncookies.c msstab): common MTUs less 60 bytes of IPv6 and TCP headers.
MSSTAB6 = (1280 - 60, 1480 - 60, 1500 - 60, 9000 - 60)
# Linux include/net/tcp.h: a cookie is good for the minute it was made in and the next
# (MAX_SYNCOOKIE_AGE), the count ticking every TCP_SYNCOOKIE_PERIOD.
MAX_SYNCOOKIE_AGE = 2
TCP_SYNCOOKIE_PERIOD = 60.0
# ... and a listener checks returning cookies only for this long after it last sent one
# (TCP_SYNCOOKIE_VALID, tcp_synq_no_recent_overflow).
TCP_SYNCOOKIE_VALID = MAX_SYNCOOKIE_AGE * TCP_SYNCOOKIE_PERIOD
# The low bits of a cookie SYN-ACK's TSval (syncookies.c): | ECN | SACK | WScale (4 bits) |,
# a WScale of 0xf (no valid scale) meaning that the SYN had no window scale option.
TSBITS = 6
TS_OPT_WSCALE_MASK = 0xF
TS_OPT_SACK = 1 << 4
TS_OPT_ECN = 1 << 5


def cookie_time(now: float) -> int:
    """The cookie's clock, in minutes (Linux tcp_cookie_time); only its low 8 bits reach a cookie."""
    return int(now // TCP_SYNCOOKIE_PERIOD) & MASK


def mss_table(addr: int) -> tuple[int, ...]:
    """The family's table: MSSTAB6 for an IPv6 address (wider than 32 bits), else MSSTAB."""
    return MSSTAB6 if addr > MASK else MSSTAB


def mss_index(mss: int, table: tuple[int, ...] = MSSTAB) -> int:
    """The largest entry of `table` not above `mss` (the first when all are): the peer is
    sent at most what it asked for (Linux __cookie_v4_init_sequence, __cookie_v6_init_sequence)."""
    for index in range(len(table) - 1, 0, -1):
        if mss >= table[index]:
            return index
    return 0


class SynCookies:
    """Makes and checks cookies for one engine, keyed with its secret."""

    __slots__ = ("_isn",)

    def __init__(self, isn: IsnGenerator) -> None:
        self._isn = isn

    @property
    def isn(self) -> IsnGenerator:
        """The generator whose secret keys the hashes."""
        return self._isn

    def _hash(self, saddr: int, daddr: int, sport: int, dport: int, count: int, c: int) -> int:
        """Linux cookie_hash: a 32-bit keyed hash of the SYN's four-tuple and `count` under
        syncookie_secret[c], two independent keys. IPv4 (net/ipv4/syncookies.c): siphash_4u32(
        saddr, daddr, sport << 16 | dport, count) of the __be32 and __be16 values, whose
        little-endian bytes are the addresses, the destination port, the source port (both
        big-endian) and the count (little-endian). IPv6 (net/ipv6/syncookies.c): struct {saddr,
        daddr, count, sport, dport} under syncookie6_secret[c]."""
        if saddr > MASK or daddr > MASK:
            data = (((saddr << 128) | daddr).to_bytes(32, "big") + count.to_bytes(4, "little")
                    + ((sport << 16) | dport).to_bytes(4, "big"))
            return siphash(self._isn.syncookie6_secret[c], data) & MASK
        data = (((saddr << 64) | (daddr << 32) | (dport << 16) | sport).to_bytes(12, "big")
                + count.to_bytes(4, "little"))
        return siphash(self._isn.syncookie_secret[c], data) & MASK

    def make(self, saddr: int, daddr: int, sport: int, dport: int, sseq: int, mss: int,
             now: float) -> tuple[int, int]:
        """The cookie (our ISN) for a SYN from (saddr, sport) to (daddr, dport) with sequence
        number `sseq` and MSS `mss`, and the MSS the cookie remembers (Linux
        secure_tcp_syn_cookie and __cookie_v4_init_sequence)."""
        table = mss_table(saddr)
        index = mss_index(mss, table)
        return self.cookie(saddr, daddr, sport, dport, sseq, index, now), table[index]

    def cookie(self, saddr: int, daddr: int, sport: int, dport: int, sseq: int, index: int,
               now: float) -> int:
        """The cookie remembering MSS table entry `index` (Linux secure_tcp_syn_cookie)."""
        count = cookie_time(now)
        cookie = (self._hash(saddr, daddr, sport, dport, 0, 0) + sseq + (count << COOKIEBITS)
                  + ((self._hash(saddr, daddr, sport, dport, count, 1) + index) & COOKIEMASK))
        return cookie & MASK

    def check(self, saddr: int, daddr: int, sport: int, dport: int, seq: int, ack: int,
              now: float) -> int:
        """The MSS a returning ACK's cookie remembers, or 0 for a forged or stale one (Linux
        check_tcp_syn_cookie and __cookie_v4_check). `seq` and `ack` are the ACK's: the
        client's ISN is seq - 1, the cookie ack - 1."""
        cookie = (ack - 1) & MASK
        sseq = (seq - 1) & MASK
        count = cookie_time(now)
        cookie = (cookie - self._hash(saddr, daddr, sport, dport, 0, 0) - sseq) & MASK
        # What is left is (count << 24) + (hash1 + mssind mod 2^24): the top 8 bits are the count.
        age = (count - (cookie >> COOKIEBITS)) & (MASK >> COOKIEBITS)
        if age >= MAX_SYNCOOKIE_AGE:
            return 0
        index = (cookie - self._hash(saddr, daddr, sport, dport, (count - age) & MASK, 1)) & COOKIEMASK
        table = mss_table(saddr)
        return table[index] if index < len(table) else 0


def timestamp_options(wscale: int | None, sack: bool, ecn: bool) -> int:
    """The 6 option bits a cookie SYN-ACK's TSval carries (Linux cookie_init_timestamp):
    the peer's window scale (0xf for none), SACK and ECN."""
    options = TS_OPT_WSCALE_MASK if wscale is None else wscale
    if sack:
        options |= TS_OPT_SACK
    if ecn:
        options |= TS_OPT_ECN
    return options


def cookie_timestamp(ts_now: int, options: int) -> int:
    """Linux cookie_init_timestamp: our timestamp clock `ts_now` (ms) with its low 6 bits
    replaced by `options`, stepped back 64 ms if that would put it in the future, so the
    connection's later TSvals never go backwards from it."""
    ts = ((ts_now >> TSBITS) << TSBITS) | options
    if ts > ts_now:
        ts -= 1 << TSBITS
    return ts


def decode_timestamp_options(tsecr: int) -> tuple[int | None, bool, bool]:
    """(window scale or None, SACK, ECN) from the low bits of a cookie ACK's TSecr, less
    our timestamp offset (Linux cookie_timestamp_decode, cookie_ecn_ok)."""
    wscale = tsecr & TS_OPT_WSCALE_MASK
    return (None if wscale == TS_OPT_WSCALE_MASK else wscale, bool(tsecr & TS_OPT_SACK),
            bool(tsecr & TS_OPT_ECN))
