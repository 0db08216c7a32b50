"""socket() and bind(): ephemeral ports, EADDRINUSE, SO_REUSEADDR and TIME_WAIT, EADDRNOTAVAIL."""

from __future__ import annotations

import errno
import socket as _s

import pytest
import trio
from trio.testing import MockClock

from minitcp.sockets.socket import Socket
from minitcp.tcp.states import State

from .net import A_ADDR, B_ADDR, B_ADDR6, Net, connected_pair, settle


def reuse(sock: Socket) -> None:
    sock.setsockopt(_s.SOL_SOCKET, _s.SO_REUSEADDR, 1)


async def test_new_socket_is_closed_unbound_and_blocking(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.b)
    assert s.state == State.CLOSED
    assert s.getsockname() == ("0.0.0.0", 0)
    assert s.getblocking()
    assert s.refs == 1
    with pytest.raises(OSError) as e:
        s.getpeername()
    assert e.value.errno == errno.ENOTCONN


async def test_bind_port_zero_picks_from_ip_local_port_range(net: Net, autojump_clock: MockClock) -> None:
    lo, hi = net.b.knobs.ip_local_port_range
    ports = set()
    for _ in range(20):
        s = Socket(net.b)
        s.bind(("", 0))
        host, port = s.getsockname()
        assert host == "0.0.0.0"
        assert lo <= port <= hi
        ports.add(port)
    assert len(ports) == 20  # each bind got its own port


async def test_bind_port_zero_in_a_one_port_range(net: Net, autojump_clock: MockClock) -> None:
    net.b.knobs.set("ip_local_port_range", "40000 40000")
    s = Socket(net.b)
    s.bind(("", 0))
    assert s.getsockname()[1] == 40000
    # Linux __inet_bind: when get_port finds no free port, bind() fails with EADDRINUSE.
    with pytest.raises(OSError) as e:
        Socket(net.b).bind(("", 0))
    assert e.value.errno == errno.EADDRINUSE
    s.close()
    t = Socket(net.b)
    t.bind(("", 0))
    assert t.getsockname()[1] == 40000  # freed by close


async def test_bind_own_address(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.b)
    s.bind((B_ADDR, 7000))
    assert s.getsockname() == (B_ADDR, 7000)


async def test_bind_foreign_address_is_eaddrnotavail(net: Net, autojump_clock: MockClock) -> None:
    for addr in (A_ADDR, "198.18.0.77", "10.0.0.1"):
        with pytest.raises(OSError) as e:
            Socket(net.b).bind((addr, 7000))
        assert e.value.errno == errno.EADDRNOTAVAIL
    # The failed binds took nothing.
    Socket(net.b).bind(("", 7000))


async def test_bind_twice_is_einval(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.b)
    s.bind(("", 7000))
    with pytest.raises(OSError) as e:
        s.bind(("", 7001))
    assert e.value.errno == errno.EINVAL
    assert s.getsockname()[1] == 7000


async def test_second_bind_to_same_port_is_eaddrinuse(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.b)
    s.bind(("", 7000))
    for host in ("", B_ADDR):
        with pytest.raises(OSError) as e:
            Socket(net.b).bind((host, 7000))
        assert e.value.errno == errno.EADDRINUSE
    # The other host's port space is its own.
    Socket(net.a).bind(("", 7000))
    s.close()
    Socket(net.b).bind(("", 7000))


async def test_reuseaddr_on_only_one_socket_does_not_share(net: Net, autojump_clock: MockClock) -> None:
    s = Socket(net.b)
    s.bind(("", 7000))
    t = Socket(net.b)
    reuse(t)
    with pytest.raises(OSError) as e:
        t.bind(("", 7000))
    assert e.value.errno == errno.EADDRINUSE


async def test_two_reuseaddr_sockets_share_a_port_unless_one_listens(net: Net,
        autojump_clock: MockClock) -> None:
    s, t, u = Socket(net.b), Socket(net.b), Socket(net.b)
    for sock in (s, t, u):
        reuse(sock)
    s.bind(("", 7000))
    t.bind(("", 7000))  # neither listens: allowed
    s.listen(5)
    with pytest.raises(OSError) as e:
        u.bind(("", 7000))  # s listens now
    assert e.value.errno == errno.EADDRINUSE


async def test_second_listen_on_a_shared_port_is_eaddrinuse(net: Net, autojump_clock: MockClock) -> None:
    s, t = Socket(net.b), Socket(net.b)
    reuse(s)
    reuse(t)
    s.bind(("", 7000))
    t.bind(("", 7000))
    s.listen(5)
    # Linux inet_csk_listen_start checks the port again: one listener per port.
    with pytest.raises(OSError) as e:
        t.listen(5)
    assert e.value.errno == errno.EADDRINUSE
    assert t.state == State.CLOSED
    assert s.state == State.LISTEN


async def test_time_wait_blocks_bind_unless_reuseaddr(net: Net, autojump_clock: MockClock) -> None:
    srv = Socket(net.b)
    srv.bind(("", 80))
    srv.listen(5)
    cli = Socket(net.a)
    cli.bind(("", 6000))
    await cli.connect((B_ADDR, 80))
    conn, _ = await srv.accept()
    cli.close()  # A closes first: A's end goes to TIME_WAIT on port 6000
    conn.close()
    await settle()
    assert len(net.a.engine.timewait_entries()) == 1
    with pytest.raises(OSError) as e:
        Socket(net.a).bind(("", 6000))
    assert e.value.errno == errno.EADDRINUSE
    s = Socket(net.a)
    reuse(s)
    s.bind(("", 6000))
    s.close()


async def test_an_ipv6_time_wait_blocks_bind_of_its_port(net: Net, autojump_clock: MockClock) -> None:
    """The same over IPv6, whose four-tuple key holds the local port at another bit offset."""
    srv = Socket(net.b, family=_s.AF_INET6)
    srv.bind(("::", 80))
    srv.listen(5)
    cli = Socket(net.a, family=_s.AF_INET6)
    cli.bind(("::", 6000))
    await cli.connect((B_ADDR6, 80))
    conn, _ = await srv.accept()
    cli.close()
    conn.close()
    await settle()
    assert len(net.a.engine.timewait_entries()) == 1
    with pytest.raises(OSError) as e:
        Socket(net.a, family=_s.AF_INET6).bind(("::", 6000))
    assert e.value.errno == errno.EADDRINUSE


async def test_time_wait_bind_allowed_once_it_expires(net: Net, autojump_clock: MockClock) -> None:
    cli, conn = await connected_pair(net, 80)
    port = cli.getsockname()[1]
    cli.close()
    conn.close()
    await settle()
    with pytest.raises(OSError):
        Socket(net.a).bind(("", port))
    await trio.sleep(net.a.knobs.tcp_timewait_len + 1)
    assert net.a.engine.timewait_entries() == []
    Socket(net.a).bind(("", port))


async def test_server_restart_over_its_own_time_wait_needs_reuseaddr(net: Net,
        autojump_clock: MockClock) -> None:
    """The classic reason for SO_REUSEADDR: the server closed first, its port has TIME_WAIT entries."""
    srv = Socket(net.b)
    reuse(srv)
    srv.bind(("", 80))
    srv.listen(5)
    cli = Socket(net.a)
    await cli.connect((B_ADDR, 80))
    conn, _ = await srv.accept()
    conn.close()  # the server closes first
    srv.close()
    cli.close()
    await settle()
    assert len(net.b.engine.timewait_entries()) == 1
    with pytest.raises(OSError) as e:
        Socket(net.b).bind(("", 80))
    assert e.value.errno == errno.EADDRINUSE
    again = Socket(net.b)
    reuse(again)
    again.bind(("", 80))
    again.listen(5)
    c2 = Socket(net.a)
    await c2.connect((B_ADDR, 80))
    _conn2, peer = await again.accept()
    assert peer == c2.getsockname()
