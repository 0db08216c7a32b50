"""listen(), accept() and connect(): the handshake through the socket API, and how it fails."""

from __future__ import annotations

import errno
import itertools
import socket as _s

import pytest
import trio
from trio.testing import MockClock

from minitcp.sockets.socket import Socket
from minitcp.tcp.states import State

from .net import A_ADDR, ACK, B_ADDR, RST, SYN, Net, NetFactory, connected_pair, settle


def listening(net: Net, port: int = 5000, backlog: int = 8) -> Socket:
    srv = Socket(net.b)
    srv.bind(("", port))
    srv.listen(backlog)
    return srv


async def test_connect_and_accept_report_both_addresses(net: Net, autojump_clock: MockClock) -> None:
    srv = listening(net)
    assert srv.state == State.LISTEN
    cli = Socket(net.a)
    await cli.connect((B_ADDR, 5000))
    assert cli.state == State.ESTABLISHED
    conn, peer = await srv.accept()
    host, port = cli.getsockname()
    assert host == A_ADDR
    lo, hi = net.a.knobs.ip_local_port_range
    assert lo <= port <= hi
    assert peer == (A_ADDR, port)
    assert conn.getpeername() == peer
    assert conn.getsockname() == (B_ADDR, 5000)
    assert cli.getpeername() == (B_ADDR, 5000)
    assert conn.state == State.ESTABLISHED
    # The three-way handshake, nothing more: SYN, SYN-ACK, ACK.
    flags = [(s.sender, s.flags & (SYN | ACK | RST)) for s in net.wire]
    assert flags == [("a", SYN), ("b", SYN | ACK), ("a", ACK)]


async def test_connect_from_a_bound_port(net: Net, autojump_clock: MockClock) -> None:
    srv = listening(net)
    cli = Socket(net.a)
    cli.bind(("", 6543))
    await cli.connect((B_ADDR, 5000))
    _, peer = await srv.accept()
    assert peer == (A_ADDR, 6543)
    assert net.wire[0].seg.sport == 6543


async def test_listen_without_bind_takes_an_ephemeral_port(net: Net, autojump_clock: MockClock) -> None:
    srv = Socket(net.b)
    srv.listen(4)
    port = srv.getsockname()[1]
    lo, hi = net.b.knobs.ip_local_port_range
    assert lo <= port <= hi
    cli, _conn = await connected_pair(net, listener=srv)
    assert cli.getpeername() == (B_ADDR, port)


async def test_accept_queue_holds_backlog_plus_one(net: Net, autojump_clock: MockClock) -> None:
    srv = listening(net, backlog=1)
    clients = [Socket(net.a) for _ in range(3)]
    for c in clients:  # one at a time, so each handshake ends before the next begins
        c.setblocking(False)
        with pytest.raises(BlockingIOError):
            await c.connect((B_ADDR, 5000))
        await settle()
    # Linux: the accept queue takes backlog + 1; a SYN that finds it full is dropped.
    assert [c.state for c in clients] == [State.ESTABLISHED, State.ESTABLISHED, State.SYN_SENT]
    assert net.b.engine.counters["ListenOverflows"] == 1
    _conn, peer = await srv.accept()
    assert peer == clients[0].getsockname()
    # The third client's SYN is retransmitted after the initial RTO (1 s) and now gets in.
    with trio.fail_after(1.5):
        while clients[2].state != State.ESTABLISHED:
            await trio.sleep(0.1)
    syns = net.sent("a", has=SYN, port=clients[2].getsockname()[1])
    assert [round(s.time, 3) for s in syns] == [0.0, 1.0]
    for _ in range(2):
        await srv.accept()


async def test_connect_to_a_closed_port_is_refused_at_once(net: Net, autojump_clock: MockClock) -> None:
    cli = Socket(net.a)
    start = trio.current_time()
    with pytest.raises(ConnectionRefusedError) as e:
        await cli.connect((B_ADDR, 9))
    assert e.value.errno == errno.ECONNREFUSED
    assert trio.current_time() == start  # no retry: the RST answered the first SYN
    [syn, rst] = net.wire
    assert (syn.sender, syn.flags) == ("a", SYN)
    assert (rst.sender, rst.flags) == ("b", RST | ACK)
    assert rst.seg.ack == (syn.seg.seq + 1) & 0xFFFFFFFF
    assert cli.state == State.CLOSED
    assert cli.getsockopt(_s.SOL_SOCKET, _s.SO_ERROR) == 0  # connect() reported it already


async def test_connect_off_the_subnet_is_enetunreach(net: Net, autojump_clock: MockClock) -> None:
    for host in ("10.1.2.3", "198.19.0.2", "198.18.1.2"):
        cli = Socket(net.a)
        with pytest.raises(OSError) as e:
            await cli.connect((host, 80))
        assert e.value.errno == errno.ENETUNREACH
    assert net.wire == []  # nothing was sent


async def test_connect_times_out_after_syn_retries(make_net: NetFactory, autojump_clock: MockClock) -> None:
    net = make_net(run_b=False)  # B is down: every SYN is lost
    cli = Socket(net.a)
    start = trio.current_time()
    with pytest.raises(TimeoutError) as e:
        await cli.connect((B_ADDR, 80))
    assert e.value.errno == errno.ETIMEDOUT
    # tcp_syn_retries = 6 with the RTO doubling from 1 s: 1 + 2 + 4 + ... + 64 = 127 s.
    assert trio.current_time() - start == pytest.approx(127)
    syns = net.sent("a", has=SYN)
    assert [round(s.time - start) for s in syns] == [0, 1, 3, 7, 15, 31, 63]
    assert all(s.seg.seq == syns[0].seg.seq for s in syns)
    assert cli.state == State.CLOSED


async def test_syn_retries_knob_shortens_the_timeout(make_net: NetFactory, autojump_clock: MockClock) -> None:
    net = make_net(run_b=False, tcp_syn_retries=2)
    cli = Socket(net.a)
    start = trio.current_time()
    with pytest.raises(OSError) as e:
        await cli.connect((B_ADDR, 80))
    assert e.value.errno == errno.ETIMEDOUT
    assert trio.current_time() - start == pytest.approx(7)  # 1 + 2 + 4
    assert len(net.sent("a", has=SYN)) == 3


async def test_second_connect_is_eisconn(net: Net, autojump_clock: MockClock) -> None:
    cli, _ = await connected_pair(net)
    for addr in ((B_ADDR, 5000), (B_ADDR, 6000)):
        with pytest.raises(OSError) as e:
            await cli.connect(addr)
        assert e.value.errno == errno.EISCONN


async def test_connect_on_a_listening_socket_is_eisconn(net: Net, autojump_clock: MockClock) -> None:
    # Linux __inet_stream_connect: an unconnected socket whose TCP state is not CLOSE.
    srv = listening(net)
    with pytest.raises(OSError) as e:
        await srv.connect((A_ADDR, 80))
    assert e.value.errno == errno.EISCONN


async def test_listen_on_a_connected_socket_is_einval(net: Net, autojump_clock: MockClock) -> None:
    cli, _ = await connected_pair(net)
    with pytest.raises(OSError) as e:
        cli.listen(5)
    assert e.value.errno == errno.EINVAL


async def test_accept_on_a_socket_that_does_not_listen_is_einval(net: Net, autojump_clock: MockClock) -> None:
    with pytest.raises(OSError) as e:
        await Socket(net.b).accept()
    assert e.value.errno == errno.EINVAL


async def test_nonblocking_connect(net: Net, autojump_clock: MockClock) -> None:
    srv = listening(net)
    cli = Socket(net.a)
    cli.setblocking(False)
    with pytest.raises(BlockingIOError) as e:
        await cli.connect((B_ADDR, 5000))
    assert e.value.errno == errno.EINPROGRESS
    assert cli.state == State.SYN_SENT
    assert [s.flags for s in net.wire] == [SYN]  # the SYN left at once
    with pytest.raises(BlockingIOError) as e:
        await cli.connect((B_ADDR, 5000))
    assert e.value.errno == errno.EALREADY
    await settle()
    assert cli.state == State.ESTABLISHED
    assert cli.getsockopt(_s.SOL_SOCKET, _s.SO_ERROR) == 0
    # Linux: the first connect() after the handshake completed succeeds (SS_CONNECTING becomes
    # SS_CONNECTED); only later ones are EISCONN.
    await cli.connect((B_ADDR, 5000))
    with pytest.raises(OSError) as e:
        await cli.connect((B_ADDR, 5000))
    assert e.value.errno == errno.EISCONN
    await srv.accept()


async def test_nonblocking_connect_refused_shows_in_so_error(net: Net, autojump_clock: MockClock) -> None:
    cli = Socket(net.a)
    cli.setblocking(False)
    with pytest.raises(BlockingIOError):
        await cli.connect((B_ADDR, 9))
    await settle()
    assert cli.state == State.CLOSED
    assert cli.getsockopt(_s.SOL_SOCKET, _s.SO_ERROR) == errno.ECONNREFUSED
    assert cli.getsockopt(_s.SOL_SOCKET, _s.SO_ERROR) == 0  # reading it cleared it
    # Linux: connect() now reports the failure whose error was taken already as ECONNABORTED ...
    with pytest.raises(OSError) as e:
        await cli.connect((B_ADDR, 9))
    assert e.value.errno == errno.ECONNABORTED
    # ... and the socket is unconnected again: the next connect() is a new attempt.
    with pytest.raises(BlockingIOError) as e2:
        await cli.connect((B_ADDR, 9))
    assert e2.value.errno == errno.EINPROGRESS
    assert len(net.sent("a", has=SYN)) == 2


async def test_connect_again_after_refusal_starts_a_new_attempt(net: Net, autojump_clock: MockClock) -> None:
    cli = Socket(net.a)
    with pytest.raises(ConnectionRefusedError):
        await cli.connect((B_ADDR, 5000))
    with pytest.raises(OSError) as e:
        await cli.recv(10)
    assert e.value.errno == errno.ENOTCONN
    srv = listening(net)
    await cli.connect((B_ADDR, 5000))
    assert cli.state == State.ESTABLISHED
    _, peer = await srv.accept()
    assert peer == cli.getsockname()


async def test_second_blocking_connect_waits_for_the_first(make_net: NetFactory,
        autojump_clock: MockClock) -> None:
    net = make_net(run_b=False, tcp_syn_retries=1)
    cli = Socket(net.a)
    errors: list[int] = []

    async def attempt() -> None:
        try:
            await cli.connect((B_ADDR, 80))
        except OSError as exc:
            errors.append(exc.errno or 0)

    async with trio.open_nursery() as n:
        n.start_soon(attempt)
        await settle()
        n.start_soon(attempt)
    # One SYN (and its one retry) only; both callers hear of the timeout. The second caller
    # finds the error taken by the first, so it gets ECONNABORTED, as Linux's sock_error gives.
    assert len(net.sent("a", has=SYN)) == 2
    assert sorted(errors) == sorted([errno.ETIMEDOUT, errno.ECONNABORTED])


async def test_connect_exhausted_ephemeral_range_is_eaddrnotavail(net: Net,
        autojump_clock: MockClock) -> None:
    net.a.knobs.set("ip_local_port_range", (40000, 40000))
    srv = listening(net)
    c1 = Socket(net.a)
    await c1.connect((B_ADDR, 5000))
    # The same port may serve another destination (the four-tuple differs) ...
    listening(net, 5001)
    c2 = Socket(net.a)
    await c2.connect((B_ADDR, 5001))
    assert c1.getsockname() == c2.getsockname() == (A_ADDR, 40000)
    # ... but not the same one again.
    with pytest.raises(OSError) as e:
        await Socket(net.a).connect((B_ADDR, 5000))
    assert e.value.errno == errno.EADDRNOTAVAIL
    await srv.accept()


async def test_cancelled_accept_and_connect_leave_the_sockets_usable(net: Net,
        autojump_clock: MockClock) -> None:
    srv = listening(net)
    with trio.move_on_after(1):
        await srv.accept()
    cli = Socket(net.a)
    cli2 = Socket(net.a)
    async with trio.open_nursery() as n:
        n.start_soon(cli.connect, (B_ADDR, 5000))
        n.start_soon(cli2.connect, (B_ADDR, 5000))
    _c1, p1 = await srv.accept()
    _c2, p2 = await srv.accept()
    assert {p1, p2} == {cli.getsockname(), cli2.getsockname()}


@pytest.mark.parametrize("seed", range(20))
async def test_connects_to_one_server_take_distinct_ports_each_time(net: Net, autojump_clock: MockClock,
                                                                    seed: int) -> None:
    """Linux __inet_hash_connect: the walk for a destination starts past the port its last
    connect() took (table_perturb moves on by 2 to 16), so a server's clients that connect and
    close one after another never meet a port twice, whatever the random draws; a random start
    per connect() would repeat one in about 1 run in 600 of ten."""
    net.a.ports._rng.seed(seed)
    srv = listening(net)
    ports = []
    for _ in range(10):
        cli = Socket(net.a)
        await cli.connect((B_ADDR, 5000))
        conn, _ = await srv.accept()
        ports.append(cli.getsockname()[1])
        conn.close()
        cli.close()
        await settle()
    assert len(set(ports)) == 10, ports
    assert all(p % 2 == ports[0] % 2 for p in ports)  # the low end's parity first
    steps = [(b - a) % 28232 for a, b in itertools.pairwise(ports)]
    assert all(2 <= s <= 16 for s in steps), steps
