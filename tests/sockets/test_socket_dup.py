"""dup() and reference counting: the seed text's close() versus shutdown().

close() drops one handle; only the last one reaches TCP. shutdown() acts on
the connection at once, whatever the number of handles, and every handle
feels it.
"""

from __future__ import annotations

import errno
import socket as _s

import pytest
import trio
from trio.testing import MockClock

from minitcp.sockets import SHUT_RDWR, SHUT_WR
from minitcp.sockets.socket import Socket
from minitcp.tcp.states import State

from .net import B_ADDR, FIN, Net, connected_pair, settle


async def test_dup_counts_references(net: Net, autojump_clock: MockClock) -> None:
    cli, _ = await connected_pair(net)
    h2 = cli.dup()
    h3 = h2.dup()
    assert cli.refs == h2.refs == h3.refs == 3
    assert h3.connection is cli.connection
    h2.close()
    assert cli.refs == 2
    h2.close()  # closing a closed handle again changes nothing
    assert cli.refs == 2


async def test_close_of_one_handle_sends_nothing(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    other = cli.dup()
    mark = len(net.wire)
    cli.close()
    await settle()
    await trio.sleep(10)
    assert net.sent(since=mark) == []  # no FIN on the wire
    assert other.state == State.ESTABLISHED
    # The other handle still sends and receives.
    await other.sendall(b"from the other handle")
    assert await srv.recv(100) == b"from the other handle"
    await srv.sendall(b"reply")
    assert await other.recv(100) == b"reply"


async def test_closing_the_last_handle_sends_fin(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    other = cli.dup()
    cli.close()
    mark = len(net.wire)
    other.close()
    [fin] = net.sent(since=mark)
    assert fin.sender == "a" and fin.flags & FIN
    assert await srv.recv(10) == b""


async def test_shutdown_on_one_handle_sends_fin_and_affects_the_other(net: Net,
        autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    other = cli.dup()
    mark = len(net.wire)
    cli.shutdown(SHUT_WR)
    [fin] = net.sent(since=mark)  # at once, though another handle is open
    assert fin.sender == "a" and fin.flags & FIN
    with pytest.raises(BrokenPipeError):
        await other.send(b"x")  # the other handle cannot send either
    assert await srv.recv(10) == b""
    await srv.sendall(b"still readable")
    assert await other.recv(100) == b"still readable"  # shutdown(SHUT_WR) left reading alone


async def test_shutdown_rdwr_makes_every_handle_unusable(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    other = cli.dup()
    other.shutdown(SHUT_RDWR)
    for h in (cli, other):
        assert await h.recv(10) == b""
        with pytest.raises(BrokenPipeError):
            await h.send(b"x")
    assert await srv.recv(10) == b""
    # The handles are still open (shutdown closes no handle) until each is closed.
    assert cli.refs == 2
    cli.close()
    other.close()


async def test_calls_on_a_closed_handle_are_ebadf(net: Net, autojump_clock: MockClock) -> None:
    cli, _ = await connected_pair(net)
    keep = cli.dup()
    cli.close()
    calls = [
        lambda: cli.recv(1),
        lambda: cli.send(b"x"),
        lambda: cli.sendall(b"x"),
        lambda: cli.connect((B_ADDR, 1)),
        lambda: cli.accept(),
    ]
    for call in calls:
        with pytest.raises(OSError) as e:
            await call()
        assert e.value.errno == errno.EBADF
    sync_calls = [
        lambda: cli.shutdown(SHUT_WR),
        lambda: cli.bind(("", 0)),
        lambda: cli.listen(1),
        lambda: cli.dup(),
        lambda: cli.getsockname(),
        lambda: cli.getpeername(),
        lambda: cli.setblocking(False),
        lambda: cli.getblocking(),
        lambda: cli.setsockopt(_s.IPPROTO_TCP, _s.TCP_NODELAY, 1),
        lambda: cli.getsockopt(_s.SOL_SOCKET, _s.SO_ERROR),
    ]
    for call in sync_calls:
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EBADF
    assert keep.state == State.ESTABLISHED  # none of that touched the connection
    assert keep.getpeername() == (B_ADDR, 5000)


async def test_closing_a_handle_wakes_its_blocked_reader_with_ebadf(net: Net,
        autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    other = cli.dup()
    results: dict[str, object] = {}

    async def reader(name: str, handle: Socket) -> None:
        try:
            results[name] = await handle.recv(100)
        except OSError as exc:
            results[name] = exc.errno

    async with trio.open_nursery() as n:
        n.start_soon(reader, "cli", cli)
        n.start_soon(reader, "other", other)
        await settle()
        cli.close()
        await settle()
        assert results == {"cli": errno.EBADF}  # the reader on the other handle still waits
        await srv.sendall(b"for other")
    assert results == {"cli": errno.EBADF, "other": b"for other"}
    assert other.state == State.ESTABLISHED


async def test_closing_the_last_handle_wakes_its_blocked_reader(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    results: list[object] = []

    async def reader() -> None:
        try:
            results.append(await cli.recv(100))
        except OSError as exc:
            results.append(exc.errno)

    async with trio.open_nursery() as n:
        n.start_soon(reader)
        await settle()
        cli.close()
    assert results == [errno.EBADF]
    assert await srv.recv(10) == b""  # and the FIN went out


async def test_closing_a_handle_wakes_its_blocked_sender(net: Net, autojump_clock: MockClock) -> None:
    cli, _srv = await connected_pair(net)
    other = cli.dup()
    results: list[object] = []

    async def writer() -> None:
        try:
            await cli.sendall(b"x" * 10_000_000)  # far beyond both buffers: blocks
        except OSError as exc:
            results.append(exc.errno)

    async with trio.open_nursery() as n:
        n.start_soon(writer)
        await settle()
        cli.close()
    assert results == [errno.EBADF]
    assert other.state == State.ESTABLISHED


async def test_nonblocking_mode_is_shared_by_dup(net: Net, autojump_clock: MockClock) -> None:
    # O_NONBLOCK lives on the open file description, which dup() shares.
    cli, _ = await connected_pair(net)
    other = cli.dup()
    cli.setblocking(False)
    assert not other.getblocking()
    with pytest.raises(BlockingIOError):
        await other.recv(10)


async def test_dup_of_a_listener(net: Net, autojump_clock: MockClock) -> None:
    lst = Socket(net.b)
    lst.bind(("", 80))
    lst.listen(4)
    other = lst.dup()
    lst.close()
    assert other.state == State.LISTEN  # one handle left: still listening
    c = Socket(net.a)
    await c.connect((B_ADDR, 80))
    _, peer = await other.accept()
    assert peer == c.getsockname()
    other.close()
    with pytest.raises(ConnectionRefusedError):
        await Socket(net.a).connect((B_ADDR, 80))


async def test_context_manager_closes_the_handle(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    with cli.dup() as h:
        assert h.refs == 2
    assert cli.refs == 1
    with cli:
        pass
    assert await srv.recv(10) == b""
