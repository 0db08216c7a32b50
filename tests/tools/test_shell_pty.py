"""`minitcp shell --sim --step` driven through a pseudo-terminal, as a learner at a keyboard drives it.

The shell runs in a child process on the slave side of a pty (so readline is really in use:
echo, tab completion); the test types a line, then reads until the prompt comes back. With
--step, time stands still until `wait`, and a command returns only once everything it caused
has happened, so what is printed before the next prompt is complete: no sleeps, no races.
Each read is bounded (READ_LIMIT) so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PROMPT = "minitcp> "
READ_LIMIT = 30.0  # seconds: a bound on one command's output, never a way to synchronise
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")
ROOT = Path(__file__).resolve().parents[2]


class Pty:
    def __init__(self, *argv: str) -> None:
        self.master, slave = pty.openpty()
        env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="dumb", INPUTRC="/dev/null")
        self.proc = subprocess.Popen([sys.executable, "-m", "minitcp.cli", "shell", *argv], stdin=slave,
                                     stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.seen = ""

    def until_prompt(self) -> str:
        """Everything printed up to the next prompt (escape sequences and carriage returns taken out)."""
        got = ""
        deadline = time.monotonic() + READ_LIMIT
        while not ANSI.sub("", got).endswith(PROMPT):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.master], [], [], left)[0]:
                raise AssertionError(f"no prompt within {READ_LIMIT} s; got {ANSI.sub('', got)!r}")
            try:
                chunk = os.read(self.master, 65536).decode(errors="replace")
            except OSError:  # EIO: the child has gone
                raise AssertionError(f"the shell ended; got {ANSI.sub('', got)!r}") from None
            got += chunk
        text = ANSI.sub("", got)
        self.seen += text
        return text

    def run(self, line: str) -> str:
        os.write(self.master, line.encode() + b"\n")
        return self.until_prompt()

    def close(self) -> int:
        os.write(self.master, b"quit\n")
        try:
            return self.proc.wait(timeout=READ_LIMIT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


@pytest.fixture
def shell() -> Iterator[Pty]:
    sh = Pty("--sim", "--step")
    try:
        yield sh
    finally:
        if sh.proc.poll() is None:
            sh.proc.kill()
            sh.proc.wait()


def _states(text: str) -> list[str]:
    """minitcp's own `STATE ... A -> B` lines (not the peer's), as `A -> B`."""
    line = re.compile(r"^ *[\d.]+ STATE [^:]+:\d+ [^:]+:\d+: (\w+ -> \w+)$", re.M)
    return [m.group(1) for m in line.finditer(text)]


def test_connect_half_close_and_close_through_a_pty(shell: Pty) -> None:
    intro = shell.until_prompt()
    assert "Time stands still until you `wait`" in intro
    assert "p1 = socket(); bind(198.18.0.1:80); listen() = 0" in shell.run("peer listen 80")

    out = shell.run("connect 80")
    assert re.search(r" out IP 198\.18\.0\.2\.\d+ > 198\.18\.0\.1\.80: Flags \[S\], seq \d+, win \d+", out)
    assert re.search(r" in  IP 198\.18\.0\.1\.80 > 198\.18\.0\.2\.\d+: Flags \[S\.\]", out)
    assert _states(out) == ["CLOSED -> SYN_SENT", "SYN_SENT -> ESTABLISHED"]
    assert "connect(s1, 198.18.0.1:80) = 0" in out
    assert "p2 = accept(p1): from 198.18.0.2:" in shell.run("peer accept p1")

    out = shell.run("send s1 hello")
    assert "Flags [P.], seq 1:6, ack 1" in out and "send(s1, b'hello') = 5" in out
    assert "recv(p2, 65536) = b'hello'" in shell.run("peer recv p2")

    # Half-close, typed with tab completion: `shut<TAB>` -> `shutdown `, `s<TAB>` -> `s1 ` (the only
    # socket of ours open; the peer's are p1, p2).
    os.write(shell.master, b"shut\t")
    os.write(shell.master, b"s\t\n")
    out = shell.until_prompt()
    assert "shutdown s1" in out and "shutdown(s1, SHUT_WR) = 0" in out
    assert re.search(r" out IP 198\.18\.0\.2\.\d+ > 198\.18\.0\.1\.80: Flags \[F\.\], seq 6, ack 1", out)
    assert _states(out) == ["ESTABLISHED -> FIN_WAIT_1"]
    assert "peer STATE p2 198.18.0.1:80" in out and "ESTABLISHED -> CLOSE_WAIT" in out
    # The half-closed connection still carries data the other way.
    assert "send(p2, b'still here') = 10" in shell.run("peer send p2 still here")
    assert "recv(s1, 65536) = b'still here'" in shell.run("recv s1")
    out = shell.run("peer recv p2")
    assert "recv(p2, 65536) = b'' (end of stream" in out

    out = shell.run("peer close p2")
    assert re.search(r" in  IP 198\.18\.0\.1\.80 > 198\.18\.0\.2\.\d+: Flags \[F\.\]", out)
    assert _states(out) == ["FIN_WAIT_2 -> TIME_WAIT"]
    assert "close(s1) = 0" in shell.run("close s1")
    out = shell.run("ss")
    assert re.search(r"TIME-WAIT +0 +0 +198\.18\.0\.2:\d+ +198\.18\.0\.1:80 +timer:\(timewait,1min,0\)", out)

    out = shell.run("wait 61")
    expired = r"^ +60\.000000 STATE 198\.18\.0\.2:\d+ 198\.18\.0\.1:80: TIME_WAIT -> CLOSED$"
    assert re.search(expired, out, re.M)
    assert "TIME-WAIT" not in shell.run("ss")
    assert shell.close() == 0
    # minitcp's whole path, each change printed once, as it happened (the peer's data ACKed our FIN).
    assert _states(shell.seen) == ["CLOSED -> SYN_SENT", "SYN_SENT -> ESTABLISHED",
                                   "ESTABLISHED -> FIN_WAIT_1", "FIN_WAIT_1 -> FIN_WAIT_2",
                                   "FIN_WAIT_2 -> TIME_WAIT", "TIME_WAIT -> CLOSED"]


def test_faults_knobs_options_and_errors(shell: Pty) -> None:
    shell.until_prompt()
    shell.run("peer listen 80")
    shell.run("connect 80")
    shell.run("peer accept p1")
    # A knob's name completes: `net.ipv4.tcp_retri<TAB>` can only be net.ipv4.tcp_retries2
    # (`tcp_retr` is also tcp_retrans_collapse's start).
    out = shell.run("sysctl net.ipv4.tcp_retri\t")
    assert "net.ipv4.tcp_retries2 = 15" in out
    # History: Ctrl-P (readline's previous-history) brings the last line back.
    assert "net.ipv4.tcp_retries2 = 15" in shell.run("\x10")
    # A call that blocks gives the prompt back, and its result comes when it returns: here during
    # the peer's send, before that command's prompt.
    assert "recv(s1, 100) blocks" in shell.run("recv s1 100")
    out = shell.run("peer send p2 late")
    assert "send(p2, b'late') = 4" in out and "recv(s1, 100) = b'late'" in out
    out = shell.run("sysctl -w net.ipv4.tcp_syn_retries=0")
    assert 'sysctl: setting key "net.ipv4.tcp_syn_retries": Invalid argument' in out
    out = shell.run("drop next out F")
    assert "fault rule drop:dir=out,flags=F,count=1" in out
    out = shell.run("close s1")
    assert re.search(r" FAULT drop out IP 198\.18\.0\.2\.\d+ > 198\.18\.0\.1\.80: Flags \[F\.\]", out)
    assert "CLOSE_WAIT" not in out  # the peer never heard it
    out = shell.run("wait 0.3")
    assert re.search(r"^ +0\.2\d+ out IP .*Flags \[F\.\]", out, re.M)  # one RTO later, again
    assert "ESTABLISHED -> CLOSE_WAIT" in out
    assert "setsockopt(p2, SO_LINGER, 1 0) = 0" in shell.run("setsockopt p2 SO_LINGER 1 0")
    out = shell.run("peer close p2")  # SO_LINGER {1, 0}: a reset instead of a FIN
    assert "Flags [R.]" in out or "Flags [R]" in out
    assert "no socket 's9'" in shell.run("recv s9")
    assert "usage: recv SOCKET [N]" in shell.run("recv")
    assert "unknown command 'frobnicate'" in shell.run("frobnicate")
    assert "drop next: unknown flag 'Q' in flags=Q" in shell.run("drop next Q")
    assert shell.close() == 0


def test_chinese_help() -> None:
    sh = Pty("--sim", "--step", "--lang", "zh")
    try:
        assert "时间静止" in sh.until_prompt()
        out = sh.run("help")
        assert "新建一个 minitcp 套接字并连接对端" in out and "让时间流逝" in out
        assert "connect [ADDR:]PORT" in out  # the commands themselves stay as typed
        assert "按 Linux 的 sysctl 名字" in sh.run("help sysctl")
        assert sh.close() == 0
    finally:
        if sh.proc.poll() is None:
            sh.proc.kill()
            sh.proc.wait()
