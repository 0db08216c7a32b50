"""Keep every test off the host's network, decide which TUN tests can run, and share the
fixtures that tests in more than one folder use.

At start-up the whole pytest process moves into a private network namespace
(unless `make test` already put it in one), so even a bare `pytest` creates
its TUN devices, addresses and routes where nothing else can see them, and
they vanish with the process. Tests marked `tun` (every test in tests/tun,
see tests/tun/conftest.py) are skipped only when the machine has no
/dev/net/tun or no private namespace could be had, and the skip reason says
which.

Tests marked `slow` (each a long real-time run whose behaviour a quicker test in the default
run covers too) run only with `--slow`, or when `-m` names the marker (`make test-slow` runs
`-m slow`, `make labs-kernel` every kernel lab); otherwise they are deselected, and pytest's
summary counts them.

Fixtures from elsewhere: pytest-trio gives `nursery` and `autojump_clock`
(virtual time that jumps to the next deadline as soon as every task is blocked).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, settings

from minitcp.netns import NetnsError, bring_lo_up, enter_private_netns, in_private_netns

from .sockets.net import Net, NetFactory, new_net
from .web.browser import CHROMIUM, Browser

_netns_problem: str | None = None

# The property tests draw the same examples on every run (derandomize), so that `make test` judges
# the tree and not a seed: a random draw once found a real bug in one run of many, which would
# have made CI red by luck. `make fuzz` draws new examples on every run (profile `explore`); what it
# finds becomes an @example beside the test. Neither times an example against the wall clock
# (hypothesis's 200 ms deadline, its too_slow health check): a loaded CI machine once made a
# parity test's example miss the deadline.
_UNTIMED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("default", _UNTIMED, derandomize=True, database=None)
settings.register_profile("explore", _UNTIMED, derandomize=False)
settings.load_profile("default")


def pytest_configure(config: pytest.Config) -> None:
    global _netns_problem
    if in_private_netns():
        # `make test` starts pytest in a fresh one (`unshare --net`): its `lo` is down until brought
        # up, and the tests that serve on 127.0.0.1 (web pages, `--web`) need it.
        bring_lo_up()
        return
    try:
        enter_private_netns()
    except NetnsError as e:
        _netns_problem = f"no private network namespace, so TUN tests would touch the host: {e}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true",
                     help="also run the tests marked slow (make test-slow; make test leaves them out)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow") or "slow" in config.getoption("markexpr"):
        return  # `-m slow` asks for them; `-m "not slow"` leaves them out by itself
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("tun") is None:
        return
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("no /dev/net/tun on this machine")
    if _netns_problem is not None:
        pytest.skip(_netns_problem)


# ---------------------------------------------------------------------------- two stacks on a memory link


@pytest.fixture
def make_net(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> NetFactory:
    """`make_net(run_a=True, run_b=True, mtu=1500, capacity=1024, **knobs)`: a fresh network
    (tests/sockets/net.py).

    A stack that does not run never reads its link: whatever is sent to it is
    lost (after the link's queue fills), as if the host were down. Knobs are
    set on both engines (`tcp_syn_retries=2`, ...).
    """

    def factory(**options: Any) -> Net:
        assert trio.lowlevel.current_clock() is autojump_clock, "the test must take `autojump_clock`"
        return new_net(nursery, **options)

    return factory


@pytest.fixture
def net(make_net: NetFactory) -> Net:
    return make_net()


# ---------------------------------------------------------------------------- a browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for every browser test of the run (tests/web, tests/tun): a launch
    takes seconds. Each test opens its own page. Skipped where there is no chromium."""
    if CHROMIUM is None:
        pytest.skip("no chromium: `make system-tools` installs it (as root)")
    with Browser() as shared:
        yield shared
