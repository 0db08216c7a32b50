"""Rows of the `minitcp bench` table: repeated measurements, their spread, targets, and the text table."""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any

SPREAD = 0.25  # a run further than this from the median (either way) makes the row suspicious


@dataclasses.dataclass
class Target:
    value: float
    higher_is_better: bool  # True: the row must reach at least `value`; False: at most

    def met(self, x: float) -> bool:
        return x >= self.value if self.higher_is_better else x <= self.value

    def describe(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {_num(self.value)}"


# The targets ("Benchmarks and the fast path"). Reported, never asserted.
TARGETS: dict[str, Target] = {
    "bulk_in_1500_MBps": Target(100, True),
    "bulk_out_1500_MBps": Target(100, True),
    "bulk_in_65000_MBps": Target(1000, True),
    "bulk_out_65000_MBps": Target(1000, True),
    "conn_per_s": Target(3000, True),
    "echo_p50_us": Target(100, False),
    "mem_per_established_B": Target(4096, False),
    "mem_per_timewait_B": Target(300, False),
}


@dataclasses.dataclass
class Row:
    """One figure: every repetition's value; the table shows their median, min and max."""

    key: str
    unit: str
    values: list[float] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)  # what a run saw (retransmits, stalls, ...)
    higher_is_better: bool = True
    check_spread: bool = True  # False for rows measured once, or whose spread says nothing

    def add(self, value: float | None, *notes: str) -> None:
        if value is not None:
            self.values.append(float(value))
        for note in notes:
            if note and note not in self.notes:
                self.notes.append(note)

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def min(self) -> float | None:
        return min(self.values) if self.values else None

    @property
    def max(self) -> float | None:
        return max(self.values) if self.values else None

    @property
    def target(self) -> Target | None:
        return TARGETS.get(self.key)

    def suspicious(self) -> str | None:
        """Why this row's runs disagree enough to look into, or None."""
        med = self.median
        if not self.check_spread or len(self.values) < 2 or not med:
            return None
        lo, hi = self.min / med, self.max / med  # type: ignore[operator]
        if lo < 1 - SPREAD or hi > 1 + SPREAD:
            return f"spread {lo * 100:.0f}%..{hi * 100:.0f}% of median"
        return None

    def verdict(self) -> str:
        t, med = self.target, self.median
        if t is None:
            return ""
        if med is None:
            return "no data"
        return "met" if t.met(med) else "NOT met"


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    ax = abs(x)
    if ax >= 100_000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def format_table(rows: list[Row], extras: dict[str, Any] | None = None) -> str:
    """The text table: median, min, max, unit, runs, target and verdict, then the notes of each row."""
    head = (f"{'row':<31}{'median':>12}{'min':>12}{'max':>12}  {'unit':<8}{'runs':>4}  "
            f"{'target':<10}{'verdict':<8}")
    lines = [head, "-" * len(head)]
    flagged = []
    for r in rows:
        why = r.suspicious()
        mark = "!" if why or any(n.startswith("!") for n in r.notes) else " "
        target = r.target.describe() if r.target else ""
        lines.append(
            f"{r.key:<30}{mark}{_num(r.median):>12}{_num(r.min):>12}{_num(r.max):>12}  {r.unit:<8}"
            f"{len(r.values):>4}  {target:<10}{r.verdict():<8}"
        )
        notes = ([f"! {why}"] if why else []) + r.notes
        if notes:
            flagged.append(f"  {r.key}: " + "; ".join(notes))
    if flagged:
        lines += ["", "notes (! = suspicious: look into it, see docs/performance.md):", *flagged]
    if extras:
        lines += ["", "derived:"]
        width = max(len(k) for k in extras)
        for k, v in extras.items():
            lines.append(f"  {k:<{width}}  {_num(v) if isinstance(v, int | float) else v}")
    return "\n".join(lines)


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile (0..100) of already sorted values, nearest-rank."""
    if not sorted_values:
        raise ValueError("no values")
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]
