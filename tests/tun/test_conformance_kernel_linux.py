"""Linux's own packetdrill scripts against the kernel, through the runner's kernel target.

One script for each construct Linux's scripts add to the language: NULL
buffers, a msghdr with iovecs, recvmsg's control messages, epoll, a pipe and
splice() with urgent data, segments matched whole as packetdrill aggregates
them, an IP ECN mark. Each runs in a forked child in a network namespace of
its own, in real time: a script that fails only on time is run once more.
"""

from __future__ import annotations

import os

import pytest

from minitcp.conformance import run_paths
from minitcp.conformance.kernel_pool import kernel_problem
from minitcp.conformance.signatures import failure_signature

LINUX = "/work/shared/conformance/linux-packetdrill"
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


def _timing(reason: str | None) -> bool:
    kind = failure_signature(reason)
    return kind.endswith((" late", " early", " did not return", "sent nothing")) or "returned late" in kind


@needs_linux
@needs_kernel
def test_the_kernel_passes_a_script_of_each_new_construct() -> None:
    results = {r.name: r for r in run_paths([os.path.join(LINUX, n) for n in SCRIPTS], target="kernel",
                                            workers=2).results}
    again = [n for n in SCRIPTS if not results[os.path.basename(n)].ok
             and _timing(results[os.path.basename(n)].reason)]
    if again:
        results.update({r.name: r for r in run_paths([os.path.join(LINUX, n) for n in again],
                                                     target="kernel", workers=1).results})
    failed = {n: r.reason for n, r in results.items() if not r.ok}
    assert not failed
