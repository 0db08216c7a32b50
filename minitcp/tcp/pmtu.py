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
from ..wire.segment import ACK, FIN, PSH
from . import output
from .cc import CaState
from .family import ip_tcp_headers, is_v6
from .seq import MASK, seq_diff, seq_lt
from .states import State
from .timers import TimerKind

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
    if conn.mss < old_mss:
        _simple_retransmit(conn)


def _mtu_to_mss(conn: Connection, mtu: int) -> int:
    """Linux tcp_sync_mss -> tcp_mtu_to_mss: the MTU less the headers, at most what the peer
    allows (mss_clamp, within the current MSS), at least tcp_min_snd_mss, less the options."""
    options = _TS_OPTION if conn.ts_ok else 0
    # The IP and TCP headers without options (Linux __tcp_mtu_to_mss: tcp_v4 or tcp_v6's net_header_len).
    mss = min(mtu - ip_tcp_headers(conn.laddr), conn.mss + options)
    return max(mss, conn.engine.knobs.tcp_min_snd_mss) - options


def _simple_retransmit(conn: Connection) -> None:
    """Linux tcp_simple_retransmit: what was sent longer than the new MSS is lost; send it again
    now, cut to the new MSS, as many segments as cwnd allows.

    Linux keeps what one write queued as one buffer (sk_buff) and retransmits each lost one cut
    at the new MSS (__tcp_retransmit_skb): a 2920-byte write sent as 1460 + 1460 goes again as
    1360 + 1360 + 200 (measured on 6.18). minitcp keeps no such boundaries and cuts the bytes in
    flight from snd_una; it sends them again only when they are longer than the new MSS.
    Linux counts cwnd and ssthresh in segments, as minitcp does, and leaves them be ("units
    changed and effective cwnd/ssthresh really reduced now"), raising ssthresh to 3/4 cwnd
    (tcp_current_ssthresh). The retransmission restarts the RTO (tcp_xmit_retransmit_queue,
    for the head).
    """
    buf = conn.sndbuf
    if buf is None or conn.state in (State.SYN_SENT, State.SYN_RECEIVED):
        return
    fin_sent = conn.fin_queued and seq_lt(conn.fin_seq, conn.snd_max)
    off = seq_diff(conn.snd_una, conn.sndbuf_seq)
    data = min(seq_diff(conn.snd_max, conn.snd_una) - fin_sent, len(buf) - off)
    mss = conn.mss
    if data <= mss:
        return  # nothing in flight is longer than the new MSS
    cc = conn.recovery.cc
    if cc.ca_state != CaState.LOSS:
        cc.ssthresh = cc.current_ssthresh()
    for piece in range(0, min(data, cc.cwnd * mss), mss):
        n = min(mss, data - piece)
        flags = ACK
        if piece + n == data:
            flags |= PSH | (FIN if fin_sent and off + data == len(buf) else 0)
        output.send_data(conn, (conn.snd_una + piece) & MASK, flags, buf.view(off + piece, n))
    conn.set_timer(TimerKind.RTO, conn.engine.now + conn.recovery.rto)
