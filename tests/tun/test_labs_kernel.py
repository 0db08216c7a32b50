# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""Every lab against the real Linux kernel (each in a network namespace of its own).

Long waits are cut with knobs and sysctls inside the labs (tcp_orphan_retries,
tcp_fin_timeout, a 2 s duplicate), so the whole set runs in about 30 s.
"""

from __future__ import annotations

import pytest

from minitcp.labs import LABS, get, run_lab
from minitcp.labs.render import render


@pytest.mark.parametrize("name", list(LABS))
def test_every_lab_passes_against_the_kernel(name: str) -> None:
    result = run_lab(get(name), sim=False)
    failed = [c.what for c in result.checks if not c.ok]
    assert result.verdict == "pass", (failed, result.error)
    # The kernel run has its own fixed lines (peer, where its states came from, sysctl notes): in
    # Chinese too.
    zh = render(result, lang="zh")
    source = "来自内核跟踪点" if result.kernel_states == "tracepoints" else "`ss -tan` 每 20 ms"
    assert "对端：Linux 内核" in zh and source in zh and zh.endswith("结论：通过")
    assert all("sysctl" not in n.zh or "私有网络命名空间" in n.zh for n in result.notes)


@pytest.mark.parametrize("name", list(LABS))
def test_every_lab_passes_against_the_kernel_over_ipv6(name: str) -> None:
    """`minitcp lab NAME --ipv6`: the kernel's sockets are AF_INET6 ones, to 2001:2::2."""
    result = run_lab(get(name), sim=False, ipv6=True)
    failed = [c.what for c in result.checks if not c.ok]
    assert result.verdict == "pass", (failed, result.error)


def test_negative_control_against_the_kernel() -> None:
    result = run_lab(get("first-fin-lost"), sim=False, faults=["drop:dir=out,flags=S,nth=5"])
    assert result.verdict == "fail" and result.error is None
