"""How often the host may send ICMP and ICMPv6 messages: Linux's two limits, in both families.

Linux (net/ipv4/icmp.c __icmp_send and icmp_reply, net/ipv6/icmp.c icmp6_send) limits the
types in a ratemask (`icmp_ratemask`, 6168: destination unreachable, source quench, time
exceeded and parameter problem, but never "fragmentation needed", which path MTU discovery
needs; `icmpv6_ratemask`, types 0-1 and 3-127: every error but "packet too big") twice:
- a global token bucket shared by both families (icmp_global_allow): `icmp_msgs_per_sec`
  credits a second, at most `icmp_msgs_burst` saved, refilled no more often than every
  20 ms (HZ/50); refused messages count OutRateLimitGlobal;
- a bucket per destination (inet_peer_xrlim_allow): a message costs `icmp_ratelimit`
  seconds of tokens, earned with the time and saved up to six (XRLIM_BURST_FACTOR); a new
  destination starts full. ICMPv6 gives wider prefixes more (icmpv6_xrlim_allow: the cost is
  `icmpv6_ratelimit` >> ((128 - prefix length) >> 5)). Refused messages count
  OutRateLimitHost (Icmp6OutRateLimitHost).
The global credit is only spent when the destination's bucket allowed the message
(icmp_global_consume). Linux 6.12 spends a random 0 to 2 credits, 1 on average, so that
the limit cannot be read from outside; here exactly 1, so that runs repeat.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from minitcp.tcp.knobs import Knobs

_REFILL_MIN = 1 / 50  # icmp_global_allow: HZ / 50 jiffies between refills
_BURST_FACTOR = 6  # include/net/inetpeer.h XRLIM_BURST_FACTOR
_NEW_PEER_AGE = 60.0  # inet_getpeer: rate_last = jiffies - 60 * HZ, so a new peer's bucket is full
ICMP_FRAG_NEEDED = (3, 4)  # (type, code): never limited (icmpv4_mask_allow)
MAX_PEERS = 65664  # net.ipv4.inet_peer_threshold: the most destinations remembered


class IcmpRateLimit:
    """The host's ICMP limits; `allow6`/`allow` say whether a message may go now and count
    the refusals into `counters`."""

    def __init__(self, knobs: Callable[[], Knobs], counters: collections.Counter[str]) -> None:
        self.knobs = knobs
        self.counters = counters
        self.credit = 0  # icmp_global_credit; the first refill fills it
        self.stamp = -_NEW_PEER_AGE  # icmp_global_stamp
        # Destination -> (tokens, last): inet_peer's rate_tokens and rate_last, oldest use first.
        self.peers: collections.OrderedDict[int, tuple[float, float]] = collections.OrderedDict()

    def allow(self, type: int, code: int, dst: int, now: float) -> bool:
        """An ICMP message of `type`/`code` to `dst` (Linux icmpv4_global_allow, icmpv4_xrlim_allow)."""
        knobs = self.knobs()
        if type > 18 or not knobs.icmp_ratemask >> type & 1 or (type, code) == ICMP_FRAG_NEEDED:
            return True  # icmpv4_mask_allow: not limited (NR_ICMP_TYPES is 18)
        return self._limited(dst, knobs.icmp_ratelimit, "OutRateLimitHost", now)

    def allow6(self, type: int, dst: int, prefix_len: int, now: float) -> bool:
        """An ICMPv6 message of `type` to `dst`, reached through a route of `prefix_len` bits
        (Linux icmpv6_global_allow, icmpv6_xrlim_allow)."""
        knobs = self.knobs()
        if not knobs.icmpv6_ratemask >> type & 1:
            return True  # icmpv6_mask_allow
        cost = knobs.icmpv6_ratelimit
        if prefix_len < 128:
            cost /= 1 << ((128 - prefix_len) >> 5)  # "give more bandwidth to wider prefixes"
        return self._limited(dst, cost, "Icmp6OutRateLimitHost", now)

    def _limited(self, dst: int, cost: float, host_counter: str, now: float) -> bool:
        if not self._global_allow(now):
            self.counters["OutRateLimitGlobal"] += 1  # ICMP_MIB_RATELIMITGLOBAL, both families
            return False
        if not self._peer_allow(dst, cost, now):
            self.counters[host_counter] += 1
            return False
        self.credit -= 1  # icmp_global_consume
        return True

    def _global_allow(self, now: float) -> bool:
        """icmp_global_allow: spare credit, or a refill if 20 ms have passed since the last."""
        if self.credit > 0:
            return True
        knobs = self.knobs()
        delta = min(now - self.stamp, 1.0)
        if delta < _REFILL_MIN:
            return False
        incr = int(knobs.icmp_msgs_per_sec * delta)
        if not incr:
            return False
        self.stamp = now
        self.credit = min(self.credit + incr, knobs.icmp_msgs_burst)
        return True

    def _peer_allow(self, dst: int, cost: float, now: float) -> bool:
        """inet_peer_xrlim_allow: tokens are time, at most six messages' worth, each costs `cost`."""
        tokens, last = self.peers.pop(dst, (0.0, now - _NEW_PEER_AGE))
        tokens = min(tokens + now - last, _BURST_FACTOR * cost)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self.peers[dst] = (tokens, now)
        if len(self.peers) > MAX_PEERS:
            self.peers.popitem(last=False)  # the longest unused, whose bucket refilled soonest
        return allowed
