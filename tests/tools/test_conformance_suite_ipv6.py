"""The FreeBSD suite's IPv6 twins (244 scripts, `--ip_version=ipv6`) against minitcp over IPv6:
the pass-rate floor, the run time, and the list of Linux differences, held as the IPv4 list is.

Measured when the runner learnt IPv6: 123 of 244 pass; each of the 121 failures is the twin of
a listed IPv4 difference failing at the same line for the same reason.
"""

from __future__ import annotations

import os

import pytest

from minitcp.conformance.differences import DIFFERENCES_FILE_IPV6, load_differences
from minitcp.conformance.minitcp_target import MinitcpTarget
from minitcp.conformance.parser import parse_file
from minitcp.conformance.runner import Runner

from ..helpers.conformance import listed_difference_problems, suite_report
from ..helpers.shared import FREEBSD_SUITE_IPV6

pytestmark = pytest.mark.skipif(not os.path.isdir(FREEBSD_SUITE_IPV6),
                                reason=f"the shared test suite is not at {FREEBSD_SUITE_IPV6}")

PASS_FLOOR = 123  # of 244 scripts
TIME_LIMIT = 60.0  # seconds for the whole folder


def test_the_ipv6_suite_runs_over_ipv6_in_time_and_stays_above_the_floor() -> None:
    report, seconds = suite_report(FREEBSD_SUITE_IPV6)
    assert len(report.results) == 244
    assert seconds < TIME_LIMIT
    broken = [r for r in report.results if r.reason and r.reason.startswith(
        ("runner error", "parse error", "unsupported"))]
    assert not broken, broken
    assert report.passed >= PASS_FLOOR, report.format_text()
    # Every failure is a listed difference failing its listed way: `make conformance` passes.
    assert report.failed == report.listed, report.format_text()


def test_every_listed_ipv6_difference_still_fails_for_its_reason() -> None:
    problems = listed_difference_problems(load_differences(DIFFERENCES_FILE_IPV6),
                                          suite_report(FREEBSD_SUITE_IPV6)[0])
    assert not problems, "\n".join(problems)


def test_each_ipv6_entry_is_the_twin_of_an_ipv4_entry_of_its_category() -> None:
    v4 = load_differences()
    v6 = load_differences(DIFFERENCES_FILE_IPV6)
    assert v6.categories == v4.categories
    for entry in v6.entries:
        assert entry.script.endswith("-ipv6.pkt")
        twin = v4.find(entry.script.removesuffix("-ipv6.pkt") + "-ipv4.pkt")
        assert twin is not None and twin.category == entry.category, entry.script


def test_an_ipv6_script_talks_ipv6_on_the_wire() -> None:
    """One script played: minitcp's sockets are AF_INET6 and every packet either way is IPv6."""
    target = MinitcpTarget()
    script = parse_file(os.path.join(FREEBSD_SUITE_IPV6, "state-event-engine", "rcv-ack-listen",
                                     "rcv-ack-with-data-listen-ipv6.pkt"))
    outcome = Runner(script, target=target).run()
    assert outcome.ok, outcome.reason
    counters = target.stack.counters
    assert counters["Ip6InReceives"] > 0 and counters["Ip6OutRequests"] > 0
    assert counters["InReceives"] == counters["OutRequests"] == 0
