"""Hot-path benchmark: checksum, parse (validation + TCP checksum) and build, C versus pure Python.

`python -m minitcp.bench.hotpath [--json] [--quick]`. Each figure is the best
of several timed blocks (the least disturbed by other work on the machine),
loop overhead included, so it is what a caller in Python pays per segment;
MB/s counts payload bytes.
The whole run is bounded: about 10 s, or under 3 s with --quick.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from itertools import repeat
from types import ModuleType
from typing import Any

from minitcp.wire import checksum as pure_checksum
from minitcp.wire import tcp_pure
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, PSH, Segment

tcp_native: ModuleType | None
try:
    from minitcp.wire import tcp_native
except ImportError:  # no C extension built: the pure-Python rows only
    tcp_native = None

PAYLOADS = (64, 1460, 65000)
TARGET_SIZE = 1460
TARGET_RATIO = 20.0  # C parse at least 20x faster than pure Python
TARGET_NS = 1000.0  # and under 1 us per call
_BLOCKS = 5


def sample_segment(size: int) -> Segment:
    """A data segment as an established Linux connection sends it: ACK|PSH with timestamps."""
    payload = bytes(i & 0xFF for i in range(size))
    return Segment(
        ip_int("198.18.0.1"), ip_int("198.18.0.2"), 40000, 8080, 0x12345678, 0x9ABCDEF0, ACK | PSH, 502,
        payload, ts_val=0x01020304, ts_ecr=0x05060708,
    )  # fmt: skip


def _loop(fn: Callable[[Any], object], arg: object, calls: int) -> int:
    start = time.perf_counter_ns()
    for _ in repeat(None, calls):
        fn(arg)
    return time.perf_counter_ns() - start


def time_ns(fn: Callable[[Any], object], arg: object, budget_ns: int) -> float:
    """Best per-call time of `fn(arg)` over _BLOCKS blocks sharing `budget_ns`."""
    calls = 1
    # Calibrate on growing loops until one takes a tenth of a block, which
    # also warms caches and the interpreter's specialisations.
    while (elapsed := _loop(fn, arg, calls)) < budget_ns // (_BLOCKS * 10):
        calls *= 2
    calls = max(1, int(budget_ns / _BLOCKS * calls / max(elapsed, 1)))
    return min(_loop(fn, arg, calls) for _ in range(_BLOCKS)) / calls


def _row(op: str, size: int, c_ns: float | None, pure_ns: float) -> dict[str, Any]:
    return {
        "op": op,
        "payload": size,
        "c_ns": c_ns,
        "pure_ns": pure_ns,
        "c_mb_s": None if c_ns is None else size * 1000 / c_ns,
        "pure_mb_s": size * 1000 / pure_ns,
        "ratio": None if c_ns is None else pure_ns / c_ns,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Time every operation and size; returns rows, the raw C parse times and the target verdict."""
    budget = 20_000_000 if quick else 400_000_000
    raw_parse = None
    if tcp_native is not None:
        from minitcp._native import ffi, lib

        fields = ffi.new("uint32_t[]", lib.MT_F_COUNT)

        def raw_parse(packet: bytes) -> int:
            """The C call alone: validation and field extraction, no Segment built."""
            return lib.mt_parse_tcp(packet, len(packet), fields)

    rows: list[dict[str, Any]] = []
    raw_c_parse: dict[int, float] = {}
    for size in PAYLOADS:
        seg = sample_segment(size)
        packet = tcp_pure.build_tcp_packet(seg)
        tcp_part = packet[20:]
        ops: list[tuple[str, Callable[[Any], object] | None, Callable[[Any], object], object]] = [
            ("checksum", tcp_native.checksum if tcp_native else None, pure_checksum.checksum, tcp_part),
            ("parse", tcp_native.parse_tcp_packet if tcp_native else None, tcp_pure.parse_tcp_packet, packet),
            ("build", tcp_native.build_tcp_packet if tcp_native else None, tcp_pure.build_tcp_packet, seg),
        ]
        for op, c_fn, pure_fn, arg in ops:
            c_ns = None if c_fn is None else time_ns(c_fn, arg, budget)
            rows.append(_row(op, size, c_ns, time_ns(pure_fn, arg, budget)))
        if raw_parse is not None:
            raw_c_parse[size] = time_ns(raw_parse, packet, budget)
    target = next(r for r in rows if r["op"] == "parse" and r["payload"] == TARGET_SIZE)
    return {
        "native": tcp_native is not None,
        "rows": rows,
        "raw_c_parse_ns": raw_c_parse,
        "target": {
            "payload": TARGET_SIZE,
            "ratio": target["ratio"],
            "c_ns": target["c_ns"],
            "raw_c_ns": raw_c_parse.get(TARGET_SIZE),
            "ratio_met": target["ratio"] is not None and target["ratio"] >= TARGET_RATIO,
            "latency_met": target["c_ns"] is not None and target["c_ns"] < TARGET_NS,
        },
    }


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None else format(value, spec) + unit


def format_report(result: dict[str, Any]) -> str:
    """The table and target verdict as text."""
    lines = [
        f"{'op':<9}{'payload':>8}{'C ns':>11}{'pure ns':>12}{'C MB/s':>10}{'pure MB/s':>11}{'C/pure':>9}",
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['op']:<9}{r['payload']:>8}{_fmt(r['c_ns'], '.0f'):>11}{r['pure_ns']:>12.0f}"
            f"{_fmt(r['c_mb_s'], '.0f'):>10}{r['pure_mb_s']:>11.0f}{_fmt(r['ratio'], '.1f', 'x'):>9}"
        )
    if not result["native"]:
        lines.append("minitcp._native is not built: C figures missing (pip install -e .)")
        return "\n".join(lines)
    for size, ns in result["raw_c_parse_ns"].items():
        lines.append(f"raw C validate+parse call (no Segment), {size} B payload: {ns:.0f} ns")
    t = result["target"]
    lines.append(
        f"target, parse+checksum of {t['payload']} B: C/pure {t['ratio']:.1f}x (>= {TARGET_RATIO:.0f}x: "
        f"{'met' if t['ratio_met'] else 'NOT met'}), C {t['c_ns']:.0f} ns per Segment (< {TARGET_NS:.0f} ns: "
        f"{'met' if t['latency_met'] else 'NOT met'}; raw C call {t['raw_c_ns']:.0f} ns)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m minitcp.bench.hotpath", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--quick", action="store_true", help="short timing blocks (under 3 s)")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    print(json.dumps(result, indent=2) if args.json else format_report(result))


if __name__ == "__main__":
    main()
