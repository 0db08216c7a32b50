"""The `common/` folder Linux's packetdrill scripts call, laid out for the referee to run them from.

Each script starts with a command such as `` `../common/defaults.sh` `` (or
`../../common/...` from a subfolder), run by packetdrill's shell from the
script's working directory; some later call `../common/set_sysctls.py`. In
google/packetdrill both live in gtests/net/common/. The shared copy of the
scripts holds set_sysctls.py, but its defaults.sh is only the text of a git
symlink (`../../common/defaults.sh`) to a file outside the folder that was
published. So the referee writes its own defaults.sh from
sysctls.LINUX_TEST_DEFAULTS, links set_sysctls.py from the shared folder, and
runs every script from a working directory three levels down a workspace, with
`common/` at each level above: `../common`, `../../common` and `../../../common` all resolve.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from .fastopen_cookie import fastopen_cookie
from .sysctls import LINUX_TEST_DEFAULTS

_KEY = dict(LINUX_TEST_DEFAULTS)["net.ipv4.tcp_fastopen_key"]

# The addresses both kernel sides give the kernel and the script's remote host (referee.py,
# kernel.py): packetdrill's defaults moved into 198.18.0.0/24.
KERNEL_IP = "198.18.0.1"
PEER_IP = "198.18.0.2"
# The same for `--ip_version=ipv6` scripts, in 2001:2::/64. IPv6 refuses a local address as a
# route's gateway ("Gateway can not be a local address"), so the gateway is an on-link neighbour,
# as run_all.py's IPv6 one is (fd3d:0a0b:17d6:8888::1, inside its local /48).
KERNEL_IP6 = "2001:2::1"
PEER_IP6 = "2001:2::2"
GATEWAY_IP6 = "2001:2::3"

# The tolerance Linux's own runner gives every script on a slow machine (ksft_runner.sh:
# KSFT_MACHINE_SLOW adds --tolerance_usecs=14000): both kernel sides' rerun of a timing failure.
SLOW_MACHINE_TOLERANCE = 0.014
# What a rerun's result notes, beside its first run's failure.
SLOW_MACHINE_NOTE = (f"run again with a tolerance of at least {SLOW_MACHINE_TOLERANCE * 1e3:.0f} ms"
                     " (ksft_runner.sh, KSFT_MACHINE_SLOW)")

# The -D names google/packetdrill's run_all.py gives every IPv4 script (CmdTestIPv4), for the
# referee's command line and the runner alike: TFO_COOKIE is the cookie the kernel gives the
# remote host with defaults.sh's key at the addresses above (run_all.py's, 3021b9d889017eeb, is
# for 192.0.2.1 and 192.168.0.1), CODE the ICMP code of its ICMP scripts.
RUN_ALL_DEFINES: tuple[tuple[str, str], ...] = (
    ("TFO_COOKIE", fastopen_cookie(PEER_IP, KERNEL_IP, _KEY)),
    ("CODE", "host_unreachable"),
    ("CMSG_LEVEL_IP", "SOL_IP"),
    ("CMSG_TYPE_RECVERR", "IP_RECVERR"),
)

# run_all.py's own TFO_COOKIE: the cookie for its addresses, 192.0.2.1 talking to 192.168.0.1.
RUN_ALL_COOKIE = fastopen_cookie("192.0.2.1", "192.168.0.1", _KEY)

# Addresses the scripts' own shell commands name (`ip route change 192.0.2.1 via 192.168.0.2 ...`),
# moved as the command line moves packetdrill's: run_all.py's local /16 becomes the local /24, so
# 192.168.0.2 and .3, on-link neighbours there, are on-link here too. (A script's own --local_ip
# or --remote_ip lines need nothing: packetdrill's command line overrides them.)
# Some scripts also write run_all.py's TFO_COOKIE out (`FO 3021b9d889017eeb`): it moves with the
# addresses it was computed for. (Cookies of scripts with their own key and addresses cannot.)
# Used by the referee (on the script's text) and by the kernel target (on its device commands).
ADDRESS_MAP = {"192.168.0.1": KERNEL_IP, "192.0.2.1": PEER_IP, "192.168.0.2": "198.18.0.3",
               "192.168.0.3": "198.18.0.4",
               RUN_ALL_COOKIE: dict(RUN_ALL_DEFINES)["TFO_COOKIE"]}
_ADDRESS = re.compile(r"(?<![\w.])(" + "|".join(re.escape(a) for a in ADDRESS_MAP) + r")(?![\w.])")

# The -D names of run_all.py's IPv6 variant (CmdTestIPv6): its TFO_COOKIE, c1d1e9742a47a9bc, is
# for fd3d:fa7b:d17d::1 talking to fd3d:0a0b:17d6::1; this one for the addresses above. No CODE:
# run_all.py gives IPv6 runs none (ICMPv6's codes have other names).
RUN_ALL_DEFINES6: tuple[tuple[str, str], ...] = (
    ("TFO_COOKIE", fastopen_cookie(PEER_IP6, KERNEL_IP6, _KEY)),
    ("CMSG_LEVEL_IP", "SOL_IPV6"),
    ("CMSG_TYPE_RECVERR", "IPV6_RECVERR"),
)
# run_all.py's IPv6 variant plays an IPv4 script (not *v6.pkt) with --mtu=1520: IPv4's MSS (1460)
# behind IPv6's 40-byte header, the segment sizes the script was written for.
IPV6_RUN_MTU = 1520
RUN_ALL_COOKIE6 = fastopen_cookie("fd3d:fa7b:d17d::1", "fd3d:0a0b:17d6::1", _KEY)
# IPv6 addresses the scripts' commands name: packetdrill's own defaults (config.c: the remote
# host 2001:DB8::1, the gateway fd3d:fa7b:d17d:8888::0, as mtu_probe/basic-v6.pkt writes them)
# and run_all.py's (local fd3d:0a0b:17d6::1, gateway fd3d:0a0b:17d6:8888::1, remote
# fd3d:fa7b:d17d::1), in lower case: matched without regard to case, as addresses are.
ADDRESS_MAP6 = {"2001:db8::1": PEER_IP6, "fd3d:fa7b:d17d:8888::0": GATEWAY_IP6,
                "fd3d:fa7b:d17d:8888::": GATEWAY_IP6, "fd3d:0a0b:17d6::1": KERNEL_IP6,
                "fd3d:0a0b:17d6:8888::1": GATEWAY_IP6, "fd3d:fa7b:d17d::1": PEER_IP6,
                RUN_ALL_COOKIE6: dict(RUN_ALL_DEFINES6)["TFO_COOKIE"]}
_ADDRESS6 = re.compile(r"(?<![\w.:])(" + "|".join(re.escape(a) for a in ADDRESS_MAP6) + r")(?![\w.:])",
                       re.IGNORECASE)


def map_addresses(text: str) -> str:
    """The script with the addresses of ADDRESS_MAP moved into 198.18.0.0/24 (and the cookie), and
    those of ADDRESS_MAP6 into 2001:2::/64."""
    text = _ADDRESS.sub(lambda m: ADDRESS_MAP[m.group(1)], text)
    return _ADDRESS6.sub(lambda m: ADDRESS_MAP6[m.group(1).lower()], text)


# Run by defaults.sh after the sysctls: the TUN device's qdisc is pfifo, so no default fq paces
# the scripts' flows (their timing assumes none); its exit status is the script's, as upstream.
QDISC_COMMAND = "tc qdisc add dev tun0 root pfifo"

# The working directory's depth below the workspace: deep enough for `../../../common`.
DEPTH = 3


def defaults_script() -> str:
    """The text of the referee's defaults.sh."""
    lines = ["#!/bin/sh", "# Written by minitcp's packetdrill referee (packetdrill_common.py).",
             "ip tcp_metrics flush all > /dev/null 2>&1"]
    lines += [f"sysctl -q {name}={shlex.quote(value)} > /dev/null 2>&1"
              for name, value in LINUX_TEST_DEFAULTS]
    lines.append(QDISC_COMMAND)
    return "\n".join(lines) + "\n"


def prepare_workspace(workspace: Path, suite: Path) -> Path:
    """Lay out `workspace` for scripts of `suite`; the working directory to run them from."""
    workspace = workspace.resolve()
    defaults = workspace / "defaults.sh"
    workspace.mkdir(parents=True, exist_ok=True)
    defaults.write_text(defaults_script())
    defaults.chmod(0o755)
    set_sysctls = (suite / "common" / "set_sysctls.py").resolve()
    level = workspace
    for depth in range(DEPTH):
        common = level / "common"
        common.mkdir(exist_ok=True)
        _link(common / "defaults.sh", defaults)
        if set_sysctls.is_file():
            _link(common / "set_sysctls.py", set_sysctls)
        level = level / f"level{depth + 1}"
        level.mkdir(exist_ok=True)
    return level


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)
