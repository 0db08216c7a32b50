"""What the TUN link's flood batches cost per packet: CPU microseconds with the ring and without.

`python -m minitcp.soak.link_cost [--rounds N] [--json]`, inside a private network namespace (it
makes a TUN device, `mtcpcost0`, 198.18.0.1/24). The calls `CookieReader` makes
(minitcp/link/cookie_rx.py): the write of a batch of 256 cookie SYN-ACKs to spoofed sources
(`mt_write_batch`, or `Ring.write_batch`: the kernel routes each in and drops it, as under the
flood), and the read of a batch of 256 flood SYNs the kernel queued on the device (`mt_read_batch`,
or `Ring.read_batch`; the sending of them is not counted). The figure is the thread's CPU time
(user and system: the system calls' cost is the point) over the packets, the median of N rounds
(default 30) of each, the two ways alternated. "batch" is the whole of a flood's batch through
the link (`TunLink.poll_batch` with a `Stack` in cookie mode: the read, the C scan, Python's part,
the writes) per cookie, 256 SYNs queued on the device before each.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import time
from collections.abc import Callable
from typing import Any

import trio

from minitcp.host.cookie_batch import SYNACK_SLOT
from minitcp.link.tun import TunLink
from minitcp.link.uring import Ring
from minitcp.soak.cookie_cost import flood
from minitcp.stack import Stack
from minitcp.tcp.knobs import Knobs
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet

BATCH = 256
ETH_P_IP = 0x0800


def _synacks(count: int) -> list[bytes]:
    """Cookie SYN-ACKs as the scan writes them (MSS, SACK, timestamps, window scale) to the
    flood's spoofed sources in 198.18.0.0/24 (soak/packets.py)."""
    us, spoofed = ip_int("198.18.0.2"), ip_int("198.18.0.100")
    return [build_tcp_packet(Segment(us, spoofed + i % 150, 7, 1024 + i, i, 1, SYN | ACK, 64240, mss=1460,
                                     wscale=7, sack_permitted=True, ts_val=i, ts_ecr=1))
            for i in range(count)]


def measure(rounds: int, name: str = "mtcpcost0") -> dict[str, float]:
    """The medians, in microseconds per packet, and the ring's calls, on a new device `name`."""
    from minitcp._native import ffi, lib

    link = TunLink(name, uring=False, batch_limit=BATCH)
    fd = link.fileno()
    ring = Ring(fd)
    try:
        packets = _synacks(BATCH)
        out, olen = ffi.new("char[]", BATCH * SYNACK_SLOT), ffi.new("uint32_t[]", BATCH)
        row = ffi.new("uint8_t[]", [1] * BATCH)
        for i, pkt in enumerate(packets):
            ffi.memmove(out + i * SYNACK_SLOT, pkt, len(pkt))
            olen[i] = len(pkt)
        frame = 65535
        cap = frame * BATCH
        buf = ffi.new_allocator(should_clear_after_alloc=False)("char[]", cap)
        off, length = ffi.new("uint32_t[]", BATCH), ffi.new("uint32_t[]", BATCH)
        syns = flood(BATCH)
        ways: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
            "plain": (lambda: lib.mt_write_batch(fd, out, olen, row, BATCH),
                      lambda: lib.mt_read_batch(fd, buf, cap, frame, BATCH, off, length)),
            "ring": (lambda: ring.write_batch(out, olen, row, BATCH),
                     lambda: ring.read_batch(buf, cap, frame, BATCH, off, length)),
        }
        costs: dict[str, list[float]] = {f"{way}_{op}": [] for way in ways for op in ("write", "read")}
        with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP)) as kernel:
            kernel.bind((link.name, ETH_P_IP))
            for _ in range(rounds):
                for way, (write, read) in ways.items():
                    start = time.thread_time()
                    if write() != 0:
                        raise RuntimeError("the device refused a SYN-ACK")
                    costs[f"{way}_write"].append((time.thread_time() - start) / BATCH * 1e6)
                    for syn in syns:
                        kernel.send(syn)
                    start = time.thread_time()
                    got = read()
                    costs[f"{way}_read"].append((time.thread_time() - start) / max(got, 1) * 1e6)
                    while read() > 0:  # anything else the kernel queued (none expected)
                        pass
        return {name: round(statistics.median(values), 3) for name, values in costs.items()} | {
            "ring_calls": ring.calls}
    finally:
        ring.close()
        link.close()


def batch_cost(rounds: int, name: str = "mtcpcost") -> dict[str, float]:
    """Median CPU microseconds per cookie of `TunLink.poll_batch` answering 256 queued SYNs,
    with the ring and without, on new devices `name`r and `name`p."""
    syns = flood(BATCH)

    async def run() -> dict[str, float]:
        links = {way: TunLink(f"{name}{way[0]}", uring=way == "ring", batch_limit=BATCH)
                 for way in ("ring", "plain")}
        costs: dict[str, list[float]] = {f"{way}_batch": [] for way in links}
        try:
            for link in links.values():
                stack = Stack(link, "198.18.0.2", knobs=Knobs(tcp_syncookies=2))
                stack.engine.listen(0, 7, 64)
                stack.engine.last_cookie = trio.current_time()  # a cookie just sent: the batch path
            if links["ring"].uring_error is not None:
                raise OSError(links["ring"].uring_error)
            for _ in range(rounds):
                for way, link in links.items():
                    with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP)) as kernel:
                        kernel.bind((link.name, ETH_P_IP))
                        for syn in syns:
                            kernel.send(syn)
                    before = link.rx_answered
                    start = time.thread_time()
                    if link.poll_batch():
                        raise RuntimeError("a flood SYN was handed to the host")
                    answered = link.rx_answered - before
                    costs[f"{way}_batch"].append((time.thread_time() - start) / max(answered, 1) * 1e6)
        finally:
            for link in links.values():
                link.close()
        return {key: round(statistics.median(values), 3) for key, values in costs.items()}

    return trio.run(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="rounds of each (default 30, at most 1,000)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rounds = max(1, min(args.rounds, 1000))
    result = measure(rounds) | batch_cost(rounds)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"us of CPU per packet, median of {args.rounds} batches of {BATCH}: "
              f"write {result['plain_write']:.2f} plain, {result['ring_write']:.2f} ring; "
              f"read {result['plain_read']:.2f} plain, {result['ring_read']:.2f} ring; "
              f"a whole batch per cookie {result['plain_batch']:.2f} plain, {result['ring_batch']:.2f} ring")


if __name__ == "__main__":
    main()
