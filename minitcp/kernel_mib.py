"""The Linux kernel's counters in this process's network namespace, by their MIB names.

The labs (the kernel as the peer) and the loss bench (the kernel as the sender) compare its TCP
counters with minitcp's own, which carry the same names (tcp/counters.py); the soak against the
kernel reports them all, named as `nstat` names them.
"""

from __future__ import annotations

MIB_FILES = ("/proc/net/snmp", "/proc/net/netstat")


def kernel_mib() -> dict[str, dict[str, int]]:
    """Every group of /proc/net/snmp and /proc/net/netstat (a line of names, then a line of values,
    each led by the group): {"Tcp": {"ActiveOpens": 3, ...}, "TcpExt": {...}, "Ip": {...}}."""
    groups: dict[str, dict[str, int]] = {}
    for path in MIB_FILES:
        with open(path) as f:
            lines = f.read().splitlines()
        for names, values in zip(lines[::2], lines[1::2], strict=False):
            group, _, rest = names.partition(":")
            groups.setdefault(group, {}).update(
                zip(rest.split(), map(int, values.split(":")[1].split()), strict=False))
    return groups


def kernel_counters() -> dict[str, int]:
    """The namespace's Tcp and TcpExt counters, by their MIB names: `ActiveOpens`, `TCPLossProbes`."""
    groups = kernel_mib()
    return {**groups.get("Tcp", {}), **groups.get("TcpExt", {})}


def nstat_counters() -> dict[str, int]:
    """The nonzero counters of every group, named as `nstat` names them: the group, then the
    counter (`TcpActiveOpens`, `TcpExtTCPLossProbes`, `IpInReceives`)."""
    return {group + name: value for group, counters in kernel_mib().items()
            for name, value in counters.items() if value}
