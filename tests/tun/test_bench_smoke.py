"""`minitcp bench --quick --json` runs end to end: every required figure is there and is a number.

The bench enters its own private network namespace, creates its TUN devices
there and drives the stack with kernel clients in subprocesses. Nothing here
asserts a speed: the figures depend on the machine. On the 2-core CI machine
the quick run takes about 45 s idle and 100 s at load 9; the bound, 450 s, is a hang guard.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

from minitcp.bench.suite import REQUIRED_KEYS

LIMIT = 450.0


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def test_bench_quick_json_has_every_figure() -> None:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "minitcp.cli", "bench", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )
    seconds = time.monotonic() - start
    print(f"\nminitcp bench --quick --json: {seconds:.1f} s")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, done.stdout[-3000:]
    result = json.loads(lines[0])
    missing = [k for k in REQUIRED_KEYS if k not in result]
    assert not missing, f"missing keys: {missing}; flags: {result.get('flags')}"
    not_numbers = {k: result[k] for k in REQUIRED_KEYS if not _is_number(result[k])}
    assert not not_numbers, f"not numbers: {not_numbers}; flags: {result.get('flags')}"
    hotpath = [k for k in result if k.startswith("hotpath_")]
    assert hotpath, "no hot-path rows"
    assert all(isinstance(result[k], int | float) for k in hotpath)
    for key in ("bulk_in_1500_of_raw", "bulk_out_1500_cpu_ms_per_MB"):
        assert isinstance(result.get(key), int | float), key
    for key in ("bulk_in_1500_offload_MBps", "bulk_out_1500_offload_MBps"):  # the TSO/GSO path too
        assert _is_number(result.get(key)), (key, result.get("flags"))
    for key in ("bulk_in_1500_ipv6_MBps", "bulk_out_1500_ipv6_MBps", "conn_ipv6_per_s"):  # IPv6 beside IPv4
        assert _is_number(result.get(key)), (key, result.get("flags"))
    assert result["quick"] is True
