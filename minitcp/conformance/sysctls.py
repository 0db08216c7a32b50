"""FreeBSD sysctls in the scripts, mapped to minitcp knobs where one has the same meaning.

Only a knob that changes TCP behaviour the same way is mapped; everything
else (FreeBSD-only features such as the host cache, blackhole, TCP over UDP,
or knobs minitcp does not have) is ignored and listed in the report, so
a reader can see what a passing script did not exercise. A mapping may name
a knob minitcp does not have yet (`tcp_keepinit`): it
applies as soon as the knob exists and is reported as ignored until then.

`LINUX_SYSCTLS` does the same for the kernel target, with the Linux sysctls
of the network namespace the script runs in (/proc/sys/net/ipv4/).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

from ..tcp.knobs import Knobs


def _ms(value: str) -> float:
    return int(value) / 1000.0


def _int(value: str) -> int:
    return int(value)


@dataclasses.dataclass(frozen=True)
class Mapping:
    knobs: tuple[str, ...]
    convert: Callable[[str], object] = _int
    slot: int | None = None  # for a (min, default, max) knob: which member the sysctl sets
    note: str = ""


MAPPINGS: dict[str, Mapping] = {
    # RFC 1323 on/off: FreeBSD switches timestamps and window scaling together.
    "net.inet.tcp.rfc1323": Mapping(("tcp_timestamps", "tcp_window_scaling")),
    "net.inet.tcp.sack.enable": Mapping(("tcp_sack",)),
    # RFC 5961 section 3 off: any RST in the window is accepted.
    "net.inet.tcp.insecure_rst": Mapping(("tcp_insecure_rst",)),
    # RFC 5961 section 4 off: an in-window SYN in a synchronized state resets the connection.
    "net.inet.tcp.insecure_syn": Mapping(("tcp_insecure_syn",)),
    # Keepalive timing, in ms on FreeBSD, in s in minitcp (Linux tcp_keepalive_*).
    "net.inet.tcp.keepidle": Mapping(("tcp_keepalive_time",), _ms),
    "net.inet.tcp.keepintvl": Mapping(("tcp_keepalive_intvl",), _ms),
    "net.inet.tcp.keepcnt": Mapping(("tcp_keepalive_probes",)),
    # Time allowed for the handshake; Linux has no such knob (it counts SYN retries instead).
    "net.inet.tcp.keepinit": Mapping(("tcp_keepinit",), _ms),
    # The initial retransmission timeout (RFC 6298 section 2.1).
    "net.inet.tcp.rexmit_initial": Mapping(("tcp_rto_initial",), _ms),
    "net.inet.tcp.rexmit_min": Mapping(("tcp_rto_min",), _ms),
    # How long an ACK may be delayed: Linux's delayed-ACK timer is capped by tcp_delack_max.
    "net.inet.tcp.delacktime": Mapping(("tcp_delack_max",), _ms),
    # Default socket buffer sizes: the middle member of Linux's tcp_rmem / tcp_wmem. FreeBSD's
    # recvspace is the receive window itself; minitcp, like Linux (tcp_adv_win_scale=1), offers
    # half of the receive buffer, so recvspace N is tcp_rmem 2N: a receive space of N bytes.
    # sendspace is payload in both: minitcp's send buffer holds tcp_wmem bytes of data.
    "net.inet.tcp.recvspace": Mapping(("tcp_rmem",), lambda v: 2 * int(v), slot=1),
    "net.inet.tcp.sendspace": Mapping(("tcp_wmem",), slot=1),
    # ECN negotiation, with the same values: 0 off, 1 request and accept, 2 accept only (both
    # systems' default). FreeBSD's ecn.maxretries (ECN on that many SYN retransmissions) has no
    # Linux counterpart: Linux drops ECE|CWR from the first retransmission (tcp_ecn_fallback).
    "net.inet.tcp.ecn.enable": Mapping(("tcp_ecn",)),
    "net.inet.tcp.finwait2_timeout": Mapping(("tcp_fin_timeout",), _ms),
    # MSL: TIME_WAIT lasts two of them.
    "net.inet.tcp.msl": Mapping(("tcp_timewait_len",), lambda v: 2 * int(v) / 1000.0),
}

# Knobs minitcp has only to follow the scripts' FreeBSD switches: Linux always behaves as with 0.
# Left out when minitcp is compared with the kernel, so both sides run Linux's behaviour.
FREEBSD_ONLY = frozenset({"net.inet.tcp.insecure_rst", "net.inet.tcp.insecure_syn"})


def apply_sysctl(knobs: Knobs, name: str, value: str) -> bool:
    """Set the knobs `name` maps to; False when nothing was set (unknown or unmapped sysctl)."""
    mapping = MAPPINGS.get(name)
    if mapping is None:
        return False
    fields = {f.name for f in dataclasses.fields(knobs)}
    if not all(k in fields for k in mapping.knobs):
        return False
    converted = mapping.convert(value)
    for knob in mapping.knobs:
        if mapping.slot is not None:
            current = list(getattr(knobs, knob))
            current[mapping.slot] = type(current[mapping.slot])(converted)
            setattr(knobs, knob, tuple(current))
        else:
            current = getattr(knobs, knob)
            setattr(knobs, knob, type(current)(converted))
    return True


def _whole_seconds(value: str) -> int:
    return math.ceil(int(value) / 1000)


# Linux has no counterpart for insecure_rst and insecure_syn (RFC 5961 is always on), keepinit,
# rexmit_initial (the initial RTO is fixed at 1 s, FreeBSD's default), delacktime (the delayed-ACK
# timer is Linux's own, 40 ms to 200 ms), msl (TIME-WAIT is fixed at 60 s), or the rest.
LINUX_SYSCTLS: dict[str, Mapping] = {
    "net.inet.tcp.rfc1323": Mapping(("tcp_timestamps", "tcp_window_scaling")),
    "net.inet.tcp.sack.enable": Mapping(("tcp_sack",)),
    "net.inet.tcp.ecn.enable": Mapping(("tcp_ecn",)),
    # Whole seconds in Linux.
    "net.inet.tcp.keepidle": Mapping(("tcp_keepalive_time",), _whole_seconds),
    "net.inet.tcp.keepintvl": Mapping(("tcp_keepalive_intvl",), _whole_seconds),
    "net.inet.tcp.keepcnt": Mapping(("tcp_keepalive_probes",)),
    "net.inet.tcp.rexmit_min": Mapping(("tcp_rto_min_us",), lambda v: int(v) * 1000),
    # As for minitcp: FreeBSD's recvspace is the window, Linux offers half of tcp_rmem.
    "net.inet.tcp.recvspace": Mapping(("tcp_rmem",), lambda v: 2 * int(v), slot=1),
    "net.inet.tcp.sendspace": Mapping(("tcp_wmem",), slot=1),
    "net.inet.tcp.finwait2_timeout": Mapping(("tcp_fin_timeout",), _whole_seconds),
}


def write_linux_sysctl(name: str, value: str, root: Path) -> bool:
    """Write the Linux sysctls `name` maps to under `root` (a namespace's /proc/sys/net/ipv4);
    False when there is no such mapping."""
    mapping = LINUX_SYSCTLS.get(name)
    if mapping is None:
        return False
    converted = str(mapping.convert(value))
    for sysctl in mapping.knobs:
        path = root / sysctl
        if mapping.slot is not None:
            members = path.read_text().split()
            members[mapping.slot] = converted
            path.write_text(" ".join(members))
        else:
            path.write_text(converted)
    return True


# The sysctls of packetdrill's gtests/net/common/defaults.sh, which every Linux script runs first:
# Linux's production settings for its TCP tests, not all of them Linux's compiled-in defaults.
# (Its other lines flush cached metrics and put a pfifo qdisc on the TUN device: nothing to set.)
# In its order: the referee writes its own defaults.sh from them (packetdrill_common.py), failures
# ignored as there (`sysctl -q` with no `set -e`): tcp_fack no longer exists on recent kernels, and
# a namespace may not switch tcp_congestion_control to CUBIC (the referee shadows that file).
LINUX_TEST_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("net.ipv4.tcp_rmem", f"4096 540000 {15 * 1024 * 1024}"),
    ("net.ipv4.tcp_wmem", f"4096 {256 * 1024} 4194304"),
    ("net.ipv4.tcp_timestamps", "1"),
    ("net.ipv4.tcp_syn_retries", "5"),
    ("net.ipv4.tcp_synack_retries", "5"),
    ("net.ipv4.tcp_frto", "2"),  # F-RTO, RFC 5682
    ("net.ipv4.tcp_sack", "1"),
    ("net.ipv4.tcp_dsack", "1"),
    ("net.ipv4.tcp_fack", "0"),
    ("net.ipv4.tcp_reordering", "3"),  # dupthresh
    ("net.ipv4.tcp_congestion_control", "cubic"),
    ("net.ipv4.tcp_slow_start_after_idle", "0"),
    ("net.ipv4.tcp_early_retrans", "4"),  # TLP
    ("net.ipv4.tcp_recovery", "1"),  # RACK
    ("net.ipv4.tcp_tso_win_divisor", "3"),
    ("net.ipv4.tcp_ecn", "0"),
    ("net.ipv4.tcp_pacing_ss_ratio", "200"),
    ("net.ipv4.tcp_pacing_ca_ratio", "120"),
    ("net.ipv4.tcp_notsent_lowat", "4294967295"),
    ("net.ipv4.tcp_fastopen", "0x70403"),
    ("net.ipv4.tcp_fastopen_key", "a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4"),
    ("net.ipv4.tcp_syncookies", "1"),
    ("net.mptcp.enabled", "1"),
)


def linux_sysctl_name(text: str) -> str:
    """`net.ipv4.tcp_sack` from any spelling: that, `net/ipv4/tcp_sack` (sysctl(8) takes both),
    or `/proc/sys/net/ipv4/tcp_sack`."""
    return text.removeprefix("/proc/sys/").replace("/", ".")


def apply_linux_sysctl(knobs: Knobs, name: str, value: str) -> bool:
    """A Linux sysctl on minitcp: its knobs are named and measured as Linux's sysctls, so one
    with the same name takes the value; False when minitcp has no such knob (or refuses it)."""
    short = name.removeprefix("net.ipv4.").removeprefix("net.core.")
    if short not in {f.name for f in dataclasses.fields(knobs)}:
        return False
    try:
        knobs.set(short, value)
    except (KeyError, ValueError):
        return False
    return True


def write_linux_sysctl_file(name: str, value: str, proc_sys: Path) -> bool:
    """A Linux sysctl written as `sysctl -w` would, under `proc_sys` (a namespace's /proc/sys);
    False when there is no such file or the namespace refuses the value."""
    path = proc_sys / name.replace(".", "/")
    try:
        path.write_text(value)
    except OSError:
        return False
    return True
