"""A shared FreeBSD suite folder played against minitcp once per test run, and the check that its
list of Linux differences still holds: used by the IPv4 and the IPv6 suite tests (tests/tools)."""

from __future__ import annotations

import functools
import re
import time

from minitcp.conformance import Report, run_paths
from minitcp.conformance.differences import Differences


@functools.cache
def suite_report(suite: str) -> tuple[Report, float]:
    """The report of every script under `suite` against minitcp, and the seconds it took (cached:
    the suite's tests share one run)."""
    started = time.monotonic()
    report = run_paths([suite])
    return report, time.monotonic() - started


def listed_difference_problems(differences: Differences, report: Report) -> list[str]:
    """What no longer holds of the list: a listed script missing from the suite, passing now, or
    failing for another reason than the one its entry expects."""
    by_name = {r.name: r for r in report.results}
    problems = []
    for entry in differences.entries:
        result = by_name.get(entry.script)
        if result is None:
            problems.append(f"{entry.script}: not in the suite")
        elif result.ok:
            problems.append(f"{entry.script}: passes now; take it off the list ({entry.category})")
        elif not re.search(entry.expect, result.reason or ""):
            problems.append(f"{entry.script}: fails for another reason than {entry.category}: "
                            f"{result.reason}")
    return problems
