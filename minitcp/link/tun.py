"""A Linux TUN device: the kernel routes IPv4 packets to us as if we were a host on a wire.

The kernel side of the device gets `peer` (default 198.18.0.1/24, from the
RFC 2544 benchmarking range, which no real network uses); the stack answers
for another address in that subnet (198.18.0.2 by default), so the kernel's
ping, curl or nc reach the stack through the device.
"""

from __future__ import annotations

import contextlib
import errno
import os

import pytun
import trio

MIN_MTU = 68  # RFC 791 section 3.1: every IPv4 host must take 68-byte datagrams unfragmented
MAX_MTU = 65000  # below the 65535-byte IPv4 total length, room left for headers
READ_SIZE = 65535  # the largest IPv4 packet, so no read truncates even if the MTU is raised behind our back


class LinkError(OSError):
    """A link could not be opened or configured; the message says what to do."""


class TunLink:
    """The stack's end of a TUN device (IFF_TUN | IFF_NO_PI: bare IPv4 packets).

    Creating it creates and configures the device in the current network
    namespace; `close` destroys it (a non-persistent TUN device disappears
    with its last file descriptor).
    """

    def __init__(
        self,
        name: str = "mtcp0",
        *,
        peer: str = "198.18.0.1",
        netmask: str = "255.255.255.0",
        mtu: int = 1500,
        batch_limit: int = 256,
    ) -> None:
        if not MIN_MTU <= mtu <= MAX_MTU:
            raise ValueError(f"MTU {mtu} is out of range: it must be between {MIN_MTU} and {MAX_MTU}")
        if not os.path.exists("/dev/net/tun"):
            raise LinkError("no /dev/net/tun on this machine (is the tun module loaded?)")
        try:
            self._dev = pytun.TunTapDevice(name=name, flags=pytun.IFF_TUN | pytun.IFF_NO_PI)
        except pytun.Error as e:
            hint = " (creating a TUN device needs root or CAP_NET_ADMIN)" if _is_eperm(e) else ""
            raise LinkError(f"cannot create TUN device {name}: {_message(e)}{hint}") from e
        try:
            self._dev.addr = peer
            self._dev.netmask = netmask
            self._dev.mtu = mtu
            _disable_ipv6(self._dev.name)
            self._dev.up()
        except pytun.Error as e:
            self._dev.close()
            raise LinkError(f"cannot configure TUN device {name}: {_message(e)}") from e
        self.name: str = self._dev.name
        self.peer = peer
        self.mtu = mtu
        self.tx_dropped = 0
        self._fd = self._dev.fileno()
        os.set_blocking(self._fd, False)
        self._batch_limit = batch_limit
        self._closed = False

    async def recv_batch(self) -> list[bytes | memoryview]:
        read, fd, limit = os.read, self._fd, self._batch_limit
        while True:
            if self._closed:
                raise trio.ClosedResourceError(f"TUN device {self.name} is closed")
            await trio.lowlevel.wait_readable(fd)
            batch: list[bytes | memoryview] = []
            while len(batch) < limit:
                try:
                    batch.append(read(fd, READ_SIZE))
                except BlockingIOError:
                    break
            if batch:  # else the wake-up was spurious
                return batch

    def send(self, packet: bytes) -> None:
        """Hand `packet` to the kernel; on EAGAIN (device buffer full) drop it and count it."""
        try:
            os.write(self._fd, packet)
        except BlockingIOError:
            self.tx_dropped += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Wakes a task blocked in wait_readable with ClosedResourceError instead
        # of leaving it waiting on a recycled descriptor. Outside trio.run this
        # raises RuntimeError, and no task can be waiting anyway.
        with contextlib.suppress(RuntimeError):
            trio.lowlevel.notify_closing(self._fd)
        self._dev.close()


def _disable_ipv6(name: str) -> None:
    # The stack speaks only IPv4; without this the kernel sends router
    # solicitations and MLD reports into the device, noise in every trace.
    try:
        with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
            f.write("1")
    except OSError:
        pass  # IPv6 compiled out, or /proc/sys read-only: the noise is harmless


def _is_eperm(e: pytun.Error) -> bool:
    return bool(e.args) and e.args[0] in (errno.EPERM, errno.EACCES)


def _message(e: pytun.Error) -> str:
    return str(e.args[-1]) if e.args else str(e)
