"""Where a legitimate request's time goes during `minitcp soak`'s SYN flood (`--flood-trace`).

The stack's side of the story, taken in the stack's process with the clock the clients use
(`time.monotonic`, CLOCK_MONOTONIC, the same in every process of the machine): each read of
the TUN device (when it began and ended, the packets it handed to the host, the cookies the
link answered in it), each batch the host handled and each timer round (the stack's busy
periods), and each legitimate packet (from the users' address) read and sent, with its port
and TCP flags. The clients' side is each request's timeline (`clients.requests`: start,
connected, echoed, its port). `breakdown` joins them by the client's port: for each request,
how long its SYN, its data and its echo each waited on the device's queue (sent by the kernel,
not yet read) and in the stack (read, its answer not yet written), and what the stack was busy
with meanwhile.

The probe wraps the link's read, the host's handling and send and the timer round of one
stack (instance attributes: nothing else sees them, and nothing watches every packet, so the
link's cookie batches stay on); its cost is a clock read per call and a look at each packet
the host is handed.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from minitcp.stack import Stack
from minitcp.wire.segment import ACK, FIN, SYN


class FloodProbe:
    """Records the stack's busy periods and a peer's packets while `recording`."""

    def __init__(self, stack: Stack, peer: int, port: int) -> None:
        self.peer = peer.to_bytes(4, "big")
        self.port = port
        self.recording = False
        # Each with the CPU time the stack's thread spent in it (the rest of its span it waited
        # for a CPU): start, end, CPU seconds, then what it did.
        self.reads: list[tuple[float, float, float, int, int]] = []  # ..., packets out, cookies
        self.handles: list[tuple[float, float, float, int]] = []  # ..., packets
        self.timers: list[tuple[float, float, float]] = []
        self.gcs: list[tuple[float, float, int]] = []  # Python's collections: start, end, generation
        self._gc_start = 0.0
        self.rx: list[tuple[float, int, int, int]] = []  # read at, peer's port, flags, payload
        self.tx: list[tuple[float, int, int, int]] = []  # written at, peer's port, flags, payload
        link, host = stack.link, stack.host
        counters = stack.engine.counters
        clock, cpu = time.monotonic, time.thread_time

        read = link._read  # type: ignore[attr-defined]

        def traced_read() -> list[Any]:
            if not self.recording:
                return read()
            cookies = counters["SyncookiesSent"]
            t0, c0 = clock(), cpu()
            batch = read()
            t1 = clock()
            self.reads.append((t0, t1, cpu() - c0, len(batch), counters["SyncookiesSent"] - cookies))
            for pkt, _ in batch:
                self._packet(self.rx, pkt, t1, 12, 0)
            return batch

        link._read = traced_read  # type: ignore[attr-defined]
        self._wrap_handle(stack, clock, cpu)
        self._wrap_timer(host, clock, cpu)
        send = host._send

        def traced_send(packet: bytes) -> None:
            send(packet)
            if self.recording:
                self._packet(self.tx, packet, clock(), 16, 2)

        host._send = traced_send
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if not self.recording:
            return
        if phase == "start":
            self._gc_start = time.monotonic()
        else:
            self.gcs.append((self._gc_start, time.monotonic(), info["generation"]))

    def close(self) -> None:
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)

    def _wrap_handle(self, stack: Stack, clock: Callable[[], float], cpu: Callable[[], float]) -> None:
        handle = stack._handle_batch

        def traced_handle(batch: list[Any]) -> None:
            t0, c0 = clock(), cpu()
            handle(batch)
            if self.recording:
                self.handles.append((t0, clock(), cpu() - c0, len(batch)))

        stack._handle_batch = traced_handle  # type: ignore[method-assign]

    def _wrap_timer(self, host: Any, clock: Callable[[], float], cpu: Callable[[], float]) -> None:
        handle = host.handle_timeout

        def traced_timeout(now: float) -> None:
            t0, c0 = clock(), cpu()
            handle(now)
            if self.recording:
                self.timers.append((t0, clock(), cpu() - c0))

        host.handle_timeout = traced_timeout

    def _packet(self, into: list[tuple[float, int, int, int]], pkt: Any, t: float, at: int,
                port_at: int) -> None:
        """A peer's IPv4 TCP packet without IP options: its address at `at`, its port at `port_at`
        in the TCP header."""
        if len(pkt) < 40 or pkt[0] != 0x45 or pkt[9] != 6 or bytes(pkt[at:at + 4]) != self.peer:
            return
        tcp = 20
        peer_port = int.from_bytes(pkt[tcp + port_at:tcp + port_at + 2], "big")
        payload = len(pkt) - tcp - (pkt[tcp + 12] >> 4) * 4
        into.append((t, peer_port, pkt[tcp + 13], payload))

    def as_json(self) -> dict[str, Any]:
        return {"reads": self.reads, "handles": self.handles, "timers": self.timers,
                "gcs": self.gcs, "rx": self.rx, "tx": self.tx}


def breakdown(trace: dict[str, Any], timeline: list[list[Any]], start: float,
              end: float) -> list[dict[str, Any]]:
    """Per request made during the flood (`start` to `end`), slowest first: its latency and how
    long each of its packets waited on the device's queue and in the stack (ms), and the stack's
    largest busy period while it waited."""
    rx: dict[int, list[tuple[float, int, int]]] = {}
    tx: dict[int, list[tuple[float, int, int]]] = {}
    for into, rows in ((rx, trace["rx"]), (tx, trace["tx"])):
        for t, port, flags, payload in rows:
            into.setdefault(port, []).append((t, flags, payload))
    busy = sorted([(a, b, f"read {n} ({k} cookies), CPU {_ms(c)} ms") for a, b, c, n, k in trace["reads"]]
                  + [(a, b, f"handle {n}, CPU {_ms(c)} ms") for a, b, c, n in trace["handles"]]
                  + [(a, b, f"timers, CPU {_ms(c)} ms") for a, b, c in trace["timers"]]
                  + [(a, b, f"gc of generation {g}") for a, b, g in trace["gcs"]])
    out = []
    for t0, connected, done, port in timeline:
        if not start <= t0 <= end or done is None:
            continue
        ins, outs = rx.get(port, []), tx.get(port, [])
        syn = next((t for t, f, _ in ins if f & SYN), None)
        synack = next((t for t, f, _ in outs if f & SYN and f & ACK), None)
        data = next((t for t, f, n in ins if n and not f & SYN), None)
        echo = next((t for t, f, n in outs if n and not f & (SYN | FIN)), None)
        row = {
            "start": round(t0 - start, 4), "ms": _ms(done - t0),
            "syn_queue": _ms(syn - t0 if syn else None),
            "syn_stack": _ms(synack - syn if syn and synack else None),
            "synack_to_connected": _ms(connected - synack if synack and connected else None),
            "data_queue": _ms(data - connected if data and connected else None),
            "data_stack": _ms(echo - data if echo and data else None),
            "echo_to_done": _ms(done - echo if echo else None),
        }  # fmt: skip
        longest = max(((b - a, what) for a, b, what in busy if a < done and b > t0), default=None)
        if longest is not None:
            row["longest_busy"] = f"{_ms(longest[0])} ms {longest[1]}"
        out.append(row)
    out.sort(key=lambda r: -r["ms"])
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)
