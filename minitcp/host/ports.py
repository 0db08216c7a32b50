"""Local ports: bind() conflicts and ephemeral port choice, Linux's rules.

The host's ports, shared by all its sockets (Linux keeps them per network
namespace, in the bind hash of net/ipv4/inet_hashtables.c); the socket layer
asks here, through `Stack.ports`.

bind() (Linux inet_csk_get_port): a port is taken while another socket is
bound to it with an address that meets the new one's (inet_rcv_saddr_equal: the
same address or a wildcard of its family; an AF_INET6 wildcard without
IPV6_V6ONLY is IPv4's wildcard too, so `[::]:80` with IPV6_V6ONLY and
`0.0.0.0:80` live side by side), unless both set SO_REUSEADDR and neither
listens; TIME_WAIT entries on the port also block it unless the new socket
sets SO_REUSEADDR.
connect() (Linux __inet_hash_connect): an ephemeral port is usable for a
destination when no connection or TIME_WAIT entry holds that four-tuple (or
tcp_tw_reuse lets the entry go); when none is left, EADDRNOTAVAIL. The walk
starts where the last connect() to the same destination left off (a keyed hash
of the addresses and port, plus a perturbation it then moves on by 2 to 16),
so connections to one server take distinct ports until the range wraps.
"""

from __future__ import annotations

import errno
import random
import socket
from collections.abc import Callable
from typing import Any, Protocol

from minitcp.tcp.connection import key_lport
from minitcp.tcp.engine import TcpEngine
from minitcp.tcp.family import IPV4_MAX
from minitcp.tcp.siphash import siphash

PERTURB_SIZE = 1 << 16  # Linux INET_TABLE_PERTURB_SIZE (1 << INET_TABLE_PERTURB_SHIFT)


class PortUser(Protocol):
    """What the rules look at in a socket holding a port (the socket layer's `Endpoint`)."""

    reuseaddr: bool  # SO_REUSEADDR
    family: int  # AF_INET or AF_INET6
    laddr: int  # the bound address: 0 for a wildcard, IPv4's (or IPv4-mapped) as 32 bits
    options: Any  # the socket's options (a mapping: "v6only" is IPV6_V6ONLY)

    @property
    def reuseport(self) -> bool: ...  # SO_REUSEPORT

    @property
    def listener(self) -> object | None: ...  # not None once listen() was called


class PortTable:
    """Which local ports the host's sockets hold, and how a free one is chosen."""

    def __init__(self, engine: TcpEngine) -> None:
        self.engine = engine
        self.bound: dict[int, list[PortUser]] = {}
        # Ports only connect() has taken (Linux: bind buckets with fastreuse -1). connect() may share
        # them among connections to different destinations; a port bind() took is never shared so.
        self._connect_only: set[int] = set()
        self._rng = random.Random()
        # Linux __inet_hash_connect's table_perturb, INET_TABLE_PERTURB_SIZE random counters filled
        # once, kept sparse here.
        self._perturb: dict[int, int] = {}

    def bind(self, ep: PortUser, port: int) -> int:
        """Claim `port` (0: any free one) for `ep`; returns the port."""
        if port == 0:
            try:
                port = self._free_port(lambda p: not self._taken(ep, p))
            except OSError:
                # Linux __inet_bind: any get_port failure is EADDRINUSE, even "no free port"
                # (only connect() reports an exhausted range as EADDRNOTAVAIL).
                raise OSError(errno.EADDRINUSE, "Address already in use (no free local port)") from None
        elif self._taken(ep, port):
            raise OSError(errno.EADDRINUSE, "Address already in use")
        self.bound.setdefault(port, []).append(ep)
        self._connect_only.discard(port)
        return port

    def check_listen(self, ep: PortUser, port: int) -> None:
        """listen() on a bound port: Linux inet_csk_listen_start takes the port again, now as a
        listener, so sockets that shared it through SO_REUSEADDR cannot all listen: one per port."""
        for other in self.bound.get(port, ()):
            if other is not ep and other.listener is not None and addresses_meet(ep, other):
                if ep.reuseport and other.reuseport:
                    # Linux would make a reuseport group and spread the SYNs over its listeners
                    # (inet_reuseport_add_sock); minitcp has one listener per port.
                    raise OSError(errno.EOPNOTSUPP, "Operation not supported (SO_REUSEPORT groups of "
                                  "listeners are not supported by minitcp)")
                raise OSError(errno.EADDRINUSE, "Address already in use")

    def release(self, ep: PortUser, port: int) -> None:
        users = self.bound.get(port)
        if users and ep in users:
            users.remove(ep)
            if not users:
                del self.bound[port]
                self._connect_only.discard(port)

    def connect_port(self, ep: PortUser, laddr: int, raddr: int, rport: int, now: float) -> int:
        """An ephemeral port whose four-tuple to (raddr, rport) is free, or held by a TIME_WAIT
        entry tcp_tw_reuse lets go (the engine takes it over at connect), claimed for `ep`."""
        engine = self.engine

        def usable(p: int) -> bool:
            if p in self.bound and p not in self._connect_only:
                return False
            return not engine.connect_blocked(laddr, p, raddr, rport, now)

        port = self._connect_walk(laddr, raddr, rport, usable)
        if port not in self.bound:
            self._connect_only.add(port)
        self.bound.setdefault(port, []).append(ep)
        return port

    def _taken(self, ep: PortUser, port: int) -> bool:
        for other in self.bound.get(port, ()):
            if not addresses_meet(ep, other):
                continue
            if ep.reuseport and other.reuseport and other.listener is None:
                continue  # Linux inet_csk_bind_conflict: both SO_REUSEPORT (same owner here)
            if not (ep.reuseaddr and other.reuseaddr) or other.listener is not None:
                return True
        if not ep.reuseaddr:
            return any(key_lport(key) == port for key in self.engine.timewait)
        return False

    def _connect_walk(self, laddr: int, raddr: int, rport: int, usable: Callable[[int], bool]) -> int:
        """Linux __inet_hash_connect: from an offset kept per destination, ports of the range's
        low end's parity first, then the others; the perturbation moves on past the port taken."""
        lo, hi = self.engine.knobs.ip_local_port_range
        remaining = hi - lo + 1
        if remaining > 1:
            remaining &= ~1
        # Linux secure_ipv4_port_ephemeral: siphash_3u32(saddr, daddr, (u16)dport) under net_secret
        # (the ISN's key), whose little-endian bytes are the addresses, the port big-endian and two
        # zeros; IPv6 (secure_ipv6_port_ephemeral): struct {saddr, daddr, dport}. (Since 5.19 Linux
        # hashes a 10 s clock too, EPHEMERAL_PORT_SHUFFLE_PERIOD: not done here.)
        if laddr <= IPV4_MAX:
            data = ((laddr << 64) | (raddr << 32) | (rport << 16)).to_bytes(12, "big")
        else:
            data = ((laddr << 144) | (raddr << 16) | rport).to_bytes(34, "big")
        port_offset = siphash(self.engine.isn.net_secret, data)
        index = port_offset & (PERTURB_SIZE - 1)
        if index not in self._perturb:
            self._perturb[index] = self._rng.getrandbits(32)
        offset = ((self._perturb[index] + (port_offset >> 32)) % remaining) & ~1
        for parity in (0, 1):
            if parity and remaining <= 1:
                break
            port = lo + offset + parity
            for i in range(0, remaining, 2):
                if port > hi:
                    port -= remaining
                if usable(port):
                    # A little randomness on low contention, none on high (max with i).
                    self._perturb[index] = (self._perturb[index] + max(i, self._rng.randrange(8) * 2) + 2) \
                        & 0xFFFFFFFF
                    return port
                port += 2
        raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address (no free local port)")

    def _free_port(self, usable: Callable[[int], bool]) -> int:
        """Linux starts at a random offset in ip_local_port_range and walks the range."""
        lo, hi = self.engine.knobs.ip_local_port_range
        span = hi - lo + 1
        start = self._rng.randrange(span)
        for i in range(span):
            port = lo + (start + i) % span
            if usable(port):
                return port
        raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address (no free local port)")


def _scopes(ep: PortUser) -> tuple[int | None, int | None]:
    """The IPv4 and IPv6 addresses `ep` takes: None for none, 0 for any, else the address."""
    if ep.family != socket.AF_INET6:
        return ep.laddr, None
    if ep.laddr == 0:
        return (None if ep.options.get("v6only") else 0), 0
    if ep.laddr <= IPV4_MAX:
        return ep.laddr, None  # an IPv4-mapped address: IPv4's only
    return None, ep.laddr


def addresses_meet(a: PortUser, b: PortUser) -> bool:
    """Whether two sockets on one port would take the same packets (Linux inet_rcv_saddr_equal
    and ipv6_rcv_saddr_equal, for bind conflicts): in a family both take, the same address or
    a wildcard."""
    return any(x is not None and y is not None and (x == 0 or y == 0 or x == y)
               for x, y in zip(_scopes(a), _scopes(b), strict=True))
