"""What a bench run records: its rows, extras and CPU time per row, and the figures derived from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .plan import MTUS, OFFLOAD_MTUS, Plan
from .stats import Row

MB = 1e6  # MB/s and "per MB" are in 10^6 bytes
STALL = 0.020  # a receiver waiting this long for the next data in a bulk transfer has seen a stall


class Results:
    """The rows and extras every workload adds to (a base of `Bench`)."""

    def __init__(self, plan: Plan, quick: bool, log: Callable[[str], None]) -> None:
        self.plan = plan
        self.quick = quick
        self.log = log
        self.rows: dict[str, Row] = {}
        self.extras: dict[str, Any] = {}
        self.cpu: dict[str, list[tuple[float, float, float, float]]] = {}  # key -> (user, sys, wall, MB)

    def row(self, key: str, unit: str, **kw: Any) -> Row:
        if key not in self.rows:
            self.rows[key] = Row(key, unit, **kw)
        return self.rows[key]

    def fail(self, keys: list[str], unit: str, e: BaseException) -> None:
        while isinstance(e, BaseExceptionGroup) and e.exceptions:
            e = e.exceptions[0]  # a nursery's wrapping: the first real error says what went wrong
        self.log(f"  FAILED: {type(e).__name__}: {e}")
        for k in keys:
            self.row(k, unit).add(None, f"! failed: {e}")

    # ------------------------------------------------------------------ derived figures

    def derive(self) -> None:
        def med(key: str) -> float | None:
            r = self.rows.get(key)
            return r.median if r else None

        bulk_names: list[tuple[str, str, int | None]] = [
            (f"bulk_{d}_{mtu}", d, mtu) for mtu in MTUS for d in ("in", "out")]
        bulk_names += [(f"bulk_{d}_{mtu}_offload", d, None) for mtu in OFFLOAD_MTUS for d in ("in", "out")]
        bulk_names += [(f"bulk_{d}_1500_ipv6", d, 1500) for d in ("in", "out")]
        for name, direction, mtu in bulk_names:
            key = f"{name}_MBps"
            raw = "read" if direction == "in" else "write"
            # The raw ceiling is for MTU-sized packets, no yardstick for super-segments.
            bulk, ceiling = med(key), med(f"raw_{raw}_{mtu}_MBps") if mtu else None
            if bulk and ceiling:
                self.extras[f"{name}_of_raw"] = bulk / ceiling
            runs = self.cpu.get(key)
            if runs:
                u, s, w, mb = (sum(x[i] for x in runs) for i in range(4))
                if mb:
                    self.extras[f"{name}_cpu_ms_per_MB"] = (u + s) * 1000 / mb
                    self.extras[f"{name}_user_ms_per_MB"] = u * 1000 / mb
                    self.extras[f"{name}_cpu_util"] = (u + s) / w if w else 0.0
        for conn in ("conn", "conn_ipv6"):
            runs = self.cpu.get(conn)
            if runs:
                u, s, w, n = (sum(x[i] for x in runs) for i in range(4))
                if n:
                    self.extras[f"{conn}_cpu_us_per_conn"] = (u + s) * 1e6 / n
        for a, b in (("bulk_in_1500_MBps", "kernel_bulk_MBps"), ("conn_per_s", "kernel_conn_per_s"),
                     ("echo_p50_us", "kernel_echo_p50_us")):
            if med(a) and med(b):
                self.extras[f"{a}_of_kernel"] = med(a) / med(b)  # type: ignore[operator]
