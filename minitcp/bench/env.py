"""Where a workload runs: a fresh TUN device with the stack (and its servers) on it, and the kernel's side.

The stack is 198.18.0.2 and 2001:2::2, the kernel's end of each device 198.18.0.1 and
2001:2::1; they only ever exist in the bench's own private network namespace. The servers
of an IPv6 row listen on both families (AF_INET6, IPV6_V6ONLY off).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import socket
import subprocess
from collections.abc import AsyncIterator

import trio

from minitcp.apps import AppServer
from minitcp.link.tun import TunLink
from minitcp.stack import Stack
from minitcp.tcp.knobs import Knobs

ADDR = "198.18.0.2"  # the stack
PEER = "198.18.0.1"  # the kernel's end of the device
ADDR6 = "2001:2::2"  # the stack's IPv6 address (the kernel's end is TunLink's default, 2001:2::1)

_devices = itertools.count()


@dataclasses.dataclass
class Env:
    link: TunLink
    stack: Stack | None
    servers: dict[str, AppServer]


def next_device() -> str:
    """A TUN device name no other workload of this run uses."""
    return f"mtcpb{next(_devices)}"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.asynccontextmanager
async def stack_env(
    mtu: int = 1500,
    *,
    servers: dict[str, tuple[AppServer, int]] | None = None,
    knobs: Knobs | None = None,
    extra_addrs: list[str] | None = None,
    with_stack: bool = True,
    offload: bool = False,
    family: int = socket.AF_INET,
) -> AsyncIterator[Env]:
    """A fresh TUN device (and stack, and servers of `family`) for one workload; all gone afterwards."""
    link = TunLink(next_device(), peer=PEER, mtu=mtu, offload=offload)
    try:
        for addr in extra_addrs or ():
            _ip("addr", "add", f"{addr}/24", "dev", link.name)
        stack = Stack(link, ADDR, knobs=knobs) if with_stack else None
        async with trio.open_nursery() as nursery:
            if stack is not None:
                nursery.start_soon(stack.run)
                for server, port in (servers or {}).values():
                    await nursery.start(functools.partial(server.serve, stack, port, family=family))
            yield Env(link, stack, {name: s for name, (s, _) in (servers or {}).items()})
            nursery.cancel_scope.cancel()
    finally:
        link.close()


# The kernel's side, in the bench's own namespace only. A load generator that closes first (wrk on
# `Connection: close`, the connection-rate client) leaves its ports in TIME_WAIT; past ~14,000 of
# them (half of the 28,232 ephemeral ports, connect() prefers even ones) every connect() spends
# milliseconds of kernel time looking for a free port and the client, not the stack, sets the
# pace (measured: wrk at 100 % system time, 500 req/s, the stack 30 % busy). Linux lets a client
# reuse its TIME_WAIT ports for new outgoing connections with timestamps on: tcp_tw_reuse=1.
KERNEL_SYSCTLS = {"net.ipv4.tcp_tw_reuse": "1"}


def set_kernel_sysctls() -> None:
    """Per-namespace sysctls (see KERNEL_SYSCTLS); only ever called inside the bench's namespace."""
    for name, value in KERNEL_SYSCTLS.items():
        with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
            f.write(value)
