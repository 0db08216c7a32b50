"""Workload group `raw`: the TUN ceiling, packets/s this process reads from and writes to the device
with no TCP at all, at each MTU.
"""

from __future__ import annotations

import contextlib
import socket
import time

import trio

from minitcp.wire.ipv4 import build_ipv4, ip_int

from .clients import BenchError, kclient
from .env import ADDR, PEER, Env, stack_env
from .meters import dev_tx_dropped
from .plan import MTUS
from .results import MB, Results

UDP_PORT = 9999
PROTO_UDP = 17


class RawTun(Results):
    """The `raw_*` rows: UDP datagrams through the device, read and written as the stack does."""

    async def raw(self) -> None:
        p = self.plan
        for mtu in MTUS:
            size = mtu - 28  # UDP payload filling one packet of exactly `mtu` bytes
            for direction in ("read", "write"):
                pps = self.row(f"raw_{direction}_{mtu}_pps", "pkt/s")
                mbps = self.row(f"raw_{direction}_{mtu}_MBps", "MB/s")
                per_cpu = self.row(f"raw_{direction}_{mtu}_pkt_per_cpu_s", "pkt/CPUs")
                idle_runs: list[float] = []
                for _ in range(p.reps):
                    try:
                        async with stack_env(mtu, with_stack=False) as env:
                            fn = self._raw_read if direction == "read" else self._raw_write
                            cpu0 = time.process_time()
                            n, nbytes, seconds, notes = await fn(env, size, p.raw_packets, p.raw_seconds)
                            cpu = time.process_time() - cpu0
                    except Exception as e:
                        self.fail([pps.key, mbps.key], "", e)
                        break
                    pps.add(n / seconds, *notes)
                    mbps.add(nbytes / seconds / MB)
                    per_cpu.add(n / cpu if cpu > 0 else None)
                    if direction == "read" and cpu < 0.9 * seconds:
                        idle_runs.append(cpu / seconds)
                if idle_runs:
                    # The sender, not this reader, set the pace in those runs: pkt_per_cpu_s (the
                    # reader's packets per CPU-second) says what a saturated reader would do.
                    pps.add(None, f"reader only {min(idle_runs) * 100:.0f}-{max(idle_runs) * 100:.0f}% busy "
                                  f"in {len(idle_runs)} of {p.reps} runs: sender-bound there, a lower bound")
                self.log(f"  raw {direction} mtu {mtu}: {pps.median or 0:,.0f} pkt/s, "
                         f"{mbps.median or 0:.0f} MB/s")

    async def _raw_read(self, env: Env, size: int, count: int, seconds: float):
        """The kernel sends UDP datagrams into the device; this process reads them as the stack does."""
        link = env.link
        state: dict[str, float] = {"n": 0, "bytes": 0, "first": 0.0, "last": 0.0, "batches": 0}

        async def reader() -> None:
            while True:
                batch = await link.recv_batch()
                now = time.perf_counter()
                if not state["batches"]:
                    state["first"] = now
                    state["n"] -= len(batch)  # time counts from the first batch's arrival
                    state["bytes"] -= sum(len(packet) for packet, _ in batch)
                state["batches"] += 1
                state["n"] += len(batch)
                state["bytes"] += sum(len(packet) for packet, _ in batch)
                state["last"] = now

        dropped0 = dev_tx_dropped(link.name)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            sent = await kclient("udp-send", limit=seconds + 30, host=ADDR, port=UDP_PORT, size=size,
                                 count=count, seconds=seconds)
            # Drain: stop once nothing more has arrived for 0.2 s.
            seen = -1.0
            while seen != state["batches"]:
                seen = state["batches"]
                await trio.sleep(0.2)
            nursery.cancel_scope.cancel()
        elapsed = state["last"] - state["first"]
        n = int(state["n"])
        dropped = dev_tx_dropped(link.name) - dropped0
        notes = []
        if state["batches"] < 2 or elapsed <= 0:
            raise BenchError("no packet read")
        # The ceiling is only measured if the reader was the bottleneck (the kernel dropped some);
        # otherwise the sender was, and the reader could go faster than shown.
        if dropped or sent["errors"]:
            notes.append(f"the kernel dropped {dropped + sent['errors']} (reader saturated)")
        return n, int(state["bytes"]), elapsed, notes

    async def _raw_write(self, env: Env, size: int, count: int, seconds: float):
        """Prebuilt IPv4/UDP packets written to the device; the kernel's counters say how many arrived."""
        link = env.link
        packet = build_ipv4(ip_int(ADDR), ip_int(PEER), PROTO_UDP,
                            _udp_header(UDP_PORT, UDP_PORT, size) + bytes(size), df=True)
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # so the kernel delivers, not ICMPs back
        try:
            sink.bind((PEER, UDP_PORT))
            before = _snmp()
            send = link.send
            sent = 0
            start = time.perf_counter()
            deadline = start + seconds
            while sent < count:
                for _ in range(min(256, count - sent)):  # the stack's batch, then a checkpoint as it does
                    send(packet)
                sent += min(256, count - sent)
                await trio.lowlevel.checkpoint()
                if time.perf_counter() > deadline:
                    break
            elapsed = time.perf_counter() - start
            await trio.sleep(0.05)
            after = _snmp()
        finally:
            sink.close()
        got = sum(after.get(k, 0) - before.get(k, 0) for k in ("Udp.InDatagrams", "Udp.RcvbufErrors"))
        notes = []
        if got < 0.99 * (sent - link.tx_dropped):
            notes.append(f"! the kernel took only {got} of {sent} written")
        if link.tx_dropped:
            notes.append(f"! EAGAIN {link.tx_dropped}")
        return got, got * len(packet), elapsed, notes


def _udp_header(sport: int, dport: int, size: int) -> bytes:
    return sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + (size + 8).to_bytes(2, "big") + b"\0\0"


def _snmp() -> dict[str, int]:
    """This namespace's /proc/net/snmp as {"Udp.InDatagrams": n, ...}."""
    out: dict[str, int] = {}
    with open("/proc/net/snmp") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        group, _, names = names.partition(":")
        for n, v in zip(names.split(), values.partition(":")[2].split(), strict=False):
            with contextlib.suppress(ValueError):
                out[f"{group}.{n}"] = int(v)
    return out
