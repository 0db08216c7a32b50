"""A Linux TUN device: the kernel routes IPv4 packets to us as if we were a host on a wire.

The kernel side of the device gets `peer` (default 198.18.0.1/24, from the
RFC 2544 benchmarking range, which no real network uses); the stack answers
for another address in that subnet (198.18.0.2 by default), so the kernel's
ping, curl or nc reach the stack through the device.

With `offload=True` the device carries a virtio-net header before each packet
and claims checksum and TCP segmentation offload (see `vnet`): the kernel
hands over and takes TCP super-segments of up to 64 KB, while the MSS both
sides negotiate stays the one of the device's MTU.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import struct
import time

import pytun
import trio

from minitcp.host.cookie_batch import CookieBatch
from minitcp.link.arena import RecvArena
from minitcp.link.base import Received, Stamped
from minitcp.link.cookie_rx import CookieReader
from minitcp.link.uring import Ring
from minitcp.link.vnet import (
    F_NEEDS_CSUM,
    PLAIN_HDR,
    TUN_F_CSUM,
    TUN_F_TSO4,
    TUNSETOFFLOAD,
    TUNSETVNETHDRSZ,
    VNET_HDR_LEN,
    gso_tcp_header,
)
from minitcp.wire.gso import SuperSegment

MIN_MTU = 68  # RFC 791 section 3.1: every IPv4 host must take 68-byte datagrams unfragmented
MAX_MTU = 65000  # below the 65535-byte IPv4 total length, room left for headers
READ_SIZE = 65535  # the largest IPv4 packet, so no read truncates even if the MTU is raised behind our back
# Up to this packet size a fresh bytes object per read (os.read) costs less than a view into
# a reused arena; above it the allocation costs more (measured: 0.8x at 1500 bytes, 1.1x at
# 16000, 2x at 65000 packets per CPU-second).
BYTES_READ_MAX = 16384
# The kernel's queue of packets toward us (txqueuelen; a TUN device starts with 500). It must
# hold a whole autotuned receive window (tcp_rmem[2] 6 MB offers 3 MB: ~2100 segments at MTU
# 1500) for the moments the stack is off its CPU, or the kernel drops the burst and recovers.
TX_QUEUE_LEN = 4096
_SIOCSIFTXQLEN = 0x8943
_IFREQ_QLEN = struct.Struct("16si20x")  # struct ifreq: the name, then ifr_qlen
_SIOCSIFADDR = 0x8916
_IN6_IFREQ = struct.Struct("16sIi")  # struct in6_ifreq: address, prefix length, interface index
# Between plain writes, the device is polled after this many (`TunLink.take_early`): each write
# runs the kernel's input path for one packet (~100 us with TCP), a poll that finds nothing costs
# ~2 us, so a burst of small packets pays ~0.3 % for ACKs stamped within ~1 ms of arriving.
# After a super-segment's write (ms for 64 KB) the device is polled every time.
EARLY_POLL_WRITES = 8
IPV6_MIN_MTU = 1280  # RFC 8200 section 5: Linux turns IPv6 off on a device with a smaller MTU


class LinkError(OSError):
    """A link could not be opened or configured; the message says what to do."""


class TunLink:
    """The stack's end of a TUN device (IFF_TUN | IFF_NO_PI: bare IPv4 and IPv6 packets, the kernel
    side `peer` and, unless None, `peer6` on a /`prefix6_len` prefix).

    Creating it creates and configures the device in the current network
    namespace; `close` destroys it (a non-persistent TUN device disappears
    with its last file descriptor).

    With `offload`, `recv_batch` says of each packet whether the kernel left its
    TCP checksum partial, and `send_gso` takes super-segments (the `OffloadLink`
    protocol). The counters say what crossed: `rx_csum_partial` packets whose TCP
    checksum was left partial (and not verified), `rx_gso` super-segments from the
    kernel, `tx_gso` super-segments to it standing for `tx_gso_segments` wire segments.

    `tx_queue_len`: the kernel's queue of packets toward us (see TX_QUEUE_LEN).

    `gro`: a stack on this link joins each batch's segments that continue each
    other (`minitcp.wire.gro`), as Linux does for a NIC's packets. `busy_poll`:
    `poll_batch` reads without waiting (the `PollingLink` protocol).

    `take_early` (the `EarlyLink` protocol): a write hands the kernel a packet and runs its
    receive path on our time, so the kernel's answers queue on the device during a burst of
    writes; after every super-segment's write and every EARLY_POLL_WRITES plain writes the
    device is polled, and what it held is kept with the time it was read (at most a batch of
    packets), for the stack to feed in at that time (`rx_early` counts them).

    `answer_cookies` (the `CookieLink` protocol; without `offload`): while the host's table
    says a listener is in cookie mode, a batch is read and its SYNs answered in C
    (`minitcp.link.cookie_rx`), the rest handed on; `tx_dropped` counts those SYN-ACKs too.

    `uring`: those batches' reads and writes go through an io_uring made with the link (a chunk
    of them per system call: `minitcp.link.uring`), unless the kernel refuses one
    (`uring_error` says why) or `uring` is False; plain read() and write() calls otherwise, with
    the same results. `uring_calls` counts the ring's system calls.
    """

    gro = True
    busy_poll = True

    def __init__(
        self,
        name: str = "mtcp0",
        *,
        peer: str = "198.18.0.1",
        netmask: str = "255.255.255.0",
        peer6: str | None = "2001:2::1",
        prefix6_len: int = 64,
        mtu: int = 1500,
        batch_limit: int = 256,
        offload: bool = False,
        tx_queue_len: int = TX_QUEUE_LEN,
        uring: bool = True,
    ) -> None:
        if not MIN_MTU <= mtu <= MAX_MTU:
            raise ValueError(f"MTU {mtu} is out of range: it must be between {MIN_MTU} and {MAX_MTU}")
        if not os.path.exists("/dev/net/tun"):
            raise LinkError("no /dev/net/tun on this machine (is the tun module loaded?)")
        flags = pytun.IFF_TUN | pytun.IFF_NO_PI | (pytun.IFF_VNET_HDR if offload else 0)
        try:
            self._dev = pytun.TunTapDevice(name=name, flags=flags)
        except pytun.Error as e:
            hint = " (creating a TUN device needs root or CAP_NET_ADMIN)" if _is_eperm(e) else ""
            raise LinkError(f"cannot create TUN device {name}: {_message(e)}{hint}") from e
        try:
            if offload:
                # Before the device is up, so the kernel never sees it without the offloads.
                fcntl.ioctl(self._dev.fileno(), TUNSETVNETHDRSZ, struct.pack("i", VNET_HDR_LEN))
                fcntl.ioctl(self._dev.fileno(), TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4)
            self._dev.addr = peer
            self._dev.netmask = netmask
            self._dev.mtu = mtu
            ipv6 = peer6 is not None and mtu >= IPV6_MIN_MTU
            if ipv6:
                _quiet_ipv6(self._dev.name)
            else:
                _disable_ipv6(self._dev.name)
            _set_tx_queue_len(self._dev.name, tx_queue_len)
            self._dev.up()
            if ipv6:
                assert peer6 is not None
                _add_ipv6_address(self._dev.name, peer6, prefix6_len)
        except (pytun.Error, OSError) as e:
            self._dev.close()
            raise LinkError(f"cannot configure TUN device {name}: {_message(e)}") from e
        self.name: str = self._dev.name
        self.peer = peer
        self.peer6 = peer6 if ipv6 else None
        self.mtu = mtu
        self.offload = offload
        self.tx_dropped = 0
        self.rx_csum_partial = 0
        self.rx_gso = 0
        self.tx_gso = 0
        self.tx_gso_segments = 0
        self.rx_early = 0
        self.rx_answered = 0  # packets the link answered itself (a SYN flood's cookies: cookie_rx.py)
        self._early: list[Stamped] = []  # read between writes, not yet taken
        # Packets read between writes since _early was last taken: those in it, and those the
        # link answered itself.
        self._early_count = 0
        self._writes = 0  # plain writes since the last poll between writes
        self._fd = self._dev.fileno()
        os.set_blocking(self._fd, False)
        self._batch_limit = batch_limit
        self._closed = False
        # Frames bigger than BYTES_READ_MAX (a large MTU, or super-segments) go into an arena.
        self._frame = READ_SIZE + (VNET_HDR_LEN if offload else 0)
        self._arena = RecvArena(self._frame) if offload or mtu > BYTES_READ_MAX else None
        self._cookies: CookieBatch | None = None
        self._cookie_reader: CookieReader | None = None
        self._ring: Ring | None = None
        self.uring_error: str | None = None  # why the kernel refused a ring, if it did
        if uring and Ring.available and CookieReader.available and not offload:  # its one user
            try:
                self._ring = Ring(self._fd)
            except OSError as e:
                self.uring_error = str(e)

    def fileno(self) -> int:
        """The device's file descriptor (non-blocking)."""
        return self._fd

    @property
    def uring_calls(self) -> int:
        """The ring's io_uring_enter calls so far (0: no ring)."""
        return self._ring.calls if self._ring is not None else 0

    def answer_cookies(self, batch: CookieBatch | None) -> None:
        """Answer a SYN flood's batches with `batch`'s table from now on (None: never), when
        this link can (the C extension, no `offload`)."""
        self._cookies = None
        if batch is not None and CookieReader.available and not self.offload:
            if self._cookie_reader is None:
                self._cookie_reader = CookieReader(self._fd, self._batch_limit, self._frame, self._ring)
            self._cookies = batch

    async def recv_batch(self) -> list[Received]:
        while True:
            self._flush_cookies()  # the SYN-ACKs of the batch the host just took, before waiting
            if self._early:
                await trio.lowlevel.checkpoint()
            else:
                await self._wait_readable()
            batch = self.poll_batch()
            if batch:  # else the wake-up was spurious
                return batch

    def poll_batch(self) -> list[Received]:
        """`recv_batch` without the wait: the packets waiting now, maybe none (for busy polling);
        first those read between writes that the stack did not take (they came first)."""
        if self._closed:
            raise trio.ClosedResourceError(f"TUN device {self.name} is closed")
        if self._early:
            return [packet for _, batch in self.take_early() for packet in batch]
        return self._read()

    def take_early(self) -> list[Stamped]:
        """The packets read between writes, each batch with its read time, oldest first."""
        early, self._early, self._early_count = self._early, [], 0
        return early

    def _read_between_writes(self) -> None:
        """Keep what the device holds now, with the time it was read: the kernel's answers to the
        writes so far, which would otherwise wait for the end of the burst to be read."""
        self._writes = 0
        if self._closed or self._early_count >= self._batch_limit:
            return  # a batch is enough: the rest waits on the device, as without polling
        try:
            now = trio.current_time()
        except RuntimeError:
            return  # outside trio.run: no stack to take them
        answered = self.rx_answered
        batch = self._read()
        # What the link answered counts toward the batch too: under a SYN flood a read finds a
        # batch of SYNs and answers them all (cookie_rx.py), so a burst of writes would read and
        # answer one every EARLY_POLL_WRITES writes for as long as the flood lasts, holding the
        # host's packets found among them (a user's SYN, its data) until the burst ended: 8,187
        # cookies and 68 ms in one burst of the soak's flood (docs/reliability.md).
        self._early_count += len(batch) + self.rx_answered - answered
        if batch:
            self._early.append((now, batch))
            self.rx_early += len(batch)

    def _flush_cookies(self) -> None:
        """Write the SYN-ACKs a cookie batch left for after the host's packets (cookie_rx.py)."""
        if self._cookie_reader is not None:
            self.tx_dropped += self._cookie_reader.flush()

    def _read(self) -> list[Received]:
        """What the device holds now, up to a batch."""
        self._flush_cookies()
        if self._cookies is not None:
            table = self._cookies.table(now := trio.current_time())
            if table is not None:
                assert self._cookie_reader is not None
                reader = self._cookie_reader
                batch, dropped = reader.read(self._cookies, table, now)
                self.tx_dropped += dropped
                self.rx_answered += reader.answered
                return batch
        if self.offload:
            return self._read_vnet()
        if self._arena is None:
            return self._read_bytes()
        return self._read_arena()

    async def _wait_readable(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError(f"TUN device {self.name} is closed")
        await trio.lowlevel.wait_readable(self._fd)

    def _read_bytes(self) -> list[Received]:
        read, fd, limit = os.read, self._fd, self._batch_limit
        batch: list[Received] = []
        while len(batch) < limit:
            try:
                batch.append((read(fd, READ_SIZE), False))
            except BlockingIOError:
                break
        return batch

    def _read_arena(self) -> list[Received]:
        readv, fd, limit, arena, size = os.readv, self._fd, self._batch_limit, self._arena, self._frame
        assert arena is not None
        mv, off = arena.begin()
        last = arena.last
        batch: list[Received] = []
        while len(batch) < limit:
            if off > last:
                if batch:
                    break  # the rest next time: one batch never spans two arenas
                mv, off = arena.next_arena(), 0
            try:
                n = readv(fd, [mv[off : off + size]])
            except BlockingIOError:
                break
            batch.append((mv[off : off + n], False))
            off += n
        arena.end(off)
        return batch

    def _read_vnet(self) -> list[Received]:
        """Frames behind a virtio-net header: the packet, and whether its checksum is partial."""
        readv, fd, limit, arena, size = os.readv, self._fd, self._batch_limit, self._arena, self._frame
        assert arena is not None
        mv, off = arena.begin()
        last = arena.last
        batch: list[Received] = []
        partial = gso = 0
        while len(batch) < limit:
            if off > last:
                if batch:
                    break
                mv, off = arena.next_arena(), 0
            try:
                n = readv(fd, [mv[off : off + size]])
            except BlockingIOError:
                break
            flags = mv[off] & F_NEEDS_CSUM
            partial += flags
            if mv[off + 1]:  # gso_type: a super-segment (0 is VIRTIO_NET_HDR_GSO_NONE)
                gso += 1
            batch.append((mv[off + VNET_HDR_LEN : off + n], flags != 0))
            off += n
        arena.end(off)
        self.rx_csum_partial += partial
        self.rx_gso += gso
        return batch

    def send(self, packet: bytes) -> None:
        """Hand `packet` to the kernel; on EAGAIN (device buffer full) drop it and count it."""
        try:
            if self.offload:
                os.writev(self._fd, (PLAIN_HDR, packet))
            else:
                os.write(self._fd, packet)
        except BlockingIOError:
            self.tx_dropped += 1
        self._writes += 1
        if self._writes >= EARLY_POLL_WRITES:
            self._read_between_writes()

    def send_gso(self, packet: SuperSegment) -> None:
        """With `offload`: hand the kernel one TCP/IPv4 super-segment standing for `segments`
        segments of `gso_size` bytes (the last may be shorter). `parts[0]` is the IPv4 and TCP
        header, its TCP checksum the partial one (`csum_partial.partial_tcp_csum`); the payload
        follows in the other parts, written as they are (no copy)."""
        parts, gso_size, segments = packet
        header = parts[0]
        try:
            os.writev(self._fd, [gso_tcp_header((header[0] & 0x0F) * 4, len(header), gso_size), *parts])
        except BlockingIOError:
            self.tx_dropped += 1
            return
        self.tx_gso += 1
        self.tx_gso_segments += segments
        self._read_between_writes()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Wakes a task blocked in wait_readable with ClosedResourceError instead
        # of leaving it waiting on a recycled descriptor. Outside trio.run this
        # raises RuntimeError, and no task can be waiting anyway.
        with contextlib.suppress(RuntimeError):
            trio.lowlevel.notify_closing(self._fd)
        if self._ring is not None:
            self._ring.close()  # before the device's fd, which it names
        self._dev.close()


def _disable_ipv6(name: str) -> None:
    # A link without IPv6 (peer6=None, or an MTU below IPv6's minimum): without this the kernel
    # sends router solicitations and MLD reports into the device, noise in every trace.
    _set_ipv6_conf(name, "disable_ipv6", 1)


def _quiet_ipv6(name: str) -> None:
    # IPv6 on, before the device is up, with as little of the kernel's own traffic as a TUN
    # device allows: no link-local address (addr_gen_mode 1, IN6_ADDR_GEN_MODE_NONE), so no
    # router solicitations; no duplicate address detection (nobody else is on the link), so the
    # address is usable at once; no router advertisements taken.
    for key, value in (("disable_ipv6", 0), ("addr_gen_mode", 1), ("accept_dad", 0), ("accept_ra", 0)):
        _set_ipv6_conf(name, key, value)


def _set_ipv6_conf(name: str, key: str, value: int) -> None:
    try:
        with open(f"/proc/sys/net/ipv6/conf/{name}/{key}", "w") as f:
            f.write(str(value))
    except OSError:
        pass  # IPv6 compiled out, or /proc/sys read-only: the device works without it


def _add_ipv6_address(name: str, addr: str, prefix_len: int) -> None:
    # SIOCSIFADDR on an AF_INET6 socket (what `ip -6 addr add` does through netlink); the kernel
    # adds the prefix's route with it.
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        request = _IN6_IFREQ.pack(socket.inet_pton(socket.AF_INET6, addr), prefix_len,
                                  socket.if_nametoindex(name))
        fcntl.ioctl(s.fileno(), _SIOCSIFADDR, request)
    _wait_not_tentative(addr)


IFA_F_TENTATIVE = 0x40  # <linux/if_addr.h>
TENTATIVE_WAIT = 2.0  # seconds: the kernel's workqueue clears it within milliseconds, even when busy


def _wait_not_tentative(addr: str) -> None:
    """Return once `addr` may be bound. A new IPv6 address starts tentative; on a NOARP device
    such as TUN there is no duplicate address detection, but the flag is only cleared by
    addrconf_dad_work on a workqueue, a moment later (Linux addrconf_dad_begin). Until then
    bind() and connect() from it fail with EADDRNOTAVAIL, so a caller must not race it."""
    want = socket.inet_pton(socket.AF_INET6, addr).hex()
    deadline = time.monotonic() + TENTATIVE_WAIT
    while time.monotonic() < deadline:
        try:
            with open("/proc/net/if_inet6") as f:  # address ifindex prefix scope flags name
                rows = [line.split() for line in f]
        except OSError:
            return  # no procfs: nothing to wait on
        flags = [int(row[4], 16) for row in rows if row and row[0] == want]
        if flags and not flags[0] & IFA_F_TENTATIVE:
            return
        time.sleep(0.001)


def _set_tx_queue_len(name: str, qlen: int) -> None:
    # An ioctl on a socket of this namespace (sysfs may show another namespace's devices).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), _SIOCSIFTXQLEN, _IFREQ_QLEN.pack(name.encode(), qlen))


def _is_eperm(e: pytun.Error) -> bool:
    return bool(e.args) and e.args[0] in (errno.EPERM, errno.EACCES)


def _message(e: pytun.Error) -> str:
    return str(e.args[-1]) if e.args else str(e)
