"""`minitcp demo` (what `make demo` runs): watch real kernel clients talk to minitcp.

The story itself (ping, a closed port, echo, HTTP, curl, nc; tcpdump lines with
the states between them, `ss` at the key moments, a check for each thing that
should happen) is a lab story, labs/demo.py, run by the lab runner. This module
finds out where it can run: in a private network namespace on a TUN device
against the kernel, or, where the machine gives no TUN device (no
/dev/net/tun, or neither root nor user namespaces), against a second minitcp
stack in virtual time, as `minitcp demo --sim` does. Exit status 0 only if
every check held.
"""

from __future__ import annotations

import os

from .labs.base import P_ADDR
from .labs.demo import DEMO
from .labs.render import verdict_lines
from .labs.runner import run_lab
from .link.tun import LinkError, TunLink
from .netns import NetnsError, enter_private_netns, in_private_netns

DEV = "mtcp0"
FORCE_ENV = "MINITCP_DEMO_SIM"  # set to 1: `minitcp demo` behaves as on a machine without TUN


def tun_problem() -> str | None:
    """Why this machine cannot run the TUN demo, found without touching anything; None if it may.

    What only trying can tell (unshare refused, /dev/net/tun not openable) is
    caught where the demo tries, and falls back the same way.
    """
    if os.environ.get(FORCE_ENV, "") not in ("", "0"):
        return f"{FORCE_ENV} is set"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    return None


def fallback(reason: str) -> int:
    """The one-line notice, then the simulated demo."""
    print(f"minitcp demo: no TUN access here ({reason}); running the same demo simulated instead "
          "(`minitcp demo --sim`: two minitcp stacks, memory link, virtual time)", flush=True)
    return run(sim=True)


def run(*, sim: bool, link: TunLink | None = None) -> int:
    """The story through the lab runner, told as it happens; then the verdict."""
    result = run_lab(DEMO, sim=sim, link=link, live=True)
    for line in verdict_lines(result):
        print(line)
    name = "demo --sim" if sim else "demo"
    if result.passed:
        print(f"{name} passed: minitcp answered like a Linux host would.", flush=True)
        return 0
    failed = sum(not c.ok for c in result.checks)
    print(f"{name} FAILED: {failed} check(s) did not hold; see the checks marked ✗ above.", flush=True)
    return 1


def main(sim: bool = False) -> int:
    if sim:
        return run(sim=True)
    if (problem := tun_problem()) is not None:  # no TUN here: the same story, simulated
        return fallback(problem)
    if not in_private_netns():
        try:
            enter_private_netns()
        except NetnsError as e:
            return fallback(str(e))  # neither root nor user namespaces: no TUN device to be had
    try:
        link = TunLink(DEV, peer=P_ADDR)
    except (LinkError, ValueError) as e:
        return fallback(str(e))  # e.g. /dev/net/tun exists but may not be opened
    try:
        return run(sim=False, link=link)
    finally:
        link.close()
