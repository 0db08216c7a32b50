"""poll() masks as Linux's tcp_poll computes them, the epoll-like waiter, and ioctl SIOCINQ /
SIOCOUTQ / SIOCOUTQNSD (tcp_ioctl)."""

from __future__ import annotations

import errno
import socket as _s

import pytest
import trio
from trio.testing import MockClock

from minitcp.sockets.readiness import (
    EPOLLET,
    EPOLLONESHOT,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLNVAL,
    POLLOUT,
    POLLRDHUP,
    POLLRDNORM,
    POLLWRNORM,
    SIOCINQ,
    SIOCOUTQ,
    SIOCOUTQNSD,
    Epoll,
)
from minitcp.sockets.socket import Socket

from .net import B_ADDR, Net, connected_pair, settle

IN = POLLIN | POLLRDNORM
OUT = POLLOUT | POLLWRNORM


async def test_poll_through_a_connections_life(net: Net, autojump_clock: MockClock) -> None:
    fresh = Socket(net.a)
    assert fresh.poll() == OUT | POLLHUP  # state CLOSE: tcp_poll's "fresh not-connected socket"
    lst = Socket(net.b)
    lst.bind(("", 5000))
    lst.listen(4)
    assert lst.poll() == 0
    cli, srv = await connected_pair(net, listener=lst)
    assert cli.poll() == OUT and srv.poll() == OUT
    await cli.send(b"abc")
    await settle()
    assert srv.poll() == IN | OUT
    await srv.recv(10)
    assert srv.poll() == OUT
    cli.shutdown(_s.SHUT_WR)  # the peer's FIN: RCV_SHUTDOWN
    await settle()
    assert srv.poll() == IN | POLLRDHUP | OUT
    assert cli.poll() == OUT  # our own SHUT_WR: writable (an error waits), not hung up
    srv.shutdown(_s.SHUT_WR)
    await settle()
    # Both directions shut: POLLHUP (the pair is in TIME_WAIT, the socket CLOSE).
    assert cli.poll() == IN | POLLRDHUP | OUT | POLLHUP
    fresh.close()
    assert fresh.poll() == POLLNVAL


async def test_poll_after_a_reset_and_while_connecting(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net, port=6000)
    srv.setsockopt(_s.SOL_SOCKET, _s.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    srv.close()  # an RST: tcp_done shuts both directions, sk_err is set
    await settle()
    assert cli.poll() == IN | POLLRDHUP | OUT | POLLHUP | POLLERR
    lst = Socket(net.b)
    lst.bind(("", 5000))
    lst.listen(4)
    c = Socket(net.a)
    c.setblocking(False)
    net.unplug("b")
    with pytest.raises(BlockingIOError):
        await c.connect((B_ADDR, 5000))
    assert c.poll() == 0  # SYN-SENT: nothing yet


async def test_ioctl_queue_sizes(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    await cli.send(b"x" * 1000)
    await settle()
    assert srv.ioctl(SIOCINQ) == 1000
    assert cli.ioctl(SIOCOUTQ) == cli.ioctl(SIOCOUTQNSD) == 0
    await srv.recv(1000)
    assert srv.ioctl(SIOCINQ) == 0
    net.unplug("b")
    await cli.send(b"y" * 300)
    assert cli.ioctl(SIOCOUTQ) == 300 and cli.ioctl(SIOCOUTQNSD) == 0  # sent, not acknowledged
    cli.shutdown(_s.SHUT_WR)
    assert cli.ioctl(SIOCOUTQ) == 301  # write_seq counts the FIN (tcp_send_fin)
    lst = Socket(net.b)
    lst.bind(("", 7000))
    lst.listen(1)
    with pytest.raises(OSError) as e:
        lst.ioctl(SIOCINQ)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        cli.ioctl(0x1234)
    assert e.value.errno == errno.ENOTTY


async def test_ioctl_siocinq_leaves_out_the_fin(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    await cli.send(b"z" * 1000)
    cli.shutdown(_s.SHUT_WR)
    await settle()
    assert srv.ioctl(SIOCINQ) == 1000
    await srv.recv(1000)
    assert srv.ioctl(SIOCINQ) == 0


async def test_epoll_level_and_edge_triggered(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    lt, et = Epoll(), Epoll()
    lt.register(srv, POLLIN)
    et.register(srv, POLLIN | EPOLLET)
    assert await lt.wait(0) == [] and await et.wait(0) == []
    start = trio.current_time()
    assert await lt.wait(0.5) == []
    assert trio.current_time() - start == pytest.approx(0.5)

    async def later() -> None:
        await trio.sleep(1)
        await cli.send(b"hello")

    async with trio.open_nursery() as n:
        n.start_soon(later)
        assert await et.wait() == [(srv, POLLIN)]
    assert trio.current_time() - start == pytest.approx(1.5)
    # Level-triggered: reported while the data waits; edge-triggered: once per wake-up.
    assert await lt.wait(0) == [(srv, POLLIN)] and await lt.wait(0) == [(srv, POLLIN)]
    assert await et.wait(0) == []
    await cli.send(b"more")
    await settle()
    assert await et.wait(0) == [(srv, POLLIN)]
    lt.modify(srv, POLLIN | EPOLLONESHOT)
    assert await lt.wait(0) == [(srv, POLLIN)] and await lt.wait(0) == []
    lt.modify(srv, POLLOUT)
    assert await lt.wait(0) == [(srv, POLLOUT)]
    with pytest.raises(OSError) as e:
        lt.register(srv, POLLIN)
    assert e.value.errno == errno.EEXIST
    lt.unregister(srv)
    with pytest.raises(OSError) as e:
        lt.unregister(srv)
    assert e.value.errno == errno.ENOENT
    et.close()
    # A closed handle leaves every epoll set (Linux eventpoll_release), readable or not.
    ep = Epoll()
    ep.register(copy := srv.dup(), POLLIN)
    assert await ep.wait(0) == [(copy, POLLIN)]
    copy.close()
    assert await ep.wait(0) == []


async def test_wait_poll(net: Net, autojump_clock: MockClock) -> None:
    _cli, srv = await connected_pair(net)
    assert await srv.wait_poll(POLLIN, 0.2) == 0
    assert await srv.wait_poll(POLLOUT) == POLLOUT
