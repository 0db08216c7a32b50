"""Two stacks over a memory link in IPv6: AF_INET6 sockets, dual-stack listeners, Linux's errnos."""

from __future__ import annotations

import errno
import socket as _s

import pytest
import trio
from trio.testing import MockClock

from minitcp.link.memory import memory_link_pair
from minitcp.sockets.socket import Socket
from minitcp.stack import Stack
from minitcp.wire.segment import Segment6

from ..sockets.net import A_ADDR, A_ADDR6, B_ADDR, B_ADDR6, Net

AF_INET6 = int(_s.AF_INET6)


def listener6(net: Net, port: int, *, v6only: bool = False) -> Socket:
    lst = Socket(net.b, family=AF_INET6)
    if v6only:
        lst.setsockopt(_s.IPPROTO_IPV6, _s.IPV6_V6ONLY, 1)
    lst.bind(("::", port))
    lst.listen(8)
    return lst


async def _connect_and_accept(lst: Socket, client: Socket, address: tuple) -> tuple[Socket, tuple]:
    result: dict[str, tuple[Socket, tuple]] = {}

    async def accept() -> None:
        result["a"] = await lst.accept()

    async with trio.open_nursery() as n:
        n.start_soon(accept)
        await client.connect(address)
    return result["a"]


async def test_data_both_ways_over_ipv6(net: Net, autojump_clock: MockClock) -> None:
    lst = listener6(net, 80)
    assert lst.getsockname() == ("::", 80, 0, 0)
    client = Socket(net.a, family=AF_INET6)
    server, peer = await _connect_and_accept(lst, client, (B_ADDR6, 80))
    port = client.getsockname()[1]
    assert client.getsockname() == (A_ADDR6, port, 0, 0)
    assert client.getpeername() == (B_ADDR6, 80, 0, 0)
    assert peer == server.getpeername() == (A_ADDR6, port, 0, 0)
    assert server.getsockname() == (B_ADDR6, 80, 0, 0)
    data = bytes(range(256)) * 1000
    async with trio.open_nursery() as n:
        n.start_soon(client.sendall, data)
        got = bytearray()
        while len(got) < len(data):
            got += await server.recv(65536)
    assert got == data
    await server.sendall(b"back")
    assert await client.recv(10) == b"back"
    client.close()
    assert await server.recv(10) == b""
    server.close()
    segments = [sent.seg for sent in net.wire]
    assert segments and all(isinstance(seg, Segment6) for seg in segments)
    syn = segments[0]
    assert syn.mss == 1500 - 60
    assert net.b.counters["Ip6InDelivers"] > 0 and net.b.counters["InReceives"] == 0


async def test_a_dual_stack_listener_takes_an_ipv4_and_an_ipv6_client(net: Net,
                                                                      autojump_clock: MockClock) -> None:
    lst = listener6(net, 80)
    client4 = Socket(net.a)
    server4, peer4 = await _connect_and_accept(lst, client4, (B_ADDR, 80))
    port4 = client4.getsockname()[1]
    assert peer4 == (f"::ffff:{A_ADDR}", port4, 0, 0)
    assert server4.getsockname() == (f"::ffff:{B_ADDR}", 80, 0, 0)
    assert client4.getpeername() == (B_ADDR, 80)
    client6 = Socket(net.a, family=AF_INET6)
    server6, peer6 = await _connect_and_accept(lst, client6, (B_ADDR6, 80))
    assert peer6[0] == A_ADDR6
    # An AF_INET6 client reaches an IPv4 server through a mapped address.
    client_mapped = Socket(net.a, family=AF_INET6)
    _, peer = await _connect_and_accept(lst, client_mapped, (f"::ffff:{B_ADDR}", 80))
    assert client_mapped.getpeername() == (f"::ffff:{B_ADDR}", 80, 0, 0)
    assert peer[0] == f"::ffff:{A_ADDR}"
    await client4.sendall(b"four")
    await client6.sendall(b"six")
    assert await server4.recv(10) == b"four"
    assert await server6.recv(10) == b"six"


async def test_a_v6only_listener_refuses_ipv4(net: Net, autojump_clock: MockClock) -> None:
    lst = listener6(net, 80, v6only=True)
    assert lst.getsockopt(_s.IPPROTO_IPV6, _s.IPV6_V6ONLY) == 1
    with pytest.raises(OSError) as e:
        await Socket(net.a).connect((B_ADDR, 80))
    assert e.value.errno == errno.ECONNREFUSED
    client6 = Socket(net.a, family=AF_INET6)
    await _connect_and_accept(lst, client6, (B_ADDR6, 80))


def _errno(call: object, *args: object) -> int:
    with pytest.raises(OSError) as e:
        call(*args)  # type: ignore[operator]
    assert e.value.errno is not None
    return e.value.errno


async def _connect_errno(sock: Socket, address: tuple) -> int:
    with pytest.raises(OSError) as e:
        await sock.connect(address)
    assert e.value.errno is not None
    return e.value.errno


async def test_wrong_families_and_addresses_get_linux_errnos(net: Net, autojump_clock: MockClock) -> None:
    v4 = Socket(net.b)
    assert _errno(v4.bind, ("::", 80)) == errno.EAFNOSUPPORT  # inet_bind: sin_family != AF_INET
    assert await _connect_errno(v4, (A_ADDR6, 80)) == errno.EAFNOSUPPORT  # tcp_v4_connect
    assert _errno(v4.setsockopt, _s.IPPROTO_IPV6, _s.IPV6_V6ONLY, 1) == errno.ENOPROTOOPT
    v6 = Socket(net.b, family=AF_INET6)
    assert _errno(v6.bind, (B_ADDR, 80)) == errno.EINVAL  # a sockaddr_in is too short for inet6_bind
    assert _errno(v6.bind, ("2001:2::9", 80)) == errno.EADDRNOTAVAIL
    assert _errno(v6.bind, ("::1", 80)) == errno.EADDRNOTAVAIL  # no loopback device here
    with pytest.raises(_s.gaierror):
        v6.bind(("no-such-name", 80))
    assert await _connect_errno(v6, (A_ADDR, 80)) == errno.EINVAL
    assert await _connect_errno(v6, ("2001:3::1", 80)) == errno.ENETUNREACH
    v6.bind((f"::ffff:{B_ADDR}", 81))
    assert v6.getsockname() == (f"::ffff:{B_ADDR}", 81, 0, 0)
    assert _errno(v6.setsockopt, _s.IPPROTO_IPV6, _s.IPV6_V6ONLY, 1) == errno.EINVAL  # after bind
    only6 = Socket(net.b, family=AF_INET6)
    only6.setsockopt(_s.IPPROTO_IPV6, _s.IPV6_V6ONLY, 1)
    assert _errno(only6.bind, (f"::ffff:{B_ADDR}", 82)) == errno.EINVAL  # __inet6_bind
    assert await _connect_errno(only6, (f"::ffff:{A_ADDR}", 80)) == errno.ENETUNREACH  # tcp_v6_connect
    with pytest.raises(OSError) as e:
        Socket(net.b, family=int(_s.AF_UNIX))
    assert e.value.errno == errno.EAFNOSUPPORT


async def test_a_stack_without_ipv6_reports_unreachable(autojump_clock: MockClock) -> None:
    link, _ = memory_link_pair(1500)
    stack = Stack(link, B_ADDR, address6=None)
    v6 = Socket(stack, family=AF_INET6)
    assert await _connect_errno(v6, (A_ADDR6, 80)) == errno.ENETUNREACH
    assert _errno(v6.bind, (B_ADDR6, 80)) == errno.EADDRNOTAVAIL
    v6.bind(("::", 80))  # the wildcard: IPv4 through mapped addresses
    v6.listen()


async def test_a_v6only_wildcard_and_an_ipv4_wildcard_share_a_port(net: Net,
                                                                  autojump_clock: MockClock) -> None:
    """bind [::]:80 with IPV6_V6ONLY beside 0.0.0.0:80, in either order: both succeed (their
    addresses never meet, Linux inet_rcv_saddr_equal), each listener gets its own family."""
    only6 = listener6(net, 80, v6only=True)
    v4 = Socket(net.b)
    v4.bind(("0.0.0.0", 80))
    v4.listen(8)
    _, peer4 = await _connect_and_accept(v4, Socket(net.a), (B_ADDR, 80))
    _, peer6 = await _connect_and_accept(only6, Socket(net.a, family=AF_INET6), (B_ADDR6, 80))
    assert peer4[0] == A_ADDR and peer6[0] == A_ADDR6
    # The other order, on port 81; and what still conflicts: a dual-stack wildcard takes IPv4 too.
    v4_first = Socket(net.b)
    v4_first.bind(("", 81))
    later6 = Socket(net.b, family=AF_INET6)
    later6.setsockopt(_s.IPPROTO_IPV6, _s.IPV6_V6ONLY, 1)
    later6.bind(("::", 81))
    assert _errno(Socket(net.b, family=AF_INET6).bind, ("::", 81)) == errno.EADDRINUSE
    assert _errno(Socket(net.b).bind, (B_ADDR, 80)) == errno.EADDRINUSE  # 0.0.0.0:80 covers it
    assert _errno(Socket(net.b, family=AF_INET6).bind, (B_ADDR6, 80)) == errno.EADDRINUSE  # [::]:80 too
    dual = Socket(net.b, family=AF_INET6)
    dual.bind(("::", 82))
    assert _errno(Socket(net.b).bind, ("0.0.0.0", 82)) == errno.EADDRINUSE
