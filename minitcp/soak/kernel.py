"""The Linux kernel as the soak's target, for comparison: `minitcp soak --target kernel`.

The same generator and clients as against minitcp, but the host under attack
is the kernel itself, in a second private namespace: a veth pair joins the
soak's namespace (198.18.0.1, .3, .4 on `vsoak0`) to the target's (198.18.0.2
on `vsoak1`), where this module's `serve` runs a threaded echo server (port 7)
and discard server (port 9) on kernel sockets; `KernelSoak` runs the phases. The generator writes into
`vsoak0` with an Ethernet header addressed to `vsoak1` (its MAC), so its packets
reach the target and nothing else.

The target's figures are the kernel's own counters (/proc/net/snmp and
/proc/net/netstat of its namespace: what `nstat` shows), printed as JSON when
its standard input closes. There is no RSS to compare (the kernel's memory is
not a process's); the data integrity and the flood are the comparison.

    python -m minitcp.soak.kernel serve --dev vsoak1    (it enters a namespace of its own)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from minitcp.kernel_mib import nstat_counters
from minitcp.netns import NetnsError, enter_private_netns
from minitcp.soak.report import SoakReport
from minitcp.soak.run import PEER, VANISHING, VICTIMS, Child, Soak, run_ip

ADDR = "198.18.0.2"
DEV, TARGET_DEV = "vsoak0", "vsoak1"  # the soak's and the target's ends of the veth pair
TARGET_MAC = "02:00:00:00:00:02"  # locally administered (RFC 7042 section 2.1): the target's end
WAIT_FOR_DEVICE = 10.0  # seconds the target waits for its end of the veth pair
BACKLOG = 1024  # as minitcp's servers (minitcp.apps.base.DEFAULT_BACKLOG)


def _echo(conn: socket.socket, echo: bool) -> None:
    with conn:
        try:
            while data := conn.recv(65536):
                if echo:
                    conn.sendall(data)
        except OSError:
            pass  # the peer reset or vanished: as the echo server of minitcp, end quietly


def _serve(port: int, echo: bool, stop: threading.Event) -> None:
    with socket.create_server((ADDR, port), backlog=BACKLOG) as server:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            threading.Thread(target=_echo, args=(conn, echo), daemon=True).start()


def _has_device(name: str) -> bool:
    # Not /sys/class/net: sysfs shows the devices of the namespace that mounted it.
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def serve(args: argparse.Namespace) -> int:
    enter_private_netns()  # a fresh namespace of its own, into which the soak moves `dev`
    print("unshared", flush=True)
    deadline = time.monotonic() + WAIT_FOR_DEVICE
    while not _has_device(args.dev):
        if time.monotonic() > deadline:
            print(f"minitcp soak: {args.dev} never appeared", file=sys.stderr)
            return 1
        time.sleep(0.05)
    run_ip("addr", "add", f"{ADDR}/24", "dev", args.dev)
    run_ip("link", "set", args.dev, "up")
    stop = threading.Event()
    servers = [threading.Thread(target=_serve, args=(port, echo, stop), daemon=True)
               for port, echo in ((7, True), (9, False))]  # fmt: skip
    for t in servers:
        t.start()
    print("ready", flush=True)
    sys.stdin.read()  # until the soak is done with us
    stop.set()
    print(json.dumps({"counters": nstat_counters()}), flush=True)
    return 0


class KernelSoak(Soak):
    """The soak's phases against the kernel: hostile packets with flows and victims, the check,
    the flood. No abandoned connections (the kernel's connection count is not this process's
    to read) and no RSS: the comparison is the data integrity and the flood."""

    def __init__(self, args: argparse.Namespace) -> None:  # no TUN device, no minitcp stack
        self.args = args
        self.report = SoakReport(
            target="linux", rss_limit=args.rss_limit_mb * 1_000_000, flood_advisory=args.flood_advisory
        )
        self.log = args.log
        self.dev = DEV
        self.generator_args = ["--mac", TARGET_MAC]
        self.linux = Child("kernel", "serve", "--dev", TARGET_DEV)

    async def run(self) -> SoakReport:
        await self.linux.start()
        await self.linux.expect(b"unshared")
        assert self.linux.proc is not None
        run_ip("link", "add", DEV, "type", "veth", "peer", "name", TARGET_DEV, "address", TARGET_MAC,
            "netns", str(self.linux.proc.pid))
        for addr in (PEER, VANISHING, VICTIMS):
            run_ip("addr", "add", f"{addr}/24", "dev", DEV)
        run_ip("link", "set", DEV, "up")
        await self.linux.expect(b"ready")
        await self.hostile()
        await self.check()
        await self.flood()
        counters = (await self.linux.result())["counters"]
        r = self.report
        r.stack_alive = True  # the kernel: were it not, nothing here would be running
        r.tcp_counters = {k: v for k, v in counters.items() if k.startswith(("Tcp", "TcpExt"))}
        r.drops = {k: v for k, v in counters.items()
                   if k.startswith(("Ip", "Icmp")) and any(w in k for w in _DROP_WORDS)}  # fmt: skip
        return r

    def _cookies_sent(self) -> int:
        return 0  # the kernel's: in its counters at the end, not this process's CPU

    def close(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            run_ip("link", "del", DEV)  # both ends go
        if self.linux.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.linux.proc.pid, signal.SIGKILL)  # outside trio.run: no Process.kill()


# The kernel's IP and ICMP counters of packets it did not take (nstat names).
_DROP_WORDS = ("Err", "Fail", "Unknown", "Discard", "Drop")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minitcp.soak.kernel",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("serve",))
    parser.add_argument("--dev", default="vsoak1", help="the target's end of the veth pair")
    args = parser.parse_args(argv)
    try:
        return serve(args)
    except NetnsError as e:
        print(f"minitcp soak: the kernel target runs only in a private namespace: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
