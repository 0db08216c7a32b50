"""Workload group `bulk`: kernel -> minitcp discard ("in") and minitcp HTTP /bytes/N -> kernel ("out")."""

from __future__ import annotations

import socket

import trio

from minitcp.apps import AppServer, HttpServer

from .clients import kclient
from .env import ADDR, ADDR6, stack_env
from .meters import Snapshot
from .results import MB, STALL, Results


class Bulk(Results):
    """The `bulk_*` rows: one direction, one MTU, with or without the device's offload, over IPv4
    or (`_ipv6`) over IPv6."""

    async def bulk(self, direction: str, mtu: int, offload: bool = False, ipv6: bool = False) -> None:
        p = self.plan
        name = f"bulk_{direction}_{mtu}{'_offload' if offload else ''}{'_ipv6' if ipv6 else ''}"
        host = ADDR6 if ipv6 else ADDR
        key = f"{name}_MBps"
        row = self.row(key, "MB/s")
        per_rep = max(p.bulk_bytes // p.reps, 1)
        limit = max(60.0, per_rep / (2 * MB))  # 2 MB/s would be a failure anyway
        sink = _SinkServer()
        servers = {"discard": (sink, 9), "http": (HttpServer(), 80)}
        stalls: list[tuple[float, int, int]] = []  # (longest gap, stack preemptions, client preemptions)
        try:
            async with stack_env(mtu, servers=servers, offload=offload,
                                 family=socket.AF_INET6 if ipv6 else socket.AF_INET) as env:
                first = Snapshot.take(env)
                for i in range(p.reps):
                    before = Snapshot.take(env)
                    if direction == "in":
                        r = await kclient("upload", limit=limit + 10, host=host, port=9, bytes=per_rep,
                                          seconds=limit)
                        with trio.move_on_after(5):
                            while len(sink.done) <= i:
                                await trio.sleep(0.01)
                        got, stall = sink.done[i] if len(sink.done) > i else (0, 0.0)
                        if got != per_rep:
                            row.add(None, f"! the server received {got} of {per_rep} bytes")
                    else:
                        r = await kclient("download", limit=limit + 10, host=host, port=80, bytes=per_rep,
                                          seconds=limit)
                        stall = r["max_gap_s"]
                        if not r["ok"]:
                            row.add(None, f"! download incomplete: {r['bytes']} of {per_rep} bytes")
                    after = Snapshot.take(env)
                    row.add(r["bytes"] / r["seconds"] / MB, "! timed out" if r["timeout"] else "")
                    stalls.append((stall, after.preempted - before.preempted, r.get("preempted", 0)))
                    u, s, w = after.cpu_since(before)
                    self.cpu.setdefault(key, []).append((u, s, w, r["bytes"] / MB))
                row.add(None, *Snapshot.take(env).notes_since(first))
                if offload:
                    # What crossed the device: proof that the super-segments were used at all.
                    link = env.link
                    row.add(None, f"super-segments: {link.rx_gso} from the kernel, {link.tx_gso} to it "
                                  f"({link.tx_gso_segments} segments); "
                                  f"{link.rx_csum_partial} partial checksums")
                    self.extras[f"{name}_gso_in"] = link.rx_gso
                    self.extras[f"{name}_gso_out"] = link.tx_gso
        except Exception as e:
            self.fail([key], "MB/s", e)
        # The receiver's longest wait between two arrivals: at full speed a fraction of a
        # millisecond, so 20 ms is a stall (a delayed ACK is 40 ms, an RTO 200 ms or more).
        # Preemptions (involuntary context switches) of the stack and of the client in a stalled
        # run tell a stall of TCP from one of a process that another program kept off its CPU.
        bad = [x for x in stalls if x[0] > STALL]
        if bad:
            gaps = ", ".join(f"{g * 1000:.0f}" for g, _, _ in bad)
            preempted = ", ".join(f"{s}/{c}" for _, s, c in bad)
            good = [f"{s}/{c}" for g, s, c in stalls if g <= STALL]
            row.add(None, f"! stalled in {len(bad)} of {len(stalls)} runs: longest wait for data at the "
                          f"receiver {gaps} ms; preempted (stack/client) {preempted} times in those runs"
                          + (f", {', '.join(good)} in the others" if good else ""))
        if stalls:
            self.extras[f"{name}_max_gap_ms"] = max(g for g, _, _ in stalls) * 1000
        self.log(f"  bulk {direction} mtu {mtu}{' offload' if offload else ''}{' ipv6' if ipv6 else ''}: "
                 f"{row.median or 0:.1f} MB/s "
                 f"({', '.join(f'{v:.1f}' for v in row.values)})")


class _SinkServer(AppServer):
    """Discard (RFC 863) that also times the gaps between arrivals: a stall shows as one long gap."""

    name = "sink"

    def __init__(self) -> None:
        super().__init__()
        self.done: list[tuple[int, float]] = []  # (bytes, longest gap in s) per finished connection

    async def handle(self, stream: trio.abc.HalfCloseableStream) -> None:
        nbytes, gap, last = 0, 0.0, None
        while data := await stream.receive_some(262144):
            now = trio.current_time()
            if last is not None:
                gap = max(gap, now - last)
            last = now
            nbytes += len(data)
        self.done.append((nbytes, gap))
        await stream.aclose()
