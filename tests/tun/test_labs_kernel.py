# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""Every lab against the real Linux kernel (each in a network namespace of its own).

Long waits are cut with knobs and sysctls inside the labs (tcp_orphan_retries,
tcp_fin_timeout, a 2 s duplicate), so the whole set runs in about 30 s; but for
time-wait-expires, which waits out Linux's TIME_WAIT, a constant real minute. `make test`
leaves that one out, checking the kernel's TIME_WAIT timer from `ss -o` instead (its expiry is
checked in virtual time by the --sim lab), and runs one lab of each group over IPv6;
`make labs-kernel` (`--slow`) runs them all, in both families.
"""

from __future__ import annotations

import errno
import functools
import socket

import pytest
import trio

from minitcp.apps import DiscardServer
from minitcp.labs import LABS, get, run_lab
from minitcp.labs.expiry import TIME_WAIT_LEN
from minitcp.labs.render import render
from minitcp.stack import Stack
from minitcp.trace.ss_parse import ss_timer

# A real minute each (Linux's TCP_TIMEWAIT_LEN cannot be shortened): `make labs-kernel` only.
REAL_MINUTE = {"time-wait-expires"}
# One lab of each group over IPv6 in `make test`, among them the ones with IPv6 of their own:
# ICMPv6 "packet too big" (pmtu-shrink), spoofed IPv6 SYNs (syn-flood), the IPv6 MSS (delayed-ack).
IPV6_SAMPLE = {"handshake", "close-client-first", "first-fin-lost", "time-wait-old-duplicate",
               "close-then-data", "delayed-ack", "syn-flood", "pmtu-shrink", "sack-recovery"}


def labs(quick: set[str] | None = None) -> list[pytest.ParameterSet]:
    """Every lab, those outside `quick` (default: all but REAL_MINUTE) marked slow."""
    keep = set(LABS) - REAL_MINUTE if quick is None else quick
    return [pytest.param(name, marks=() if name in keep else pytest.mark.slow) for name in LABS]


def test_the_ipv6_sample_has_a_lab_of_every_group() -> None:
    assert IPV6_SAMPLE.issubset(set(LABS) - REAL_MINUTE)
    assert {get(name).group for name in IPV6_SAMPLE} == {get(name).group for name in LABS}


@pytest.mark.parametrize("name", labs())
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


@pytest.mark.parametrize("name", labs(IPV6_SAMPLE))
def test_every_lab_passes_against_the_kernel_over_ipv6(name: str) -> None:
    """`minitcp lab NAME --ipv6`: the kernel's sockets are AF_INET6 ones, to 2001:2::2."""
    result = run_lab(get(name), sim=False, ipv6=True)
    failed = [c.what for c in result.checks if not c.ok]
    assert result.verdict == "pass", (failed, result.error)


def test_negative_control_against_the_kernel() -> None:
    result = run_lab(get("first-fin-lost"), sim=False, faults=["drop:dir=out,flags=S,nth=5"])
    assert result.verdict == "fail" and result.error is None


def _close_first(port: int) -> tuple[str, str]:
    """A kernel client of the discard server that closes first: it ends in TIME_WAIT. Its
    (local, remote) endpoints as ss prints them."""
    with socket.create_connection(("198.18.0.2", port), timeout=10) as sock:
        sock.sendall(b"bye")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b""  # the server's FIN: ours was acknowledged, TIME_WAIT begins
        local = "{}:{}".format(*sock.getsockname())
    return local, f"198.18.0.2:{port}"


async def test_the_kernels_time_wait_timer_starts_at_60_s(nursery: trio.Nursery, tun_stack: Stack) -> None:
    """time-wait-expires' premise without its minute: the active closer's TIME_WAIT timer, as
    `ss -o` shows it, starts at TCP_TIMEWAIT_LEN (60 s), and its port stays taken meanwhile."""
    server = DiscardServer()
    await nursery.start(functools.partial(server.serve, tun_stack, 9))
    began = trio.current_time()  # TIME_WAIT begins after this
    with trio.fail_after(10):
        local, remote = await trio.to_thread.run_sync(_close_first, 9)
    timer = ss_timer(local, remote)
    # Less the time since before the close (an `ss` start takes seconds at load) and a second of
    # `ss -o`'s rounding, not a fixed 5 s.
    since = trio.current_time() - began
    assert timer is not None and timer[0] == "timewait", timer
    assert TIME_WAIT_LEN - since - 1 <= timer[1] <= TIME_WAIT_LEN, (since, timer)
    with socket.socket() as other, pytest.raises(OSError) as busy:
        other.bind(("198.18.0.1", int(local.rpartition(":")[2])))
    assert busy.value.errno == errno.EADDRINUSE
