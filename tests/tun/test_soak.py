"""`minitcp soak`, bounded: tens of thousands of hostile packets in seconds, and its verdict.

The soak enters its own private network namespace (in a subprocess here, so this
process's namespace and threads are left alone), sends 30,000 hostile packets at
the stack while two kernel flows move data through its echo server, abandons
connections (which the servers' keepalive must reset), floods it with 2,000 spoofed
SYNs (past its SYN queue's 1,024, so it answers with SYN cookies) and prints one JSON
report. The flood's latency bar is reported but not asserted here (`--flood-advisory`):
on a shared CI machine a p99 is the machine's load as much as the stack's, and a test
must not depend on that; `make soak` decides it (docs/reliability.md). About 15 s on
the 2-core CI machine; the bound is 120 s.
"""

from __future__ import annotations

import json
import subprocess
import sys

LIMIT = 120.0
PACKETS = 30_000
FLOOD_SYNS = 2_000
# The most the hostile phase may take: a bound, not its length (30,000 packets at 20,000/s take
# 1.5 s); on a machine loaded by other work the generator may need many times that.
SECONDS = 30


def test_soak_bounded_run_passes_with_data_verified() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "minitcp.cli", "soak", "--json", "--packets", str(PACKETS),
         "--seconds", str(SECONDS),
         "--flood-syns", str(FLOOD_SYNS), "--flood-advisory",
         "--abandon-cycles", "2", "--abandon-conns", "20"],
        capture_output=True, text=True, timeout=LIMIT,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(lines[0])
    assert report["failures"] == [], report["failures"]
    assert report["passed"] and done.returncode == 0
    assert report["packets"] >= PACKETS * 0.95  # a few are too long for the MTU: not sent
    assert report["stack_received"] >= report["packets"] - report["device_dropped"]
    # Legitimate data went through under attack and came back whole (SHA-256 each way).
    assert report["bytes_verified"] > 0
    assert all(flow["verified"] for flow in report["flows"])
    assert report["victims"]["alive"] == report["victims"]["total"] == report["victims_watched"] > 0
    assert report["stack_alive"] and report["final_check"]
    assert report.get("tcp_counters", {}).get("TCPConnectionErrors", 0) == 0
    # The attacks were made: every kind sent, and the host dropped malformed packets by reason.
    assert all(n > 0 for n in report["packets_by_kind"].values()), report["packets_by_kind"]
    assert sum(report["drops"].values()) > 0
    # The abandoned connections were reset by keepalive: none left after either cycle.
    assert report["abandoned"] > 0
    assert report["conns_by_cycle"] == [0, 0]
    # The flood overflowed the SYN queue and was answered with cookies (tcp_syncookies=1).
    assert report["flood_syns"] == FLOOD_SYNS
    assert report["tcp_counters"].get("SyncookiesSent", 0) > 0
