"""The one table of knobs, with Linux 6.12 defaults, named after Linux sysctls.

Each field is one sysctl (without its `net.ipv4.` or `net.core.` prefix) or one
compile-time constant of the Linux stack (named after the macro, lower-cased).
Times are in seconds, except `busy_poll` (microseconds, as Linux's). Sources are
in ../shared/reference/linux-tcp-behaviour.md.

Every knob also has a range (`RANGES`): Linux's own where the sysctl has one,
from the bounds of its table entry in net/ipv4/sysctl_net_ipv4.c (extra1 and
extra2 of proc_dointvec_minmax, or the u8 of proc_dou8vec_minmax). Knobs()
and `set` refuse a value outside it with `KnobRangeError`, worded as
sysctl(8) words EINVAL, so a bad value stops a stack before it starts rather
than the first segment it would break.
"""

from __future__ import annotations

import dataclasses
import math
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
    # connect() may take over a TIME_WAIT pair whose last timestamp is older than the delay
    # (Linux tcp_twsk_unique): 0 never, 1 always, 2 (the default) on loopback only.
    tcp_tw_reuse: int = 2
    tcp_tw_reuse_delay: float = 1.0  # milliseconds in Linux (1000), seconds here
    # Connections closed by the application but still open on the wire (FIN_WAIT_1, LAST_ACK...);
    # one more is reset (Linux tcp_check_oom). Linux's tcp_init sets it, like tcp_max_tw_buckets,
    # to half the established hash table: 262144 on a host whose table has its 512K cap.
    tcp_max_orphans: int = 262144
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
    # Congestion control (cc/): the algorithm new connections use (Linux's default CUBIC, set
    # by CONFIG_DEFAULT_TCP_CONG), RFC 6928 initial window in segments (Linux tcp_init_cwnd).
    tcp_congestion_control: str = "cubic"
    tcp_init_cwnd: int = 10
    tcp_slow_start_after_idle: int = 1
    # Pacing rate and TSO sizes (pacing.py): the rate is tcp_pacing_ss_ratio percent of
    # cwnd * mss / srtt in slow start, tcp_pacing_ca_ratio percent after (tcp_update_pacing_rate);
    # a TSO packet carries at least tcp_min_tso_segs segments, and a share of the GSO size
    # halved per 2^tcp_tso_rtt_log us of min_rtt (tcp_tso_autosize).
    tcp_pacing_ss_ratio: int = 200
    tcp_pacing_ca_ratio: int = 120
    tcp_min_tso_segs: int = 2
    tcp_tso_rtt_log: int = 9
    # tcp_tso_should_defer (tsodefer.py): a TSO packet waits for more room unless 1/divisor of
    # the window is free already (0: unless room for more than 3 segments).
    tcp_tso_win_divisor: int = 3
    tcp_reordering: int = 3  # duplicate ACKs that trigger fast retransmit (initial tp->reordering)
    tcp_max_reordering: int = 300  # the most tcp_check_sack_reordering may raise it to
    # Loss recovery (Documentation/networking/ip-sysctl.rst): tcp_recovery bit 0x1 RACK loss
    # detection (RFC 8985), 0x2 static reordering window, 0x4 no duplicate threshold;
    # tcp_early_retrans 3 (or 4) tail loss probes (RFC 8985 section 7); tcp_frto 2, F-RTO
    # (RFC 5682) in its SACK-enhanced version.
    tcp_recovery: int = 1
    tcp_early_retrans: int = 3
    tcp_frto: int = 2
    # A retransmission of a short segment takes the short ones after it into one packet of up
    # to an MSS (tcp_output.c tcp_retrans_try_collapse); 0 resends each as it went.
    tcp_retrans_collapse: int = 1
    # Unsent bytes above which a socket is not writable (poll, blocking send), unless its
    # TCP_NOTSENT_LOWAT says otherwise; UINT_MAX, Linux's default, is no limit.
    tcp_notsent_lowat: int = 0xFFFFFFFF
    # Keepalive (tcp.h TCP_KEEPALIVE_TIME/INTVL/PROBES), only with SO_KEEPALIVE.
    tcp_keepalive_time: float = 7200.0
    tcp_keepalive_intvl: float = 75.0
    tcp_keepalive_probes: int = 9
    # Listen queues and RFC 5961 challenge ACKs.
    tcp_abort_on_overflow: int = 0
    tcp_max_syn_backlog: int = 4096
    # SYN cookies (syncookies.py): 1 when the SYN queue is full, 2 for every SYN, 0 never.
    tcp_syncookies: int = 1
    somaxconn: int = 4096
    tcp_challenge_ack_limit: int = 2147483647  # per second, whole stack (INT_MAX since 6.0)
    tcp_invalid_ratelimit: float = 0.500  # per connection, for challenge and out-of-window ACKs
    # The TTL of segments whose socket did not set IP_TTL (net.ipv4.ip_default_ttl).
    ip_default_ttl: int = 64
    # Path MTU discovery (RFC 1191, pmtu.py): 0 acts on ICMP "fragmentation needed"
    # (net.ipv4.ip_no_pmtu_disc); the lowest path MTU it may set (net.ipv4.route.min_pmtu,
    # 512 + 20 + 20); the lowest MSS it may leave (net.ipv4.tcp_min_snd_mss).
    ip_no_pmtu_disc: int = 0
    min_pmtu: int = 552
    tcp_min_snd_mss: int = 48
    # Fragment reassembly (host/reassembly.py), per family: memory above which fragments are
    # dropped (net.ipv4.ipfrag_high_thresh, 4 MB), the obsolete eviction mark kept as a bound
    # (ipfrag_low_thresh, 3 MB; unused since Linux 4.17), how long a datagram's fragments wait
    # (ipfrag_time, 30 s). IPv6's (net.ipv6.ip6frag_*) have the same defaults but the time,
    # IPV6_FRAG_TIMEOUT, 60 s (include/net/ipv6.h).
    ipfrag_high_thresh: int = 4 * 1024 * 1024
    ipfrag_low_thresh: int = 3 * 1024 * 1024
    ipfrag_time: float = 30.0
    ip6frag_high_thresh: int = 4 * 1024 * 1024
    ip6frag_low_thresh: int = 3 * 1024 * 1024
    ip6frag_time: float = 60.0
    # ICMP errors the host sends (host/icmp_ratelimit.py, Linux net/ipv4/icmp.c): seconds of
    # tokens a message to one destination costs (net.ipv4.icmp_ratelimit, 1000 ms), the types
    # limited (icmp_ratemask, bit n for type n: 3, 4, 11, 12), the global bucket of both
    # families (icmp_msgs_per_sec, icmp_msgs_burst). IPv6 (net.ipv6.icmp.ratelimit and
    # .ratemask, a bitmap of types written "0-1,3-127" in Linux: every error but packet too big).
    icmp_ratelimit: float = 1.0
    icmp_ratemask: int = 6168
    icmp_msgs_per_sec: int = 1000
    icmp_msgs_burst: int = 50
    icmpv6_ratelimit: float = 1.0
    icmpv6_ratemask: int = ((1 << 128) - 1) & ~(1 << 2)
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
        short = name.removeprefix("net.ipv4.").removeprefix("net.core.").removeprefix("route.")
        short = short.removeprefix("net.ipv6.").replace("icmp.", "icmpv6_", 1)
        fields = {f.name: f for f in dataclasses.fields(self)}
        if short not in fields:
            raise KeyError(f"unknown knob {name!r}; known: {', '.join(sorted(fields))}")
        current = getattr(self, short)
        converted = _convert(short, value, current)
        check(short, converted)
        check_pairs({**self.as_dict(), short: converted}, short)
        setattr(self, short, converted)

    def __post_init__(self) -> None:
        """Knobs(ip_default_ttl=300) is refused as `set` would refuse it."""
        self.validate()

    def validate(self) -> None:
        """KnobRangeError for the first knob outside its range (one assigned directly, say)."""
        values = self.as_dict()
        for name, value in values.items():
            check(name, value)
        check_pairs(values)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def tcp_available_congestion_control(self) -> str:
        """net.ipv4.tcp_available_congestion_control (read-only): the algorithms there are."""
        return " ".join(_choices("tcp_congestion_control"))

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


# ---------------------------------------------------------------------------- ranges

INT_MAX = 2**31 - 1  # a sysctl of proc_dointvec type is a C int
ULONG_MAX = 2**64 - 1  # proc_doulongvec_minmax knobs are C unsigned longs
U8_MAX = 255  # proc_dou8vec_minmax knobs are stored in a u8 even without extra1/extra2
HZ = 250  # jiffies per second (CONFIG_HZ_250, as the delayed-ACK notes in the reference assume)
# proc_dointvec_jiffies refuses more than INT_MAX / HZ seconds (do_proc_dointvec_jiffies_conv).
JIFFIES_MAX = INT_MAX // HZ
MAX_TCP_SYNCNT = 127  # include/net/tcp.h: the most SYN retries tcp_syn_retries allows
IP_UNPRIVILEGED_PORT_START = 1024  # net.ipv4.ip_unprivileged_port_start's default

# (lowest, highest) of each knob, both allowed; every member of a (min, default, max) knob.
# Where Linux's table has no bound (plain proc_dointvec) minitcp still refuses what is never
# meaningful, a negative count or time (Linux would take it), and says so beside the entry.
RANGES: dict[str, tuple[float, float]] = {
    # Not sysctls in 6.12 but constants (TCP_TIMEOUT_INIT, TCP_RTO_MIN, TCP_RTO_MAX); newer kernels'
    # tcp_rto_min_us takes at least 1 us (extra1 SYSCTL_ONE) and tcp_rto_max_ms 1 s to 120 s.
    "tcp_rto_initial": (1e-6, JIFFIES_MAX),
    "tcp_rto_min": (1e-6, JIFFIES_MAX),
    "tcp_rto_max": (1.0, 120.0),
    "tcp_syn_retries": (1, MAX_TCP_SYNCNT),  # extra1 tcp_syn_retries_min, extra2 tcp_syn_retries_max
    "tcp_synack_retries": (0, U8_MAX),
    "tcp_retries2": (0, U8_MAX),
    "tcp_orphan_retries": (0, U8_MAX),
    "tcp_syn_linear_timeouts": (0, MAX_TCP_SYNCNT),  # extra2 tcp_syn_linear_timeouts_max
    "tcp_fin_timeout": (0, JIFFIES_MAX),  # proc_dointvec_jiffies; negatives refused (Linux takes them)
    "tcp_timewait_len": (0, JIFFIES_MAX),  # TCP_TIMEWAIT_LEN, a constant in Linux
    "tcp_max_tw_buckets": (0, INT_MAX),  # proc_dointvec; negatives refused
    "tcp_tw_reuse": (0, 2),  # proc_dou8vec_minmax, extra1 SYSCTL_ZERO, extra2 SYSCTL_TWO
    "tcp_tw_reuse_delay": (0.001, 60.0),  # proc_douintvec_minmax 1 to TCP_PAWS_MSL * 1000 ms
    "tcp_max_orphans": (0, INT_MAX),  # proc_dointvec; negatives refused
    "tcp_rfc1337": (0, U8_MAX),
    "tcp_delack_min": (0, JIFFIES_MAX),  # TCP_DELACK_MIN, a constant
    "tcp_delack_max": (0, JIFFIES_MAX),  # TCP_DELACK_MAX, a constant
    "tcp_max_quickacks": (0, U8_MAX),  # TCP_MAX_QUICKACKS; the count lives in a u8 (icsk_ack.quick)
    "tcp_timestamps": (0, U8_MAX),
    "tcp_sack": (0, U8_MAX),
    "tcp_window_scaling": (0, U8_MAX),
    "tcp_dsack": (0, U8_MAX),
    "tcp_ecn": (0, 2),  # extra1 SYSCTL_ZERO, extra2 SYSCTL_TWO
    "tcp_ecn_fallback": (0, 1),  # extra2 SYSCTL_ONE
    "tcp_rmem": (1, INT_MAX),  # proc_dointvec_minmax, extra1 SYSCTL_ONE, for each of the three
    "tcp_moderate_rcvbuf": (0, U8_MAX),
    "tcp_wmem": (1, INT_MAX),  # as tcp_rmem
    # A route's initcwnd in Linux, where 0 means "the default"; here it is the window itself.
    "tcp_init_cwnd": (1, INT_MAX),
    "tcp_slow_start_after_idle": (0, U8_MAX),
    "tcp_pacing_ss_ratio": (0, 1000),  # proc_dointvec_minmax, extra1 SYSCTL_ZERO, extra2 SYSCTL_ONE_THOUSAND
    "tcp_pacing_ca_ratio": (0, 1000),  # as tcp_pacing_ss_ratio
    "tcp_min_tso_segs": (1, U8_MAX),  # proc_dou8vec_minmax, extra1 SYSCTL_ONE
    "tcp_tso_rtt_log": (0, U8_MAX),  # proc_dou8vec_minmax
    "tcp_tso_win_divisor": (0, U8_MAX),  # proc_dou8vec_minmax
    "tcp_reordering": (0, INT_MAX),  # proc_dointvec; negatives refused
    "tcp_max_reordering": (0, INT_MAX),  # proc_dointvec; negatives refused
    "tcp_recovery": (0, U8_MAX),  # proc_dou8vec_minmax
    "tcp_early_retrans": (0, 4),  # extra1 SYSCTL_ZERO, extra2 SYSCTL_FOUR
    "tcp_frto": (0, U8_MAX),  # proc_dou8vec_minmax
    "tcp_retrans_collapse": (0, U8_MAX),  # proc_dou8vec_minmax
    "tcp_notsent_lowat": (0, 0xFFFFFFFF),  # proc_douintvec
    "tcp_keepalive_time": (0, JIFFIES_MAX),  # proc_dointvec_jiffies
    "tcp_keepalive_intvl": (0, JIFFIES_MAX),  # proc_dointvec_jiffies
    "tcp_keepalive_probes": (0, U8_MAX),
    "tcp_abort_on_overflow": (0, U8_MAX),
    # proc_dointvec in Linux, where the SYN queue is bounded by the listen backlog and this only
    # starts early drops; minitcp's listener (listener.py) caps its SYN queue at it, so 0 would
    # refuse every SYN: at least 1.
    "tcp_max_syn_backlog": (1, INT_MAX),
    "tcp_syncookies": (0, U8_MAX),  # proc_dou8vec_minmax without bounds; above 2 acts as 1
    "somaxconn": (0, INT_MAX),  # net/core/sysctl_net_core.c: extra1 SYSCTL_ZERO
    "tcp_challenge_ack_limit": (0, INT_MAX),  # proc_dointvec; negatives refused
    "tcp_invalid_ratelimit": (0, INT_MAX / 1000),  # proc_dointvec_ms_jiffies (ms there, s here)
    "ip_default_ttl": (1, 255),  # extra1 ip_ttl_min, extra2 ip_ttl_max
    "ip_no_pmtu_disc": (0, U8_MAX),
    "min_pmtu": (68, INT_MAX),  # route.min_pmtu: extra1 ip_min_valid_pmtu (IPV4_MIN_MTU)
    "tcp_min_snd_mss": (48, 65535),  # extra1 tcp_min_snd_mss_min, extra2 tcp_min_snd_mss_max
    # ipv4_local_port_range: proc_dointvec_minmax between ip_local_port_range_min/max, then EINVAL
    # unless low <= high and low >= ip_unprivileged_port_start (see check()).
    "ip_local_port_range": (1, 65535),
    "busy_poll": (0, INT_MAX),  # net/core/sysctl_net_core.c: extra1 SYSCTL_ZERO
    # net/ipv4/ip_fragment.c, net/ipv6/reassembly.c: proc_doulongvec_minmax, the high threshold
    # at least the low one (extra1) and the low at most the high (extra2): see check_pairs().
    "ipfrag_high_thresh": (0, ULONG_MAX),
    "ipfrag_low_thresh": (0, ULONG_MAX),
    "ipfrag_time": (0, JIFFIES_MAX),  # proc_dointvec_jiffies; negatives refused
    "ip6frag_high_thresh": (0, ULONG_MAX),
    "ip6frag_low_thresh": (0, ULONG_MAX),
    "ip6frag_time": (0, JIFFIES_MAX),
    # net/ipv4/sysctl_net_ipv4.c: icmp_ratelimit proc_dointvec_ms_jiffies, icmp_ratemask
    # proc_dointvec (negatives refused), icmp_msgs_per_sec and _burst extra1 SYSCTL_ZERO.
    "icmp_ratelimit": (0, INT_MAX / 1000),
    "icmp_ratemask": (0, INT_MAX),
    "icmp_msgs_per_sec": (0, INT_MAX),
    "icmp_msgs_burst": (0, INT_MAX),
    # net/ipv6/icmp.c: ratelimit proc_dointvec_ms_jiffies, ratemask a bitmap of the 256 types.
    "icmpv6_ratelimit": (0, INT_MAX / 1000),
    "icmpv6_ratemask": (0, 2**256 - 1),
    # FreeBSD's (SYSCTL_INT): switches; negatives refused.
    "tcp_insecure_rst": (0, INT_MAX),
    "tcp_insecure_syn": (0, INT_MAX),
}
_NET_CORE = frozenset({"somaxconn", "busy_poll"})  # net.core.*, the rest are net.ipv4.*
_ROUTE = frozenset({"min_pmtu"})  # net.ipv4.route.*
_IPV6 = frozenset({"ip6frag_high_thresh", "ip6frag_low_thresh", "ip6frag_time"})  # net.ipv6.*
# (high, low) threshold pairs: ip_fragment.c's table bounds each by the other.
_PAIRS = (("ipfrag_high_thresh", "ipfrag_low_thresh"), ("ip6frag_high_thresh", "ip6frag_low_thresh"))


def sysctl_name(name: str) -> str:
    """The full sysctl name of a knob, as `sysctl -a` prints it: `net.ipv4.tcp_fin_timeout`."""
    if name in _IPV6:
        return "net.ipv6." + name
    if name.startswith("icmpv6_"):
        return "net.ipv6.icmp." + name.removeprefix("icmpv6_")
    prefix = "net.core." if name in _NET_CORE else "net.ipv4.route." if name in _ROUTE else "net.ipv4."
    return prefix + name


# Knobs that take a name rather than a number; the names are those of the part that defines them.
CHOICE_KNOBS = frozenset({"tcp_congestion_control"})


def _choices(name: str) -> tuple[str, ...]:
    from .cc import AVAILABLE  # imported here: cc/ reads HZ from this module

    assert name == "tcp_congestion_control"
    return AVAILABLE


class KnobRangeError(ValueError):
    """A knob value outside its range; the message is sysctl's, with the range beside it."""

    def __init__(self, name: str, value: Any, allowed: str, error: str = "Invalid argument") -> None:
        self.name = name
        self.value = value
        if isinstance(value, str):
            shown = repr(value)
        else:
            shown = " ".join(_number(v) for v in value) if isinstance(value, tuple) else _number(value)
        # sysctl -w says `sysctl: setting key "net.ipv4.ip_default_ttl": Invalid argument`.
        super().__init__(f'setting key "{sysctl_name(name)}": {error} ({allowed}, not {shown})')


def check(name: str, value: Any) -> None:
    """KnobRangeError unless `value` (already of the knob's type) lies in the knob's range."""
    if name in CHOICE_KNOBS:
        allowed = _choices(name)
        if value not in allowed:
            # Linux tcp_set_default_congestion_control: an algorithm not there is ENOENT.
            raise KnobRangeError(name, value, f"one of: {' '.join(allowed)}", "No such file or directory")
        return
    lo, hi = RANGES[name]
    members = value if isinstance(value, tuple) else (value,)
    # `not lo <= v <= hi` also catches NaN, which compares false with everything.
    if not all(math.isfinite(v) and lo <= v <= hi for v in members):
        each = "each " if isinstance(value, tuple) else ""
        raise KnobRangeError(name, value, f"{each}{_number(lo)} to {_number(hi)}")
    if name == "ip_local_port_range":
        low, high = value
        if low > high or low < IP_UNPRIVILEGED_PORT_START:
            raise KnobRangeError(name, value, f"the first at least {IP_UNPRIVILEGED_PORT_START} "
                                 "(ip_unprivileged_port_start) and not above the second")


def check_pairs(values: dict[str, Any], changed: str = "") -> None:
    """KnobRangeError when a fragment memory threshold crosses its pair: ip_fragment.c bounds the
    high one below by the low one (extra1) and the low one above by the high one (extra2); the
    error names `changed` when it is the one just set."""
    for high, low in _PAIRS:
        if values[low] > values[high]:
            if changed == high:
                raise KnobRangeError(high, values[high], f"at least {low} ({_number(values[low])})")
            raise KnobRangeError(low, values[low], f"at most {high} ({_number(values[high])})")


def _number(value: float) -> str:
    """A bound or value as a person would write it: 255, 2147483647, 0.2, 1e-06."""
    return f"{value:.12g}"
