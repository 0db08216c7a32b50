"""How a TCP connection ends, seen from both sides: minitcp's engine and the kernel's `ss -tan`.

Each test serves one connection from a kernel socket with minitcp's socket
API, closes it in one of the ways TCP allows, and checks the states each side
passed through. minitcp's side comes from an engine observer (every state
change), the kernel's from `ss -tan` sampled at the moments when its state is
stable:

- minitcp closes first: the kernel is the passive closer, CLOSE-WAIT until
  its application closes, then LAST-ACK (for a moment) and gone; minitcp
  goes FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT and keeps a TIME-WAIT entry.
- the kernel closes first: the kernel ends in TIME-WAIT; minitcp goes
  CLOSE-WAIT, LAST-ACK, CLOSED and keeps nothing.
- the kernel closes and minitcp never does: the kernel's orphaned socket
  waits in FIN-WAIT-2 (tcp_fin_timeout), minitcp's in CLOSE-WAIT.
- close with unread data, or with SO_LINGER 0: an RST, which the kernel
  reports as ECONNRESET on its next read.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Callable

import pytest
import trio

from minitcp.sockets import Socket
from minitcp.stack import Stack
from minitcp.tcp.connection import conn_key
from minitcp.tcp.states import State
from minitcp.wire.ipv4 import ip_int

from ..helpers.recorded import entered

ADDR = "198.18.0.2"
PEER = "198.18.0.1"
PORT = 5000


@pytest.fixture
def listener(tun_stack: Stack) -> Socket:
    sock = Socket(tun_stack)
    sock.bind(("", PORT))
    sock.listen(16)
    return sock


def states(tun_stack: Stack, kport: int) -> list[State]:
    """minitcp's states for its connection to the kernel's port `kport`, in order."""
    return entered(tun_stack.engine.observer, PORT, kport)  # type: ignore[arg-type]


async def kernel_states(kport: int) -> list[str]:
    """The states `ss -tan` shows for the kernel's socket on local port `kport`."""
    done = await trio.run_process(["ss", "-tanH"], capture_stdout=True)
    rows = [line.split() for line in done.stdout.decode().splitlines()]
    return [r[0] for r in rows if len(r) >= 5 and r[3] == f"{PEER}:{kport}" and r[4] == f"{ADDR}:{PORT}"]


async def kernel_reaches(kport: int, state: str, timeout: float = 5.0) -> list[str]:
    """Sample `ss` until the kernel's socket is in `state`; returns the distinct states seen on the way."""
    seen: list[str] = []
    with trio.move_on_after(timeout):
        while True:
            now = await kernel_states(kport)
            if now and (not seen or seen[-1] != now[0]):
                seen.append(now[0])
            if now == [state]:
                return seen
            await trio.sleep(0.01)
    raise AssertionError(f"the kernel's socket never reached {state}; ss showed {seen}")


async def until(predicate: Callable[[], bool], what: str, timeout: float = 5) -> None:
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.005)
        return
    raise AssertionError(f"timed out waiting for {what}")


async def connect_and_accept(listener: Socket) -> tuple[socket.socket, Socket, int]:
    """A kernel socket connected to minitcp, minitcp's accepted socket, and the kernel's port."""
    kernel = await trio.to_thread.run_sync(lambda: socket.create_connection((ADDR, PORT), timeout=5))
    ours, (_, kport) = await listener.accept()
    assert kernel.getsockname()[1] == kport
    return kernel, ours, kport


def read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


async def test_minitcp_closes_first_kernel_waits_in_close_wait_minitcp_in_time_wait(
    tun_stack: Stack, listener: Socket
) -> None:
    with trio.fail_after(10):
        kernel, ours, kport = await connect_and_accept(listener)
        with kernel:
            await ours.sendall(b"goodbye\n")
            ours.close()  # our FIN follows the data
            assert await trio.to_thread.run_sync(read_to_eof, kernel) == b"goodbye\n"
            await until(lambda: State.FIN_WAIT_2 in states(tun_stack, kport),
                        "our FIN to be acknowledged")
            # The kernel got our FIN and acknowledged it; its application has not closed yet.
            assert await kernel_states(kport) == ["CLOSE-WAIT"]
        # Now it has: its FIN (LAST-ACK) is acknowledged by us at once and its socket is gone.
        await until(lambda: State.TIME_WAIT in states(tun_stack, kport), "the kernel's FIN")
        assert await kernel_states(kport) == []

    assert states(tun_stack, kport) == [
        State.SYN_RECEIVED, State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.TIME_WAIT,
    ]
    key = conn_key(ip_int(ADDR), PORT, ip_int(PEER), kport)
    assert tun_stack.engine.timewait.get(key) is not None  # the active closer keeps the 2MSL wait
    assert key not in tun_stack.engine.conns


async def test_kernel_closes_first_kernel_in_time_wait_minitcp_passes_close_wait_and_last_ack(
    tun_stack: Stack, listener: Socket
) -> None:
    with trio.fail_after(10):
        kernel, ours, kport = await connect_and_accept(listener)
        await trio.to_thread.run_sync(kernel.sendall, b"question")
        assert await ours.recv(100) == b"question"
        kernel.close()  # the kernel's FIN first
        assert await ours.recv(100) == b""  # end of stream: we are in CLOSE-WAIT
        assert ours.state == State.CLOSE_WAIT
        # Once we acknowledge the kernel's FIN its orphaned socket waits for ours in FIN-WAIT-2. Like
        # Linux (tcp_fin enters ping-pong mode), minitcp delays that ACK, hoping to send it with its
        # own FIN; so the kernel may be seen in FIN-WAIT-1 first.
        assert set(await kernel_reaches(kport, "FIN-WAIT-2")) <= {"FIN-WAIT-1", "FIN-WAIT-2"}
        assert ours.state == State.CLOSE_WAIT
        ours.close()
        await until(lambda: State.CLOSED in states(tun_stack, kport), "our FIN to be acknowledged")
        assert await kernel_states(kport) == ["TIME-WAIT"]

    assert states(tun_stack, kport) == [
        State.SYN_RECEIVED, State.ESTABLISHED, State.CLOSE_WAIT, State.LAST_ACK, State.CLOSED,
    ]
    key = conn_key(ip_int(ADDR), PORT, ip_int(PEER), kport)
    assert tun_stack.engine.timewait.get(key) is None  # the passive closer keeps nothing
    assert key not in tun_stack.engine.conns


async def test_server_that_never_closes_leaves_kernel_orphan_in_fin_wait_2(
    tun_stack: Stack, listener: Socket
) -> None:
    with trio.fail_after(10):
        kernel, ours, kport = await connect_and_accept(listener)
        kernel.close()
        await until(lambda: State.CLOSE_WAIT in states(tun_stack, kport), "the kernel's FIN")
        await kernel_reaches(kport, "FIN-WAIT-2")  # and there it stays, for tcp_fin_timeout (60 s)
        await trio.sleep(0.3)  # time for anything else to happen: nothing should
        assert ours.state == State.CLOSE_WAIT
        assert await kernel_states(kport) == ["FIN-WAIT-2"]
        ours.close()  # tidy up: now the kernel's orphan gets our FIN
        await until(lambda: State.CLOSED in states(tun_stack, kport), "our FIN to be acknowledged")
        assert await kernel_states(kport) == ["TIME-WAIT"]


async def test_half_close_server_answers_after_the_clients_fin(tun_stack: Stack, listener: Socket) -> None:
    """The kernel sends a request and shutdown(SHUT_WR)s; minitcp reads to EOF, answers, closes."""
    request = bytes(range(256)) * 1000
    with trio.fail_after(10):
        kernel, ours, kport = await connect_and_accept(listener)
        with kernel:
            def send_request() -> None:
                kernel.sendall(request)
                kernel.shutdown(socket.SHUT_WR)

            # minitcp reads as the kernel sends, as a server does: a sendall before the first read
            # needs all 256 KB taken into minitcp's receive window and the kernel's send buffer
            # (which grows only as ACKs come), and ran out of the socket's 5 s once at load 9.
            received = b""
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.to_thread.run_sync, send_request)
                while chunk := await ours.recv(65536):
                    received += chunk
            assert received == request
            assert ours.state == State.CLOSE_WAIT
            # The kernel half-closed (not orphaned): FIN-WAIT-2 once its FIN is acknowledged (the ACK
            # is delayed, as Linux delays it), and still reading.
            await kernel_reaches(kport, "FIN-WAIT-2")
            answer = f"{len(received)} bytes\n".encode()
            await ours.sendall(answer)  # sending in CLOSE-WAIT is allowed: only the peer is done
            ours.close()
            assert await trio.to_thread.run_sync(read_to_eof, kernel) == answer
            await until(lambda: State.CLOSED in states(tun_stack, kport),
                        "our FIN to be acknowledged")
            assert await kernel_states(kport) == ["TIME-WAIT"]

    assert states(tun_stack, kport)[-3:] == [State.CLOSE_WAIT, State.LAST_ACK, State.CLOSED]


def _recv_error(sock: socket.socket) -> int | bytes:
    """What the kernel's next read gives: the errno it fails with, or the bytes."""
    try:
        return sock.recv(100)
    except OSError as e:
        return e.errno or 0


async def test_close_with_unread_data_resets_the_kernels_connection(
    tun_stack: Stack, listener: Socket
) -> None:
    with trio.fail_after(10):
        kernel, ours, kport = await connect_and_accept(listener)
        with kernel:
            await trio.to_thread.run_sync(kernel.sendall, b"nobody will read this")
            conn = ours.connection
            await until(lambda: conn.recv_queued > 0, "the data to reach our receive queue")
            ours.close()  # RFC 2525 section 2.17: unread data, so RST instead of FIN
            assert await trio.to_thread.run_sync(_recv_error, kernel) == errno.ECONNRESET
        assert await kernel_states(kport) == []

    assert tun_stack.engine.counters["TCPAbortOnClose"] == 1
    assert states(tun_stack, kport)[-1] == State.CLOSED
    assert State.FIN_WAIT_1 not in states(tun_stack, kport)


async def test_linger_zero_close_resets_the_kernels_connection(tun_stack: Stack, listener: Socket) -> None:
    with trio.fail_after(10):
        kernel, ours, kport = await connect_and_accept(listener)
        with kernel:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ours.close()  # an abort: RST, no FIN, no TIME-WAIT
            assert await trio.to_thread.run_sync(_recv_error, kernel) == errno.ECONNRESET
        assert await kernel_states(kport) == []

    key = conn_key(ip_int(ADDR), PORT, ip_int(PEER), kport)
    assert tun_stack.engine.timewait.get(key) is None
    assert key not in tun_stack.engine.conns
    assert states(tun_stack, kport)[-1] == State.CLOSED


def _connect_from(kport: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((PEER, kport))
    sock.settimeout(5)
    sock.connect((ADDR, PORT))
    return sock


async def test_new_syn_on_a_pair_minitcp_holds_in_time_wait_reopens_it(
    tun_stack: Stack, listener: Socket
) -> None:
    """RFC 1122 section 4.2.2.13 (Linux tcp_timewait_state_process): a SYN above the old sequence space."""
    kport = 40123
    with trio.fail_after(10):
        for round_ in range(3):
            kernel = await trio.to_thread.run_sync(_connect_from, kport)
            ours, _ = await listener.accept()
            with kernel:
                await ours.sendall(b"round %d\n" % round_)
                ours.close()  # we close first: TIME-WAIT on our side, for the same four-tuple each round
                assert await trio.to_thread.run_sync(read_to_eof, kernel) == b"round %d\n" % round_
            key = conn_key(ip_int(ADDR), PORT, ip_int(PEER), kport)
            await until(lambda key=key: tun_stack.engine.timewait.get(key) is not None, "our TIME-WAIT")
    assert tun_stack.engine.counters["TWRecycled"] == 2
