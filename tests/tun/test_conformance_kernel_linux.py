"""Linux's own packetdrill scripts against the kernel, through the runner's kernel target.

One script for each construct Linux's scripts add to the language: NULL
buffers, a msghdr with iovecs, recvmsg's control messages, epoll, a pipe and
splice() with urgent data, segments matched whole as packetdrill aggregates
them, an IP ECN mark. Each runs in a forked child in a network namespace of
its own, in real time: a script that fails is run again, and must fail three times to count.
"""

from __future__ import annotations

import os

import pytest

from minitcp.conformance import run_paths
from minitcp.conformance.kernel_pool import kernel_problem

from ..helpers.shared import LINUX_SUITE

LINUX = LINUX_SUITE
_problem = kernel_problem()
needs_kernel = pytest.mark.skipif(_problem is not None, reason=f"the kernel target cannot run: {_problem}")
needs_linux = pytest.mark.skipif(not os.path.isdir(LINUX), reason=f"Linux's scripts are not at {LINUX}")

SCRIPTS = [
    "syscall_bad_arg/syscall-invalid-buf-ptr.pkt",  # write/send/sendto/read/recv/recvfrom with NULL
    "syscall_bad_arg/sendmsg-empty-iov.pkt",  # sendmsg with a msghdr of empty and full iovecs
    "inq/server.pkt",  # recvmsg with a TCP_CM_INQ control message
    "epoll/epoll_in_edge.pkt",  # epoll_create/ctl/wait, edge-triggered
    "splice/tcp_splice_loop_test.pkt",  # pipe(), splice(), `urg N`
    "eor/no-coalesce-small.pkt",  # `> P. 1:10001(10000)` read as one, as packetdrill aggregates
    "ecn/ecn-uses-ect0.pkt",  # `> [ect0] P.`: the IP ECN field of an outbound segment
]


def _run(names: list[str]) -> dict[str, str | None]:
    """Each script's failure (None when it passed), by name."""
    report = run_paths([os.path.join(LINUX, n) for n in names], target="kernel", workers=1)
    return {n: r.reason if not r.ok else None for n, r in zip(names, report.results, strict=True)}


@needs_linux
@needs_kernel
def test_the_kernel_passes_a_script_of_each_new_construct() -> None:
    failed = {n: reason for n, reason in _run(SCRIPTS).items() if reason is not None}
    for _ in range(2):  # real time on a busy machine: a failure must repeat to count
        if failed:
            failed = {n: reason for n, reason in _run(list(failed)).items() if reason is not None}
    assert not failed
