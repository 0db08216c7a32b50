"""What a SYN that fills a listener's SYN queue costs through the link and the host, as a TUN
device's reads hand it over (issue #17: the SYN queue's fill at a flood's start;
docs/reliability.md, "The SYN queue's fill in batches").

`python -m minitcp.bench.synfill N [harness]`: a host listening on port 80 (backlog 4,096, so
every SYN makes a request) reads N spoofed SYNs (MSS, window scale, SACK, timestamps) from one
end of a socket pair standing for the device, the first SYN_BURST (16) then 256 at a time, the
way the TUN link reads: through the batch path (`CookieReader`, `CookieBatch`) when the host's table
says so, else read whole and handed to `Host.receive_batch`; the SYN-ACKs go back through the
pair and are read off. It prints the requests made and the CPU time (`time.thread_time`) per
SYN. `harness` does the bench's own work alone (the SYNs built, written, read, written back
and read off), no host. Under `valgrind --tool=callgrind`, the instructions of two runs (N=1040
less N=272, over 768) less the same for `harness` are what a fill SYN costs the link and the
host. No network, no clock but virtual time; bounded by N.
"""

from __future__ import annotations

import socket
import sys
import time

from minitcp.host.cookie_batch import CookieBatch
from minitcp.host.host import Host
from minitcp.link.base import Received
from minitcp.link.cookie_rx import CookieReader
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import SYN, Segment
from minitcp.wire.tcp import build_tcp_packet

LOCAL = ip_int("198.18.0.2")
SPOOFED = ip_int("10.0.0.0")  # (never sent to: the SYN-ACKs only go back through the pair)
BATCH = 256  # the TUN link's batch limit
# The first read: cookie_batch.SYN_BURST (written out, so that the file runs on a tree before it:
# `PYTHONPATH=TREE python minitcp/bench/synfill.py N`).
FIRST = 16
NOW = 1.0


def drain(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting on a non-blocking socket (a socket pair's end standing for a device)."""
    got = []
    while True:
        try:
            got.append(sock.recv(65535))
        except BlockingIOError:
            return got


def run(n: int, harness: bool) -> tuple[int, int, float]:
    """SYN-ACKs sent back, requests made, microseconds of CPU per SYN."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        ours.setblocking(False)
        theirs.setblocking(False)
        def send(pkt: bytes) -> None:
            ours.send(pkt)

        host = Host("198.18.0.2", mtu=1500, send=send)
        host.engine.listen(LOCAL, 80, 4096)
        batch = CookieBatch(host)
        reader = CookieReader(ours.fileno(), BATCH, 65535)
        syns = [build_tcp_packet(Segment(SPOOFED + k, LOCAL, 1024 + k % 60000, 80, k * 7919, 0, SYN, 64240,
                                         mss=1460, wscale=7, sack_permitted=True, ts_val=k + 1, ts_ecr=0))
                for k in range(n)]
        sent = 0
        start = time.thread_time()
        for at, end in [(0, FIRST)] + [(a, a + BATCH) for a in range(FIRST, n, BATCH)]:
            for pkt in syns[at:end]:
                theirs.send(pkt)
            table = None if harness else batch.table(NOW)
            rest: list[Received] = []
            if harness:
                for pkt in drain(ours):
                    ours.send(pkt)
            elif table is not None:
                rest, _ = reader.read(batch, table, NOW)
            else:
                rest = [(pkt, False) for pkt in drain(ours)]
            if rest:
                host.receive_batch(rest, NOW)
            host.transmit(NOW)
            reader.flush()
            sent += len(drain(theirs))
        return sent, len(host.engine.requests), (time.thread_time() - start) / n * 1e6


def main() -> None:
    n = int(sys.argv[1])
    harness = sys.argv[2:] == ["harness"]
    if not CookieReader.available:
        raise SystemExit("needs the C extension (minitcp._native), MINITCP_PURE unset")
    sent, made, per_syn = run(n, harness)
    print(f"{n} SYNs: {sent} SYN-ACKs, {made} requests, {per_syn:.1f} us of CPU per SYN")


if __name__ == "__main__":
    main()
