"""The kernel's side of the IPv6 conformance: FreeBSD's IPv6 twins against the kernel.

Real packetdrill (`--ip_version=ipv6`, in 2001:2::/64) and the runner's own
kernel target (AF_INET6 sockets, 2001:2::1 on the TUN device) give the same
verdict on a sample of twins, and minitcp strictly agrees with the kernel on a
few. Real time on a shared machine: a side that disagrees is run once more,
alone, before the difference counts (as tests/tun/test_referee_packetdrill.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from minitcp.conformance.compare import ALIKE, BOTH_PASS, compare_paths
from minitcp.conformance.kernel_pool import kernel_problem
from minitcp.conformance.packetdrill_build import Build
from minitcp.conformance.packetdrill_common import prepare_workspace
from minitcp.conformance.referee import run_scripts

from ..helpers.shared import FREEBSD_SUITE_IPV6
from .packetdrill import BUILD_DIR, assert_runner_agrees, packetdrill_or_skip

SUITE = Path(FREEBSD_SUITE_IPV6)

# Two the kernel passes under packetdrill, one it fails at the first SYN (its window and option
# order are not FreeBSD's, but its MSS is IPv6's 1440 as the twin's line says), then two more.
SAMPLE = (
    "state-event-engine/rcv-ack-listen/rcv-ack-without-data-listen-ipv6.pkt",
    "state-event-engine/rcv-fin-ack-listen/rcv-fin-ack-with-data-listen-ipv6.pkt",
    "snd-syn/snd-syn-with-min-ws-ipv6.pkt",
    "socket-api/getsockopt/socket-api-getsockopt-keepidle-inherited-from-sysctl-ipv6.pkt",
    "state-event-engine/rcv-rst-established/rcv-rst-established-left-edge-secure-ipv6.pkt",
)
# minitcp and the kernel (the runner's target) strictly agree: both pass, or fail alike.
COMPARED = (
    "state-event-engine/rcv-ack-listen/rcv-ack-with-data-listen-ipv6.pkt",
    "state-event-engine/rcv-ack-closed/rcv-ack-without-data-closed-ipv6.pkt",
    "state-event-engine/rcv-syn-established/rcv-syn-established-left-edge-secure-ipv6.pkt",
    "state-event-engine/rcv-rst-last-ack/rcv-rst-last-ack-left-edge-secure-ipv6.pkt",
)

_problem = kernel_problem() if SUITE.is_dir() else "no IPv6 twins"
needs_kernel = pytest.mark.skipif(_problem is not None, reason=f"the kernel target cannot run: {_problem}")


@pytest.fixture(scope="module")
def build() -> Build:
    return packetdrill_or_skip(SUITE)


@needs_kernel
def test_runner_kernel_target_agrees_with_packetdrill_on_ipv6_twins(build: Build) -> None:
    scripts = [(str(SUITE / name), name) for name in SAMPLE]
    workdir = prepare_workspace(BUILD_DIR / "workspace", SUITE)
    referee = run_scripts(build, scripts, workdir)
    # packetdrill's verdicts are the ones measured (docs/conformance.md): it really ran them over IPv6.
    assert [r.ok for r in referee[:3]] == [True, True, False], [r.reason for r in referee]
    assert "mss 1440" in (referee[2].reason or ""), referee[2].reason
    # packetdrill checks every field a line writes: the runner too (--strict).
    assert_runner_agrees(build, workdir, SAMPLE, referee, strict=True)


@needs_kernel
def test_minitcp_and_the_kernel_strictly_agree_on_ipv6_twins() -> None:
    paths = [str(SUITE / name) for name in COMPARED]
    rows = compare_paths(paths, kernel="runner").rows
    late = [r.minitcp.script for r in rows if not r.agree]
    if late:  # real time: a disagreement must repeat
        again = {r.name: r for r in compare_paths(late, kernel="runner").rows}
        rows = [again.get(r.name, r) for r in rows]
    verdicts = {r.name: (r.verdict, r.minitcp.reason, r.kernel.reason) for r in rows}
    assert all(r.verdict in (BOTH_PASS, ALIKE) for r in rows), verdicts
    assert any(r.verdict == BOTH_PASS for r in rows), verdicts
