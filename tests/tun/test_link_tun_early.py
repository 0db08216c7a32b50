"""TunLink reads while it writes (`take_early`): the kernel's answers to a burst of writes come back
stamped with the time they were read between the writes, in order, each exactly once.

A write runs the kernel's input path for the packet, which queues its answer (an echo reply, a
RST) on the device before the write returns; without these reads the answers would wait for the
end of the burst. No assertion depends on how fast anything runs: a read time is compared with
clock readings taken around the writes, on the same clock.
"""

from __future__ import annotations

import socket
import struct

import trio

from minitcp.link.tun import EARLY_POLL_WRITES, TunLink
from minitcp.wire.gso import super_segment
from minitcp.wire.segment import ACK, Segment

KERNEL_ADDR = "198.18.0.1"
STACK_ADDR = "198.18.0.2"
ECHO_ID = 0x5254
REQUESTS = 2 * EARLY_POLL_WRITES + 4  # two reads between writes, then four answers left over


def _csum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total & 0xFFFF) + (total >> 16)
    return ~(total + (total >> 16)) & 0xFFFF


def _echo_request(seq: int) -> bytes:
    icmp = struct.pack("!BBHHH", 8, 0, 0, ECHO_ID, seq) + b"rxstamp!"
    icmp = icmp[:2] + struct.pack("!H", _csum(icmp)) + icmp[4:]
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0,
                         socket.inet_aton(STACK_ADDR), socket.inet_aton(KERNEL_ADDR))
    return header[:10] + struct.pack("!H", _csum(header)) + header[12:] + icmp


def _echo_reply_seq(packet: bytes | memoryview) -> int | None:
    """The sequence number of our echo reply, None for anything else the kernel sent."""
    p = bytes(packet)
    ihl = (p[0] & 0x0F) * 4
    if p[0] >> 4 != 4 or p[9] != 1 or p[ihl] != 0 or int.from_bytes(p[ihl + 4:ihl + 6], "big") != ECHO_ID:
        return None
    return int.from_bytes(p[ihl + 6:ihl + 8], "big")


async def _burst_of_echoes(link: TunLink) -> tuple[list[float], list[tuple[float, int]], list[int]]:
    """Write REQUESTS echo requests in one go; the clock before each write, the replies read
    between writes (read time, sequence) and those read after the burst (sequence)."""
    before: list[float] = []
    for seq in range(REQUESTS):
        before.append(trio.current_time())
        link.send(_echo_request(seq))
    after_burst = trio.current_time()
    early = link.take_early()
    assert link.take_early() == []  # taken once
    stamped = [(at, s) for at, batch in early for p, _ in batch if (s := _echo_reply_seq(p)) is not None]
    for at, _ in early:
        assert before[0] <= at <= after_burst
    late: list[int] = []
    with trio.fail_after(5):  # a bound for a broken build, not a timing assertion
        while len(stamped) + len(late) < REQUESTS:
            late += [s for p, _ in await link.recv_batch() if (s := _echo_reply_seq(p)) is not None]
    return before, stamped, late


async def test_answers_read_between_writes_keep_their_read_time_and_order(tun_name: str) -> None:
    link = TunLink(tun_name, peer6=None)
    try:
        before, stamped, late = await _burst_of_echoes(link)
    finally:
        link.close()
    # Every reply once, in the order of the requests: first those read between writes.
    assert [s for _, s in stamped] + late == list(range(REQUESTS))
    # The kernel answers inside the write: each read after EARLY_POLL_WRITES writes found the
    # answers to all of them, so the first two reads hold the first 2 x EARLY_POLL_WRITES.
    assert [s for _, s in stamped] == list(range(2 * EARLY_POLL_WRITES))
    assert link.rx_early == len(stamped)
    times = [at for at, _ in stamped]
    assert times == sorted(times)
    for at, seq in stamped:
        # Read after its request was written, and before the writes that follow the read.
        assert before[seq] <= at
        last_of_read = (seq // EARLY_POLL_WRITES + 1) * EARLY_POLL_WRITES - 1
        assert at <= before[last_of_read + 1]


async def test_a_burst_on_an_offloading_device_reads_after_every_super_segment(tun_name: str) -> None:
    """Each super-segment to a closed port draws the kernel's RST, read after that very write;
    plain packets on the same device (virtio-net header) are read between writes too."""
    link = TunLink(tun_name, peer6=None, offload=True)
    src, dst = (int.from_bytes(socket.inet_aton(a), "big") for a in (STACK_ADDR, KERNEL_ADDR))
    try:
        before: list[float] = []
        for i in range(3):
            seg = Segment(src, dst, 40000 + i, 9, 1000, 1, ACK, 1000, bytes(3 * 1448))
            seg.gso = 1448
            before.append(trio.current_time())
            link.send_gso(super_segment(seg))
        before.append(trio.current_time())
        early = link.take_early()
        resets = [(at, int.from_bytes(bytes(p[22:24]), "big")) for at, batch in early for p, _ in batch
                  if p[9] == 6 and p[20 + 13] & 0x04]
        assert [port for _, port in resets] == [40000, 40001, 40002]
        for i, (at, _) in enumerate(resets):
            assert before[i] <= at <= before[i + 1]  # read right after its super-segment
        _, stamped, late = await _burst_of_echoes(link)
    finally:
        link.close()
    assert [s for _, s in stamped] + late == list(range(REQUESTS))
    assert [s for _, s in stamped] == list(range(2 * EARLY_POLL_WRITES))


async def test_what_the_stack_does_not_take_comes_first_from_recv_batch(tun_name: str) -> None:
    """Nothing read between writes is lost when nobody takes it: the next read returns it,
    before what the device still holds."""
    link = TunLink(tun_name, peer6=None)
    got: list[int] = []
    try:
        for seq in range(REQUESTS):
            link.send(_echo_request(seq))
        with trio.fail_after(5):
            while len(got) < REQUESTS:
                got += [s for p, _ in await link.recv_batch() if (s := _echo_reply_seq(p)) is not None]
        assert link.take_early() == []
    finally:
        link.close()
    assert got == list(range(REQUESTS))
