"""FreeBSD's `sysctl`, `sockstat` and `tcpdrop` for real packetdrill on Linux, as the runner reads them.

The FreeBSD suite's scripts run shell commands FreeBSD has: `sysctl -w
net.inet.tcp.sack.enable=1`, `sockstat -4 -P tcp -p 8080 -s | grep -c
SYN_RCVD`, `tcpdrop -s TIME_WAIT`. When real packetdrill referees such a
script on Linux (referee.py), they do what the runner's own kernel target
does with the same command (commands.py, kernel.py), so the two kernels'
runs differ only in who plays the script:

- `sysctl -w NAME=VALUE` of a FreeBSD name is rewritten, in the copy of the
  script packetdrill runs, into writes of the Linux sysctls
  sysctls.LINUX_SYSCTLS maps it to in the namespace's /proc/sys/net/ipv4
  (`true` where Linux has no counterpart): linux_commands();
- `#ifdef` blocks are resolved as the runner's parser resolves them
  (STANDARD defined), lines left out blank (preprocessed());
- `sockstat` and `tcpdrop` come first on packetdrill's PATH (shims()):
  `sockstat` prints the namespace's TCP table (/proc/net/tcp) in FreeBSD's
  columns and state names, a socket with a file (an inode) as the script's
  process's, `root packetdrill`, as the runner shows its own descriptors;
  `tcpdrop` does nothing and succeeds (the runner's kernel target ignores it).

All of it is plain shell: packetdrill waits for a command before the next
event, and a Python interpreter starting per command (a third of a second
here) would shift the script's whole timeline.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from pathlib import Path

from .kernel import LINUX_STATES, SYSCTL_ROOT, KernelTarget
from .parser import DEFAULT_DEFINES
from .sysctls import LINUX_SYSCTLS

_SYSCTL = re.compile(r"`\s*sysctl\s+-w\s+((?:net\.inet|kern)\.[\w.]+)=(\S+?)\s*`")


def linux_sysctl_command(name: str, value: str) -> str:
    """The shell that sets on Linux what `sysctl -w name=value` sets on FreeBSD (sysctls.py)."""
    mapping = LINUX_SYSCTLS.get(name)
    if mapping is None:
        return "true"  # no Linux counterpart: the runner's kernel target ignores it too
    converted = str(mapping.convert(value))
    steps = []
    for knob in mapping.knobs:
        path = shlex.quote(str(SYSCTL_ROOT / knob))
        if mapping.slot is None:
            steps.append(f"echo {shlex.quote(converted)} > {path}")
        else:  # one member of a triple such as tcp_rmem's
            fields = " ".join(converted if i == mapping.slot else f"${i + 1}" for i in range(3))
            steps.append(f"set -- $(cat {path}) && echo \"{fields}\" > {path}")
    return " && ".join(steps)


def linux_commands(text: str) -> str:
    """The script with each backtick `sysctl -w` of a FreeBSD name made Linux's (linux_sysctl_command)."""
    return _SYSCTL.sub(lambda m: f"`{linux_sysctl_command(m[1], m[2])}`", text)


def preprocessed(text: str, defines: Iterable[str] = DEFAULT_DEFINES) -> str:
    """The script with its `#ifdef NAME` / `#ifndef` / `#else` / `#endif` blocks resolved for
    `defines`, as FreeBSD runs its scripts through the preprocessor and the runner's parser
    resolves them; Linux's packetdrill has no preprocessor. Lines left out become empty, so
    every line keeps its number."""
    names = {d.partition("=")[0] for d in defines}
    taken: list[bool] = []  # per open block: whether its current branch is in
    lines = []
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word in ("#ifdef", "#ifndef"):
            taken.append((rest.strip() in names) == (word == "#ifdef"))
            line = ""
        elif word == "#else" and taken:
            taken[-1] = not taken[-1]
            line = ""
        elif word == "#endif" and taken:
            taken.pop()
            line = ""
        elif not all(taken):
            line = ""
        lines.append(line)
    return "\n".join(lines) + "\n"


def _sockstat() -> str:
    states = "\n".join(f"    {number:02X}) state={name} ;;" for number, name in LINUX_STATES.items())
    return f"""#!/bin/sh
# FreeBSD's sockstat, written by minitcp's packetdrill referee (freebsd_commands.py).
port=""
while [ $# -gt 0 ]; do [ "$1" = "-p" ] && port=$2; shift; done
tail -n +2 /proc/net/tcp | while read -r _ local remote st _ _ _ _ _ inode _; do
  lport=$(printf %d "0x${{local#*:}}"); rport=$(printf %d "0x${{remote#*:}}")
  if [ -n "$port" ] && [ "$port" != "$lport" ] && [ "$port" != "$rport" ]; then continue; fi
  case $st in
{states}
    *) state=UNKNOWN ;;
  esac
  if [ "$inode" != 0 ]; then user="root     packetdrill 4242"; else user="?        ?           ?   "; fi
  echo "$user tcp4 {KernelTarget.local_ip}:$lport {KernelTarget.remote_ip}:$rport $state"
done
"""


def shims(directory: Path) -> Path:
    """Write `sockstat` and `tcpdrop` into `directory` (for the front of PATH); `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (("sockstat", _sockstat()), ("tcpdrop", "#!/bin/sh\nexit 0\n")):
        path = directory / name
        path.write_text(text)
        path.chmod(0o755)
    return directory
