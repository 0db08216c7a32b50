"""What a SYN costs the sans-IO host under a flood: microseconds of CPU per cookie SYN-ACK.

`python -m minitcp.soak.cookie_cost [--syns N] [--json]`. The host (no Trio, no TUN) with a
listener in cookie mode (tcp_syncookies=2, as a full SYN queue puts it in) is fed spoofed
SYNs in bursts of 64, as the soak's generator writes them, each burst then sent
(`transmit`); the figure is the CPU time (process time, so other work on a shared machine
counts less) over the SYNs, best of 5 rounds. "fast" is the host as it runs
(`Host._cookie_reply4`: one C call, no `Connection`); "usual" the same host made to take
the usual path (`Listener._send_cookie`, a stand-in `Connection` per SYN), as before the
fast path existed. Bounded: N SYNs a round (default 20,000), 10 rounds in all.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from minitcp.host import Host
from minitcp.tcp.knobs import Knobs
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import SYN, Segment
from minitcp.wire.tcp import build_tcp_packet

BURST = 64
ROUNDS = 5


def flood(count: int, seed: int = 1) -> list[bytes]:
    """`count` spoofed SYNs to 198.18.0.2:7, as the soak's generator makes them (packets.py):
    random sources in 198.18.0.0/24's neighbours, MSS, window scale, SACK and timestamps."""
    rng = random.Random(seed)
    base = ip_int("198.18.1.0")
    return [build_tcp_packet(Segment(base + rng.randrange(1, 1 << 16), ip_int("198.18.0.2"),
                                     rng.randrange(1024, 65536), 7, rng.getrandbits(32), 0, SYN, 64240,
                                     mss=1460, wscale=7, sack_permitted=True,
                                     ts_val=rng.getrandbits(32), ts_ecr=0))
            for _ in range(count)]


def cost_us(packets: list[bytes], fast: bool) -> float:
    """CPU microseconds per SYN, best of ROUNDS rounds over `packets`."""
    best = float("inf")
    for _ in range(ROUNDS):
        sent: list[bytes] = []
        host = Host("198.18.0.2", mtu=1500, send=sent.append, knobs=Knobs(tcp_syncookies=2))
        host.engine.listen(0, 7, 1024)
        if not fast:
            host.engine.cookie_reply = lambda *args: None  # type: ignore[method-assign]
        now = 1.0
        start = time.process_time()
        for k in range(0, len(packets), BURST):
            host.receive_batch([(p, False) for p in packets[k:k + BURST]], now)
            host.transmit(now)
            now += 0.001
        elapsed = time.process_time() - start
        assert len(sent) == len(packets) == host.engine.counters["SyncookiesSent"]
        best = min(best, elapsed)
    return best / len(packets) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--syns", type=int, default=20000, help="SYNs per round (default 20,000)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    packets = flood(max(BURST, min(args.syns, 1_000_000)))
    result = {"syns": len(packets), "fast_us": cost_us(packets, True), "usual_us": cost_us(packets, False)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['syns']} SYNs, best of {ROUNDS}: fast path {result['fast_us']:.2f} us per cookie "
              f"SYN-ACK, usual path {result['usual_us']:.2f} us")


if __name__ == "__main__":
    main()
