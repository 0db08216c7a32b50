"""Where each row of a ladder goes down the page: distance proportional to time, with breaks.

The rule, for the text ladder (units: lines) and the SVG (units: pixels) alike:
- a gap between two moments is drawn `scale * gap` long, and never shorter than the rows
  the earlier moment holds (events at one instant are stacked one line apart);
- `scale` gives the shortest gap one line, unless the whole drawing would then exceed
  `target`, in which case it shrinks to fit (short gaps then take one line each);
- a gap longer than BREAK_SECONDS and BREAK_FACTOR times the median gap (TIME_WAIT's 60 s
  among milliseconds) is a break: drawn `break_len` long, marked with its duration, and left
  out of the scale.
So the RTO's 200/400/800/1600 ms backoff is drawn 1:2:4:8, and segments in flight cross.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

BREAK_SECONDS = 3.0  # longer than any RTO of a lab's first backoffs (1 s initial, 200 ms ... 1.6 s)
BREAK_FACTOR = 20  # ... and that many times the typical gap
SHORTEST = 0.0005  # s: gaps below this (real-time jitter) count as this for choosing the scale


@dataclass
class Timescale:
    times: list[float]  # distinct moments, in order
    ys: list[float]  # where each moment's first row goes
    scale: float  # units per second
    breaks: list[tuple[float, float, float]] = field(default_factory=list)  # (y of the marker, from, to)

    def y(self, t: float) -> float:
        """Where moment `t` is: exact at the known moments, linear between them."""
        i = bisect.bisect_left(self.times, t)
        if i < len(self.times) and self.times[i] == t:
            return self.ys[i]
        if i == 0:
            return self.ys[0] if self.ys else 0.0
        if i >= len(self.times):
            return self.ys[-1]
        t0, t1, y0, y1 = self.times[i - 1], self.times[i], self.ys[i - 1], self.ys[i]
        return y0 + (y1 - y0) * (t - t0) / (t1 - t0)

    @property
    def end(self) -> float:
        return self.ys[-1] if self.ys else 0.0


def lay_out(row_times: Iterable[float], other_times: Iterable[float] = (), *, line: float, target: float,
            break_len: float, top: float = 0.0) -> Timescale:
    """A Timescale for rows at `row_times` (one line each) and moments without a row of their own
    (`other_times`: arrivals), starting at `top`."""
    rows = Counter(row_times)
    times = sorted(set(rows) | set(other_times))
    if not times:
        return Timescale([], [], 0.0)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    positive = [g for g in gaps if g > 0]
    typical = statistics.median(positive) if positive else 0.0
    is_break = [g > BREAK_SECONDS and g > BREAK_FACTOR * typical for g in gaps]
    kept = [g for g, b in zip(gaps, is_break, strict=True) if not b and g > 0]
    scale = line / max(min(kept), SHORTEST) if kept else 0.0
    if kept and scale * sum(kept) > target:
        scale = target / sum(kept)
    ys = [top]
    breaks = []
    for t, g, b in zip(times, gaps, is_break, strict=False):
        room = rows.get(t, 0) * line
        if b:
            y = ys[-1] + max(room, line)
            breaks.append((y, t, t + g))
            ys.append(y + break_len)
        else:
            ys.append(ys[-1] + max(room, scale * g))
    return Timescale(times, ys, scale, breaks)
