"""TunLink against the kernel: packets both ways, validation, clean removal."""

from __future__ import annotations

import socket
import struct
import subprocess

import pytest
import trio

from minitcp.link.tun import TunLink

KERNEL_ADDR = "198.18.0.1"
STACK_ADDR = "198.18.0.2"


def test_mtu_out_of_range_is_refused_before_touching_the_system() -> None:
    with pytest.raises(ValueError, match="between 68 and 65000"):
        TunLink(mtu=67)
    with pytest.raises(ValueError, match="between 68 and 65000"):
        TunLink(mtu=65001)


def _device_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


async def test_kernel_packets_arrive_as_bare_ipv4(tun_name: str) -> None:
    link = TunLink(tun_name, mtu=9000)
    try:
        assert link.mtu == 9000
        shown = subprocess.run(["ip", "link", "show", tun_name], capture_output=True, text=True).stdout
        assert " qlen 4096" in shown  # room for a whole autotuned window at MTU 1500
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(3):
                s.sendto(bytes([i]), (STACK_ADDR, 9))
        received: list[bytes] = []
        with trio.fail_after(2):
            while len(received) < 3:
                # UDP only: an earlier test's kernel TCP connection may still be retransmitting
                # to the same address, into this new device (so ICMP only below).
                received.extend(bytes(p) for p, _ in await link.recv_batch() if p[9] == 17)
        for i, pkt in enumerate(received):
            assert pkt[0] == 0x45  # IPv4 without options: no link header
            assert socket.inet_ntoa(pkt[12:16]) == KERNEL_ADDR
            assert socket.inet_ntoa(pkt[16:20]) == STACK_ADDR
            assert pkt[-1] == i
    finally:
        link.close()
    assert not _device_exists(tun_name)


def test_the_queue_toward_the_stack_can_be_made_deeper(tun_name: str) -> None:
    """`tx_queue_len`: what minitcp soak gives its device for a SYN flood's bursts."""
    link = TunLink(tun_name, tx_queue_len=16384)
    try:
        shown = subprocess.run(["ip", "link", "show", tun_name], capture_output=True, text=True).stdout
        assert " qlen 16384" in shown
    finally:
        link.close()


def _echo_request_from_stack() -> bytes:
    def csum(data: bytes) -> int:
        total = sum(struct.unpack(f"!{len(data) // 2}H", data))
        total = (total & 0xFFFF) + (total >> 16)
        return ~total & 0xFFFF

    icmp = struct.pack("!BBHHH", 8, 0, 0, 77, 1) + b"abcd"
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
        socket.inet_aton(STACK_ADDR), socket.inet_aton(KERNEL_ADDR),
    )
    return header[:10] + struct.pack("!H", csum(header)) + header[12:] + icmp


async def test_sent_packets_reach_the_kernel(tun_name: str) -> None:
    link = TunLink(tun_name)
    try:
        link.send(_echo_request_from_stack())
        with trio.fail_after(2):  # ICMP only (see above: stray TCP from earlier tests)
            while not (icmp := [p for p, _ in await link.recv_batch() if p[9] == 1]):
                pass
        [reply] = icmp
        assert reply[20] == 0  # ICMP echo reply from the kernel
        assert socket.inet_ntoa(reply[16:20]) == STACK_ADDR
        assert reply[-4:] == b"abcd"
        assert link.tx_dropped == 0
    finally:
        link.close()


async def test_close_wakes_a_waiting_receiver(tun_name: str) -> None:
    link = TunLink(tun_name)
    with trio.fail_after(2):
        async with trio.open_nursery() as nursery:

            async def receive() -> None:
                with pytest.raises(trio.ClosedResourceError):
                    await link.recv_batch()

            nursery.start_soon(receive)
            await trio.sleep(0.05)
            link.close()
    assert not _device_exists(tun_name)
    with pytest.raises(trio.ClosedResourceError):
        await link.recv_batch()
