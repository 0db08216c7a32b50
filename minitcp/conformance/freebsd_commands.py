"""FreeBSD's `sysctl`, `sockstat` and `tcpdrop` for real packetdrill on Linux, as the runner reads them.

The FreeBSD suite's scripts run shell commands FreeBSD has: `sysctl -w
net.inet.tcp.sack.enable=1`, `sockstat -4 -P tcp -p 8080 -s | grep -c
SYN_RCVD`, `tcpdrop -s TIME_WAIT`. When real packetdrill referees such a
script on Linux (referee.py), these names come first on its PATH and do what
the runner's own kernel target does with the same command (commands.py,
kernel.py), so the two kernels' runs differ only in who plays the script:

- `sysctl -w NAME=VALUE` of a FreeBSD name writes the Linux sysctls
  sysctls.LINUX_SYSCTLS maps it to in the namespace's /proc/sys/net/ipv4,
  and does nothing where Linux has no counterpart; any other `sysctl` is
  the system's;
- `sockstat` prints the namespace's TCP table (/proc/net/tcp) in FreeBSD's
  columns and state names; a socket with a file (an inode) is the script's
  process's, `root packetdrill`, as the runner shows its own descriptors;
- `tcpdrop` does nothing and succeeds (Linux has no such command; the
  runner's kernel target ignores it too).

Run as `python -m minitcp.conformance.freebsd_commands NAME ARGS...` by the
small shell files shims() writes.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from .kernel import LINUX_STATES, SYSCTL_ROOT, KernelTarget
from .sysctls import write_linux_sysctl

COMMANDS = ("sysctl", "sockstat", "tcpdrop")
SYSTEM_SYSCTL = "/usr/sbin/sysctl"


def sysctl(args: list[str]) -> int:
    writes = [a for a in args if not a.startswith("-") and "=" in a]
    if not writes or not all(a.startswith(("net.inet.", "kern.")) for a in writes):
        os.execv(SYSTEM_SYSCTL, [SYSTEM_SYSCTL, *args])
    for arg in writes:
        name, _, value = arg.partition("=")
        write_linux_sysctl(name, value, SYSCTL_ROOT)  # False: no Linux counterpart, nothing to set
    return 0


def sockstat(args: list[str]) -> int:
    port = int(args[args.index("-p") + 1]) if "-p" in args else None
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            lport, rport = (int(a.rpartition(":")[2], 16) for a in fields[1:3])
            if port is not None and port not in (lport, rport):
                continue
            user = "root     packetdrill 4242" if int(fields[9]) else "?        ?           ?   "
            state = LINUX_STATES[int(fields[3], 16)]
            print(f"{user} tcp4 {KernelTarget.local_ip}:{lport} {KernelTarget.remote_ip}:{rport} {state}")
    return 0


def shims(directory: Path) -> Path:
    """Write one executable file per name of COMMANDS into `directory` (for PATH); `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[2]
    for name in COMMANDS:
        path = directory / name
        path.write_text(f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(root))} exec {shlex.quote(sys.executable)} "
                        f"-m minitcp.conformance.freebsd_commands {name} \"$@\"\n")
        path.chmod(0o755)
    return directory


def main(argv: list[str]) -> int:
    name, args = argv[0], argv[1:]
    if name == "sysctl":
        return sysctl(args)
    if name == "sockstat":
        return sockstat(args)
    return 0  # tcpdrop


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
