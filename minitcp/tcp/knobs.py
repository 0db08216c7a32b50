"""The one table of knobs, with Linux 6.12 defaults, named after Linux sysctls.

Each field is one sysctl (without its `net.ipv4.` or `net.core.` prefix) or one
compile-time constant of the Linux stack (named after the macro, lower-cased).
Times are in seconds, except `busy_poll` (microseconds, as Linux's). Sources are
in ../shared/reference/linux-tcp-behaviour.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class Knobs:
    # Retransmission timer, RFC 6298 section 2; Linux TCP_TIMEOUT_INIT, TCP_RTO_MIN, TCP_RTO_MAX.
    tcp_rto_initial: float = 1.0
    tcp_rto_min: float = 0.200
    tcp_rto_max: float = 120.0
    # Retry limits (tcp_timer.c). Counted in retransmissions of one segment.
    tcp_syn_retries: int = 6
    tcp_synack_retries: int = 5
    tcp_retries2: int = 15
    tcp_orphan_retries: int = 0  # 0 means 8, as in tcp_orphan_retries()
    # Newer kernels keep the first N SYN timeouts linear at 1 s; 6.12 does not (0).
    tcp_syn_linear_timeouts: int = 0
    # Teardown (tcp.h): orphaned FIN_WAIT_2 lifetime and TIME_WAIT length (TCP_TIMEWAIT_LEN).
    tcp_fin_timeout: float = 60.0
    tcp_timewait_len: float = 60.0
    tcp_max_tw_buckets: int = 262144
    tcp_rfc1337: int = 0
    # Delayed ACK (tcp.h TCP_DELACK_MIN/MAX, TCP_ATO_MIN) and quick-ACK (TCP_MAX_QUICKACKS).
    tcp_delack_min: float = 0.040
    tcp_delack_max: float = 0.200
    tcp_max_quickacks: int = 16
    # Options negotiated on SYN (RFC 7323, RFC 2018).
    tcp_timestamps: int = 1
    tcp_sack: int = 1
    tcp_window_scaling: int = 1
    tcp_dsack: int = 1  # RFC 2883 D-SACK blocks for duplicate segments (with SACK only)
    # ECN negotiation (RFC 3168 section 6.1.1): 0 off, 1 request it on our SYNs and accept it,
    # 2 (Linux's default) accept it when the peer's SYN requests it but never request it.
    tcp_ecn: int = 2
    tcp_ecn_fallback: int = 1  # a retransmitted SYN goes without ECE|CWR (RFC 3168 section 6.1.1.1)
    # Buffers (min, default, max) in bytes: a new socket starts at the default; receive
    # autotuning (tcp_moderate_rcvbuf, Linux tcp_rcv_space_adjust) grows it up to the max
    # unless the application set SO_RCVBUF.
    tcp_rmem: tuple[int, int, int] = (4096, 131072, 6291456)
    tcp_moderate_rcvbuf: int = 1
    tcp_wmem: tuple[int, int, int] = (4096, 16384, 4194304)
    # Congestion control, RFC 5681 / RFC 6582 NewReno, RFC 6928 initial window.
    tcp_init_cwnd: int = 10
    tcp_slow_start_after_idle: int = 1
    tcp_reordering: int = 3  # duplicate ACKs that trigger fast retransmit
    # Keepalive (tcp.h TCP_KEEPALIVE_TIME/INTVL/PROBES), only with SO_KEEPALIVE.
    tcp_keepalive_time: float = 7200.0
    tcp_keepalive_intvl: float = 75.0
    tcp_keepalive_probes: int = 9
    # Listen queues and RFC 5961 challenge ACKs.
    tcp_abort_on_overflow: int = 0
    tcp_max_syn_backlog: int = 4096
    somaxconn: int = 4096
    tcp_challenge_ack_limit: int = 2147483647  # per second, whole stack (INT_MAX since 6.0)
    tcp_invalid_ratelimit: float = 0.500  # per connection, for challenge and out-of-window ACKs
    # The TTL of segments whose socket did not set IP_TTL (net.ipv4.ip_default_ttl).
    ip_default_ttl: int = 64
    # Local ports for connect() and bind(port 0).
    ip_local_port_range: tuple[int, int] = (32768, 60999)
    # net.core.busy_poll, in microseconds: when every task waits, the stack polls its link this
    # long for the next packet before the process sleeps (Stack, a TUN link only). It buys the
    # wake-up of a sleeping process (tens of µs on a VM) with CPU; 0, Linux's default, is off.
    busy_poll: int = 0
    # Not Linux: FreeBSD's net.inet.tcp.insecure_rst, accept any in-window RST (RFC 5961 off).
    tcp_insecure_rst: int = 0
    # Not Linux: FreeBSD's net.inet.tcp.insecure_syn, RFC 5961 section 4 off: an in-window SYN on
    # a synchronized connection resets it (RFC 793 page 71) instead of earning a challenge ACK.
    tcp_insecure_syn: int = 0

    def set(self, name: str, value: Any) -> None:
        """Set a knob by its sysctl name (`net.ipv4.tcp_fin_timeout` or `tcp_fin_timeout`).

        Strings are converted to the knob's type, so command-line values work:
        `"5"`, `"32768 60999"`.
        """
        short = name.removeprefix("net.ipv4.").removeprefix("net.core.")
        fields = {f.name: f for f in dataclasses.fields(self)}
        if short not in fields:
            raise KeyError(f"unknown knob {name!r}; known: {', '.join(sorted(fields))}")
        current = getattr(self, short)
        setattr(self, short, _convert(short, value, current))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def orphan_retries(self) -> int:
        """tcp_orphan_retries with Linux's reading of 0 as 8 (tcp_timer.c tcp_orphan_retries())."""
        return self.tcp_orphan_retries or 8


def _convert(name: str, value: Any, current: Any) -> Any:
    if isinstance(current, tuple):
        parts = value.split() if isinstance(value, str) else list(value)
        if len(parts) != len(current):
            raise ValueError(f"{name} takes {len(current)} numbers, got {value!r}")
        return tuple(type(c)(p) for c, p in zip(current, parts, strict=True))
    if isinstance(current, bool | int) and isinstance(value, str):
        return int(value)
    return type(current)(value)
