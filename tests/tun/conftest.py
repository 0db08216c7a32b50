"""What every test here shares: the `tun` marker, a fresh device name, minitcp on a TUN device.

Every test in this folder drives the real kernel through /dev/net/tun, so each one gets the
`tun` marker here, once, instead of in each file (tests/conftest.py skips marked tests where no
TUN device or private namespace can be had; `pytest -m "not tun"` leaves them out).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from minitcp.link.tun import TunLink
from minitcp.stack import Stack
from minitcp.trace.recorder import Recorder

HERE = Path(__file__).parent
_device_numbers = itertools.count()


# tryfirst: the marker must be there before `-m` selection (pytest's own hook) looks for it. The
# hook sees every collected item, not only this folder's.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.tun)


@pytest.fixture
def tun_name() -> str:
    """A device name no other test in this run uses, so TUN tests never collide."""
    return f"mtcpt{next(_device_numbers)}"


@pytest.fixture
async def tun_stack(nursery: trio.Nursery, tun_name: str) -> AsyncIterator[Stack]:
    """minitcp as 198.18.0.2 on a fresh TUN device (the kernel is 198.18.0.1), served in the
    test's nursery; its engine observer is a `trace.Recorder` of states, drops and faults only
    (a 100 MB transfer would otherwise copy every segment into its trace)."""
    link = TunLink(tun_name)  # 198.18.0.1 exists from now on, so kernel servers may bind it
    stack = Stack(link, "198.18.0.2", observer=Recorder(timers=False, segments=False))
    nursery.start_soon(stack.run)
    yield stack
    link.close()
