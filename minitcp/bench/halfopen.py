"""What a SYN that makes a half-open connection costs, one SYN-ACK retransmission, and a stray
segment aimed at a half-open request, in the sans-IO engine alone (issue #17: the SYN queue's
fill at a flood's start, and what an attacker's cheap segments then cost; docs/reliability.md).

`python -m minitcp.bench.halfopen N syn|rtx|rst|oow|built`: one engine with a listener (backlog
4,096) is fed N spoofed SYNs (MSS, window scale, SACK, timestamps) at one instant of virtual time;
then with `rtx` the first round of their SYN-ACK retransmissions follows, with `rst` one RST in
the window for each request (which ends it: tcp_check_req's embryonic reset), with `oow` one ACK
of its SYN-ACK out of the window for each (answered with an ACK; the request stays); `built`
builds those RSTs and sends none (the baseline of `rst` and `oow`). It prints the CPU time
(`time.thread_time`) per SYN and per follow-up. Under `valgrind --tool=callgrind`, the
difference of two runs' instructions (N=1000 and N=2000 `syn`; `rtx` less `syn`, `rst` or `oow`
less `built`, at N=2000) is the figure the load does not move. No network, no clock but virtual
time; bounded by N.
"""

from __future__ import annotations

import sys
import time

from minitcp.tcp.engine import TcpEngine
from minitcp.tcp.seq import MASK
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, RST, SYN, Segment

LOCAL = ip_int("198.18.0.2")
SPOOFED = ip_int("10.0.0.0")  # (sources the engine never sends to: it only builds segments)
MODES = ("syn", "rtx", "rst", "oow", "built")


def _syn(k: int) -> Segment:
    return Segment(SPOOFED + k, LOCAL, 1024 + k % 60000, 80, k * 7919, 0, SYN, 64240, mss=1460,
                   wscale=7, sack_permitted=True, ts_val=k + 1, ts_ecr=0)


def _follow_up(k: int, synack: Segment, mode: str) -> Segment:
    """Request k's stray segment: an RST at its rcv_nxt, or an ACK of its SYN-ACK 1 MB beyond
    the window; with a TSval newer than the SYN's (no PAWS reject)."""
    seq = (k * 7919 + 1 + (0 if mode == "rst" else 1 << 20)) & MASK
    flags, ack = (RST, 0) if mode == "rst" else (ACK, (synack.seq + 1) & MASK)
    return Segment(SPOOFED + k, LOCAL, 1024 + k % 60000, 80, seq, ack, flags, 502, ts_val=k + 2,
                   ts_ecr=synack.ts_val)


def run(n: int, mode: str) -> tuple[float, float]:
    """Feed `n` SYNs, then the `mode`'s follow-up for each: microseconds of CPU per SYN and per
    follow-up (0.0 for `syn`)."""
    eng = TcpEngine(secret=b"halfopen-bench")
    lst = eng.listen(LOCAL, 80, 4096)
    syns = [_syn(k) for k in range(n)]
    synacks: list[Segment] = []
    keep = mode in ("rst", "oow", "built")
    start = time.thread_time()
    for syn in syns:
        eng.receive(syn, 0.001)
        if keep:
            synacks += eng.out
        eng.out.clear()
    per_syn = (time.thread_time() - start) / n * 1e6
    assert len(lst.syn_queue) == n
    if mode == "syn":
        return per_syn, 0.0
    if mode == "rtx":
        deadline = eng.poll_at()
        assert deadline is not None
        start = time.thread_time()
        eng.handle_timeout(deadline)
        per_rtx = (time.thread_time() - start) / n * 1e6
        assert len(eng.out) == n
        return per_syn, per_rtx
    segs = [_follow_up(k, synack, mode) for k, synack in enumerate(synacks)]
    if mode == "built":
        return per_syn, 0.0
    start = time.thread_time()
    for seg in segs:
        eng.receive(seg, 0.002)
    per_seg = (time.thread_time() - start) / n * 1e6
    assert len(lst.syn_queue) == (0 if mode == "rst" else n)
    assert len(eng.out) == (0 if mode == "rst" else n)
    return per_syn, per_seg


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 1000
    mode = argv[1] if len(argv) > 1 else "syn"
    if not 0 < n <= 4096 or mode not in MODES:
        raise SystemExit("usage: N (1 to 4096, the backlog) syn|rtx|rst|oow|built")
    per_syn, per_next = run(n, mode)
    what = {"rtx": "SYN-ACK retransmission", "rst": "RST to a request", "oow": "out-of-window ACK"}
    rest = f", {what[mode]}: {per_next:.1f} us" if mode in what else ""
    print(f"half-open SYN: {per_syn:.1f} us of CPU each{rest}")


if __name__ == "__main__":
    main(sys.argv[1:])
