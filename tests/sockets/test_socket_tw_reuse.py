"""connect() and TIME_WAIT with tcp_tw_reuse (Linux tcp_twsk_unique): which entries an ephemeral
port may take over, when, and with what sequence number."""

from __future__ import annotations

import errno
import socket as _s

import pytest
import trio
from trio.testing import MockClock

from minitcp.sockets.socket import Socket
from minitcp.tcp.family import is_loopback
from minitcp.wire.ipv4 import ip_int

from .net import B_ADDR, FIN, SYN, Net, settle

PORT = 40000


async def _one_time_wait(net: Net) -> tuple[Socket, int]:
    """A's only ephemeral port (40000) left in TIME_WAIT towards B:5000; returns B's listener and
    the FIN sequence number A sent."""
    net.a.knobs.set("ip_local_port_range", (PORT, PORT))
    srv = Socket(net.b)
    srv.bind(("", 5000))
    srv.listen(8)
    cli = Socket(net.a)
    await cli.connect((B_ADDR, 5000))
    conn, _ = await srv.accept()
    cli.close()  # A closes first: the TIME_WAIT is A's
    assert await conn.recv(100) == b""
    conn.close()
    await settle()
    assert len(net.a.engine.timewait) == 1
    fin = net.sent("a", has=FIN)[-1].seg
    return srv, fin.seq


async def _connect_again(net: Net) -> Socket:
    cli = Socket(net.a)
    await cli.connect((B_ADDR, 5000))
    return cli


async def test_without_tw_reuse_the_port_stays_taken(net: Net, autojump_clock: MockClock) -> None:
    net.a.knobs.set("tcp_tw_reuse", 0)
    await _one_time_wait(net)
    await trio.sleep(5)
    with pytest.raises(OSError) as e:
        await _connect_again(net)
    assert e.value.errno == errno.EADDRNOTAVAIL


async def test_the_default_reuses_on_loopback_only(net: Net, autojump_clock: MockClock) -> None:
    assert net.a.knobs.tcp_tw_reuse == 2
    await _one_time_wait(net)
    await trio.sleep(5)
    with pytest.raises(OSError) as e:  # 198.18.0.x is not loopback
        await _connect_again(net)
    assert e.value.errno == errno.EADDRNOTAVAIL
    assert is_loopback(ip_int("127.0.0.1")) and not is_loopback(ip_int(B_ADDR))
    assert is_loopback(0xFFFF7F000001)  # ::ffff:127.0.0.1


async def test_tw_reuse_waits_for_the_delay_then_takes_the_pair_over(net: Net,
        autojump_clock: MockClock) -> None:
    net.a.knobs.set("tcp_tw_reuse", 1)
    srv, fin_seq = await _one_time_wait(net)
    await trio.sleep(0.9)  # the last timestamp is not yet tcp_tw_reuse_delay (1 s) old
    with pytest.raises(OSError) as e:
        await _connect_again(net)
    assert e.value.errno == errno.EADDRNOTAVAIL
    await trio.sleep(0.2)
    cli = await _connect_again(net)
    assert cli.getsockname()[1] == PORT
    syn = net.sent("a", has=SYN)[-1].seg
    assert syn.seq == (fin_seq + 1 + 65535 + 2) & 0xFFFFFFFF  # above the old sequence space
    assert syn.ts_val is not None
    assert net.a.engine.counters["TWRecycled"] == 1
    assert len(net.a.engine.timewait) == 0
    await srv.accept()


async def test_tw_reuse_needs_timestamps(net: Net, autojump_clock: MockClock) -> None:
    net.a.knobs.set("tcp_tw_reuse", 1)
    net.a.knobs.set("tcp_timestamps", 0)
    await _one_time_wait(net)
    await trio.sleep(5)
    with pytest.raises(OSError) as e:
        await _connect_again(net)
    assert e.value.errno == errno.EADDRNOTAVAIL


async def _bound_time_wait(net: Net) -> Socket:
    """A's explicitly bound port 6000 left in TIME_WAIT towards B:5000 (both ends SO_REUSEADDR)."""
    srv = Socket(net.b)
    srv.bind(("", 5000))
    srv.listen(8)
    cli = Socket(net.a)
    cli.setsockopt(_s.SOL_SOCKET, _s.SO_REUSEADDR, 1)
    cli.bind(("", 6000))
    await cli.connect((B_ADDR, 5000))
    conn, _ = await srv.accept()
    cli.close()
    assert await conn.recv(100) == b""
    conn.close()
    await settle()
    assert len(net.a.engine.timewait) == 1
    again = Socket(net.a)
    again.setsockopt(_s.SOL_SOCKET, _s.SO_REUSEADDR, 1)
    again.bind(("", 6000))
    return again


async def test_a_bound_port_takes_its_time_wait_over_with_timestamps(net: Net,
        autojump_clock: MockClock) -> None:
    """Linux __inet_hash_connect on a bound port calls tcp_twsk_unique without a twp: an entry
    whose timestamps were on is reused at once, tcp_tw_reuse (2, not loopback) notwithstanding."""
    again = await _bound_time_wait(net)
    fin = net.sent("a", has=FIN)[-1].seg
    await again.connect((B_ADDR, 5000))
    syn = net.sent("a", has=SYN)[-1].seg
    assert syn.seq == (fin.seq + 1 + 65537) & 0xFFFFFFFF
    assert net.a.engine.counters["TWRecycled"] == 1


async def test_a_bound_port_without_timestamps_stays_blocked(net: Net, autojump_clock: MockClock) -> None:
    net.a.knobs.set("tcp_timestamps", 0)
    again = await _bound_time_wait(net)
    with pytest.raises(OSError) as e:
        await again.connect((B_ADDR, 5000))
    assert e.value.errno == errno.EADDRNOTAVAIL
