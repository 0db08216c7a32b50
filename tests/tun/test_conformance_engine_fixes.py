"""Small scripts in the FreeBSD suite's syntax (tests/tun/scripts), each run against the kernel
and minitcp: both must pass. They pin what Linux's own tests showed the engine did wrong: the
ACK of a bare FIN timed by ato (a tick without data, 40 ms after), no D-SACK on the ACK of a
FIN, a segment past the window dropped while unread data waits, and the resend at once, cut
to the smaller MSS, after ICMP "fragmentation needed". The kernel runs in real time, so a
script it fails only on time is run once more.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from minitcp.conformance.compare import BOTH_PASS, compare_paths
from minitcp.conformance.kernel_pool import kernel_problem

SCRIPTS = Path(__file__).parent / "scripts"
_problem = kernel_problem()


@pytest.mark.skipif(_problem is not None, reason=f"the kernel target cannot run: {_problem}")
@pytest.mark.parametrize("name", sorted(p.name for p in SCRIPTS.glob("*.pkt")))
def test_the_kernel_and_minitcp_both_pass(name: str) -> None:
    for _ in range(2):
        (row,) = compare_paths([str(SCRIPTS / name)], kernel="runner").rows
        if row.verdict == BOTH_PASS or row.minitcp.ok is False:
            break
    assert row.verdict == BOTH_PASS, f"minitcp: {row.minitcp.reason}; the kernel: {row.kernel.reason}"
