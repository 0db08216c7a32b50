"""Keep every test off the host's network, and decide which TUN tests can run.

At start-up the whole pytest process moves into a private network namespace
(unless `make test` already put it in one), so even a bare `pytest` creates
its TUN devices, addresses and routes where nothing else can see them, and
they vanish with the process. Tests marked `tun` are skipped only when the
machine has no /dev/net/tun or no private namespace could be had, and the
skip reason says which.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator

import pytest
import trio
from tun_helpers import StateLog

from minitcp.link.tun import TunLink
from minitcp.netns import NetnsError, enter_private_netns, in_private_netns
from minitcp.stack import Stack

_netns_problem: str | None = None
_device_numbers = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    global _netns_problem
    if in_private_netns():
        return
    try:
        enter_private_netns()
    except NetnsError as e:
        _netns_problem = f"no private network namespace, so TUN tests would touch the host: {e}"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("tun") is None:
        return
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("no /dev/net/tun on this machine")
    if _netns_problem is not None:
        pytest.skip(_netns_problem)


@pytest.fixture
def tun_name() -> str:
    """A device name no other test in this run uses, so TUN tests never collide."""
    return f"mtcpt{next(_device_numbers)}"


@pytest.fixture
async def tun_stack(nursery: trio.Nursery, tun_name: str) -> AsyncIterator[Stack]:
    """minitcp as 198.18.0.2 on a fresh TUN device (the kernel is 198.18.0.1), served in the
    test's nursery; its engine observer is a `StateLog` of every state change."""
    link = TunLink(tun_name)  # 198.18.0.1 exists from now on, so kernel servers may bind it
    stack = Stack(link, "198.18.0.2", observer=StateLog())
    nursery.start_soon(stack.run)
    yield stack
    link.close()
