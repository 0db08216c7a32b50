"""The pacing rate and the TSO packet sizes Linux derives from it (tcp_output.c, tcp_input.c).

Linux keeps `sk_pacing_rate`, a multiple of cwnd * mss / srtt set after every ACK
(tcp_update_pacing_rate), and sizes the packets tcp_write_xmit hands to TSO from it
(tcp_tso_autosize: about a millisecond of data, at least tcp_min_tso_segs segments, more
for a near peer); output.transmit cuts its packets at that and at half of cwnd
(tcp_cwnd_test, so that at least two packets are in flight). Linux paces only with the fq
qdisc or a congestion control that asks for it (tcp_needs_internal_pacing: SK_PACING_NEEDED,
which CUBIC and Reno never set); minitcp is in neither case, so the rate only sizes packets
and is reported (TCP_INFO's tcpi_pacing_rate), never delays a send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connection import Connection

# sk_pacing_rate and sk_max_pacing_rate before any ACK and without SO_MAX_PACING_RATE: ~0UL
# (net/core/sock.c sock_init_data).
NO_PACING_LIMIT = 0xFFFFFFFFFFFFFFFF
# sk_pacing_shift (sock_init_data): TSO packets of about 1/1024 s (~1 ms) of the pacing rate.
SK_PACING_SHIFT = 10
# sk_gso_max_size for a TSO route (sk_setup_caps): the device's GSO_LEGACY_MAX_SIZE, 65536,
# less MAX_TCP_HEADER + 1 (320 on x86-64: 128 + L1_CACHE_BYTES-aligned headers).
GSO_MAX_SIZE = 65536 - 320 - 1
USEC_PER_SEC = 1_000_000


class Pacing:
    """One connection's sk_pacing_rate (bytes per second), as Linux last set it."""

    __slots__ = ("rate",)

    def __init__(self) -> None:
        self.rate = NO_PACING_LIMIT

    def update(self, conn: Connection) -> None:
        """Linux tcp_update_pacing_rate: tcp_pacing_ss_ratio percent (200) of cwnd * mss / srtt in
        slow start (cwnd below half of ssthresh: nearing ssthresh, slow down), else
        tcp_pacing_ca_ratio percent (120); packets_out counts when above cwnd. Without an RTT
        sample the division is skipped (`if (likely(tp->srtt_us))`)."""
        rec = conn.recovery
        cc = rec.cc
        cwnd = cc.cwnd
        knobs = conn.engine.knobs
        ratio = knobs.tcp_pacing_ss_ratio if cwnd < cc.ssthresh >> 1 else knobs.tcp_pacing_ca_ratio
        out = rec.board.packets_out
        # mss * ((USEC_PER_SEC / 100) << 3) * ratio * cwnd / tp->srtt_us, srtt_us being srtt << 3.
        rate = conn.mss * (USEC_PER_SEC // 100 << 3) * ratio * (cwnd if cwnd > out else out)
        srtt = rec.srtt
        if srtt:
            rate //= round(srtt * USEC_PER_SEC) << 3 or 1
        self.rate = rate if rate < NO_PACING_LIMIT else NO_PACING_LIMIT  # no SO_MAX_PACING_RATE


def tso_segs(conn: Connection) -> int:
    """Linux tcp_tso_segs and tcp_tso_autosize: the segments one TSO packet may carry, the bytes
    the pacing rate sends in 2^-sk_pacing_shift s (~1 ms), plus, for a near peer, a share of
    sk_gso_max_size halved for every 2^tcp_tso_rtt_log us of min_rtt (a far peer gets ACK
    clocking, a near one fewer, bigger packets); at most sk_gso_max_size, at least
    tcp_min_tso_segs (CUBIC and Reno have no ca_ops->min_tso_segs)."""
    knobs = conn.engine.knobs
    bytes_ = conn.pacing.rate >> SK_PACING_SHIFT
    min_rtt = conn.recovery.min_rtt
    # tcp_min_rtt in us: ~0U with no sample yet.
    r = (round(min_rtt * USEC_PER_SEC) if min_rtt is not None else 0xFFFFFFFF) >> knobs.tcp_tso_rtt_log
    if r < 32:  # BITS_PER_TYPE(sk->sk_gso_max_size)
        bytes_ += GSO_MAX_SIZE >> r
    segs = (bytes_ if bytes_ < GSO_MAX_SIZE else GSO_MAX_SIZE) // conn.mss
    # (sk_gso_max_segs, GSO_MAX_SEGS 65535, is never the smaller: 64 KB over the least MSS.)
    return segs if segs > knobs.tcp_min_tso_segs else knobs.tcp_min_tso_segs
