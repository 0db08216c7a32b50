"""The kernel's lifeline in labs, from its tracepoints: LAST_ACK and FIN_WAIT_2 that a 20 ms `ss`
sample misses, the kernel side's own socket calls, CUBIC on its sockets, and `ss` as the fallback."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET

import pytest

from minitcp.labs import get, run_lab, runner
from minitcp.labs.base import HOST
from minitcp.labs.kernel_states import KERNEL_HOST
from minitcp.labs.render import render
from minitcp.labs.sides import kernel_socket
from minitcp.trace.events import StateEvent
from minitcp.trace.ladder import render_ladder
from minitcp.trace.svg import render_svg

NS = "{http://www.w3.org/2000/svg}"


def right_side(text: str, needle: str) -> bool:
    """Whether `needle` is written right of both lifelines (the kernel's column) on some line."""
    return any(needle in line and line.index(needle) > line.rindex("│") for line in text.splitlines()
               if "│" in line)


def kernel_path(result: runner.Result) -> list[str]:
    path: list[str] = []
    for e in result.trace.events:
        if isinstance(e, StateEvent) and e.host == KERNEL_HOST:
            path += [e.old, e.new] if not path else [e.new]
    return path


def test_the_passive_closer_kernel_shows_last_ack() -> None:
    result = run_lab(get("close-client-first"), sim=False)
    assert result.verdict == "pass", ([c.what for c in result.checks if not c.ok], result.error)
    assert result.kernel_states == "tracepoints"
    assert kernel_path(result)[-3:] == ["CLOSE_WAIT", "LAST_ACK", "CLOSED"]
    text = render_ladder(result.trace, left=HOST, conn=None)
    assert right_side(text, "CLOSE_WAIT → LAST_ACK") and right_side(text, "LAST_ACK → CLOSED")
    assert right_side(text, "accept(fd ") and right_side(text, "close(fd ")  # the kernel side's calls
    assert text.splitlines()[0].rstrip().endswith(f"{KERNEL_HOST} 198.18.0.1:80")
    out = render(result)
    assert "linux: from its tracepoints, every change" in out and "`ss -tan`" not in out
    assert "来自内核跟踪点" in render(result, lang="zh")
    root = ET.fromstring(render_svg(result.trace, left=HOST))
    states = [t for t in root.iter(NS + "text") if t.text == "CLOSE_WAIT → LAST_ACK"]
    x_right = max(float(line.get("x1") or 0) for line in root.iter(NS + "line")
                  if "lifeline" in (line.get("class") or ""))
    assert states and float(states[0].get("x") or 0) > x_right  # in the kernel's column of the SVG


def test_the_active_closer_kernel_shows_fin_wait_2_and_time_wait() -> None:
    result = run_lab(get("close-server-first"), sim=False)
    assert result.verdict == "pass", ([c.what for c in result.checks if not c.ok], result.error)
    assert result.kernel_states == "tracepoints"
    path = kernel_path(result)
    assert path[path.index("FIN_WAIT_1"):][:3] == ["FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"]
    text = render_ladder(result.trace, left=HOST, conn=None)
    assert right_side(text, "FIN_WAIT_1 → FIN_WAIT_2") and right_side(text, "FIN_WAIT_2 → TIME_WAIT")


def test_without_tracefs_the_lifeline_comes_from_ss(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "open_session", lambda: None)  # the lab's child process inherits it
    result = run_lab(get("close-client-first"), sim=False)
    assert result.verdict == "pass", ([c.what for c in result.checks if not c.ok], result.error)
    assert result.kernel_states == "ss"
    assert "CLOSE_WAIT" in kernel_path(result)
    assert "linux: what `ss -tan` showed, every 20 ms" in render(result)


def test_kernel_sockets_of_labs_use_cubic() -> None:
    with kernel_socket() as sock:
        name = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0")
    assert name == b"cubic"
