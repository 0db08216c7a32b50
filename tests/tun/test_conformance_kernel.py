"""The packetdrill runner against the Linux kernel, and minitcp compared with it.

Each script runs in a forked child in a network namespace of its own, the
kernel behind a TUN device, in real time. One script the kernel passes, and
one per major category of linux_differences.toml: the kernel must fail it,
the way the list says, and minitcp must fail it the same way (same line,
same kind of mismatch). Timing is real here: on a busy machine a script may
miss its tolerance, so a run that fails only on time is run once more.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from minitcp.conformance import run_paths
from minitcp.conformance.__main__ import main
from minitcp.conformance.compare import ALIKE, BOTH_PASS, Row, compare_paths
from minitcp.conformance.differences import load_differences
from minitcp.conformance.kernel_pool import kernel_problem
from minitcp.conformance.signatures import failure_signature, pattern_reason, same_failure

from ..helpers.shared import FREEBSD_SUITE

SUITE = FREEBSD_SUITE
_problem = kernel_problem()
needs_kernel = pytest.mark.skipif(_problem is not None, reason=f"the kernel target cannot run: {_problem}")
needs_suite = pytest.mark.skipif(not os.path.isdir(SUITE), reason=f"the shared test suite is not at {SUITE}")

PASSES = "state-event-engine/rcv-ack-closed/rcv-ack-without-data-closed-ipv4.pkt"
BY_CATEGORY = {
    "quick-ack": "rcv-data-segments/overlapping-050-075.pkt",
    "delayed-fin-ack": "rcv-data-segments/reordering-21453.pkt",
    "rst-errno": "state-event-engine/rcv-rst-ack-syn-rcvd/"
                 "rcv-rst-ack-syn-rcvd-via-syn-sent-left-edge-ack-left-edge-insecure-ipv4.pkt",
    "simultaneous-close": "state-event-engine/rcv-rst-closing/rcv-rst-closing-left-edge-insecure-ipv4.pkt",
    "receive-window-edge": "state-event-engine/rcv-rst-ack-syn-rcvd/"
                           "rcv-rst-ack-syn-rcvd-via-syn-sent-right-edge-ack-outside-left-insecure-ipv4.pkt",
    "time-wait-syn-reuse": "state-event-engine/rcv-syn-time-wait/"
                           "rcv-syn-time-wait-using-shutdown-outside-right-insecure-ipv4.pkt",
}
# net.inet.tcp.insecure_syn=1: FreeBSD resets on an in-window SYN (RFC 793). Linux has no such
# switch and always sends RFC 5961's challenge ACK, whatever minitcp's tcp_insecure_syn knob does.
INSECURE_SYN = "state-event-engine/rcv-syn-established/rcv-syn-established-left-edge-insecure-ipv4.pkt"


def _late(row: Row) -> bool:
    kind = failure_signature(row.kernel.reason)
    return not row.agree and kind.endswith((" late", " early", " did not return"))


def compared(names: list[str]) -> dict[str, Row]:
    """Each script run against both targets, by name; a timing-only failure of the kernel is run again."""
    # The runner's own kernel target: `--compare`'s default kernel side, real packetdrill, is
    # tests/tun/test_referee_packetdrill.py's.
    rows = {r.name: r for r in compare_paths([os.path.join(SUITE, n) for n in names], kernel="runner").rows}
    again = [n for n in names if _late(rows[os.path.basename(n)])]  # by path: rows are by base name
    if again:
        again_rows = compare_paths([os.path.join(SUITE, n) for n in again], kernel="runner").rows
        rows.update({r.name: r for r in again_rows})
    return {n: rows[os.path.basename(n)] for n in names}


@needs_suite
@needs_kernel
def test_the_kernel_passes_what_minitcp_passes_and_fails_each_listed_category_as_minitcp_does() -> None:
    rows = compared([PASSES, INSECURE_SYN, *BY_CATEGORY.values()])
    passing = rows[PASSES]
    assert passing.verdict == BOTH_PASS, passing.kernel.reason
    challenged = rows[INSECURE_SYN].kernel
    assert failure_signature(challenged.reason) == "line 57: flags . instead of R.", challenged.reason
    for category, name in BY_CATEGORY.items():
        row = rows[name]
        assert row.listed == category
        assert not row.kernel.ok, f"{category}: the kernel passes {name}"
        assert row.kernel_shows_listed, f"{category}: the kernel fails otherwise: {row.kernel.reason}"
        assert row.verdict == ALIKE, f"{category}: {row.minitcp.reason} / {row.kernel.reason}"


@needs_suite
@needs_kernel
def test_cli_kernel_target_and_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([SUITE, "--target", "kernel", "--json", "-k", "rcv-ack-without-data-closed"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["passed"], data["failed"]) == (1, 0)
    assert main([SUITE, "--compare", "--kernel-side", "runner", "--json", "-k",
                 "rcv-ack-without-data-closed"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["agreed"], data["disagreed"]) == (1, 0)
    assert data["results"][0]["verdict"] == BOTH_PASS
    assert main([SUITE, "--target", "kernel", "--knob", "tcp_sack=0", "-k", "x"]) == 2


def test_signatures_ignore_the_stack_the_times_and_what_was_sent() -> None:
    ours = ("line 50: SACK blocks none instead of 200:300: minitcp sent `. 1:1(0) ack 100 win 64240` at "
            "0.010 s, script expects `>  .   1:1(0)     ack 100 win 65535 <nop,nop,sack 200:300>`")
    theirs = ours.replace("minitcp sent", "the kernel sent").replace("64240", "64141")
    theirs = theirs.replace("0.010", "0.014")
    signature = "line 50: SACK blocks none instead of 200:300"
    assert failure_signature(ours) == failure_signature(theirs) == signature
    assert failure_signature(ours.replace("line 50", "line 51")) != failure_signature(ours)
    late = "line 9: `> . 1:1(0) ack 2` sent late at 0.151 s, script expects it at 0.110 s (tolerance 10 ms)"
    assert failure_signature(late) == "line 9: sent late"
    assert failure_signature("line 7: recv() returned -1 EAGAIN, script expects 3") == \
        "line 7: recv() returned -1 EAGAIN"
    assert failure_signature("line 44: accept() returned at 0.029 s, script expects it at 0.013 s "
                             "(tolerance 10 ms)") == "line 44: accept() returned late"


def test_a_list_pattern_reads_back_as_the_reason_it_was_made_from() -> None:
    pattern = (r"^line 63: expected `>  \.  1:1\(0\)   ack 33 win 65535` at 0\.110 s \(tolerance 10 ms\), "
               r"but minitcp sent nothing \(its next segment: `[^`]*` at 0\.150 s\)")
    assert failure_signature(pattern_reason(pattern)) == "line 63: sent nothing"


@needs_suite
def test_each_listed_difference_has_the_signature_of_minitcps_failure() -> None:
    """The kernel is credited with a listed difference by signature: the list's must be minitcp's."""
    differences = load_differences()
    for result in run_paths([SUITE]).results:
        entry = differences.find(result.script)
        if entry is not None and re.search(entry.expect, result.reason or ""):
            assert same_failure(entry, result.reason), (result.name, failure_signature(result.reason))
