"""`minitcp soak`: the stack under a hostile network, in a private namespace of its own.

The stack runs in this process on a fresh TUN device at 198.18.0.2 with an
echo server on port 7 (the legitimate clients') and a discard server on port 9
(the hostile packets' listening port); the kernel's side of the device is 198.18.0.1, plus
198.18.0.3 (the clients that vanish) and 198.18.0.4 (the connections the
attacker watches). The attacker (`generator`) and the legitimate users
(`clients`) are processes of their own on the kernel's side, so this process's
CPU is the stack's. Phases, in order:

    hostile   the generator's mix of hostile packets (`packets`) while bulk flows
              move data through the echo server and victims wait to be attacked
    abandon   cycles of connections whose client vanishes, each until the servers'
              keepalive has reset them; the RSS after each
    check     one fresh connection must be served
    flood     spoofed SYNs at port 7 while users make one request per connection, 20/s
              (last: it leaves the SYN queue full of stuck entries for a minute)

then the report (`report`), its verdict taken with the stack's tasks still running.

Everything stays in the namespace (the process refuses to run outside one) and
every loop is bounded in count and time: `--packets` and `--seconds` bound the
hostile phase, the others have fixed sizes and timeouts.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import trio

from minitcp.apps import DiscardServer, EchoServer
from minitcp.link.tun import TunLink
from minitcp.netns import NetnsError, enter_private_netns, in_private_netns
from minitcp.soak.flood_probe import FloodProbe, breakdown
from minitcp.soak.report import FloodResult, SoakReport
from minitcp.stack import Stack
from minitcp.tcp.knobs import Knobs
from minitcp.wire.ipv4 import ip_int

ADDR = "198.18.0.2"  # the stack
PEER = "198.18.0.1"  # the kernel (bulk flows, flood users)
VANISHING = "198.18.0.3"  # abandoned connections come from here; the address goes away
VICTIMS = "198.18.0.4"  # the connections the attacker watches and attacks
DEV = "msoak0"
PORT = 7  # the echo server: the legitimate clients' and the SYN flood's port
# The discard server: the hostile mix's listening port. Its spoofed SYNs fill this port's SYN
# queue (for a minute: SYN-ACK retries), which must not decide whether the clients of port 7
# get in; the flood phase is the test of that.
HOSTILE_PORT = 9
DEFAULT_PACKETS = 1_000_000
MAX_FLOOD_SYNS = 100_000  # issue #17's flood
# The TUN device's queue toward the stack, deeper than a TunLink's default (4,096): a flood's
# SYNs arrive in bursts (the generator catches up after each time it was off its CPU), and
# while the stack's process is off its own CPU they wait there. Linux answers a SYN in softirq,
# which no process preempts; a process on a busy machine can be away for a fraction of a
# second, 4,096 packets at 6,700 SYNs/s is 0.6 s, and every legitimate SYN dropped there costs
# its client a 1 s retransmission. 16,384 held every SYN of the flood at 6,700/s on a machine
# with a load average of 10 (docs/reliability.md): waiting is cheaper than being lost.
FLOOD_TX_QUEUE_LEN = 16384
FLOOD_RATE = 6700  # SYNs/s: the rate issue #17 measured
# Seconds of requests before the flood: 100 at 20/s, so that its p99 (the bar's reference) is
# the 99th of 100 latencies and not the largest of a handful.
CALM_BEFORE = 5.0
CALM = 1.0  # seconds of requests after the flood
# The keepalive a demanding operator sets on servers whose clients may vanish (issue #17): a
# silent connection is probed after 2 s, every 1 s, and reset after 3 unanswered probes, so a
# vanished peer's connection goes within 5 s (Linux tcp_keepalive_timer; the knobs are
# net.ipv4.tcp_keepalive_time, _intvl, _probes, 7,200 s, 75 s and 9 by default). A live
# but idle peer (the victims) answers each probe and keeps its connection.
KEEPALIVE_TIME, KEEPALIVE_INTVL, KEEPALIVE_PROBES = 2.0, 1.0, 3
# The discard server's idle limit: nothing legitimate in the soak idles on it (its traffic is
# the hostile mix), so a connection silent for 5 s is closed even if keepalive never could be.
DISCARD_IDLE_TIMEOUT = 5.0
# After an abandon cycle, the most the soak waits for keepalive to reset its connections:
# the keepalive's own bound, plus the slack of the timer wheel and a loaded machine.
REAP_WAIT = KEEPALIVE_TIME + KEEPALIVE_INTVL * KEEPALIVE_PROBES + 5.0
RSS_EVERY = 0.1  # seconds between two readings of the RSS
CHILD_TIMEOUT = 120.0  # seconds a client or generator process may take past its own bound
# The longest wait for service after the flood: past the life of a SYN queue entry (Linux's
# tcp_synack_retries 5: 63 s of retries, then it goes), so a stack that recovers is seen to.
RECOVERY_WAIT = 90.0
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Child:
    """A client or generator process: started, told to stop (stdin closed), its JSON read."""

    def __init__(self, module: str, *args: str) -> None:
        self.cmd = [sys.executable, "-m", f"minitcp.soak.{module}", *args]
        self.proc: trio.Process | None = None
        self._lines: list[bytes] = []
        self._buffer = b""

    async def start(self, wait_ready: bool = False) -> None:
        self.proc = await trio.lowlevel.open_process(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if wait_ready:
            await self.expect(b"ready")

    async def expect(self, word: bytes) -> None:
        """Wait for the process to print `word` on a line of its own."""
        with trio.fail_after(CHILD_TIMEOUT):
            while not self._lines:
                if not await self._read():
                    break
        if not self._lines or self._lines.pop(0).strip() != word:
            raise RuntimeError(f"{self.cmd[2]} did not say {word.decode()!r}")

    async def _read(self) -> bool:
        assert self.proc is not None and self.proc.stdout is not None
        data = await self.proc.stdout.receive_some(65536)
        if not data:
            return False
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        self._lines += [line for line in lines if line]
        return True

    async def result(self, stop: bool = True, timeout: float = CHILD_TIMEOUT) -> dict[str, Any]:
        """Close its stdin (if `stop`), wait for it to end, and return its JSON."""
        assert self.proc is not None and self.proc.stdin is not None
        if stop:
            await self.proc.stdin.aclose()
        with trio.fail_after(timeout):
            while await self._read():
                pass
            code = await self.proc.wait()
        if code != 0 or not self._lines:
            raise RuntimeError(f"{' '.join(self.cmd[2:4])} failed (exit status {code})")
        result: dict[str, Any] = json.loads(self._lines[-1])
        return result


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.report = SoakReport(rss_limit=args.rss_limit_mb * 1_000_000, flood_advisory=args.flood_advisory)
        self.log = args.log
        self.link = TunLink(DEV, peer=PEER, mtu=1500, offload=False, tx_queue_len=FLOOD_TX_QUEUE_LEN)
        self.dev = self.link.name  # the kernel's side: where the generator writes
        self.generator_args: list[str] = []  # what the generator needs to know of `dev`
        for addr in (VANISHING, VICTIMS):
            run_ip("addr", "add", f"{addr}/24", "dev", self.dev)
        # Every other knob as Linux's default: tcp_syncookies 1 (cookies once a SYN queue is
        # full), and the servers' backlog 1,024 (minitcp.apps.base.DEFAULT_BACKLOG).
        self.stack = Stack(self.link, ADDR, knobs=Knobs(tcp_keepalive_time=KEEPALIVE_TIME,
                                                      tcp_keepalive_intvl=KEEPALIVE_INTVL,
                                                      tcp_keepalive_probes=KEEPALIVE_PROBES))
        # The echo server keeps its default idle limit (5 minutes): the victims stay silent
        # through the hostile phase by design; keepalive is what finds its vanished peers.
        self.server = EchoServer(keepalive=True)
        self.target = DiscardServer(idle_timeout=DISCARD_IDLE_TIMEOUT, keepalive=True)
        self.stack_running = False
        # `--flood-trace`: the stack's busy periods and the users' packets during the flood.
        self.probe = FloodProbe(self.stack, ip_int(PEER), PORT) if getattr(args, "flood_trace", "") else None

    async def run(self) -> SoakReport:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._run_stack)
            nursery.start_soon(self._watch_rss)
            await nursery.start(self.server.serve, self.stack, PORT)
            await nursery.start(self.target.serve, self.stack, HOSTILE_PORT)
            await self.hostile()
            await self.abandon()
            await self.check()
            # Last: the flood leaves the SYN queue full of entries no peer answers for a minute.
            await self.flood()
            self.report.stack_alive = self.stack_running
            self._collect()
            nursery.cancel_scope.cancel()
        return self.report

    async def _run_stack(self) -> None:
        self.stack_running = True
        try:
            await self.stack.run()
        finally:
            self.stack_running = False

    async def _watch_rss(self) -> None:
        while True:
            self.report.max_rss = max(self.report.max_rss, _rss())
            await trio.sleep(RSS_EVERY)

    def _generator(self, mode: str, port: int, packets: int, seconds: float, rate: float) -> Child:
        return Child(
            "generator",
            mode,
            "--dev",
            self.dev,
            *self.generator_args,
            "--dst",
            ADDR,
            "--peer",
            PEER,
            "--victim-addr",
            VICTIMS,
            "--port",
            str(port),
            "--packets",
            str(packets),
            "--seconds",
            str(seconds),
            "--rate",
            str(rate),
            "--seed",
            str(self.args.seed),
            "--netns",
            os.readlink("/proc/self/ns/net"),
        )

    async def hostile(self) -> None:
        args = self.args
        self.log(
            f"hostile: {args.packets} packets (at most {args.seconds:.0f} s) with {args.flows} bulk flows"
        )
        clients = Child(
            "clients",
            "traffic",
            "--dst",
            ADDR,
            "--port",
            str(PORT),
            "--flows",
            str(args.flows),
            "--victims",
            str(args.victims),
            "--victim-addr",
            VICTIMS,
            "--seconds",
            str(args.seconds + CHILD_TIMEOUT),
            "--seed",
            str(args.seed),
        )
        await clients.start(wait_ready=True)
        generator = self._generator("hostile", HOSTILE_PORT, args.packets, args.seconds, args.rate)
        await generator.start()
        sent = await generator.result(stop=False, timeout=args.seconds + CHILD_TIMEOUT)
        done = await clients.result()
        r = self.report
        r.packets, r.packets_by_kind, r.seconds = sent["sent"], sent["by_kind"], sent["seconds"]
        r.flows, r.victims = done["flows"], done["victims"]
        r.victims_watched = sent["victims_seen"]

    async def flood(self) -> None:
        args = self.args
        syns = args.flood_syns if args.flood_syns is not None else min(MAX_FLOOD_SYNS, args.packets // 10)
        if syns <= 0:
            return
        self.log(f"flood: {syns} spoofed SYNs at up to {args.flood_rate}/s with legitimate users")
        users = Child(
            "clients",
            "requests",
            "--dst",
            ADDR,
            "--port",
            str(PORT),
            "--seconds",
            str(args.seconds + CALM_BEFORE + 3 * CALM + CHILD_TIMEOUT),
        )
        await users.start(wait_ready=True)
        await trio.sleep(CALM_BEFORE)
        generator = self._generator("flood", PORT, syns, args.seconds, args.flood_rate)
        cookies, cpu = self._cookies_sent(), time.process_time()
        probe = getattr(self, "probe", None)  # the kernel's soak has none
        if probe is not None:
            probe.recording = True
        await generator.start()
        sent = await generator.result(stop=False, timeout=args.seconds + CHILD_TIMEOUT)
        cookies, cpu = self._cookies_sent() - cookies, time.process_time() - cpu
        # Service after the flood: until the first success, for as long as the SYN queue's
        # entries may live (SYN-ACK retries: 63 s with tcp_synack_retries 5), bounded by --seconds.
        await trio.sleep(CALM)
        done = await users.result()
        if probe is not None:
            probe.recording = False
            probe.close()
            self._write_trace(probe, sent, done)
        f = self.report.flood = FloodResult(syns=sent["sent"], rate=sent["sent"] / max(sent["seconds"], 1e-9),
                                            cookies=cookies, stack_cpu=cpu)
        start, end = sent["started"], sent["ended"]
        for t, latency in done["requests"]:
            if t < start:
                if latency is not None:
                    f.before.append(latency)
            elif t <= end:
                if latency is None:
                    f.during_failed += 1
                else:
                    f.during_ok.append(latency)
        after = [t + latency for t, latency in done["requests"] if t > end and latency is not None]
        f.recovered_after = min(after) - end if after else await self._recovery(end)

    def _write_trace(self, probe: FloodProbe, sent: dict[str, Any], done: dict[str, Any]) -> None:
        """`--flood-trace PATH`: the probe's records, the users' timelines and the generator's
        window as JSON, with each request's breakdown (soak/flood_probe.py), slowest first."""
        trace = probe.as_json()
        rows = breakdown(trace, done["timeline"], sent["started"], sent["ended"])
        with open(self.args.flood_trace, "w") as f:
            json.dump({"started": sent["started"], "ended": sent["ended"], "requests": rows,
                       "timeline": done["timeline"], **trace}, f)
        for row in rows[:5]:
            self.log(f"flood trace: {row}")

    def _cookies_sent(self) -> int:
        """The SYN cookies the stack has sent (0 where it is not this process's to count)."""
        return self.stack.engine.counters["SyncookiesSent"]

    async def _recovery(self, flood_end: float) -> float | None:
        """Seconds from the flood's end until a request is served again (None: not in RECOVERY_WAIT)."""
        deadline = time.monotonic() + min(self.args.seconds, RECOVERY_WAIT)
        while time.monotonic() < deadline:
            if await trio.to_thread.run_sync(_one_request, 1.0):
                return time.monotonic() - flood_end
        return None

    async def abandon(self) -> None:
        args = self.args
        self.log(
            f"abandon: {args.abandon_cycles} cycles of {args.abandon_conns} connections whose client vanishes"
        )
        vanishing = ip_int(VANISHING)
        conns = self.stack.engine.conns

        def abandoned_left() -> int:
            # Only the cycles' own connections: the hostile phase leaves its spoofed SYNs' entries
            # behind (SYN_RECEIVED for a minute), which come and go on their own timers.
            return sum(1 for conn in conns.values() if conn.raddr == vanishing)

        for _ in range(args.abandon_cycles):
            clients = Child(
                "clients",
                "abandon",
                "--dst",
                ADDR,
                "--port",
                str(PORT),
                "--addr",
                VANISHING,
                "--dev",
                self.dev,
                "--count",
                str(args.abandon_conns),
            )
            await clients.start()
            done = await clients.result(stop=False)
            self.report.abandoned += done["abandoned"]
            # No RST came; the servers' keepalive finds each peer gone and resets its connection.
            with trio.move_on_after(REAP_WAIT):
                while abandoned_left():
                    await trio.sleep(0.1)
            # The RSS with Python's garbage collected, so that what it shows is what is held.
            gc.collect()
            self.report.rss_by_cycle.append(_rss())
            self.report.conns_by_cycle.append(abandoned_left())

    async def check(self) -> None:
        self.report.final_check = await trio.to_thread.run_sync(_one_request, 10.0)

    def _collect(self) -> None:
        r, stack = self.report, self.stack
        r.stack_received = stack.counters["InReceives"]
        r.drops = dict(stack.drops)
        r.tcp_counters = {k: v for k, v in stack.engine.counters.items() if v}
        engine = stack.engine
        r.states = dict(Counter(c.state.name for c in engine.conns.values())
                        + Counter(req.state.name for req in engine.requests.values()))
        r.timewait = len(stack.engine.timewait)
        r.device_dropped = _tx_dropped(self.link.name)
        for server in (self.server, self.target):
            if server.errors:
                r.problems.append(
                    f"{server.errors} {server.name} handler(s) failed with an unexpected exception"
                )

    def close(self) -> None:
        self.link.close()


def _tx_dropped(dev: str) -> int:
    """The packets the kernel dropped on their way out to `dev` (a TUN device: to the stack), its
    queue full. From /proc/net/dev, which is this namespace's: /sys/class/net shows the devices of
    the namespace that mounted sysfs, not this one (0 if `dev` is not there)."""
    with open("/proc/net/dev") as f:
        for line in f.readlines()[2:]:
            name, _, fields = line.partition(":")
            if name.strip() == dev:
                # bytes packets errs drop fifo frame compressed multicast, received; then sent
                return int(fields.split()[8 + 3])
    return 0


def _one_request(timeout: float) -> bool:
    """One connection to the echo server, 32 bytes there and back (in a worker thread)."""
    try:
        with socket.create_connection((ADDR, PORT), timeout=timeout) as sock:
            sock.sendall(b"y" * 32)
            got = b""
            while len(got) < 32:
                data = sock.recv(32 - len(got))
                if not data:
                    return False
                got += data
            return got == b"y" * 32
    except OSError:
        return False


def run_ip(*args: str) -> None:
    """`ip ARGS...` (iproute2) in this namespace; a failure raises."""
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--packets", type=int, default=DEFAULT_PACKETS, help="hostile packets to send (default: %(default)s)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=600.0,
        help="the most the hostile phase (and the flood) may last (default: %(default)s)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=20000.0,
        help="hostile packets per second, 0 for as fast as the generator goes (default: %(default)s)",
    )
    parser.add_argument("--flows", type=int, default=2, help="legitimate bulk flows (default: %(default)s)")
    parser.add_argument(
        "--victims",
        type=int,
        default=4,
        help="idle connections the attacker watches and attacks (default: %(default)s)",
    )
    parser.add_argument(
        "--flood-syns",
        type=int,
        default=None,
        help=f"spoofed SYNs of the flood (default: --packets / 10, at most {MAX_FLOOD_SYNS}; 0: none)",
    )
    parser.add_argument(
        "--flood-rate",
        type=float,
        default=FLOOD_RATE,
        help="SYNs per second of the flood (default: %(default)s)",
    )
    parser.add_argument(
        "--flood-advisory",
        action="store_true",
        help="report the flood's line without letting its latencies decide the verdict "
        "(a short run on a loaded machine: make test's)",
    )
    parser.add_argument(
        "--flood-trace",
        metavar="PATH",
        default="",
        help="write where each request's time went during the flood (the stack's busy periods, "
        "each request's packets on the queue and in the stack) to PATH as JSON",
    )
    parser.add_argument(
        "--abandon-cycles",
        type=int,
        default=11,
        help="abandon cycles: the first warms up, the RSS of the others must be flat (default: %(default)s)",
    )
    parser.add_argument(
        "--abandon-conns",
        type=int,
        default=200,
        help="connections abandoned per cycle (default: %(default)s)",
    )
    parser.add_argument(
        "--rss-limit-mb",
        type=int,
        default=512,
        help="the verdict fails if the stack's RSS ever exceeds this (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1, help="the generator's and the flows' seed")
    parser.add_argument("--target", choices=("minitcp", "linux"), default="minitcp",
                        help="the host attacked: minitcp, or the Linux kernel in a second namespace "
                        "for comparison (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")


_entered_netns: str | None = None  # the namespace enter_netns() made, as /proc/self/ns/net names it


def enter_netns() -> None:
    """Enter a fresh private network namespace: nobody else's devices or addresses in sight."""
    global _entered_netns
    enter_private_netns()
    _entered_netns = os.readlink("/proc/self/ns/net")


def run_soak(args: argparse.Namespace) -> SoakReport:
    """Run every phase in the namespace `enter_netns()` made (or one proven private)."""
    if not (in_private_netns() or os.readlink("/proc/self/ns/net") == _entered_netns):
        raise NetnsError("minitcp soak runs only in a private network namespace: call enter_netns() first")
    if args.target == "linux":
        from minitcp.soak.kernel import KernelSoak

        soak: Soak = KernelSoak(args)
    else:
        soak = Soak(args)
    try:
        return trio.run(soak.run)
    finally:
        soak.close()


def run_cli(args: argparse.Namespace) -> int:
    if args.packets < 0 or args.seconds <= 0:
        print("minitcp soak: --packets must be 0 or more and --seconds more than 0", file=sys.stderr)
        return 2
    try:
        enter_netns()
    except NetnsError as e:
        print(f"minitcp soak: refusing to run outside a private network namespace: {e}", file=sys.stderr)
        return 1
    args.log = (
        (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else (lambda s: print(s, flush=True))
    )
    report = run_soak(args)
    if args.json:
        print(json.dumps(report.as_json()))
    else:
        print(report.text())
    return 0 if not report.failures() else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minitcp soak", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
