# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""`minitcp lab FILE.pkt`: a packetdrill script rendered as a lab (ladder, states, counters, verdict).

One of Linux's own scripts (read from ../shared at run time, never copied) passes; a small script
written here fails at the line whose packet never comes, and the verdict says which.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from minitcp.labs.cli import add_lab_parser, run_lab_command
from minitcp.labs.render import render
from minitcp.labs.script import run_script_lab
from minitcp.trace.pcapng import read_pcapng
from minitcp.wire.segment import ACK, SYN
from minitcp.wire.tcp import parse_tcp_packet

from ..helpers.shared import LINUX_SUITE

LINUX_SCRIPT = os.path.join(LINUX_SUITE, "close", "close-remote-fin-then-close.pkt")

# A server that must send one byte it was never asked to: the line 12 packet never comes.
WRONG = """\
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0

   +0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
   +0 < . 1:1(0) ack 1 win 257
   +0 accept(3, ..., ...) = 4

// minitcp sends nothing here: no write() came.
+.1 > P. 1:2(1) ack 1
"""


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="minitcp")
    add_lab_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["lab", *argv])


@pytest.mark.skipif(not os.path.exists(LINUX_SCRIPT), reason="../shared's Linux scripts are not here")
def test_a_linux_script_is_drawn_as_a_lab_and_passes() -> None:
    result = run_script_lab(LINUX_SCRIPT)
    assert result.passed, [c.what for c in result.checks]
    flags = [(e.direction, e.flags) for e in result.trace.segments("minitcp")]
    assert flags == [("in", "S"), ("out", "S."), ("in", "."), ("in", "F."), ("out", "."), ("out", "F."),
                     ("in", "."), ("in", "."), ("out", "R")]
    (path,) = result.states["minitcp"].values()
    assert [s for _, s in path] == ["LISTEN", "SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK",
                                    "CLOSED"]
    # The states are at the script's times: the remote FIN at +10 ms, our close at +20 ms after it.
    assert dict((s, t) for t, s in path)["CLOSE_WAIT"] == pytest.approx(0.010)
    assert result.counters["minitcp"]["PassiveOpens"] == 1 and result.counters["minitcp"]["OutRsts"] == 1
    assert result.to_json()["peer"] == "packetdrill" and result.to_json()["verdict"] == "pass"
    text = render(result)
    assert "peer: the packetdrill script's remote host" in text
    assert "LAST_ACK → CLOSED" in text and "RST seq=2" in text
    assert text.rstrip().endswith("verdict: PASS")


def test_a_script_that_fails_says_at_which_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "wrong.pkt"
    script.write_text(WRONG)
    result = run_script_lab(str(script))
    assert not result.passed
    (check,) = result.checks
    assert check.what.startswith("the script fails at line 12: ")
    assert "第 12 行" in check.zh
    # What did happen is on the ladder all the same: the handshake, minitcp ESTABLISHED.
    assert [e.flags for e in result.trace.segments("minitcp")] == ["S", "S.", "."]
    assert run_lab_command(_args(str(script), "--lang", "zh")) == 1
    out = capsys.readouterr().out
    assert "对端：packetdrill 脚本里的远端主机" in out and out.rstrip().endswith("结论：未通过")
    assert run_lab_command(_args(str(tmp_path / "missing.pkt"))) == 2
    assert run_lab_command(_args(str(script), "--fault", "drop:nth=1")) == 2
    capture = tmp_path / "wrong.pcapng"
    assert run_lab_command(_args(str(script), "--pcap", str(capture))) == 1
    captured = read_pcapng(capture.read_bytes())
    assert [parse_tcp_packet(r.packet).flags for r in captured] == [SYN, SYN | ACK, ACK]
    script.write_text("this is not packetdrill\n")
    assert run_lab_command(_args(str(script))) == 1
    assert "parse error" in capsys.readouterr().out
