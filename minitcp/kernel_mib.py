"""The Linux kernel's TCP counters in this process's network namespace, by their MIB names.

The labs (the kernel as the peer) and the loss bench (the kernel as the sender) compare them
with minitcp's own, which carry the same names (tcp/counters.py).
"""

from __future__ import annotations


def kernel_counters() -> dict[str, int]:
    """The namespace's Tcp and TcpExt counters (what `nstat` reads from /proc/net/snmp and
    /proc/net/netstat), by their MIB names: `ActiveOpens`, `TCPLossProbes`."""
    counters: dict[str, int] = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        with open(path) as f:
            lines = f.read().splitlines()
        for names, values in zip(lines[::2], lines[1::2], strict=False):
            group, _, rest = names.partition(":")
            if group in ("Tcp", "TcpExt"):
                counters.update(zip(rest.split(), map(int, values.split(":")[1].split()), strict=False))
    return counters
