"""TCP_INFO: what Linux's getsockopt(IPPROTO_TCP, TCP_INFO) reports, from a connection's block.

`tcp_info(conn, now)` gives the fields as a dict named like Linux's `struct tcp_info`
without the `tcpi_` prefix (net/ipv4/tcp.c tcp_get_info), in Linux's units: times in
microseconds, except the last_* times in milliseconds; windows in bytes; cwnd and
ssthresh in segments. `pack(info)` lays them out as the 248 bytes of Linux 6.12's
include/uapi/linux/tcp.h struct tcp_info, which is what a C program's getsockopt reads.

Fields minitcp cannot know (it keeps no SACK scoreboard, no delivery-rate samples, no RTO
recovery records) read 0, as they do on a Linux connection that never used them;
`NOT_TRACKED` names them. Some counts are derived rather than counted, to keep an idle
connection small: bytes_acked and bytes_received from the sequence numbers (they wrap
after 4 GiB, where Linux's are 64-bit), unacked and delivered in MSS-sized segments
(Linux counts the segments as they were cut: several small writes in flight are one
"segment" here).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from .cc import TCP_INFINITE_SSTHRESH, CaState
from .seq import seq_diff
from .states import SYNCHRONIZED, State

if TYPE_CHECKING:
    from .connection import Connection
    from .knobs import Knobs
    from .listener import Listener

# Linux include/net/tcp_states.h: TCP_ESTABLISHED = 1 ... TCP_CLOSING = 11.
LINUX_STATE = {
    State.ESTABLISHED: 1, State.SYN_SENT: 2, State.SYN_RECEIVED: 3, State.FIN_WAIT_1: 4,
    State.FIN_WAIT_2: 5, State.TIME_WAIT: 6, State.CLOSED: 7, State.CLOSE_WAIT: 8,
    State.LAST_ACK: 9, State.LISTEN: 10, State.CLOSING: 11,
}
# include/uapi/linux/tcp.h enum tcp_ca_state (cc.CaState).
CA_OPEN, CA_DISORDER, CA_CWR, CA_RECOVERY, CA_LOSS = CaState
# include/uapi/linux/tcp.h TCPI_OPT_*.
TCPI_OPT_TIMESTAMPS, TCPI_OPT_SACK, TCPI_OPT_WSCALE, TCPI_OPT_ECN = 1, 2, 4, 8
TCPI_OPT_ECN_SEEN, TCPI_OPT_SYN_DATA, TCPI_OPT_USEC_TS = 16, 32, 64
# include/net/tcp.h TCP_INFINITE_SSTHRESH; tcp_min_rtt() with no sample is ~0U.
INFINITE_SSTHRESH = TCP_INFINITE_SSTHRESH
NO_MIN_RTT = 0xFFFFFFFF
# sk_max_pacing_rate with no SO_MAX_PACING_RATE: ~0UL (net/core/sock.c sock_init_data).
NO_PACING_LIMIT = 0xFFFFFFFFFFFFFFFF

# struct tcp_info of Linux 6.12, field by field (name, struct code); the two 4-bit
# wscales share one byte (snd in the low bits, as GCC lays out bitfields on x86).
LAYOUT = (
    ("state", "B"), ("ca_state", "B"), ("retransmits", "B"), ("probes", "B"), ("backoff", "B"),
    ("options", "B"), ("wscale_byte", "B"), ("app_limited_byte", "B"),
    ("rto", "I"), ("ato", "I"), ("snd_mss", "I"), ("rcv_mss", "I"),
    ("unacked", "I"), ("sacked", "I"), ("lost", "I"), ("retrans", "I"), ("fackets", "I"),
    ("last_data_sent", "I"), ("last_ack_sent", "I"), ("last_data_recv", "I"), ("last_ack_recv", "I"),
    ("pmtu", "I"), ("rcv_ssthresh", "I"), ("rtt", "I"), ("rttvar", "I"), ("snd_ssthresh", "I"),
    ("snd_cwnd", "I"), ("advmss", "I"), ("reordering", "I"), ("rcv_rtt", "I"), ("rcv_space", "I"),
    ("total_retrans", "I"),
    ("pacing_rate", "Q"), ("max_pacing_rate", "Q"), ("bytes_acked", "Q"), ("bytes_received", "Q"),
    ("segs_out", "I"), ("segs_in", "I"), ("notsent_bytes", "I"), ("min_rtt", "I"),
    ("data_segs_in", "I"), ("data_segs_out", "I"),
    ("delivery_rate", "Q"), ("busy_time", "Q"), ("rwnd_limited", "Q"), ("sndbuf_limited", "Q"),
    ("delivered", "I"), ("delivered_ce", "I"),
    ("bytes_sent", "Q"), ("bytes_retrans", "Q"),
    ("dsack_dups", "I"), ("reord_seen", "I"), ("rcv_ooopack", "I"), ("snd_wnd", "I"), ("rcv_wnd", "I"),
    ("rehash", "I"), ("total_rto", "H"), ("total_rto_recoveries", "H"), ("total_rto_time", "I"),
)
STRUCT = struct.Struct("<" + "".join(code for _, code in LAYOUT))
assert STRUCT.size == 248  # sizeof(struct tcp_info) on Linux 6.12 (x86-64)

NOT_TRACKED = ("fackets", "last_ack_sent", "delivery_rate", "delivered_ce", "rcv_ooopack", "rehash",
               "total_rto", "total_rto_recoveries", "total_rto_time")


def _us(seconds: float) -> int:
    return max(round(seconds * 1_000_000), 0)


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 0)


def unconnected(knobs: Knobs, mss: int) -> dict[str, Any]:
    """A socket with no connection (Linux tcp_init_sock's values; state CLOSE)."""
    info = dict.fromkeys((name for name, _ in LAYOUT if not name.endswith("_byte")), 0)
    info.update(
        state=LINUX_STATE[State.CLOSED], rto=_us(knobs.tcp_rto_initial), snd_mss=536,
        rttvar=_us(knobs.tcp_rto_initial) // 4, snd_ssthresh=INFINITE_SSTHRESH,
        snd_cwnd=knobs.tcp_init_cwnd, advmss=mss, reordering=knobs.tcp_reordering,
        max_pacing_rate=NO_PACING_LIMIT, min_rtt=NO_MIN_RTT, snd_wscale=0, rcv_wscale=0,
        delivery_rate_app_limited=0, fastopen_client_fail=0,
    )
    return info


def listener_info(lst: Listener, knobs: Knobs, mss: int) -> dict[str, Any]:
    """A listener: Linux tcp_get_info reports the accept queue as unacked and the backlog as
    sacked."""
    info = unconnected(knobs, mss)
    info.update(state=LINUX_STATE[State.LISTEN], unacked=len(lst.accept_queue), sacked=lst.backlog)
    return info


def tcp_info(conn: Connection, now: float, state: State | None = None) -> dict[str, Any]:
    """The connection's struct tcp_info at `now` as a dict (Linux tcp_get_info).

    `state`: the socket's state when it differs from the connection's (a socket whose pair
    went to TIME_WAIT reads CLOSE, as on Linux).
    """
    eng = conn.engine
    knobs = eng.knobs
    rec = conn.recovery
    cc = rec.cc
    mss = max(conn.mss, 1)
    state = conn.state if state is None else state
    synced = conn.state in SYNCHRONIZED
    board = rec.board
    if conn.state in (State.SYN_SENT, State.SYN_RECEIVED):
        unacked = min(seq_diff(conn.snd_nxt, conn.snd_una), 1)  # the SYN (Linux packets_out)
    else:
        unacked = board.packets_out  # the retransmission queue's (a FIN alone is one too)
    options = 0
    if conn.ts_ok:
        options |= TCPI_OPT_TIMESTAMPS
    if conn.sack_ok:
        options |= TCPI_OPT_SACK
    if conn.wscale_ok:
        options |= TCPI_OPT_WSCALE
    if conn.ecn_ok:
        options |= TCPI_OPT_ECN
    # The congestion state (Linux icsk_ca_state) and the scoreboard's counts (recovery.py,
    # scoreboard.py): sacked_out, lost_out, retrans_out as tcp_get_info reports them.
    ca_state = int(cc.ca_state)
    lost = board.lost_out
    retrans = board.retrans_out
    srtt_us = _us(rec.srtt) if rec.srtt is not None else 0
    pacing = conn.pacing_rate
    rwin = conn.rwin
    # Linux tcp_snd_una_update and tcp_rcv_nxt_update count every sequence number acknowledged
    # or received once synchronized: the FIN too, our SYN only on the active side (a passive
    # connection is born with its SYN-ACK acknowledged), the peer's SYN never.
    bytes_acked = max(seq_diff(conn.snd_una, conn.iss) - (1 if conn.passive else 0), 0) \
        if conn.state != State.SYN_SENT else 0
    bytes_received = max(seq_diff(conn.rcv_nxt, conn.irs) - 1, 0) if synced else 0
    data_acked = max(bytes_acked - (0 if conn.passive else 1), 0)
    delivered = (1 if synced else 0) + -(-data_acked // mss)
    notsent = max(seq_diff((conn.sndbuf_seq + conn.send_queued), conn.snd_nxt), 0)
    # Linux tcp_get_info_chrono_stats: the time busy (all three kinds) and each limit.
    log = conn.sendlog
    busy, rwnd_limited, sndbuf_limited = log.totals(now) if log is not None else (0, 0, 0)
    return {
        "state": LINUX_STATE[state],
        "ca_state": ca_state,
        "retransmits": min(rec.retransmits, 255),
        "probes": min(conn.probes_out, 255),
        "backoff": min(rec.backoff, 255),
        "options": options,
        "snd_wscale": conn.snd_wscale if conn.wscale_ok else 0,
        "rcv_wscale": conn.rcv_wscale if conn.wscale_ok else 0,
        "delivery_rate_app_limited": 0,
        "fastopen_client_fail": 0,
        "rto": _us(rec.rto),
        "ato": _us(conn.delack.ato),
        "snd_mss": conn.mss,
        "rcv_mss": conn.rcv_mss,
        "unacked": unacked,
        "sacked": board.sacked_out,
        "lost": lost,
        "retrans": retrans,
        "fackets": 0,
        "last_data_sent": _ms(now - cc.last_send),
        "last_ack_sent": 0,  # Linux: "Not remembered, sorry."
        "last_data_recv": _ms(now - conn.delack.lrcvtime),
        "last_ack_recv": _ms(now - conn.last_recv),
        "pmtu": eng.mtu,
        "rcv_ssthresh": rwin.rcv_ssthresh,
        "rtt": srtt_us,
        # Linux starts mdev at TCP_TIMEOUT_INIT, so rttvar reads 250 ms before any sample.
        "rttvar": _us(rec.rttvar) if rec.srtt is not None else _us(knobs.tcp_rto_initial) // 4,
        "snd_ssthresh": cc.ssthresh,
        "snd_cwnd": cc.cwnd,
        # Linux takes the timestamp option off tp->advmss once it is agreed on
        # (tcp_rcv_synsent_state_process, tcp_create_openreq_child).
        "advmss": conn.advmss - (12 if conn.ts_ok and state != State.SYN_SENT else 0),
        "reordering": rec.reordering,
        "rcv_rtt": _us(rwin.rcv_rtt.rtt) if rwin.rcv_rtt is not None else 0,
        "rcv_space": rwin.rcvq_space.space if rwin.rcvq_space is not None else 0,
        "total_retrans": conn.total_retrans,
        "pacing_rate": min(pacing, NO_PACING_LIMIT),
        "max_pacing_rate": NO_PACING_LIMIT,
        "bytes_acked": bytes_acked,
        "bytes_received": bytes_received,
        "segs_out": conn.segs_out,
        "segs_in": conn.segs_in,
        "notsent_bytes": notsent,
        "min_rtt": _us(rec.min_rtt) if rec.min_rtt is not None else NO_MIN_RTT,
        "data_segs_in": conn.data_segs_in,
        "data_segs_out": log.data_segs_out if log is not None else 0,
        "delivery_rate": 0,
        "busy_time": _us(busy),
        "rwnd_limited": _us(rwnd_limited),
        "sndbuf_limited": _us(sndbuf_limited),
        "delivered": delivered,
        "delivered_ce": 0,
        "bytes_sent": log.bytes_sent if log is not None else 0,
        "bytes_retrans": log.bytes_retrans if log is not None else 0,
        "dsack_dups": rec.dsack_dups,
        "reord_seen": rec.reord_seen,
        "rcv_ooopack": 0,
        "snd_wnd": conn.snd_wnd,
        "rcv_wnd": max(seq_diff(conn.rcv_adv, conn.rcv_wup), 0) if synced else 0,
        "rehash": 0,
        "total_rto": 0,
        "total_rto_recoveries": 0,
        "total_rto_time": 0,
    }


def pack(info: dict[str, Any]) -> bytes:
    """The dict as Linux's struct tcp_info bytes (each value cut to its field's width)."""
    values = []
    for name, code in LAYOUT:
        if name == "wscale_byte":
            value = (info["snd_wscale"] & 0xF) | (info["rcv_wscale"] & 0xF) << 4
        elif name == "app_limited_byte":
            value = (info.get("delivery_rate_app_limited", 0) & 1) \
                | (info.get("fastopen_client_fail", 0) & 3) << 1
        else:
            value = info[name]
        values.append(value & ((1 << (8 * struct.calcsize(code))) - 1))
    return STRUCT.pack(*values)


def unpack(data: bytes) -> dict[str, Any]:
    """Bytes of a struct tcp_info (Linux's or ours; a shorter, older one is padded) as the dict."""
    data = data[:STRUCT.size].ljust(STRUCT.size, b"\0")
    raw = dict(zip((name for name, _ in LAYOUT), STRUCT.unpack(data), strict=True))
    wscale, app = raw.pop("wscale_byte"), raw.pop("app_limited_byte")
    raw.update(snd_wscale=wscale & 0xF, rcv_wscale=wscale >> 4, delivery_rate_app_limited=app & 1,
               fastopen_client_fail=(app >> 1) & 3)
    return raw
