"""`minitcp shell --web` against the Linux kernel: the shell moves into a network namespace of its
own, yet its page listens in the one it started in (the socket is made before the move), so a
browser there sees the connection typed at the prompt: minitcp's segments and states, live."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .test_web_up import _events_until, _free_port, _wait_for_line

ROOT = Path(__file__).resolve().parents[2]


def test_the_kernel_shell_page_is_served_where_the_shell_started(tun_name: str) -> None:
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "minitcp.cli", "shell", "--dev", tun_name, "--web",
                             f"127.0.0.1:{port}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdin is not None
        assert f"http://127.0.0.1:{port}/" in _wait_for_line(proc, "watch it at")  # (listening before)
        proc.stdin.write("peer listen 8080\nconnect 8080\npeer accept p1\nsend s1 hello\n")
        proc.stdin.flush()

        def established(events: list[dict[str, Any]]) -> bool:
            return any(e["kind"] == "segment" and e["dir"] == "out" and e["len"] == 5 for e in events)

        events = _events_until(port, established)
        assert established(events), events
        path = [e["new"] for e in events if e["kind"] == "state" and e["host"] == "minitcp"]
        assert path[:2] == ["SYN_SENT", "ESTABLISHED"]
        flags = [(e["dir"], e["flags"]) for e in events if e["kind"] == "segment"][:3]
        assert flags == [("out", "S"), ("in", "S."), ("out", ".")]
        calls = [e["text"] for e in events if e["kind"] == "call"]
        assert any(c.startswith("connect(fd 3, 198.18.0.1:8080) = 0") for c in calls), calls
        proc.stdin.close()
        code = proc.wait(timeout=30)
        assert code == 0, proc.stderr.read() if proc.stderr is not None else code  # say why it failed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
