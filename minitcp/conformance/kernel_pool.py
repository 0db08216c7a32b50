"""Play scripts against the Linux kernel: each in a forked child, in a fresh network namespace of its own.

A fresh namespace per script is a clean kernel: no sockets, TIME-WAIT entries,
route metrics or sysctls left by an earlier script, and nothing the host's
network can see. The scripts run in real time, a few at once (`workers`),
each under a real-time budget: a child that overruns it is killed and the
script fails. A child reports its outcome (and, with a trace, the trace) as
one JSON document on a pipe.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import json
import os
import selectors
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

from .kernel import KernelTarget, TunPeer
from .model import Script
from .packetdrill_common import SLOW_MACHINE_NOTE, SLOW_MACHINE_TOLERANCE
from .real_time import run_like_packetdrill
from .report import Result
from .runner import Runner
from .signatures import failure_signature

WORKERS = 2  # as the referee's: real-time priority (real_time.py) and spinning want a core each
BUDGET = 150.0  # real seconds a script may take: the longest (SYN back-off) last about 75 s
_RUNNER_BUDGET = BUDGET - 10.0  # the runner's own limit, so it reports the line it was at


def run_in_namespaces(jobs: Sequence[tuple[str, str, Script]], *, strict: bool = False,
                      lenient_acks: bool = False, trace: Callable[[str], None] | None = None,
                      workers: int = WORKERS, budget: float = BUDGET) -> list[Result]:
    """Run each (path, name, script) against the kernel; the results come back in `jobs` order.

    Real time on a shared machine, as the referee's runs of packetdrill (referee.run_scripts): a
    script that fails only on timing is run once more, alone, with the tolerance Linux's
    ksft_runner.sh gives a slow machine (at least 14 ms), and the second verdict stands (its note
    keeps the first failure).
    """
    results = _run_all(jobs, strict=strict, lenient_acks=lenient_acks, trace=trace, workers=workers,
                       budget=budget)
    for i, first in enumerate(results):
        if not first.ok and _timing_failure(first.reason):
            path, name, script = jobs[i]
            again = _run_all([(path, name, _slow_machine(script))], strict=strict, lenient_acks=lenient_acks,
                             trace=trace, workers=1, budget=budget)[0]
            again.ignored = [*again.ignored, f"first run: {first.reason}", SLOW_MACHINE_NOTE]
            again.seconds += first.seconds
            results[i] = again
    return results


def _slow_machine(script: Script) -> Script:
    """The script with its tolerance widened to SLOW_MACHINE_TOLERANCE, never narrowed."""
    usecs = round(max(script.tolerance, SLOW_MACHINE_TOLERANCE) * 1e6)
    return dataclasses.replace(script, options={**script.options, "tolerance_usecs": str(usecs)})


def _timing_failure(reason: str | None) -> bool:
    """A failure on when something happened, not on what: a segment or a call early or late."""
    kind = failure_signature(reason).partition(": ")[2]
    return kind in ("sent nothing", "sent early", "sent late") or kind.endswith(
        ("() returned early", "() returned late", "() did not return"))


def _run_all(jobs: Sequence[tuple[str, str, Script]], *, strict: bool, lenient_acks: bool,
             trace: Callable[[str], None] | None, workers: int, budget: float) -> list[Result]:
    results: list[Result | None] = [None] * len(jobs)
    waiting = list(enumerate(jobs))
    waiting.reverse()
    running: dict[int, tuple[int, int, float, list[bytes]]] = {}  # fd -> (job index, pid, start, chunks)
    with selectors.DefaultSelector() as selector:
        while waiting or running:
            while waiting and len(running) < max(1, workers):
                index, (_, _, script) = waiting.pop()
                work = functools.partial(_run_child, script, strict=strict, lenient_acks=lenient_acks,
                                         traced=trace is not None)
                fd, pid = _fork(work)
                running[fd] = (index, pid, time.monotonic(), [])
                selector.register(fd, selectors.EVENT_READ)
            for key, _ in selector.select(timeout=1.0):
                fd = key.fd
                chunk = os.read(fd, 65536)
                if chunk:
                    running[fd][3].append(chunk)
                    continue
                selector.unregister(fd)
                os.close(fd)
                index, pid, started, chunks = running.pop(fd)
                os.waitpid(pid, 0)
                results[index] = _result(jobs[index], b"".join(chunks), time.monotonic() - started, trace)
            now = time.monotonic()
            for fd, (index, pid, started, _) in list(running.items()):
                if now - started > budget:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    selector.unregister(fd)
                    os.close(fd)
                    del running[fd]
                    path, name, _ = jobs[index]
                    reason = f"the kernel target gave up after {budget:.0f} s of real time"
                    results[index] = Result(path, name, False, reason, [], now - started)
    return [r for r in results if r is not None]


def kernel_problem() -> str | None:
    """Why the kernel target cannot run here (no /dev/net/tun, no namespace, no TUN device), or None.

    A forked child tries what each script's child does, so the answer is the real one.
    """
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun on this machine"
    fd, pid = _fork(_try_a_namespace)
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    try:
        payload = json.loads(data)
    except ValueError:
        return "the child that tried a private network namespace died"
    return payload.get("error")


def _try_a_namespace() -> dict[str, Any]:
    target = KernelTarget.fresh()
    TunPeer(target.local_ip, 1500)
    return {}


def _fork(work: Callable[[], dict[str, Any]]) -> tuple[int, int]:
    """Run `work` in a forked child: (the pipe its JSON answer comes on, its pid)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return read_end, pid
    os.close(read_end)
    status = 0
    try:
        payload = work()
    except BaseException as e:  # the child must reach os._exit whatever happens
        while isinstance(e, BaseExceptionGroup):  # a nursery's: the first real error says more
            e = e.exceptions[0]
        payload = {"error": f"{type(e).__name__}: {e}"}
        status = 1
    try:
        data = json.dumps(payload).encode()
        while data:
            data = data[os.write(write_end, data):]
    finally:
        # Never return into the parent's code (pytest, the CLI) from the child.
        os._exit(status)


def _run_child(script: Script, *, strict: bool, lenient_acks: bool, traced: bool) -> dict[str, Any]:
    # A collection would walk every object the child inherited, copying each page it touches: a
    # pause of milliseconds in a script timed in milliseconds. The child lives for one script.
    gc.disable()
    # The runner is a timing instrument with milliseconds of tolerance: real-time priority and
    # locked memory, as packetdrill's own (real_time.py).
    run_like_packetdrill()
    lines: list[str] = []
    # Linux's own scripts expect packetdrill's offloading TUN device (TSO super-segments, --mss).
    target = KernelTarget.fresh(offload=script.gtests_net, gso_size=int(script.options.get("mss", "0")))
    runner = Runner(script, strict=strict, lenient_acks=lenient_acks, target=target,
                    real_time_budget=_RUNNER_BUDGET, trace=lines.append if traced else None)
    outcome = runner.run()
    return {"ok": outcome.ok, "reason": outcome.reason, "ignored": outcome.ignored, "trace": lines}


def _result(job: tuple[str, str, Script], data: bytes, seconds: float,
            trace: Callable[[str], None] | None) -> Result:
    path, name, _ = job
    try:
        payload = json.loads(data)
    except ValueError:
        return Result(path, name, False, "the kernel target's child died without a result", [], seconds)
    if "error" in payload:
        return Result(path, name, False, f"kernel target error: {payload['error']}", [], seconds)
    if trace is not None:
        trace(f"--- {name} (the kernel)")
        for line in payload["trace"]:
            trace(line)
    return Result(path, name, payload["ok"], payload["reason"], payload["ignored"], seconds)
