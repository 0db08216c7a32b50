"""Linux's own packetdrill scripts (the shared gtests/net/tcp, 162 scripts) against minitcp in virtual time.

Every script ends in a verdict, and the pass count does not fall below the
floor measured when this test was written (27 of 162, with the Fast Open,
congestion-control and recovery folders mostly out of minitcp's reach for
now: docs/conformance.md). Raise it as the engine improves; it must never go
down. The kernel's side of these scripts runs in `make conformance-linux`.
"""

from __future__ import annotations

import functools
import os
import time

import pytest

from minitcp.conformance import Report, run_paths

from ..helpers.shared import LINUX_SUITE

LINUX = LINUX_SUITE
pytestmark = pytest.mark.skipif(not os.path.isdir(LINUX), reason=f"Linux's scripts are not at {LINUX}")

SCRIPTS = 162
PASS_FLOOR = 73  # of 162 scripts: what minitcp passes today; raise it as the engine gets better
# CPU seconds for the whole folder (about 2 s): the scripts run in virtual time, so what they cost is
# the process's CPU, which a loaded machine does not stretch as it stretches the wall clock.
TIME_LIMIT = 60.0


@functools.cache
def linux_report() -> tuple[Report, float]:
    started = time.process_time()
    report = run_paths([LINUX])
    return report, time.process_time() - started


def test_every_linux_script_ends_in_a_verdict_in_time() -> None:
    report, seconds = linux_report()
    assert len(report.results) == SCRIPTS
    assert seconds < TIME_LIMIT
    for result in report.results:
        assert result.ok or result.reason, result.name  # a failure always says why
        assert not (result.reason or "").startswith(("runner error", "parse error")), result.name


def test_the_linux_pass_count_stays_above_the_floor() -> None:
    report, _ = linux_report()
    assert report.passed >= PASS_FLOOR, report.format_text()
