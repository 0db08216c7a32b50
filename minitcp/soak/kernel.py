"""The Linux kernel as the soak's target, for comparison: `minitcp soak --target kernel`.

The same generator and clients as against minitcp, but the host under attack
is the kernel itself, in a second private namespace: a veth pair joins the
soak's namespace (198.18.0.1, .3, .4 on `vsoak0`) to the target's (198.18.0.2
on `vsoak1`), where this module's `serve` runs a threaded echo server (port 7)
and discard server (port 9) on kernel sockets. The generator writes into
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
import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from minitcp.netns import NetnsError, enter_private_netns

ADDR = "198.18.0.2"
WAIT_FOR_DEVICE = 10.0  # seconds the target waits for its end of the veth pair
BACKLOG = 1024  # as minitcp's servers (minitcp.apps.base.DEFAULT_BACKLOG)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


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


def kernel_counters() -> dict[str, int]:
    """The nonzero counters of /proc/net/snmp and /proc/net/netstat, named as `nstat` names them."""
    counters: dict[str, int] = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        with open(path) as f:
            lines = f.read().splitlines()
        for names, values in zip(lines[::2], lines[1::2], strict=True):
            prefix, *keys = names.split()
            for key, value in zip(keys, values.split()[1:], strict=True):
                if value.lstrip("-").isdigit() and int(value):
                    counters[prefix.rstrip(":") + key] = int(value)
    return counters


def serve(args: argparse.Namespace) -> int:
    enter_private_netns()  # a fresh namespace of its own, into which the soak moves `dev`
    print("unshared", flush=True)
    deadline = time.monotonic() + WAIT_FOR_DEVICE
    while not os.path.exists(f"/sys/class/net/{args.dev}"):
        if time.monotonic() > deadline:
            print(f"minitcp soak: {args.dev} never appeared", file=sys.stderr)
            return 1
        time.sleep(0.05)
    _ip("addr", "add", f"{ADDR}/24", "dev", args.dev)
    _ip("link", "set", args.dev, "up")
    stop = threading.Event()
    servers = [threading.Thread(target=_serve, args=(port, echo, stop), daemon=True)
               for port, echo in ((7, True), (9, False))]  # fmt: skip
    for t in servers:
        t.start()
    print("ready", flush=True)
    sys.stdin.read()  # until the soak is done with us
    stop.set()
    print(json.dumps({"counters": kernel_counters()}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minitcp.soak.kernel", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("serve",))
    parser.add_argument("--dev", default="vsoak1", help="the target's end of the veth pair")
    args = parser.parse_args(argv)
    try:
        return serve(args)
    except NetnsError as e:
        print(f"minitcp soak: the kernel target runs only in a private network namespace: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
