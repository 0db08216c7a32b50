"""What every test here shares: the `tun` marker, a fresh device name, minitcp on a TUN device.

Every test in this folder drives the real kernel through /dev/net/tun, so each one gets the
`tun` marker here, once, instead of in each file (tests/conftest.py skips marked tests where no
TUN device or private namespace can be had; `pytest -m "not tun"` leaves them out).
"""

from __future__ import annotations

import itertools
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
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


# Kernel sockets a test leaves behind that keep sending on their own: a FIN resent in FIN_WAIT_1,
# LAST_ACK or CLOSING, a SYN in SYN_SENT (/proc/net/tcp's `st`, include/net/tcp_states.h).
_SENDING_ALONE = {"02": "syn-sent", "04": "fin-wait-1", "09": "last-ack", "0B": "closing"}
# The test ranges' peers as /proc/net/tcp{,6} write them: 198.18.0.0/24 (little-endian words: the
# first two bytes C6 12 last) and 2001:2::/64 (its first word, 2001:0002).
_TEST_PEERS = (re.compile(r"[0-9A-F]{2}0012C6:"), re.compile(r"02000120[0-9A-F]{24}:"))


def _leftovers() -> set[str]:
    """The states (as ss names them) of kernel sockets to the test ranges that send on their own."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] in _SENDING_ALONE and any(p.match(fields[2]) for p in _TEST_PEERS):
                    found.add(_SENDING_ALONE[fields[3]])
    return found


@pytest.fixture(autouse=True)
def no_kernel_leftovers() -> Iterator[None]:
    """After each test (its stack gone), kill its kernel sockets that would go on sending into the
    next tests' stacks at the same addresses (`ss -K`: Linux's SOCK_DESTROY). A socket closed after
    its peer stack stopped sits in LAST_ACK resending its FIN for a minute and more, and the next
    stack answers each copy with an RST it did not expect to send: test_control_up's fault test
    dropped that RST, its first packet out, instead of its first ping reply."""
    yield
    states = _leftovers()
    if states:  # /proc read on every test; ss started only when something is left
        filters = [w for state in sorted(states) for w in ("state", state)]
        for peers in ("198.18.0.0/24", "2001:2::/64"):
            subprocess.run(["ss", "-K", "-tanH", *filters, "dst", peers], capture_output=True, check=False)


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
