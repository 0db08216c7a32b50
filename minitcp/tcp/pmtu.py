"""Path MTU discovery (RFC 1191) as Linux does it for TCP: an ICMP "fragmentation needed"
lowers the path MTU, the MSS follows, and what was sent too large goes again at once.

A router that cannot forward a datagram with Don't Fragment set answers ICMP destination
unreachable, code 4, with the MTU of its next hop (RFC 1191 section 4). Linux's tcp_v4_err
takes it for a connection whose quoted sequence number is in flight, and tcp_v4_mtu_reduced
lowers the route's MTU (__ip_rt_update_pmtu: never below net.ipv4.route.min_pmtu), the MSS
(tcp_sync_mss), and retransmits the segments that no longer fit (tcp_simple_retransmit):
the "fast" path MTU discovery, without waiting for the retransmission timer.

Simplifications: minitcp keeps the path MTU per connection (Linux's route cache keeps it per
destination for net.ipv4.route.mtu_expires, 10 minutes), does not clear DF on a path locked at
min_pmtu, and cuts the bytes in flight afresh rather than each buffer a write queued (below);
lost segments that cwnd holds back wait for the usual loss recovery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..wire.ipv6 import MIN_MTU
from .family import ip_tcp_headers, is_v6
from .sockopts import IP_PMTUDISC_DONT, pmtudisc
from .states import State

if TYPE_CHECKING:
    from .connection import Connection

_TS_OPTION = 12  # the timestamp option on every segment (RFC 7323 section 3)


def mtu_reduced(conn: Connection, mtu: int) -> None:
    """ICMP said the path takes at most `mtu` bytes (Linux tcp_v4_err -> tcp_v4_mtu_reduced)."""
    knobs = conn.engine.knobs
    if is_v6(conn.laddr):
        # Linux tcp_v6_err: an MTU below IPv6's minimum (RFC 8200 section 5) is ignored, and
        # neither ip_no_pmtu_disc nor route.min_pmtu (IPv4's knobs) applies.
        if mtu < MIN_MTU or conn.state in (State.CLOSED, State.LISTEN) or mtu >= conn.pmtu:
            return
        _lower(conn, mtu)
        return
    if knobs.ip_no_pmtu_disc:
        # Linux icmp_unreach passes the next-hop MTU on only with ip_no_pmtu_disc=0; with 1 the
        # sockets send without DF (IP_PMTUDISC_DONT), so nothing changes; 2 and 3 drop it for TCP.
        return
    if pmtudisc(conn) == IP_PMTUDISC_DONT:
        return  # Linux tcp_v4_mtu_reduced: a socket set to IP_PMTUDISC_DONT keeps its MSS
    if conn.state in (State.CLOSED, State.LISTEN) or mtu >= conn.pmtu:
        return  # __ip_rt_update_pmtu: a larger MTU is never taken from ICMP
    # __ip_rt_update_pmtu: below route.min_pmtu (552) the path is locked at min_pmtu.
    mtu = max(mtu, min(conn.pmtu, knobs.min_pmtu))
    if mtu >= conn.pmtu:
        return
    _lower(conn, mtu)


def _lower(conn: Connection, mtu: int) -> None:
    """The path MTU is now `mtu`: the MSS follows, and what was sent too large goes again."""
    conn.pmtu = mtu
    old_mss = conn.mss
    conn.mss = _mtu_to_mss(conn, mtu)
    conn.recovery.board.set_mss(conn.mss)
    if conn.mss < old_mss:
        _simple_retransmit(conn, old_mss)


def _mtu_to_mss(conn: Connection, mtu: int) -> int:
    """Linux tcp_sync_mss -> tcp_mtu_to_mss: the MTU less the headers, at most what the peer
    allows (mss_clamp, within the current MSS), at least tcp_min_snd_mss, less the options."""
    options = _TS_OPTION if conn.ts_ok else 0
    # The IP and TCP headers without options (Linux __tcp_mtu_to_mss: tcp_v4 or tcp_v6's net_header_len).
    mss = min(mtu - ip_tcp_headers(conn.laddr), conn.mss + options)
    return max(mss, conn.engine.knobs.tcp_min_snd_mss) - options


def _simple_retransmit(conn: Connection, old_mss: int) -> None:
    """Linux tcp_simple_retransmit: what was sent in segments longer than the new MSS is lost;
    it goes again at once, cut to the new MSS, as many segments as cwnd allows (a 2920-byte
    write sent as 1460 + 1460 goes again as 1360 + 1360 + 200, measured on 6.18). The window
    is left be ("units changed and effective cwnd/ssthresh really reduced now"), ssthresh
    raised to 3/4 cwnd (tcp_current_ssthresh); see `recovery.Recovery.simple_retransmit`."""
    if conn.state in (State.SYN_SENT, State.SYN_RECEIVED):
        return
    conn.recovery.simple_retransmit(conn, old_mss)
