"""The control socket on its own (no TUN): protocol, file mode, clean-up, and the clients' output."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest
import trio

from minitcp import control
from minitcp.cli import main
from minitcp.control import ControlError, format_stat, nstat_counters, request, serve_control
from minitcp.link.memory import memory_link_pair
from minitcp.sockets import Socket
from minitcp.stack import Stack
from minitcp.tcp.knobs import Knobs


async def _stack_with_listener(nursery: trio.Nursery) -> Stack:
    link, _ = memory_link_pair()
    knobs = Knobs()
    knobs.set("net.ipv4.tcp_fin_timeout", "5")
    stack = Stack(link, "198.18.0.2", knobs=knobs)
    nursery.start_soon(stack.run)
    listener = Socket(stack)
    listener.bind(("0.0.0.0", 7))
    listener.listen(5)
    stack.engine.counters["InSegs"] += 3  # as if segments had come in
    stack.counters["InReceives"] += 4
    stack.counters["InEchos"] += 1
    stack.drops["not_for_us"] += 2
    return stack


async def test_requests_over_the_socket_and_cleanup(tmp_path: Path) -> None:
    path = str(tmp_path / "ctl" / "mtcp9.sock")
    async with trio.open_nursery() as nursery:
        stack = await _stack_with_listener(nursery)
        assert await nursery.start(serve_control, stack, path, "mtcp9") == path
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # only our user may look inside
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700

        ss = await trio.to_thread.run_sync(request, path, "ss")
        assert ss["rows"] == [{"state": "LISTEN", "recv_q": "0", "send_q": "5", "local": "0.0.0.0:7",
                               "peer": "0.0.0.0:*", "timer": ""}]
        assert ss["text"].splitlines()[0].split()[:3] == ["State", "Recv-Q", "Send-Q"]
        stats = await trio.to_thread.run_sync(request, path, "stat")
        assert stats["tcp"]["InSegs"] == 3 and stats["tcp"]["OutSegs"] == 0
        assert stats["ip"] == {"InReceives": 4, "InDelivers": 0, "OutRequests": 0}
        assert stats["icmp"] == {"InEchos": 1}
        assert stats["drops"] == {"not_for_us": 2}
        knobs = await trio.to_thread.run_sync(request, path, "knobs")
        assert knobs["knobs"]["tcp_fin_timeout"] == 5.0
        info = await trio.to_thread.run_sync(request, path, "info")
        assert info == {"dev": "mtcp9", "addr": "198.18.0.2", "pid": os.getpid()}
        with pytest.raises(ControlError, match="refused 'nonsense': unknown request 'nonsense'"):
            await trio.to_thread.run_sync(request, path, "nonsense")
        nursery.cancel_scope.cancel()
    assert not os.path.exists(path)  # removed on the way out


async def test_garbage_and_silence_do_not_hurt_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control, "CLIENT_TIMEOUT", 0.2)
    path = str(tmp_path / "c.sock")
    async with trio.open_nursery() as nursery:
        stack = await _stack_with_listener(nursery)
        await nursery.start(serve_control, stack, path)
        garbage = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await garbage.connect(path)
        await garbage.send(b"{not json\n")
        reply = json.loads(await garbage.recv(4096))
        assert reply["ok"] is False and reply["error"].startswith("bad request")
        silent = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await silent.connect(path)
        with trio.fail_after(2):  # a client that says nothing is answered and dropped, not waited for
            reply = json.loads(await silent.recv(4096))
            assert reply["ok"] is False
            assert await silent.recv(4096) == b""
        assert (await trio.to_thread.run_sync(request, path, "info"))["addr"] == "198.18.0.2"
        garbage.close()
        silent.close()
        nursery.cancel_scope.cancel()


async def test_a_stale_socket_file_is_replaced_and_a_live_one_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "s.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # bound but never listening: what a killed `up` leaves behind
    stale.close()
    async with trio.open_nursery() as nursery:
        stack = await _stack_with_listener(nursery)
        assert await nursery.start(serve_control, stack, path) == path
        # A second stack on the same path must neither steal nor break the first one's socket.
        assert await nursery.start(serve_control, stack, path) is None
        assert "another minitcp stack answers at" in capsys.readouterr().out
        assert (await trio.to_thread.run_sync(request, path, "info"))["addr"] == "198.18.0.2"
        nursery.cancel_scope.cancel()
    assert not os.path.exists(path)


def test_clients_say_in_one_line_that_no_stack_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("ss", "stat"):
        assert main([command, "--control", str(tmp_path / "none.sock")]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert err.startswith(f"minitcp {command}: no minitcp stack is running here: nothing listens on ")


def test_default_path_depends_on_who_runs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert control.default_path("mtcp0") == "/run/minitcp/mtcp0.sock"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert control.default_path("mtcp0") == "/run/user/1000/minitcp/mtcp0.sock"
    assert control.candidate_paths("mtcp0") == [
        "/run/user/1000/minitcp/mtcp0.sock", "/run/minitcp/mtcp0.sock", "/tmp/minitcp-1000/mtcp0.sock"]
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert control.default_path("eth9") == "/tmp/minitcp-1000/eth9.sock"


def test_stat_prints_like_nstat() -> None:
    reply = {"tcp": {"InSegs": 3, "OutSegs": 0, "DelayedACKs": 1}, "ip": {"InReceives": 4},
             "icmp": {"InEchos": 1}, "drops": {"not_for_us": 2}}
    counters = nstat_counters(reply)
    assert format_stat(counters).splitlines() == [
        "#minitcp",
        f"{'IpInReceives':<32}4",
        f"{'IcmpInEchos':<32}1",
        f"{'TcpInSegs':<32}3",
        f"{'TcpExtDelayedACKs':<32}1",
        f"{'MinitcpDropNotForUs':<32}2",
    ]
    assert f"{'TcpOutSegs':<32}0" in format_stat(counters, all_counters=True)
