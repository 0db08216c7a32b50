"""The same scripts against minitcp and against the Linux kernel: where the two agree, and where not.

The kernel's side is real packetdrill (referee.py) against this machine's
kernel, on CUBIC; `kernel="runner"` takes the runner's own kernel target
instead (`--compare --kernel-side runner`). Agreement is strict
(failure.py): both pass, or both fail at the same line having seen the same
segment (flags, sequence, acknowledgement, length) or the same call result,
at times within the script's tolerance of each other. packetdrill checks
every field a script writes (windows, option values), so minitcp runs with
the runner's --strict against it. A disagreement is the point of the
comparison: where the kernel passes and
minitcp fails, minitcp (or the runner) has a bug; where minitcp passes and
the kernel fails, minitcp is not Linux there (or the kernel target is
wrong); a script linux_differences.toml lists whose failure the kernel does
not show is a list entry the kernel does not back.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from . import DEFAULT_DEFINES, run_paths
from .differences import load_all_differences
from .failure import script_tolerance, strictly_agree
from .kernel_pool import WORKERS
from .packetdrill_build import DEFAULT_BUILD, DEFAULT_SOURCE
from .referee_report import packetdrill_results
from .report import Report, Result
from .signatures import failure_signature, same_failure

BOTH_PASS = "both pass"
ALIKE = "both fail alike"  # at the same line, the same segment or call result, in tolerance
KERNEL_ONLY = "the kernel passes, minitcp fails"
MINITCP_ONLY = "minitcp passes, the kernel fails"
UNLIKE = "both fail, differently"
_DISAGREEMENTS = {
    KERNEL_ONLY: "a minitcp bug, or the runner's",
    MINITCP_ONLY: "minitcp is not Linux here, or the kernel target is wrong",
    UNLIKE: "not the same failure (line, segment, call result or time): see both",
}


@dataclasses.dataclass
class Row:
    minitcp: Result
    kernel: Result
    listed: str | None = None  # the script's category in linux_differences.toml
    kernel_shows_listed: bool = False  # the kernel fails it the way the list says
    tolerance: float = 0.004  # the script's --tolerance_usecs, in seconds

    @property
    def name(self) -> str:
        return self.minitcp.name

    @property
    def verdict(self) -> str:
        m, k = self.minitcp, self.kernel
        if m.ok and k.ok:
            return BOTH_PASS
        if k.ok:
            return KERNEL_ONLY
        if m.ok:
            return MINITCP_ONLY
        return ALIKE if strictly_agree(m.reason, k.reason, self.tolerance) else UNLIKE

    @property
    def agree(self) -> bool:
        return self.verdict in (BOTH_PASS, ALIKE)


@dataclasses.dataclass
class Comparison:
    rows: list[Row]
    minitcp: Report
    kernel: Report
    seconds: float = 0.0

    @property
    def agreed(self) -> int:
        return sum(r.agree for r in self.rows)

    @property
    def disagreements(self) -> list[Row]:
        return [r for r in self.rows if not r.agree]

    @property
    def unbacked(self) -> list[Row]:
        """Listed Linux differences the kernel does not fail the way the list says."""
        return [r for r in self.rows if r.listed is not None and not r.kernel_shows_listed]

    def by_folder(self) -> dict[str, tuple[int, int, int, int]]:
        """folder -> (scripts, agree, minitcp passes, kernel passes), sorted by folder."""
        counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0])
        for r in self.rows:
            c = counts[r.minitcp.folder]
            c[0] += 1
            c[1] += r.agree
            c[2] += r.minitcp.ok
            c[3] += r.kernel.ok
        return {k: (v[0], v[1], v[2], v[3]) for k, v in sorted(counts.items())}

    def format_text(self, *, details: bool = True) -> str:
        rows = self.by_folder()
        width = max([len("folder"), *map(len, rows)])
        rule = "-" * (width + 40)
        lines = [f"{'folder':<{width}}  {'scripts':>7}  {'agree':>6}  {'minitcp':>7}  {'kernel':>7}", rule]
        for folder, (n, a, m, k) in rows.items():
            lines.append(f"{folder:<{width}}  {n:>7}  {a:>6}  {m:>7}  {k:>7}")
        lines.append(rule)
        total = len(self.rows)
        lines.append(f"{'total':<{width}}  {total:>7}  {self.agreed:>6}  {self.minitcp.passed:>7}  "
                     f"{self.kernel.passed:>7}")
        lines.append("agree: both pass, or both fail at the same line with the same segment (flags, seq, "
                     "ack, length) or call result, within the script's tolerance; minitcp, kernel: passes")
        verdicts = collections.Counter(r.verdict for r in self.rows)
        if details:
            for verdict, meaning in _DISAGREEMENTS.items():
                found = [r for r in self.rows if r.verdict == verdict]
                if found:
                    lines += ["", f"{verdict} ({len(found)}: {meaning}):"]
                    for r in found:
                        lines += [f"  {r.name}{_tag(r)}", f"    minitcp:    {r.minitcp.reason or 'passes'}",
                                  f"    the kernel: {r.kernel.reason or 'passes'}"]
            unbacked = self.unbacked
            if unbacked:
                lines += ["", f"Listed Linux differences the kernel does not show ({len(unbacked)}):"]
                for r in unbacked:
                    lines += [f"  {r.name} [{r.listed}]", f"    the kernel: {r.kernel.reason or 'passes'}"]
        listed = sum(r.listed is not None for r in self.rows)
        lines += ["", f"{self.agreed}/{total} scripts agree ({verdicts[BOTH_PASS]} both pass, "
                      f"{verdicts[ALIKE]} both fail alike), {total - self.agreed} disagree ("
                      + "; ".join(f"{v}: {verdicts[v]}" for v in _DISAGREEMENTS) + ")",
                  f"minitcp {self.minitcp.passed}/{total} passed, the kernel {self.kernel.passed}/{total}; "
                  f"the kernel shows {listed - len(self.unbacked)} of the {listed} listed Linux differences; "
                  f"{self.seconds:.1f} s"]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scripts": len(self.rows),
            "agreed": self.agreed,
            "disagreed": len(self.rows) - self.agreed,
            "minitcp_passed": self.minitcp.passed,
            "kernel_passed": self.kernel.passed,
            "listed_linux_differences": sum(r.listed is not None for r in self.rows),
            "listed_shown_by_kernel": sum(r.kernel_shows_listed for r in self.rows),
            "results": [
                {"script": r.name, "verdict": r.verdict, "agree": r.agree, "linux_difference": r.listed,
                 "kernel_shows_listed_difference": r.kernel_shows_listed,
                 "minitcp": _side(r.minitcp), "kernel": _side(r.kernel)}
                for r in self.rows
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


def _tag(row: Row) -> str:
    return f" [listed: {row.listed}]" if row.listed else ""


def _side(result: Result) -> dict[str, Any]:
    signature = None if result.ok else failure_signature(result.reason)
    return {"ok": result.ok, "reason": result.reason, "signature": signature}


def compare_paths(paths: Iterable[str], *, strict: bool = False, pattern: str | None = None,
                  defines: Iterable[str] = DEFAULT_DEFINES, trace: Callable[[str], None] | None = None,
                  lenient_acks: bool = False, knobs: Mapping[str, str] | None = None,
                  workers: int = WORKERS, kernel: str = "packetdrill", source: Path = DEFAULT_SOURCE,
                  build_dir: Path = DEFAULT_BUILD) -> Comparison:
    """Run the scripts under `paths` against minitcp (with `knobs`) and against the kernel, under real
    packetdrill (`kernel="packetdrill"`, built from `source` in `build_dir`) or the runner's own
    kernel target (`kernel="runner"`), and compare them strictly."""
    started = time.monotonic()
    paths = list(paths)
    common: dict[str, Any] = dict(pattern=pattern, defines=defines, trace=trace, lenient_acks=lenient_acks)
    # Both sides run Linux's behaviour: minitcp's FreeBSD-only knobs stay off (sysctls.FREEBSD_ONLY).
    # packetdrill checks every field a line writes: minitcp is held to the same (--strict).
    ours = run_paths(paths, knobs=knobs, linux_only=True, strict=strict or kernel == "packetdrill", **common)
    if kernel == "packetdrill":
        theirs = Report(packetdrill_results(paths, pattern=pattern, source=source, build_dir=build_dir),
                        target="kernel")
    else:
        theirs = run_paths(paths, target="kernel", workers=workers, strict=strict, **common)
    try:
        differences = load_all_differences()
    except FileNotFoundError:  # an install without the package data: nothing is listed
        differences = None
    rows = []
    for m, k in zip(ours.results, theirs.results, strict=True):
        entry = differences.find(m.script) if differences is not None else None
        tolerance = script_tolerance(m.script)
        # The kernel backs a listed difference when minitcp fails the way the list says and the
        # kernel fails exactly so (strict agreement).
        shown = (entry is not None and not m.ok and same_failure(entry, m.reason)
                 and not k.ok and strictly_agree(m.reason, k.reason, tolerance))
        rows.append(Row(m, k, entry.category if entry else None, shown, tolerance))
    return Comparison(rows, ours, theirs, time.monotonic() - started)
