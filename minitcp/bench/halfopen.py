"""What a SYN that makes a half-open connection costs, and one SYN-ACK retransmission, in the
sans-IO engine alone (issue #17: the SYN queue's fill at a flood's start; docs/reliability.md).

`python -m minitcp.bench.halfopen N syn|rtx`: one engine with a listener (backlog 4,096) is fed
N spoofed SYNs (MSS, window scale, SACK, timestamps) at one instant of virtual time; with `rtx`
the first round of their SYN-ACK retransmissions follows. It prints the CPU time
(`time.thread_time`) per SYN and per retransmission. Under `valgrind --tool=callgrind`, the
difference of two runs' instructions (N=1000 and N=2000; `syn` and `rtx` at N=2000) is the
figure the load does not move. No network, no clock but virtual time; bounded by N.
"""

from __future__ import annotations

import sys
import time

from minitcp.tcp.engine import TcpEngine
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import SYN, Segment

LOCAL = ip_int("198.18.0.2")
SPOOFED = ip_int("10.0.0.0")  # (sources the engine never sends to: it only builds segments)


def run(n: int, rtx: bool) -> tuple[float, float]:
    """Feed `n` SYNs, then (`rtx`) fire the first retransmission round: microseconds of CPU per
    SYN and per retransmission (0.0 without `rtx`)."""
    eng = TcpEngine(secret=b"halfopen-bench")
    lst = eng.listen(LOCAL, 80, 4096)
    syns = [Segment(SPOOFED + k, LOCAL, 1024 + k % 60000, 80, k * 7919, 0, SYN, 64240, mss=1460,
                    wscale=7, sack_permitted=True, ts_val=k + 1, ts_ecr=0) for k in range(n)]
    start = time.thread_time()
    for syn in syns:
        eng.receive(syn, 0.001)
        eng.out.clear()
    per_syn = (time.thread_time() - start) / n * 1e6
    assert len(lst.syn_queue) == n
    per_rtx = 0.0
    if rtx:
        deadline = eng.poll_at()
        assert deadline is not None
        start = time.thread_time()
        eng.handle_timeout(deadline)
        per_rtx = (time.thread_time() - start) / n * 1e6
        assert len(eng.out) == n
    return per_syn, per_rtx


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 1000
    rtx = len(argv) > 1 and argv[1] == "rtx"
    if not 0 < n <= 4096:
        raise SystemExit("N: 1 to 4096 (the backlog)")
    per_syn, per_rtx = run(n, rtx)
    rtx_part = f", SYN-ACK retransmission: {per_rtx:.1f} us" if rtx else ""
    print(f"half-open SYN: {per_syn:.1f} us of CPU each{rtx_part}")


if __name__ == "__main__":
    main(sys.argv[1:])
