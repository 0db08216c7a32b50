"""TCP_INFO, poll() and SIOCINQ/SIOCOUTQ against the kernel's own sockets as the reference.

A kernel socket (the kernel chooses CUBIC for it with TCP_CONGESTION, as Linux hosts do;
this machine's default is BBR) is connected to a minitcp socket over TUN. The same thing
happens on both sides in turn, and minitcp's socket must report what the kernel's reported
in the mirrored situation: the same poll() mask, the same queue sizes. The kernel's TCP_INFO
bytes are read with minitcp's layout (Linux 6.12's struct) and printed with minitcp's `ss -i`
printer, which must give what iproute2's `ss -tni` prints for that socket.
"""

from __future__ import annotations

import fcntl
import select
import socket
import struct
from collections.abc import Callable

import pytest
import trio

from minitcp.sockets import Socket
from minitcp.sockets.readiness import POLLRDHUP, SIOCINQ, SIOCOUTQ
from minitcp.stack import Stack
from minitcp.tcp import tcpinfo
from minitcp.trace.ss import tcp_info_text

ADDR = "198.18.0.2"
PORT = 5000
_MASK = select.POLLIN | select.POLLOUT | select.POLLERR | select.POLLHUP | POLLRDHUP


@pytest.fixture
def listener(tun_stack: Stack) -> Socket:
    sock = Socket(tun_stack)
    sock.bind(("", PORT))
    sock.listen(16)
    return sock


def kernel_poll(sock: socket.socket) -> int:
    p = select.poll()
    p.register(sock, _MASK)
    events = p.poll(0)
    return events[0][1] & _MASK if events else 0


def kernel_ioctl(sock: socket.socket, request: int) -> int:
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), request, b"\0" * 4))[0]


async def until(predicate: Callable[[], bool], what: str, timeout: float = 5) -> None:
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.005)
        return
    raise AssertionError(f"timed out waiting for {what}")


async def pair(listener: Socket) -> tuple[socket.socket, Socket]:
    def connect() -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
        s.connect((ADDR, PORT))
        return s

    kernel = await trio.to_thread.run_sync(connect)
    ours, _ = await listener.accept()
    return kernel, ours


async def test_poll_masks_mirror_the_kernels(tun_stack: Stack, listener: Socket) -> None:
    with trio.fail_after(10):
        kernel, ours = await pair(listener)
        with kernel:
            assert ours.poll() & _MASK == kernel_poll(kernel) == select.POLLOUT
            # Data waiting: readable on either side.
            await ours.send(b"abc")
            await until(lambda: kernel_poll(kernel) & select.POLLIN, "our data")
            kernel.sendall(b"abc")
            await until(lambda: ours.poll() & select.POLLIN, "the kernel's data")
            assert ours.poll() & _MASK == kernel_poll(kernel)
            assert ours.ioctl(SIOCINQ) == kernel_ioctl(kernel, SIOCINQ) == 3
            kernel.recv(3)
            await ours.recv(3)
            # The peer's FIN: readable, read-hung-up, still writable.
            ours.shutdown(socket.SHUT_WR)
            await until(lambda: kernel_poll(kernel) & POLLRDHUP, "our FIN")
            kernel_after_fin = kernel_poll(kernel)
            ours_after_shut = ours.poll() & _MASK
            kernel.shutdown(socket.SHUT_WR)
            await until(lambda: ours.poll() & POLLRDHUP, "the kernel's FIN")
            # Both directions shut on each side now; before that, each side after the other's FIN.
            assert kernel_after_fin == select.POLLIN | POLLRDHUP | select.POLLOUT
            assert ours_after_shut == select.POLLOUT  # as the kernel's in test_own_shutdown_alone
            assert ours.poll() & _MASK == kernel_poll(kernel) \
                == select.POLLIN | POLLRDHUP | select.POLLOUT | select.POLLHUP


async def test_own_shutdown_alone(tun_stack: Stack, listener: Socket) -> None:
    with trio.fail_after(10):
        kernel, ours = await pair(listener)
        with kernel:
            kernel.shutdown(socket.SHUT_WR)
            await until(lambda: ours.poll() & POLLRDHUP, "the kernel's FIN")
            assert kernel_poll(kernel) == select.POLLOUT
            # SIOCOUTQ once data is sent and acknowledged: nothing left.
            await ours.send(b"x" * 100)
            await until(lambda: ours.ioctl(SIOCOUTQ) == 0, "the kernel's ACK")
            assert kernel_ioctl(kernel, SIOCINQ) == 100 and kernel_ioctl(kernel, SIOCOUTQ) == 0


async def test_kernel_tcp_info_through_minitcps_layout_and_ss_printer(
    tun_stack: Stack, listener: Socket
) -> None:
    with trio.fail_after(10):
        kernel, ours = await pair(listener)
        with kernel:
            kernel.sendall(b"q" * 1000)
            assert await ours.recv(1000) == b"q" * 1000
            await ours.sendall(b"r" * 10)
            await trio.to_thread.run_sync(kernel.recv, 10)
            # The kernel's ACK of those 10 bytes counted on our side too (not a pause: a stalled
            # process would read its TCP_INFO with that ACK still in the device's queue).
            await until(lambda: ours.tcp_info()["bytes_acked"] == 10, "the kernel's ACK")
            kport = kernel.getsockname()[1]
            raw = kernel.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 512)
            done = await trio.run_process(["ss", "-tnoiH", "src", f"198.18.0.1:{kport}"],
                                          capture_stdout=True)
            k = tcpinfo.unpack(raw)
            o = ours.tcp_info()
            assert k["state"] == o["state"] == 1
            assert k["options"] & 7 == o["options"] & 7  # timestamps, SACK, window scaling
            assert (k["snd_wscale"], k["rcv_wscale"]) == (o["rcv_wscale"], o["snd_wscale"])
            assert k["bytes_acked"] == 1 + o["bytes_received"] == 1001  # the client's SYN counts
            assert k["bytes_received"] == o["bytes_acked"] == 10  # minitcp's side was passive
            assert k["data_segs_out"] == o["data_segs_in"] and k["data_segs_in"] == o["data_segs_out"]
            # Every segment counted once on each side, but for minitcp's SYN-ACK, which Linux
            # counts on the listener's request (the kernel's segs_in has it).
            assert (k["segs_out"], k["segs_in"]) == (o["segs_in"], o["segs_out"] + 1)
            assert k["snd_mss"] == o["snd_mss"] and k["advmss"] == o["advmss"]
            printed = done.stdout.decode().splitlines()[-1].split()
            assert steady(tcp_info_text(k, "cubic").split()) == steady(printed)


# Fields that move between our getsockopt() and ss's look (times, rates), and the ones this
# machine's iproute2 (6.1) is too old to print (rcv_wnd, rehash: iproute2 6.3).
_MOVING = ("lastsnd:", "lastrcv:", "lastack:", "busy:", "rcv_wnd:", "rehash:")
_RATES = ("pacing_rate", "delivery_rate", "send")


def steady(parts: list[str]) -> list[str]:
    """ss -i's fields without the ones that move (a rate is its name and the next word)."""
    out: list[str] = []
    for i, part in enumerate(parts):
        if part in _RATES or (i and parts[i - 1] in _RATES) or part.startswith(_MOVING):
            continue
        out.append(part)
    return out
