"""The states of a connection's end as a learner watches them through the socket API.

The side that closes first: ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, then CLOSED while
its pair spends 60 s in TIME_WAIT in an entry of no socket (as on Linux). The other
side: CLOSE_WAIT, LAST_ACK, CLOSED. A server that never closes stays in CLOSE_WAIT;
its orphaned peer gives up FIN_WAIT_2 after tcp_fin_timeout.
"""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from minitcp.sockets import SHUT_WR, Socket
from minitcp.tcp.states import State
from minitcp.trace.events import StateEvent

from ..helpers.recorded import events_of
from .net import ACK, FIN, RST, SYN, Net, NetFactory, connected_pair, settle

S = State


async def test_active_and_passive_close_seen_through_handles(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    assert (cli.state, srv.state) == (S.ESTABLISHED, S.ESTABLISHED)
    cli.shutdown(SHUT_WR)  # keeps the handle, so the learner can keep looking
    assert cli.state == S.FIN_WAIT_1
    await trio.sleep(0.25)
    assert (cli.state, srv.state) == (S.FIN_WAIT_2, S.CLOSE_WAIT)
    srv.shutdown(SHUT_WR)
    assert srv.state == S.LAST_ACK
    await settle()
    # As on Linux (tcp_time_wait): the pair goes on in TIME_WAIT, an entry that belongs to no
    # socket (`minitcp ss` shows it), and the socket itself is CLOSED, as TCP_INFO would say.
    assert (cli.state, srv.state) == (S.CLOSED, S.CLOSED)
    assert net.state_path(cli.connection)[-1] == S.TIME_WAIT
    pair = cli.connection.four_tuple
    assert [tw.four_tuple for tw in net.a.engine.timewait_entries()] == [pair]
    entered = trio.current_time()
    await trio.sleep(59.9)
    assert [tw.four_tuple for tw in net.a.engine.timewait_entries()] == [pair]
    await trio.sleep(0.2)
    assert net.a.engine.timewait_entries() == []  # TIME_WAIT lasts 60 s
    assert trio.current_time() - entered == pytest.approx(60.1)
    assert net.a.engine.timewait_entries() == []
    assert await cli.recv(10) == b"" and await srv.recv(10) == b""


async def test_state_paths_with_close(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    a_conn, b_conn = cli.connection, srv.connection
    cli.close()
    await trio.sleep(1)
    srv.close()
    await settle()
    assert net.state_path(a_conn) == [S.CLOSED, S.SYN_SENT, S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2,
                                      S.TIME_WAIT]
    assert net.state_path(b_conn) == [S.LISTEN, S.SYN_RECEIVED, S.ESTABLISHED, S.CLOSE_WAIT, S.LAST_ACK,
                                      S.CLOSED]
    [tw] = net.a.engine.timewait_entries()
    start = trio.current_time()
    await trio.sleep(61)
    # The entry has its connection's endpoints; its own changes start from TIME_WAIT.
    ends = [(e.host, S[e.new], e.time) for e in events_of(net.trace, StateEvent, tw) if e.old == "TIME_WAIT"]
    assert len(ends) == 1
    assert ends[0][:2] == ("a", S.CLOSED)
    assert ends[0][2] - start == pytest.approx(60)
    assert net.a.engine.counters["TW"] == 1


async def test_passive_side_closing_at_once_piggybacks_its_ack(net: Net, autojump_clock: MockClock) -> None:
    """FIN, FIN+ACK, ACK: the passive side's ACK of the FIN rides on its own FIN."""
    cli, srv = await connected_pair(net)
    mark = len(net.wire)
    cli.close()
    assert await srv.recv(10) == b""
    srv.close()  # before the 40 ms delayed ACK fires
    await settle()
    await trio.sleep(1)
    got = [(s.sender, s.flags & (FIN | ACK | RST | SYN)) for s in net.sent(since=mark)]
    assert got == [("a", FIN | ACK), ("b", FIN | ACK), ("a", ACK)]


async def test_server_that_never_closes_stays_in_close_wait(net: Net, autojump_clock: MockClock) -> None:
    """The seed: many CLOSE_WAIT sockets mean the server program forgot to call close()."""
    cli, srv = await connected_pair(net)
    a_conn = cli.connection
    cli.close()  # orphaned: A no longer has a handle
    await trio.sleep(1)
    assert (a_conn.state, srv.state) == (S.FIN_WAIT_2, S.CLOSE_WAIT)
    mark = len(net.wire)
    # tcp_fin_timeout (60 s) after entering FIN_WAIT_2 the orphan is dropped, silently.
    await trio.sleep(net.a.knobs.tcp_fin_timeout - 1.1)
    assert a_conn.state == S.FIN_WAIT_2
    await trio.sleep(0.2)
    assert a_conn.state == S.CLOSED
    assert net.sent(since=mark) == []  # no RST, no FIN
    assert net.a.engine.timewait_entries() == []
    await trio.sleep(3600)
    assert srv.state == S.CLOSE_WAIT  # the kernel never closes it on the program's behalf
    # When the server finally writes, A knows nothing of the connection any more: RST.
    await srv.send(b"hello?")
    await settle()
    assert net.sent("a", since=mark, has=RST)
    assert srv.state == S.CLOSED


async def test_tcp_fin_timeout_knob(make_net: NetFactory, autojump_clock: MockClock) -> None:
    net = make_net(tcp_fin_timeout=5)
    cli, srv = await connected_pair(net)
    a_conn = cli.connection
    cli.close()
    await trio.sleep(0.1)
    fin2_at = trio.current_time()
    assert a_conn.state == S.FIN_WAIT_2
    while a_conn.state == S.FIN_WAIT_2:
        await trio.sleep(0.01)
    assert trio.current_time() - fin2_at == pytest.approx(5, abs=0.1)
    assert srv.state == S.CLOSE_WAIT


async def test_shut_wr_alone_waits_in_fin_wait_2_forever(net: Net, autojump_clock: MockClock) -> None:
    """Not orphaned (the handle is open): tcp_fin_timeout does not apply."""
    cli, srv = await connected_pair(net)
    cli.shutdown(SHUT_WR)
    await trio.sleep(3 * 3600)
    assert cli.state == S.FIN_WAIT_2
    await srv.sendall(b"late but welcome")
    assert await cli.recv(100) == b"late but welcome"


async def test_closing_an_unclosed_fin_wait_2_socket_starts_fin_timeout(net: Net,
                                                                          autojump_clock: MockClock) -> None:
    cli, _srv = await connected_pair(net)
    conn = cli.connection
    cli.shutdown(SHUT_WR)
    await trio.sleep(1000)
    assert conn.state == S.FIN_WAIT_2
    cli.close()  # orphaned now: the FIN_WAIT_2 timer starts
    await trio.sleep(net.a.knobs.tcp_fin_timeout + 1)
    assert conn.state == S.CLOSED


async def test_simultaneous_close_goes_through_closing(net: Net, autojump_clock: MockClock) -> None:
    cli, srv = await connected_pair(net)
    a_conn, b_conn = cli.connection, srv.connection
    cli.shutdown(SHUT_WR)
    srv.shutdown(SHUT_WR)  # both FINs cross on the wire
    await settle()
    assert (cli.state, srv.state) == (S.CLOSED, S.CLOSED)  # the sockets; the pairs are in TIME_WAIT
    for conn in (a_conn, b_conn):
        assert net.state_path(conn)[-3:] == [S.FIN_WAIT_1, S.CLOSING, S.TIME_WAIT]
    assert len(net.a.engine.timewait_entries()) == len(net.b.engine.timewait_entries()) == 1
    await trio.sleep(61)
    assert net.a.engine.timewait_entries() == net.b.engine.timewait_entries() == []


async def test_states_through_a_timed_out_connect(make_net: NetFactory, autojump_clock: MockClock) -> None:
    net = make_net(run_b=False, tcp_syn_retries=1)
    cli = Socket(net.a)
    cli.setblocking(False)
    with pytest.raises(BlockingIOError):
        await cli.connect(("198.18.0.2", 80))
    conn = cli.connection
    assert cli.state == S.SYN_SENT
    await trio.sleep(10)
    assert cli.state == S.CLOSED
    assert net.state_path(conn) == [S.CLOSED, S.SYN_SENT, S.CLOSED]
