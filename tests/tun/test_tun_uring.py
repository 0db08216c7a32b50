"""The TUN link's batches through io_uring (minitcp/link/uring.py, native/minitcp_uring.c) against
the plain read() and write() calls, on the kernel's device: the same packets read in the device's
order, the same SYN-ACKs written (the kernel sees them), the same drops and errors; the plain
calls when the kernel refuses a ring; no ring left behind by a closed link."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import subprocess
import tty

import pytest
import trio

from minitcp.bench.synfill import drain
from minitcp.host.cookie_batch import SYNACK_SLOT
from minitcp.link import tun as tun_module
from minitcp.link.cookie_rx import CookieReader
from minitcp.link.tun import TunLink
from minitcp.link.uring import Ring
from minitcp.soak import link_cost
from minitcp.soak.cookie_cost import flood
from minitcp.stack import Stack
from minitcp.tcp.knobs import Knobs
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet

pytestmark = pytest.mark.skipif(not (CookieReader.available and Ring.available),
                                reason="minitcp._native is not built (or MINITCP_PURE is set)")

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
SOL_PACKET = 263  # <linux/socket.h>
SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>: past rmem_max (we are root)
PACKET_IGNORE_OUTGOING = 23  # <linux/if_packet.h>: a tap of what the device hands the kernel only
SYNS = 300  # more than a batch (256): two batches, the ring's chunks growing across the first


def _user_acks(count: int) -> list[bytes]:
    """ACKs of flows the stack does not have: packets of the host's, handed on in order."""
    user, us = ip_int("198.18.0.1"), ip_int("198.18.0.2")
    return [build_tcp_packet(Segment(user, us, 40000 + i, 7, 1000 + i, 1, ACK, 1000)) for i in range(count)]


def _mixed() -> list[bytes]:
    """SYNS flood SYNs with a user's ACK after every tenth."""
    syns, acks = flood(SYNS), iter(_user_acks(SYNS // 10))
    return [p for k, syn in enumerate(syns) for p in ((syn, next(acks)) if k % 10 == 9 else (syn,))]


def _tap(name: str) -> socket.socket:
    """What the device hands the kernel (our writes), in order; room for every packet here."""
    tap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    tap.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    tap.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
    tap.bind((name, ETH_P_ALL))
    tap.setblocking(False)
    return tap



def _inject(name: str, packets: list[bytes]) -> None:
    """The kernel sends `packets` into the device, in order (the stack reads them)."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP)) as attacker:
        attacker.bind((name, ETH_P_IP))
        for pkt in packets:
            attacker.send(pkt)


def _flows(packets: list[bytes], reply: bool) -> list[tuple[int, int]]:
    """Each packet's (source, source port), or of a reply (destination, destination port)."""
    segs = [parse_tcp_packet(p) for p in packets]
    return [(s.dst, s.dport) if reply else (s.src, s.sport) for s in segs]


async def _cookie_batches(name: str, uring: bool) -> tuple[list[bytes], list[bytes], TunLink, Stack]:
    """A flood's SYNs mixed with a user's ACKs read through the link's cookie path: what it handed
    on (in order) and what it wrote (the SYN-ACKs, as the kernel saw them, in order)."""
    link = TunLink(name, uring=uring)
    try:
        stack = Stack(link, "198.18.0.2", knobs=Knobs(tcp_syncookies=2))
        stack.engine.listen(0, 7, 64)
        stack.engine.last_cookie = trio.current_time()  # a cookie just sent: the batch path is on
        with _tap(link.name) as tap:
            _inject(link.name, _mixed())
            handed: list[bytes] = []
            while batch := link.poll_batch():  # the last poll writes what the one before left
                handed += [bytes(pkt) for pkt, _ in batch]
            written = drain(tap)
    finally:
        link.close()
    return handed, written, link, stack


async def test_both_backends_read_and_write_the_same_packets(tun_name: str) -> None:
    """The same device traffic through a ring and through plain calls: the host gets the same
    packets (the users' ACKs, byte for byte, in the device's order), the kernel the same
    SYN-ACKs (one per SYN, in the SYNs' order), none dropped; the ring in far fewer calls."""
    results = {uring: await _cookie_batches(f"{tun_name}{'u' if uring else 'p'}", uring)
               for uring in (True, False)}
    syns = [p for p in _mixed() if parse_tcp_packet(p).flags == SYN]
    for uring, (handed, written, link, stack) in results.items():
        assert handed == _user_acks(SYNS // 10), uring
        assert [parse_tcp_packet(p).flags for p in written] == [SYN | ACK] * SYNS
        assert _flows(written, reply=True) == _flows(syns, reply=False)
        assert stack.engine.counters["SyncookiesSent"] == link.rx_answered == SYNS and link.tx_dropped == 0
    ring, plain = results[True][2], results[False][2]
    assert ring.uring_error is None and plain.uring_calls == 0
    # Reads in chunks growing from 1 and one chunk of writes per batch: ~20 calls for 330 reads
    # and 300 writes, where plain calls make 630 (and an EAGAIN per batch).
    assert 0 < ring.uring_calls < 40


def _write_rows(name: str, uring: bool, packets: list[bytes], rows: list[int]) -> tuple[int, list[bytes]]:
    """`mt_write_batch`'s call (the cookie batch's writes) through a ring or not: the count of
    packets the device refused, and what the kernel received, in order."""
    from minitcp._native import ffi, lib

    n = len(packets)
    out, olen, row = ffi.new("char[]", n * SYNACK_SLOT), ffi.new("uint32_t[]", n), ffi.new("uint8_t[]", rows)
    for i, pkt in enumerate(packets):
        ffi.memmove(out + i * SYNACK_SLOT, pkt, len(pkt))
        olen[i] = len(pkt)
    link = TunLink(name, uring=False)  # the plain link: the ring here is the test's own
    try:
        with _tap(link.name) as tap:
            if uring:
                ring = Ring(link.fileno())
                dropped = ring.write_batch(out, olen, row, n)
                assert ring.calls == 1
                ring.close()
            else:
                dropped = lib.mt_write_batch(link.fileno(), out, olen, row, n)
            return dropped, drain(tap)
    finally:
        link.close()


def test_both_backends_write_the_same_packets_and_count_the_same_drops(tun_name: str) -> None:
    """SYN-ACK-sized packets to spoofed sources with a row of 0 (not written) and one the device
    refuses (IP version 0: tun_get_user's EINVAL): both ways write the same bytes in the same
    order and count that one dropped."""
    packets = [build_tcp_packet(Segment(ip_int("198.18.0.2"), ip_int("198.18.0.100") + i, 7, 1024 + i, i, 1,
                                        SYN | ACK, 64240, mss=1460)) for i in range(40)]
    packets[7] = b"\x00" + packets[7][1:]
    rows = [0 if i % 5 == 3 else 1 for i in range(40)]
    ring = _write_rows(f"{tun_name}u", True, packets, rows)
    plain = _write_rows(f"{tun_name}p", False, packets, rows)
    assert ring == plain == (1, [p for i, p in enumerate(packets) if rows[i] and i != 7])


@pytest.mark.parametrize("uring", [True, False], ids=["ring", "plain"])
async def test_a_read_error_is_raised_the_same_way(tun_name: str, uring: bool) -> None:
    """The device deleted under the link (`ip link del`): the fd stays open, detached, and reads
    fail with EBADFD (tun_chr_read_iter); the cookie path raises it as an OSError either way."""
    link = TunLink(tun_name, uring=uring)
    try:
        stack = Stack(link, "198.18.0.2", knobs=Knobs(tcp_syncookies=2))
        stack.engine.listen(0, 7, 64)
        stack.engine.last_cookie = trio.current_time()
        subprocess.run(["ip", "link", "del", link.name], check=True)
        with pytest.raises(OSError) as raised:
            link.poll_batch()
        assert raised.value.errno == errno.EBADFD
        assert (link.uring_calls > 0) == uring
    finally:
        link.close()


async def test_a_refused_ring_leaves_the_plain_calls(tun_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """io_uring_setup refused (as kernel.io_uring_disabled=2 refuses it: EPERM): the link says why
    and answers the flood with plain calls, the same packets."""
    def refused(cls: type, fd: int) -> Ring:
        raise PermissionError(errno.EPERM, "io_uring refused: Operation not permitted")

    monkeypatch.setattr(tun_module, "Ring", type("Refused", (), {"available": True, "__new__": refused}))
    handed, written, link, stack = await _cookie_batches(tun_name, True)
    assert link.uring_error is not None and "not permitted" in link.uring_error and link.uring_calls == 0
    assert handed == _user_acks(SYNS // 10)
    assert len(written) == SYNS == stack.engine.counters["SyncookiesSent"]


def test_the_kernel_refusing_a_ring_raises(tun_name: str) -> None:
    """mt_ring_open's refusals come back as OSError with the errno (here EINVAL: not a power of two)."""
    link = TunLink(tun_name, uring=False)
    try:
        with pytest.raises(OSError) as raised:
            Ring(link.fileno(), 3)
        assert raised.value.errno == errno.EINVAL
    finally:
        link.close()


def _rings() -> int:
    links = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
    return links.count("anon_inode:[io_uring]")


def test_closed_links_leave_no_ring(tun_name: str) -> None:
    """A ring per link, made with it, closed with it: no descriptor left after open/close cycles."""
    before, fds = _rings(), len(os.listdir("/proc/self/fd"))
    for k in range(20):
        link = TunLink(f"{tun_name}c{k}")
        assert _rings() == before + 1
        link.close()
        link.close()  # twice: nothing more
    assert _rings() == before and len(os.listdir("/proc/self/fd")) == fds


def test_link_cost_measures_both_ways(tun_name: str) -> None:
    """`python -m minitcp.soak.link_cost` runs: a figure for each way and operation, and the ring's
    calls (per round one for the 256 writes, a few chunks for the 256 reads)."""
    result = link_cost.measure(2, tun_name)
    assert {"plain_write", "plain_read", "ring_write", "ring_read"} <= result.keys()
    assert all(result[k] > 0 for k in ("plain_write", "plain_read", "ring_write", "ring_read"))
    assert 2 * 2 <= result["ring_calls"] <= 2 * 2 * link_cost.BATCH


def test_a_file_refusing_nowait_falls_back_to_plain_calls() -> None:
    """A file without IOCB_NOWAIT support refuses RWF_NOWAIT (EOPNOTSUPP: a pty's master here, as
    a TUN device on a kernel without it would): the ring's first call finds out, nothing read or
    written by it, and that call and every later one go the plain way, with the same results."""
    from minitcp._native import ffi

    master, slave = os.openpty()
    try:
        os.set_blocking(master, False)
        tty.setraw(slave)
        os.write(slave, b"hello")
        ring = Ring(master)
        frame, limit = 4096, 4
        buf = ffi.new("char[]", frame * limit)
        off, length = ffi.new("uint32_t[]", limit), ffi.new("uint32_t[]", limit)
        assert ring.read_batch(buf, frame * limit, frame, limit, off, length) == 1
        assert ffi.buffer(buf)[off[0]:off[0] + length[0]] == b"hello" and ring.calls == 1
        assert ring.read_batch(buf, frame * limit, frame, limit, off, length) == 0 and ring.calls == 1
        ring.close()
        ring = Ring(master)
        out = ffi.new("char[]", 3 * SYNACK_SLOT)
        olen, row = ffi.new("uint32_t[]", 3), ffi.new("uint8_t[]", [1, 0, 1])
        for i, chunk in enumerate((b"abc", b"de", b"f")):
            ffi.memmove(out + i * SYNACK_SLOT, chunk, len(chunk))
            olen[i] = len(chunk)
        assert ring.write_batch(out, olen, row, 3) == 0 and ring.calls == 1
        assert ring.write_batch(out, olen, row, 3) == 0 and ring.calls == 1
        ring.close()
        assert os.read(slave, 100) == b"abcfabcf"
    finally:
        os.close(master)
        os.close(slave)
