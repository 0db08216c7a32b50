"""Run packetdrill scripts against minitcp: parser, runner, matching and report.

    from minitcp.conformance import run_paths
    report = run_paths(["/work/shared/conformance/freebsd-tcp-testsuite"])
    print(report.format_text())

See docs/conformance.md for what is compared and how the results read.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import time
from collections.abc import Callable, Iterable, Mapping

from ..tcp.knobs import Knobs
from .differences import Differences, load_all_differences, load_differences
from .kernel_pool import WORKERS, run_in_namespaces
from .minitcp_target import MinitcpTarget
from .model import ParseError, Script
from .packetdrill_common import IPV6_RUN_MTU, RUN_ALL_DEFINES6
from .parser import DEFAULT_DEFINES, parse_file, parse_script
from .report import Report, Result
from .runner import Outcome, Runner
from .signatures import same_failure

__all__ = [
    "DEFAULT_DEFINES", "IP_VERSIONS", "Differences", "Outcome", "ParseError", "Report", "Result", "Runner",
    "Script", "find_scripts", "ipv6_runs", "load_differences", "parse_file", "parse_script", "run_file",
    "run_paths",
]


def find_scripts(paths: Iterable[str]) -> list[tuple[str, str]]:
    """(path, name) of every .pkt file under `paths`; names are relative to the directory given."""
    found: list[tuple[str, str]] = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for f in sorted(files):
                    if f.endswith(".pkt"):
                        full = os.path.join(root, f)
                        found.append((full, os.path.relpath(full, path).replace(os.sep, "/")))
        elif os.path.exists(path):
            found.append((path, os.path.basename(path)))
        else:
            raise FileNotFoundError(path)
    return found


def _selected(name: str, pattern: str | None) -> bool:
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(os.path.basename(name), pattern)
    return pattern in name


def run_file(path: str, name: str | None = None, *, strict: bool = False,
             defines: Iterable[str] = DEFAULT_DEFINES, trace: Callable[[str], None] | None = None,
             lenient_acks: bool = False, knobs: Mapping[str, str] | None = None,
             linux_only: bool = False, ipv6: bool = False) -> Result:
    """Parse and run one script (see `run_paths` for the options); `ipv6` plays it as
    packetdrill's `--ip_version=ipv6` does (AF_INET6 sockets in 2001:2::/64)."""
    started = time.monotonic()
    name = name if name is not None else os.path.basename(path)
    try:
        script = parse_for(path, defines, ipv6=ipv6)
    except ParseError as e:
        return Result(path, name, False, f"parse error: {e}", [], time.monotonic() - started,
                      ip_version=6 if ipv6 else 4)
    try:
        settings = Knobs()
        for knob, value in (knobs or {}).items():
            settings.set(knob, value)
        target = MinitcpTarget(settings, linux_only=True) if linux_only else None
        outcome = Runner(script, strict=strict, trace=trace, lenient_acks=lenient_acks, knobs=settings,
                         target=target).run()
    except Exception as e:  # a bug in the runner (or minitcp escaping its own guards)
        return Result(path, name, False, f"runner error: {type(e).__name__}: {e}", [],
                      time.monotonic() - started, ip_version=6 if ipv6 else 4)
    return Result(path, name, outcome.ok, outcome.reason, outcome.ignored, time.monotonic() - started,
                  ip_version=6 if ipv6 else 4)


def parse_for(path: str, defines: Iterable[str], *, ipv6: bool = False) -> Script:
    """The script as packetdrill plays it: with `ipv6`, as run_all.py's IPv6 variant (CmdTestIPv6)
    plays it, `--ip_version=ipv6` with its -D names (unless given otherwise)."""
    if not ipv6:
        return parse_file(path, defines)
    given = {d.partition("=")[0] for d in defines}
    script = parse_file(path, [*defines, *(f"{n}={v}" for n, v in RUN_ALL_DEFINES6 if n not in given)])
    script.options["ip_version"] = "ipv6"
    if not path.endswith("v6.pkt"):
        # run_all.py runs an IPv4 script over IPv6 with --mtu=1520: IPv4's MSS (1460) behind
        # IPv6's 40-byte header, as the script expects. A script's own --mtu line wins, as it
        # does in packetdrill. An IPv6 script (*v6.pkt) keeps 1500 (referee.py's note).
        script.options.setdefault("mtu", str(IPV6_RUN_MTU))
    return script


IP_VERSIONS = ("4", "6", "both")


def ipv6_runs(selected: list[tuple[str, str]], ip_version: str) -> list[tuple[str, str]]:
    """The scripts played over IPv6 as well, as google/packetdrill's run_all.py picks them: with
    `ip_version` 6 or both, every script whose name does not end in `v4.pkt` (run_all.py runs
    those over IPv4 only); with 4 (the default) none."""
    if ip_version not in IP_VERSIONS:
        raise ValueError(f"unknown ip_version {ip_version!r}: one of {', '.join(IP_VERSIONS)}")
    if ip_version == "4":
        return []
    return [(path, name) for path, name in selected if not name.endswith("v4.pkt")]


def run_paths(paths: Iterable[str], *, strict: bool = False, pattern: str | None = None,
              defines: Iterable[str] = DEFAULT_DEFINES, trace: Callable[[str], None] | None = None,
              lenient_acks: bool = False, knobs: Mapping[str, str] | None = None,
              target: str = "minitcp", workers: int = WORKERS, linux_only: bool = False,
              ip_version: str = "4") -> Report:
    """Run every .pkt script under `paths` (files or directories) whose name matches `pattern`.

    `pattern` is a substring of the script's relative name, or a glob when it
    has * ? or [. `defines` are the names `#ifdef` sees (default: STANDARD).
    `trace`, when given, receives a line per event and per packet minitcp sends.
    `lenient_acks` (a diagnostic) skips pure ACKs the script does not expect and
    does not time pure ACKs, to see past delayed-ACK policy differences.
    `knobs` sets minitcp knobs (`{"tcp_max_quickacks": "0"}`) before each script
    runs; the scripts' own sysctls apply on top, except, with `linux_only`, those that set a
    knob Linux does not have (sysctls.FREEBSD_ONLY): the comparison with the kernel uses it.
    `target` "kernel" plays the scripts against the Linux kernel instead (kernel_pool.py:
    root or user namespaces, /dev/net/tun, real time, `workers` scripts at once); its
    failures are annotated as Linux differences when they are the failure the list
    describes (compare.py's failure signatures: same line, same kind).
    `ip_version` "both" also plays each script not ending in `v4.pkt` over IPv6
    (`ipv6_runs`), after the IPv4 runs, and "6" only so; their rows are the folder + " (ipv6)".
    """
    started = time.monotonic()
    defines = frozenset(defines)
    selected = [(path, name) for path, name in find_scripts(paths) if _selected(name, pattern)]
    if target == "kernel":
        results = _run_kernel(selected if ip_version != "6" else [], strict=strict, defines=defines,
                              trace=trace, lenient_acks=lenient_acks, workers=workers)
        results += _run_kernel(ipv6_runs(selected, ip_version), strict=strict, defines=defines, trace=trace,
                               lenient_acks=lenient_acks, workers=workers, ipv6=True)
    elif target == "minitcp":
        results = [run_file(path, name, strict=strict, defines=defines, trace=trace,
                            lenient_acks=lenient_acks, knobs=knobs, linux_only=linux_only)
                   for path, name in (selected if ip_version != "6" else [])]
        results += [run_file(path, name, strict=strict, defines=defines, trace=trace,
                             lenient_acks=lenient_acks, knobs=knobs, linux_only=linux_only, ipv6=True)
                    for path, name in ipv6_runs(selected, ip_version)]
    else:
        raise ValueError(f"unknown target {target!r}: minitcp or kernel")
    report = Report(results, strict=strict, lenient_acks=lenient_acks, seconds=time.monotonic() - started,
                    target=target)
    with contextlib.suppress(FileNotFoundError):  # an install without the package data: no annotation
        report.annotate(load_all_differences(), same_failure if target == "kernel" else None)
    return report


def _run_kernel(selected: list[tuple[str, str]], *, strict: bool, defines: frozenset[str],
                trace: Callable[[str], None] | None, lenient_acks: bool, workers: int,
                ipv6: bool = False) -> list[Result]:
    if not selected:
        return []
    results: list[Result | None] = [None] * len(selected)
    jobs: list[tuple[str, str, Script]] = []
    places: list[int] = []
    for i, (path, name) in enumerate(selected):
        try:
            jobs.append((path, name, parse_for(path, defines, ipv6=ipv6)))
            places.append(i)
        except ParseError as e:
            results[i] = Result(path, name, False, f"parse error: {e}", [], 0.0)
    ran = run_in_namespaces(jobs, strict=strict, lenient_acks=lenient_acks, trace=trace, workers=workers)
    for i, result in zip(places, ran, strict=True):
        results[i] = result
    for r in results:
        if r is not None:
            r.ip_version = 6 if ipv6 else 4
    return [r for r in results if r is not None]
