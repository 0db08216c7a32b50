"""The control socket against hostile or careless clients (issue #17): every bad request gets an
error reply and the stack keeps serving; a client that may not look is told so, not "not running"."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import trio

from minitcp import control
from minitcp.control import MAX_DEPTH, MAX_REQUEST, request, serve_control
from minitcp.link.memory import memory_link_pair
from minitcp.stack import Stack

NOBODY = 65534
SETPRIV = shutil.which("setpriv")  # util-linux: run a command as another user
as_another_user = pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None,
                                     reason="needs root and setpriv to run a client as another user")
WORKTREE = str(Path(__file__).resolve().parent.parent)


async def _serving(nursery: trio.Nursery, path: str) -> Stack:
    link, _ = memory_link_pair()
    stack = Stack(link, "198.18.0.2")
    nursery.start_soon(stack.run)
    assert await nursery.start(serve_control, stack, path) == path
    return stack


async def _ask(path: str, raw: bytes) -> dict[str, object]:
    """Send `raw` as it is and read the one reply line."""
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with sock:
        await sock.connect(path)
        await sock.send(raw)
        data = b""
        with trio.fail_after(5):
            while not data.endswith(b"\n"):
                try:
                    chunk = await sock.recv(65536)
                except ConnectionResetError:  # the server closed with our excess bytes unread
                    break
                if not chunk:
                    break
                data += chunk
    reply = json.loads(data)
    assert isinstance(reply, dict)
    return reply


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"[" * 4000 + b"\n", f"nested deeper than {MAX_DEPTH} levels"),  # RecursionError in json
        (b"[" * 4000 + b"]" * 4000 + b"\n", "longer than"),
        (b'{"request": ' + b"[" * 900 + b"]" * 900 + b"}\n", f"nested deeper than {MAX_DEPTH} levels"),
        (b"x" * (MAX_REQUEST * 3), f"longer than {MAX_REQUEST} bytes"),  # no newline, never ends
        (b"\xff\xfe\n", "bad request"),  # not UTF-8
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"request": {"a": [1]}}\n', "unknown request"),
    ],
)
async def test_every_bad_request_gets_an_error_and_the_stack_keeps_serving(
    tmp_path: Path, raw: bytes, error: str
) -> None:
    path = str(tmp_path / "c.sock")
    async with trio.open_nursery() as nursery:
        await _serving(nursery, path)
        reply = await _ask(path, raw)
        assert reply["ok"] is False and error in str(reply["error"])
        assert (await trio.to_thread.run_sync(request, path, "info"))["addr"] == "198.18.0.2"
        nursery.cancel_scope.cancel()


async def test_brackets_inside_strings_are_not_nesting(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sock")
    async with trio.open_nursery() as nursery:
        await _serving(nursery, path)
        reply = await _ask(path, json.dumps({"request": "info", "note": '[[[[[{{{{\\"'}).encode() + b"\n")
        assert reply["ok"] is True and reply["addr"] == "198.18.0.2"
        nursery.cancel_scope.cancel()


async def test_a_request_as_long_as_allowed_is_still_read(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sock")
    line = json.dumps({"request": "info", "pad": ""}).encode()
    line = line[:-2] + b" " * (MAX_REQUEST - len(line)) + line[-2:]
    assert len(line) == MAX_REQUEST
    async with trio.open_nursery() as nursery:
        await _serving(nursery, path)
        assert (await _ask(path, line + b"\n"))["ok"] is True
        nursery.cancel_scope.cancel()


async def test_a_failure_while_answering_is_an_error_reply_not_a_dead_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "c.sock")
    real = control.answer

    def failing(stack: Stack, req: dict[str, object], dev: str = "") -> dict[str, object]:
        if req.get("request") == "ss":
            raise RuntimeError("a bug")
        return real(stack, req, dev)

    monkeypatch.setattr(control, "answer", failing)
    async with trio.open_nursery() as nursery:
        await _serving(nursery, path)
        with caplog.at_level(logging.ERROR, logger="minitcp.control"):
            reply = await _ask(path, b'{"request": "ss"}\n')
        assert reply == {"ok": False, "error": "internal error: RuntimeError: a bug"}
        assert "control request 'ss' failed" in caplog.text
        assert (await trio.to_thread.run_sync(request, path, "info"))["addr"] == "198.18.0.2"
        nursery.cancel_scope.cancel()


def _client_as_nobody(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` (Python) as uid/gid 65534 with this tree's minitcp, as a user without sudo would."""
    assert SETPRIV is not None
    setpriv = [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run(
        [*setpriv, sys.executable, "-c", code], cwd="/",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": WORKTREE},
        capture_output=True, text=True, timeout=30, check=False,
    )


@as_another_user
async def test_a_user_who_may_not_look_is_told_permission_denied(tmp_path: Path) -> None:
    closed = tempfile.mkdtemp(prefix="minitcp-root-")  # 0700 root's: as /run/minitcp is
    path = os.path.join(closed, "mtcp7.sock")
    try:
        async with trio.open_nursery() as nursery:
            await _serving(nursery, path)
            for how in (f"['ss', '--control', {path!r}]", "['ss', '--dev', 'mtcp7']"):
                code = (
                    "import sys\nfrom minitcp import control\nfrom minitcp.cli import main\n"
                    # Where the stack looks by default, as candidate_paths would give it for a user
                    # whose own place is empty and the root stack's place closed.
                    f"control.candidate_paths = lambda dev: ['/nonexistent/' + dev + '.sock', {path!r}]\n"
                    f"sys.exit(main({how}))\n"
                )
                done = await trio.to_thread.run_sync(_client_as_nobody, code)
                assert done.returncode == 1, done.stderr
                assert done.stderr.count("\n") == 1
                said = done.stderr
                assert said.startswith(f"minitcp ss: cannot open {path}: permission denied"), said
            nursery.cancel_scope.cancel()
    finally:
        os.rmdir(closed)


@as_another_user
def test_for_that_user_nothing_listening_is_still_not_running() -> None:
    with tempfile.TemporaryDirectory(prefix="minitcp-open-") as open_dir:
        os.chmod(open_dir, 0o755)
        path = os.path.join(open_dir, "none.sock")
        done = _client_as_nobody(
            f"import sys\nfrom minitcp.cli import main\nsys.exit(main(['stat', '--control', {path!r}]))\n")
    assert done.returncode == 1, done.stderr
    said = done.stderr
    assert said.startswith(f"minitcp stat: no minitcp stack is running here: nothing listens on {path}"), said
