"""TCP_INFO as `%{ }%` snippets read it: Linux's `struct tcp_info` fields and constants.

A snippet is Python over `tcpi_*` names (packetdrill's code.c hands it every
field of Linux's struct tcp_info) and the constants Linux's scripts use. For
minitcp the fields are its own getsockopt(TCP_INFO) (`Socket.tcp_info()`, see
minitcp/tcp/tcpinfo.py); for the kernel, the struct it gives, unpacked here.
"""

from __future__ import annotations

import struct

# Linux include/net/tcp_states.h: tcpi_state's values, by FreeBSD's names for the states
# (the names the runner's targets report states by).
LINUX_STATE_BY_FREEBSD_NAME = {
    "ESTABLISHED": 1, "SYN_SENT": 2, "SYN_RCVD": 3, "FIN_WAIT_1": 4, "FIN_WAIT_2": 5, "TIME_WAIT": 6,
    "CLOSED": 7, "CLOSE_WAIT": 8, "LAST_ACK": 9, "LISTEN": 10, "CLOSING": 11,
}

# The names Linux's scripts compare tcpi_* fields with: include/net/tcp_states.h,
# include/uapi/linux/tcp.h (TCPI_OPT_*, TCP_CA_*), include/net/tcp.h (TCP_INFINITE_SSTHRESH).
LINUX_CONSTANTS: dict[str, int] = {
    "TCP_ESTABLISHED": 1, "TCP_SYN_SENT": 2, "TCP_SYN_RECV": 3, "TCP_FIN_WAIT1": 4, "TCP_FIN_WAIT2": 5,
    "TCP_TIME_WAIT": 6, "TCP_CLOSE": 7, "TCP_CLOSE_WAIT": 8, "TCP_LAST_ACK": 9, "TCP_LISTEN": 10,
    "TCP_CLOSING": 11, "TCP_NEW_SYN_RECV": 12,
    "TCPI_OPT_TIMESTAMPS": 1, "TCPI_OPT_SACK": 2, "TCPI_OPT_WSCALE": 4, "TCPI_OPT_ECN": 8,
    "TCPI_OPT_ECN_SEEN": 16, "TCPI_OPT_SYN_DATA": 32, "TCPI_OPT_USEC_TS": 64,
    "TCP_CA_Open": 0, "TCP_CA_Disorder": 1, "TCP_CA_CWR": 2, "TCP_CA_Recovery": 3, "TCP_CA_Loss": 4,
    "TCP_INFINITE_SSTHRESH": 0x7FFFFFFF,
}

# Linux 6.12's struct tcp_info (include/uapi/linux/tcp.h), in order: (field, struct format).
# The two 4-bit window scales share a byte, as do the flags after them.
_KERNEL_FIELDS: tuple[tuple[str, str], ...] = (
    ("state", "B"), ("ca_state", "B"), ("retransmits", "B"), ("probes", "B"), ("backoff", "B"),
    ("options", "B"), ("wscales", "B"), ("flags", "B"),
    *((name, "I") for name in (
        "rto", "ato", "snd_mss", "rcv_mss", "unacked", "sacked", "lost", "retrans", "fackets",
        "last_data_sent", "last_ack_sent", "last_data_recv", "last_ack_recv", "pmtu", "rcv_ssthresh",
        "rtt", "rttvar", "snd_ssthresh", "snd_cwnd", "advmss", "reordering", "rcv_rtt", "rcv_space",
        "total_retrans")),
    ("pacing_rate", "Q"), ("max_pacing_rate", "Q"), ("bytes_acked", "Q"), ("bytes_received", "Q"),
    ("segs_out", "I"), ("segs_in", "I"), ("notsent_bytes", "I"), ("min_rtt", "I"),
    ("data_segs_in", "I"), ("data_segs_out", "I"), ("delivery_rate", "Q"), ("busy_time", "Q"),
    ("rwnd_limited", "Q"), ("sndbuf_limited", "Q"), ("delivered", "I"), ("delivered_ce", "I"),
    ("bytes_sent", "Q"), ("bytes_retrans", "Q"), ("dsack_dups", "I"), ("reord_seen", "I"),
    ("rcv_ooopack", "I"), ("snd_wnd", "I"), ("rcv_wnd", "I"), ("rehash", "I"),
    ("total_rto", "H"), ("total_rto_recoveries", "H"), ("total_rto_time", "I"),
)
KERNEL_TCP_INFO = struct.Struct("=" + "".join(fmt for _, fmt in _KERNEL_FIELDS))


def kernel_tcp_info(raw: bytes) -> dict[str, int]:
    """The `tcpi_*` fields of a struct tcp_info the kernel gave (an older kernel's shorter one
    leaves the newer fields 0)."""
    values = KERNEL_TCP_INFO.unpack(raw[:KERNEL_TCP_INFO.size].ljust(KERNEL_TCP_INFO.size, b"\0"))
    fields = {f"tcpi_{name}": value for (name, _), value in zip(_KERNEL_FIELDS, values, strict=True)}
    wscales = fields.pop("tcpi_wscales")
    fields["tcpi_snd_wscale"], fields["tcpi_rcv_wscale"] = wscales & 0xF, wscales >> 4
    flags = fields.pop("tcpi_flags")
    fields["tcpi_delivery_rate_app_limited"] = flags & 1
    fields["tcpi_fastopen_client_fail"] = (flags >> 1) & 3
    return fields
