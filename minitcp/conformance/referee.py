"""Real packetdrill as the referee of what the Linux kernel does with a script.

Each script runs under the packetdrill binary packetdrill_build.py made, with
this machine's kernel, as google/packetdrill's run_all.py and in_netns.sh run
it (`--send_omit_free`, the IPv4 variant's -D names, loopback up), but:

- in a fresh network namespace and a private mount namespace of its own
  (`unshare --net --mount`), so the TUN device, addresses, routes and the
  namespace's sysctls (defaults.sh, the script's own) vanish with it;
- with packetdrill's addresses moved into 198.18.0.0/24: the kernel is
  198.18.0.1/24, the script's remote host 198.18.0.2, as the runner's own
  kernel target (kernel.py) has them; the gateway is the local address, as
  run_all.py's is. Addresses in a script's own shell commands move the same
  way (packetdrill_common.ADDRESS_MAP; the script runs from a copy in the gitignored workspace),
  and TFO_COOKIE is the cookie for the new addresses (fastopen_cookie.py). An IPv6 script
  (`--ip_version=ipv6`, or a Linux *v6.pkt) runs as run_all.py's IPv6 variant does, in
  2001:2::/64: the kernel 2001:2::1, the remote host 2001:2::2, the gateway 2001:2::3
  (packetdrill_common.ADDRESS_MAP6 moves packetdrill's and run_all.py's IPv6 addresses);
- with the kernel side using CUBIC: cubic_preload.c, preloaded, sets
  TCP_CONGESTION=cubic on every TCP socket the script creates (this kernel
  defaults to BBR and a namespace cannot change its default). The
  namespace's tcp_congestion_control file is shadowed by one reading
  `cubic`, so defaults.sh and scripts that set it succeed and read what the
  sockets use;
- never touching the host: /tmp is a private tmpfs (set_sysctls.py's restore
  files, packetdrill's `%{ }%` code files), /sys is read-only, and a host-wide
  file a script writes (`echo 3 > /sys/module/tcp_cubic/parameters/...`) is
  shadowed by a private copy holding the host's value: the write lands in the
  copy, and the report notes when the host's value is not the script's.
  tcp_allowed_congestion_control, which a namespace shows but is the host's
  list, is shadowed too. A script that writes a sysctl outside net.* is not run;
- a script of FreeBSD's suite (it names `net.inet.` sysctls, `sockstat` or
  `tcpdrop`) has FreeBSD's commands done on Linux as the runner's kernel
  target does them (freebsd_commands.py: its sysctls rewritten, `sockstat`
  and `tcpdrop` first on its PATH), and its buffer-size
  getsockopt calls go unchecked, as in the runner (unchecked_buffer_sizes).
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from .failure import script_tolerance
from .freebsd_commands import linux_commands, preprocessed, shims
from .packetdrill_build import Build
from .packetdrill_common import (
    GATEWAY_IP6,
    IPV6_RUN_MTU,
    KERNEL_IP,
    KERNEL_IP6,
    PEER_IP,
    PEER_IP6,
    RUN_ALL_DEFINES,
    RUN_ALL_DEFINES6,
    SLOW_MACHINE_NOTE,
    SLOW_MACHINE_TOLERANCE,
    map_addresses,
)
from .report import Result

WORKERS = 2  # this machine's cores; more would make timing-tight scripts miss their tolerance
BUDGET = 120.0  # real seconds per script: run_all.py allows 180; the longest here take about 20

LOCAL_IP = KERNEL_IP
REMOTE_IP = PEER_IP
NETMASK = "255.255.255.0"
# run_all.py's IPv4 variant (CmdTestIPv4), with the addresses above and its -D names
# (packetdrill_common.RUN_ALL_DEFINES: TFO_COOKIE is the cookie for these addresses).
TFO_COOKIE = dict(RUN_ALL_DEFINES)["TFO_COOKIE"]
PACKETDRILL_ARGS = (
    "--send_omit_free", "--ip_version=ipv4", f"--local_ip={LOCAL_IP}", f"--gateway_ip={LOCAL_IP}",
    f"--netmask_ip={NETMASK}", f"--remote_ip={REMOTE_IP}",
    *(arg for name, value in RUN_ALL_DEFINES for arg in ("-D", f"{name}={value}")),
)
# An IPv6 script (`--ip_version=ipv6`, or a Linux *v6.pkt, which run_all.py runs only over IPv6):
# its variant (CmdTestIPv6) moved into 2001:2::/64, the gateway an on-link neighbour (IPv6 takes
# no local one). packetdrill gives the device its fixed /48 (config.c DEFAULT_V6_LIVE_PREFIX_LEN):
# 2001:2::/48, inside the script's private namespace. (No --netmask_ip: IPv4 only.) Nor
# run_all.py's --mtu=1520, which gives an IPv4 script run over IPv6 IPv4's MSS (1460): the IPv6
# scripts are written for a 1500-byte MTU's 1440 (FreeBSD's twins; Linux's
# syn-data-icmp-unreach-frag-needed-with-seq-ipv6 passes at 1500 and fails its first SYN at 1520).
PACKETDRILL_ARGS6 = (
    "--send_omit_free", "--ip_version=ipv6", f"--local_ip={KERNEL_IP6}", f"--gateway_ip={GATEWAY_IP6}",
    f"--remote_ip={PEER_IP6}",
    *(arg for name, value in RUN_ALL_DEFINES6 for arg in ("-D", f"{name}={value}")),
)
_IPV6_OPTION = re.compile(r"^--ip_version=ipv6\s*$", re.MULTILINE)


def ipv6_script(path: Path, text: str) -> bool:
    """Whether packetdrill runs the script over IPv6: it says so, or it is a Linux *v6.pkt."""
    return _IPV6_OPTION.search(text) is not None or path.name.endswith("v6.pkt")


CONGESTION_CONTROL = "/proc/sys/net/ipv4/tcp_congestion_control"
ALLOWED_CONGESTION_CONTROL = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"
_SYS_WRITE = re.compile(r">\s*(/sys/[^\s`;|&'\"]+)")
_SYS_VALUE = re.compile(r"echo\s+['\"]?([^\s'\">]+)['\"]?\s*>\s*(/sys/[^\s`;|&'\"]+)")
# sysctls outside the network namespace's own: kernel.*, vm.*, fs.* ... are the host's.
_HOST_SYSCTL = re.compile(r"/proc/sys/(?!net/)\S+"
                          r"|\bsysctl\b[^`\n]*?\b(?:kernel|vm|fs|dev|user|abi|debug)\.\w")
_LOCATION = re.compile(r"^\S+\.pkt:\d+: ")
_EXCEPTION = re.compile(r"^[A-Za-z_.]*(?:Error|Exception)\b")
_BUFFER_SIZE = re.compile(r"getsockopt\((\w+), SOL_SOCKET, SO_(?:RCV|SND)BUF, \[\d+\], \[4\]\)")
SHIMS = "freebsd-bin"  # the folder of FreeBSD's commands under the working directory
_FREEBSD = re.compile(r"`[^`]*(?:\bnet\.inet\.|\bsockstat\b|\btcpdrop\b)")


def host_writes(text: str) -> list[str]:
    """The host-wide files under /sys a script writes, in order, each once."""
    return list(dict.fromkeys(_SYS_WRITE.findall(text)))


def unfaithful_writes(text: str) -> list[str]:
    """`PATH=VALUE (host has HOST)` for each /sys file the script sets to another value than
    the host's: the shadow copy takes the write, the kernel keeps the host's value."""
    notes = []
    for value, path in _SYS_VALUE.findall(text):
        try:
            host = Path(path).read_text().strip()
        except OSError:
            host = "nothing"
        if host != value:
            notes.append(f"{path}={value} (host has {host})")
    return notes


def unchecked_buffer_sizes(text: str) -> str:
    """A FreeBSD script with its `getsockopt(FD, SOL_SOCKET, SO_RCVBUF or SO_SNDBUF, [N], [4])`
    calls made `SO_TYPE` ones: the runner never compares buffer sizes (the scripts expect
    FreeBSD's, 65536 then 65700; Linux reports its doubled tcp_rmem), and packetdrill has no
    way to leave a getsockopt value unchecked. The call stays, at its time, and must succeed."""
    return _BUFFER_SIZE.sub(r"getsockopt(\1, SOL_SOCKET, SO_TYPE, [SOCK_STREAM], [4])", text)


def namespace_setup(writes: Sequence[str]) -> str:
    """The shell run as root in the fresh namespaces before packetdrill starts (see the module doc)."""
    steps = [
        "set -e",
        "ip link set lo up",
        "mount -t tmpfs -o size=64m,mode=1777 referee-tmp /tmp",
        "mount -o remount,bind,ro /sys",
        f"echo cubic > /tmp/referee-cc && mount --bind /tmp/referee-cc {CONGESTION_CONTROL}",
        f"cat {ALLOWED_CONGESTION_CONTROL} > /tmp/referee-allowed && "
        f"mount --bind /tmp/referee-allowed {ALLOWED_CONGESTION_CONTROL}",
    ]
    for i, path in enumerate(writes):
        quoted = shlex.quote(path)
        steps.append(f"cat {quoted} > /tmp/referee-sys{i} && mount --bind /tmp/referee-sys{i} {quoted}")
    return "\n".join(steps)


def freebsd_script(text: str) -> bool:
    """Whether a script runs FreeBSD's commands (sysctl net.inet.*, sockstat, tcpdrop)."""
    return _FREEBSD.search(text) is not None




def command(build: Build, script: Path, writes: Sequence[str], path_first: Path | None = None,
            args: Sequence[str] = PACKETDRILL_ARGS) -> list[str]:
    """The argv that runs `script` under packetdrill in fresh namespaces (`path_first` first on PATH),
    with packetdrill's options `args`."""
    system_path = os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    path = [f"PATH={path_first}:{system_path}"] if path_first else []
    run = " ".join(shlex.quote(a) for a in ("env", f"LD_PRELOAD={build.shim}", *path, str(build.packetdrill),
                                             *args, str(script)))
    return ["unshare", "--net", "--mount", "--propagation", "private", "--",
            "sh", "-c", f"{namespace_setup(writes)}\nexec {run}"]


def refusal(path: Path, text: str) -> str | None:
    """Why the referee does not run this script, or None."""
    host = _HOST_SYSCTL.search(text)
    if host:
        return f"not run: it would set a host-wide sysctl ({host.group(0).strip()})"
    return None


def run_one(build: Build, path: str, name: str, workdir: Path, budget: float = BUDGET,
            ipv6: bool = False, tolerance: float | None = None) -> Result:
    """Run one script under packetdrill; its verdict and, when it fails, packetdrill's first error.
    `ipv6` plays an IPv4 script over IPv6 as run_all.py's IPv6 variant does (`--ip-version`);
    `tolerance` (seconds), when given, widens the script's timing tolerance to at least that."""
    result = _run_one(build, path, name, workdir, budget, ipv6, tolerance)
    result.ip_version = 6 if ipv6 else 4
    return result


def _run_one(build: Build, path: str, name: str, workdir: Path, budget: float, ipv6: bool,
             tolerance: float | None) -> Result:
    started = time.monotonic()
    script = Path(path).resolve()
    text = script.read_text(errors="replace")
    refused = refusal(script, text)
    hidden = [p for p in (script, build.packetdrill, build.shim) if p.is_relative_to("/tmp")]
    if hidden:
        refused = f"not run: {hidden[0]} is under /tmp, which the namespace replaces with its own"
    if refused:
        return Result(path, name, False, refused, [], 0.0)
    notes = [f"host-wide setting kept: {n}" for n in unfaithful_writes(text)]
    freebsd = workdir / SHIMS if freebsd_script(text) else None
    mapped = map_addresses(linux_commands(unchecked_buffer_sizes(preprocessed(text))) if freebsd else text)
    if mapped != text:
        # A copy beside the workspace (gitignored build output), never in the repository.
        script = workdir / "mapped" / name
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(mapped)
    args: Sequence[str] = PACKETDRILL_ARGS6 if ipv6_script(Path(path), text) else PACKETDRILL_ARGS
    if ipv6 and args is PACKETDRILL_ARGS:
        args = (*PACKETDRILL_ARGS6, f"--mtu={IPV6_RUN_MTU}")  # run_all.py's CmdTestIPv6
    if tolerance is not None:
        # packetdrill lets its command line override the script's own option lines: never narrower.
        args = (*args, f"--tolerance_usecs={round(max(tolerance, script_tolerance(path)) * 1e6)}")
    process = subprocess.Popen(command(build, script, host_writes(text), freebsd, args), cwd=workdir,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, errors="replace", start_new_session=True)
    try:
        out, err = process.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        # The whole session: packetdrill and any command it started.
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return Result(path, name, False, f"packetdrill gave up after {budget:.0f} s of real time", notes,
                      time.monotonic() - started)
    seconds = time.monotonic() - started
    if process.returncode == 0:
        return Result(path, name, True, None, notes, seconds)
    return Result(path, name, False, first_error(err, out, process.returncode), notes, seconds)


def first_error(err: str, out: str, status: int) -> str:
    """packetdrill's first `FILE.pkt:LINE: ...` message, with what it prints after it (the
    script's and the actual packet after a mismatch, the exception after `error in Python code`)
    and any `Error:` a command printed before it; else its last line of output, else the exit
    status."""
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        where = _LOCATION.match(line)
        if where:
            # The script's path as packetdrill was given it, shortened to its file name.
            reason = [os.path.basename(where.group(0)) + line[where.end():]]
            reason += [n for n in lines[i + 1:i + 3] if n.startswith(("script packet", "actual packet"))]
            reason += [n for n in lines[i + 1:] if _EXCEPTION.match(n)][:1]
            reason += [f"after: {n}" for n in lines[:i] if n.startswith("Error:")][:1]
            return "; ".join(reason)
    tail = lines or [line.strip() for line in out.splitlines() if line.strip()]
    return tail[-1] if tail else f"packetdrill exited with status {status}"


def run_scripts(build: Build, scripts: Sequence[tuple[str, str]], workdir: Path, *,
                workers: int = WORKERS, budget: float = BUDGET, ipv6: bool = False) -> list[Result]:
    """Run each (path, name) under packetdrill, `workers` at once; results in `scripts` order.

    Real time on a shared machine: a script that fails only on a packet's timing is run once
    more, alone, with the tolerance Linux's ksft_runner.sh gives a slow machine (at least 14 ms),
    and the second verdict stands (its note keeps the first failure). The kernel ACKs a bare FIN
    on its next timer tick (4-5 ms at HZ=250, `tcp_send_delayed_ack` with ato 0), which scripts
    written for HZ=1000 allow 4 ms: a timing verdict, not a behaviour.
    """
    shims(workdir / SHIMS)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(run_one, build, path, name, workdir, budget, ipv6) for path, name in scripts]
        results = [f.result() for f in futures]
    for i, first in enumerate(results):
        if not first.ok and "timing error" in (first.reason or ""):
            again = run_one(build, first.script, first.name, workdir, budget, ipv6, SLOW_MACHINE_TOLERANCE)
            again.ignored = [*again.ignored, f"first run: {first.reason}", SLOW_MACHINE_NOTE]
            again.seconds += first.seconds
            results[i] = again
    return results
