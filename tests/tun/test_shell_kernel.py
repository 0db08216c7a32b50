"""`minitcp shell` against the Linux kernel: the stack on a TUN device in a private namespace of the
shell's own, the kernel's sockets driven from the same prompt (`peer ...`).

Commands come on a pipe (no terminal: cmd reads lines without readline), each one run to its end
before the next is read; the output is checked once the shell has ended at end of input.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SESSION = """\
peer listen 8080
connect 8080
peer accept p1
send s1 hello kernel
peer recv p2
peer send p2 hello minitcp
recv s1
shutdown s1
peer recv p2
peer close p2
ss
peer connect 81
"""


def test_the_shell_drives_minitcp_and_the_kernel(tun_name: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "minitcp.cli", "shell", "--dev", tun_name], input=SESSION,
                          capture_output=True, text=True, env=env, timeout=60)
    out = done.stdout
    assert done.returncode == 0, (out, done.stderr)
    assert "its peer the Linux kernel at 198.18.0.1" in out
    assert re.search(r" out IP 198\.18\.0\.2\.\d+ > 198\.18\.0\.1\.8080: Flags \[S\]", out)
    assert re.search(r" in  IP 198\.18\.0\.1\.8080 > 198\.18\.0\.2\.\d+: Flags \[S\.\]", out)
    assert "connect(s1, 198.18.0.1:8080) = 0" in out
    assert "recv(p2, 65536) = b'hello kernel'" in out
    assert "recv(s1, 65536) = b'hello minitcp'" in out
    assert "recv(p2, 65536) = b''" in out
    states = re.findall(r"STATE s1 [\d.:]+ [\d.:]+: (\w+ -> \w+)", out)
    assert states[:2] == ["SYN_SENT -> ESTABLISHED", "ESTABLISHED -> FIN_WAIT_1"]
    assert "FIN_WAIT_2 -> TIME_WAIT" in states
    # The kernel's own states, from its tracepoints: its accepted socket goes to CLOSE_WAIT on
    # minitcp's FIN, then LAST_ACK on its close.
    kernel = re.findall(r"kernel STATE 198\.18\.0\.1:8080 198\.18\.0\.2:\d+: (\w+ -> \w+)", out)
    assert "ESTABLISHED -> CLOSE_WAIT" in kernel and "CLOSE_WAIT -> LAST_ACK" in kernel, out
    assert re.search(r"TIME-WAIT +0 +0 +198\.18\.0\.2:\d+ +198\.18\.0\.1:8080", out)
    # Nothing listens on minitcp's port 81: it answers the kernel's SYN with a RST, connect() is refused.
    assert re.search(r"Flags \[R\.\], seq 0, ack \d+", out)
    assert "connect(p3, 198.18.0.2:81) = -1 ECONNREFUSED" in out
