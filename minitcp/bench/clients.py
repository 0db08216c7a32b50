"""The kernel's side of every workload: client and reference-server processes, and where they run.

Each is a process of its own (`minitcp.bench.kclient`, or wrk for HTTP), so
this process's CPU time is the stack's, and `pin_cpus` keeps the clients off
the stack's CPU. A client runs to completion and prints its result as one
JSON line; a `LineProcess` talks with a longer-lived child line by line.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import trio


class BenchError(RuntimeError):
    """A workload could not run at all (as opposed to running slowly, which is a result)."""


_PIN: list[str] = []  # `taskset -c ...` for the clients, once the stack is pinned to a CPU of its own
_STACK_CPU: list[str] = []  # `taskset -c <the stack's CPU>`: the kernel reference's servers run there


def pin_cpus(enabled: bool = True) -> str:
    """Pin this process (the stack) to its first CPU and the clients to the others; a description.

    Two processes sharing a core would measure the scheduler, not the stack: pinned,
    every run sees the same placement. Children inherit affinity, hence `taskset`
    on every command line.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled or len(cpus) < 2 or not shutil.which("taskset"):
        _PIN.clear()
        _STACK_CPU.clear()
        return "not pinned"
    os.sched_setaffinity(0, {cpus[0]})
    _PIN[:] = ["taskset", "-c", ",".join(map(str, cpus[1:]))]
    _STACK_CPU[:] = ["taskset", "-c", str(cpus[0])]
    return (f"stack (and the kernel reference's servers) on CPU {cpus[0]}, "
            f"clients on CPU {','.join(map(str, cpus[1:]))}")


def kclient_cmd(mode: str, *, server: bool = False, **opts: Any) -> list[str]:
    cmd = [*(_STACK_CPU if server else _PIN), sys.executable, "-m", "minitcp.bench.kclient", mode]
    for k, v in opts.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            cmd.append(flag)
        elif v is not False and v is not None:
            cmd += [flag, str(v)]
    return cmd


def _last_json(text: bytes) -> dict[str, Any]:
    for line in reversed(text.decode(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise BenchError("client printed no result")


async def kclient(mode: str, *, limit: float, **opts: Any) -> dict[str, Any]:
    """Run one kernel-side client process to completion (killed after `limit` s); its JSON result."""
    cmd = kclient_cmd(mode, **opts)
    with trio.move_on_after(limit) as scope:
        done = await trio.run_process(cmd, capture_stdout=True, capture_stderr=True, check=False)
    if scope.cancelled_caught:
        raise BenchError(f"{mode} client killed after {limit:.0f} s")
    if done.returncode != 0:
        raise BenchError(f"{mode} client failed ({done.returncode}): {done.stderr.decode()[-600:]}")
    return _last_json(done.stdout)


class LineProcess:
    """A child whose stdout we read line by line and to whose stdin we may write (hold, serve)."""

    def __init__(self, proc: trio.Process, stderr: Any) -> None:
        self.proc = proc
        self.stderr = stderr  # a temporary file: what the child said, for the error message
        self._buf = b""

    async def line(self, limit: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        with trio.fail_after(limit):
            while b"\n" not in self._buf:
                chunk = await self.proc.stdout.receive_some(65536)
                if not chunk:
                    self.stderr.seek(0)
                    said = self.stderr.read().decode(errors="replace")[-600:]
                    raise BenchError(f"child exited early (rc {self.proc.poll()}): {said}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    async def tell(self, text: str = "go\n") -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.proc.stdin.send_all(text.encode())


@contextlib.asynccontextmanager
async def line_process(cmd: list[str], limit: float) -> AsyncIterator[LineProcess]:
    """Start `cmd`; on leaving, give it `limit` s to exit by itself, then kill it."""
    with tempfile.TemporaryFile() as stderr:
        proc = await trio.lowlevel.open_process(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                stderr=stderr)
        try:
            yield LineProcess(proc, stderr)
            with trio.move_on_after(limit):
                await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                with trio.move_on_after(5):
                    await proc.wait()


async def wrk(url: str, *, close: bool, seconds: float, connections: int, limit: int) -> dict[str, Any]:
    """wrk, one thread (the other core is the stack's), bounded by time (-d) and by a request count."""
    script = (
        "local n = 0\n"
        f"local limit = {limit}\n"
        "function request()\n"
        "  n = n + 1\n"
        "  if n > limit then wrk.thread:stop() end\n"
        "  return wrk.request()\n"
        "end\n"
        "function done(s, lat, req)\n"
        "  io.write(string.format('{\"requests\": %d, \"duration_us\": %d, \"errors\": %d, "
        "\"p50_us\": %d, \"p99_us\": %d}\\n', s.requests, s.duration, "
        "s.errors.connect + s.errors.read + s.errors.write + s.errors.status + s.errors.timeout, "
        "lat:percentile(50), lat:percentile(99)))\n"
        "end\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        cmd = [*_PIN, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
               "-s", f.name]
        if close:
            cmd += ["-H", "Connection: close"]
        cmd.append(url)
        with trio.move_on_after(seconds + 30) as scope:
            done = await trio.run_process(cmd, capture_stdout=True, capture_stderr=True, check=False)
        if scope.cancelled_caught or done.returncode != 0:
            raise BenchError(f"wrk failed: {'' if scope.cancelled_caught else done.stderr.decode()[-300:]}")
        r = _last_json(done.stdout)
    finally:
        os.unlink(f.name)
    r["seconds"] = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / r["seconds"] if r["seconds"] else 0.0
    return r
