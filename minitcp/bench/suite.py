"""`minitcp bench [--json] [--quick]`: the stack measured end to end against the kernel's own clients.

Everything runs in a private network namespace that the bench enters itself
(it refuses to run otherwise), on TUN devices it creates there, with addresses
only in 198.18.0.0/24: the stack is 198.18.0.2, the kernel 198.18.0.1 (and
198.18.0.10 up, for the TIME_WAIT run). The stack runs in this process; every
kernel-side client or reference server is a separate process
(`minitcp.bench.kclient`, wrk), so this process's CPU time is the stack's.

Workloads (see docs/performance.md for the table and how to read it):

    raw      the TUN ceiling: packets/s and MB/s this Python process reads from and
             writes to the device with no TCP at all, MTU 1500 and 65000
    bulk     kernel -> minitcp discard ("in") and minitcp HTTP /bytes/N -> kernel ("out"); at
             MTU 1500 also with TSO/GSO offload on the device ("_offload": 64 KB super-segments),
             and over IPv6 ("_ipv6": the same at MTU 1500, to 2001:2::2)
    conn     connect, 1-byte request, 1-byte reply, close: connections/s (and "conn_ipv6")
    echo     1-byte ping-pong round trips, p50/p99; again with net.core.busy_poll=50 ("echo_busy_poll")
    http     wrk (or a Python client) against the h11 server, keep-alive and one request per connection
    scale    memory per idle established connection and per TIME_WAIT entry (tracemalloc)
    kernel   bulk, connections and echo between two kernel sockets over loopback, for reference
    loss     the same transfer over seeded loss patterns (1 %, 3 %, bursts, a reordering spike, the
             issue's mix), minitcp sending and the kernel sending (CUBIC), side by side (loss.py;
             not run unless asked for: `--only loss`)
    hotpath  the C/pure-Python hot-path micro-benchmark (minitcp.bench.hotpath)

Every row is repeated (except the memory rows) and shown as median, min and
max; a row whose runs stray from the median by more than 25 %, or which saw
retransmissions, RTOs, dropped packets, errors, a stall (a receiver waiting
more than 20 ms for data), or other programs taking CPU while it ran, is
marked `!`: something to look into, not to average away. Every load loop is
bounded in count and in time.

This module runs the workloads and prints their rows (the table, or one
flat JSON object). Each group is its own module (raw.py, bulk.py,
roundtrips.py for conn, echo and http, scale.py, reference.py for kernel and
hotpath), recording into results.py's rows; plan.py sets their sizes,
env.py makes the device and stack each runs on, clients.py runs the
kernel's side, and meters.py watches for runs not to trust.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio

from minitcp.netns import NetnsError, enter_private_netns, in_private_netns

from .bulk import Bulk
from .clients import pin_cpus
from .env import KERNEL_SYSCTLS, set_kernel_sysctls
from .loss import PATTERNS, Loss, loss_table
from .meters import LoadMeter
from .plan import FULL, MTUS, OFFLOAD_MTUS, QUICK
from .raw import RawTun
from .reference import Reference
from .scale import Scale
from .stats import format_table

# Every figure the JSON output always carries (tests/tun/test_bench_smoke.py checks them).
REQUIRED_KEYS = (
    "raw_read_1500_pps", "raw_write_1500_pps", "bulk_in_1500_MBps", "bulk_out_1500_MBps",
    "bulk_in_65000_MBps", "bulk_out_65000_MBps", "conn_per_s", "echo_p50_us", "echo_p99_us",
    "http_keepalive_rps", "http_close_rps", "mem_per_established_B", "mem_per_timewait_B",
    "kernel_bulk_MBps", "kernel_conn_per_s", "kernel_echo_p50_us",
)  # fmt: skip

GROUPS = ("raw", "bulk", "conn", "echo", "http", "scale", "kernel", "hotpath", "loss")
DEFAULT_GROUPS = GROUPS[:-1]  # the loss group takes minutes and is its own table: only when asked
BUSY_POLL_US = 50  # the echo_busy_poll rows' net.core.busy_poll (the value Linux's documentation suggests)
OTHER_LOAD = 0.25  # CPUs used by other programs during a workload above which its rows are flagged


class Bench(RawTun, Bulk, Scale, Reference, Loss):
    """Every workload, each adding its rows to the same `Results`."""


# ---------------------------------------------------------------------------------------------- entry


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"machine_nproc": os.cpu_count() or 0, "machine_cpu": cpu, "machine_kernel": platform.release(),
            "machine_python": platform.python_version()}


def workloads(b: Bench) -> list[tuple[str, str, Callable[[], Awaitable[None]]]]:
    items: list[tuple[str, str, Callable[[], Awaitable[None]]]] = [("raw", "raw", b.raw)]
    for mtu in MTUS:
        for d in ("in", "out"):
            items.append((f"bulk_{d}_{mtu}", "bulk", partial(b.bulk, d, mtu)))
    for mtu in OFFLOAD_MTUS:
        for d in ("in", "out"):
            items.append((f"bulk_{d}_{mtu}_offload", "bulk",
                          partial(b.bulk, d, mtu, offload=True)))
    for d in ("in", "out"):
        items.append((f"bulk_{d}_1500_ipv6", "bulk", partial(b.bulk, d, 1500, ipv6=True)))
    items += [("conn", "conn", b.conn), ("conn_ipv6", "conn", lambda: b.conn(ipv6=True)),
              ("echo", "echo", b.echo),
              ("echo_busy_poll", "echo", lambda: b.echo(prefix="echo_busy_poll", busy_poll=BUSY_POLL_US)),
              ("http", "http", b.http),
              ("established", "scale", b.established), ("timewait", "scale", b.timewait),
              ("kernel", "kernel", b.kernel)]
    items += [(f"loss_{p}", "loss", partial(b.loss, p)) for p in PATTERNS]
    return items


def run(
    quick: bool = False,
    only: list[str] | None = None,
    log: Callable[[str], None] | None = None,
    pin: bool = True,
) -> dict[str, Any]:
    """Run the selected workloads (all by default) in this process, which must be in a private netns."""
    if not (in_private_netns() or _netns_id() == _ENTERED_NETNS):
        raise NetnsError("minitcp bench runs only in a private network namespace: call enter_netns() first")
    log = log or (lambda s: None)
    b = Bench(QUICK if quick else FULL, quick, log)
    chosen = set(only or DEFAULT_GROUPS)
    start = time.perf_counter()
    affinity = os.sched_getaffinity(0)
    b.extras["pinning"] = pin_cpus(pin)

    async def main() -> None:
        for name, group, fn in workloads(b):
            if name in chosen or group in chosen:
                log(f"{name} ...")
                t = time.perf_counter()
                had = set(b.rows)
                meter = LoadMeter()
                await fn()
                b.extras[f"seconds_{name}"] = time.perf_counter() - t
                other, steal = meter.stop()
                b.extras[f"other_cpus_{name}"] = other
                # Another program on this machine (or the hypervisor) took CPU while this workload
                # ran: its rows measured the machine's load as well as the stack.
                if other > OTHER_LOAD or steal > OTHER_LOAD:
                    note = f"! machine busy: other programs used {other:.2f} CPUs" + (
                        f", the hypervisor stole {steal:.2f}" if steal > OTHER_LOAD else "")
                    for key in set(b.rows) - had:
                        b.rows[key].add(None, note)

    set_kernel_sysctls()
    b.extras["kernel_sysctls"] = ", ".join(f"{k}={v}" for k, v in KERNEL_SYSCTLS.items())
    load = LoadMeter()
    try:
        trio.run(main)
        b.extras["other_cpus"], b.extras["steal_cpus"] = load.stop()
    finally:
        os.sched_setaffinity(0, affinity)
        pin_cpus(False)
    if "hotpath" in chosen:
        log("hotpath ...")
        b.hotpath()
    b.derive()
    b.extras["total_seconds"] = time.perf_counter() - start
    return {"rows": list(b.rows.values()), "extras": b.extras, "quick": quick,
            "loss": b.loss_runs}


def flat(result: dict[str, Any]) -> dict[str, Any]:
    """One flat JSON object: each row's median (its key), _min, _max, _runs, _target_met; the extras."""
    out: dict[str, Any] = {"quick": result["quick"], **machine()}
    flags = []
    for r in result["rows"]:
        out[r.key] = r.median
        out[f"{r.key}_min"] = r.min
        out[f"{r.key}_max"] = r.max
        out[f"{r.key}_runs"] = len(r.values)
        if r.target is not None:
            out[f"{r.key}_target_met"] = r.median is not None and r.target.met(r.median)
        why = r.suspicious()
        bad = ([why] if why else []) + [n[2:] for n in r.notes if n.startswith("! ")]
        if bad:
            flags.append(f"{r.key}: {'; '.join(bad)}")
    out.update(result["extras"])
    out["flags"] = " | ".join(flags)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minitcp bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one flat JSON object instead of the table")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test, under a minute)")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the stack and the clients to different CPUs")
    parser.add_argument("--only", default="", metavar="NAMES",
                        help=f"comma-separated workloads or groups ({', '.join(GROUPS)}; bulk_in_1500, ...)")


_ENTERED_NETNS: tuple[int, int] | None = None


def _netns_id() -> tuple[int, int]:
    st = os.stat("/proc/self/ns/net")
    return st.st_dev, st.st_ino


def enter_netns() -> None:
    """Enter a fresh private network namespace (always a new one: nobody else's devices in sight)."""
    global _ENTERED_NETNS
    enter_private_netns()
    _ENTERED_NETNS = _netns_id()


def run_cli(args: argparse.Namespace) -> int:
    try:
        enter_netns()
    except NetnsError as e:
        print(f"minitcp bench: refusing to run outside a private network namespace: {e}", file=sys.stderr)
        return 1
    only = [x for x in args.only.split(",") if x] or None
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else (lambda s: print(s, flush=True))
    result = run(quick=args.quick, only=only, log=log, pin=not args.no_pin)
    if args.json:
        print(json.dumps(flat(result), default=_json_default))
    else:
        plan = QUICK if args.quick else FULL
        print()
        print(f"minitcp bench{' --quick' if args.quick else ''}: medians of {plan.reps} runs (min, max "
              f"beside); MB = 10^6 bytes; {result['extras'].get('total_seconds', 0):.0f} s")
        m = machine()
        print(f"machine: {m['machine_nproc']} x {m['machine_cpu']}, Linux {m['machine_kernel']}, "
              f"Python {m['machine_python']}")
        print(format_table(result["rows"], {k: v for k, v in result["extras"].items()
                                            if not k.startswith(("hotpath_", "seconds_"))}))
        if result["loss"]:
            print(f"\nloss recovery, side by side ({plan.loss_bytes / 1e6:g} MB per transfer):")
            print(loss_table(result["loss"]))
    return 0


def _json_default(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return str(x)


if __name__ == "__main__":
    sys.exit(main())
