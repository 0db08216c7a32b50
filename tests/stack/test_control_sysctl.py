"""`minitcp sysctl` against a stack started here, its control socket in a temp dir: reads, writes, -a,
and sysctl(8)'s own errors for an unknown key or a value outside Linux's range."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from minitcp.cli import main
from minitcp.control import serve_control
from minitcp.link.memory import memory_link_pair
from minitcp.stack import Stack


async def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await trio.to_thread.run_sync(main, ["sysctl", *argv])
    out, err = capsys.readouterr()
    return code, out, err


async def test_sysctl_reads_and_changes_a_running_stacks_knobs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "ctl" / "mtcp9.sock")
    async with trio.open_nursery() as nursery:
        link, _ = memory_link_pair()
        stack = Stack(link, "198.18.0.2")
        nursery.start_soon(stack.run)
        await nursery.start(serve_control, stack, path, "mtcp9")
        capsys.readouterr()
        at = ("--control", path)

        assert await _run(capsys, *at, "net.ipv4.tcp_fin_timeout") == (
            0, "net.ipv4.tcp_fin_timeout = 60\n", "")
        # A write, with -w or with `=` alone (procps), takes effect on the stack itself.
        assert await _run(capsys, *at, "-w", "net.ipv4.tcp_fin_timeout=5") == (
            0, "net.ipv4.tcp_fin_timeout = 5\n", "")
        assert stack.knobs.tcp_fin_timeout == 5.0
        assert await _run(capsys, *at, "net.ipv4.tcp_rmem=4096 65536 1048576") == (
            0, "net.ipv4.tcp_rmem = 4096\t65536\t1048576\n", "")
        assert stack.knobs.tcp_rmem == (4096, 65536, 1048576)
        assert await _run(capsys, *at, "-n", "net.core.somaxconn") == (0, "4096\n", "")

        # Linux's range, Linux's words; the knob keeps its value and the status is procps' 255.
        code, out, err = await _run(capsys, *at, "-w", "net.ipv4.tcp_syn_retries=0")
        assert (code, out) == (255, "")
        assert err == 'sysctl: setting key "net.ipv4.tcp_syn_retries": Invalid argument\n'
        assert stack.knobs.tcp_syn_retries == 6
        code, _, err = await _run(capsys, *at, "net.ipv4.ip_default_ttl=many")
        assert code == 255 and err == 'sysctl: setting key "net.ipv4.ip_default_ttl": Invalid argument\n'
        code, _, err = await _run(capsys, *at, "net.ipv4.tcp_nope")
        assert code == 255
        assert err == "sysctl: cannot stat /proc/sys/net/ipv4/tcp_nope: No such file or directory\n"
        code, _, err = await _run(capsys, *at, "-w", "net.ipv4.tcp_fin_timeout")
        assert code == 255 and "must be of the form name=value" in err

        code, out, _ = await _run(capsys, *at, "-a")
        lines = out.splitlines()
        assert code == 0 and lines == sorted(lines)
        assert "net.ipv4.tcp_fin_timeout = 5" in lines and "net.ipv4.route.min_pmtu = 552" in lines
        assert "net.core.busy_poll = 0" in lines
        nursery.cancel_scope.cancel()


def test_sysctl_says_when_no_stack_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sysctl", "--control", str(tmp_path / "none.sock"), "net.ipv4.tcp_fin_timeout"]) == 1
    assert capsys.readouterr().err.startswith("minitcp sysctl: no minitcp stack is running here")
    assert main(["sysctl", "--control", str(tmp_path / "none.sock")]) == 2
