"""`python -m minitcp.conformance PATH... [--target minitcp|kernel|both] [--json] [-k PATTERN] [--strict]`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..tcp.knobs import Knobs
from . import DEFAULT_DEFINES, IP_VERSIONS, run_paths
from .compare import compare_paths
from .kernel_pool import WORKERS, kernel_problem
from .packetdrill_build import DEFAULT_BUILD, DEFAULT_SOURCE, BuildError
from .referee_report import referee_paths

DESCRIPTION = ("Run packetdrill scripts against minitcp (in virtual time, no TUN, no root), against the "
               "Linux kernel (--target kernel: real time, a TUN device in a private network namespace per "
               "script), or both, comparing them (--compare).")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m minitcp.conformance", description=DESCRIPTION)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options, shared by `python -m minitcp.conformance` and `minitcp conformance`."""
    p.add_argument("paths", nargs="+", metavar="PATH", help="a .pkt script or a directory of them")
    p.add_argument("--target", choices=("minitcp", "kernel", "both"), default="minitcp",
                   help="the stack the scripts run against (default minitcp; both: --compare)")
    p.add_argument("--compare", dest="target", action="store_const", const="both",
                   help="run minitcp and the kernel (real packetdrill; root), and list the scripts where "
                        "they do not strictly agree (same line, segment or call result, within tolerance)")
    p.add_argument("--kernel-side", choices=("packetdrill", "runner"), default="packetdrill",
                   help="--compare: the kernel's side is real packetdrill (default) or the runner's own "
                        "kernel target (--target kernel)")
    p.add_argument("--workers", type=int, default=WORKERS, metavar="N",
                   help=f"kernel target: scripts run at once, in real time (default {WORKERS})")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("-k", dest="pattern", metavar="PATTERN",
                   help="only scripts whose relative name contains PATTERN (or matches it as a glob)")
    p.add_argument("--strict", action="store_true",
                   help="also compare windows, IP TOS/TTL and the values of the other TCP options")
    p.add_argument("--lenient-acks", action="store_true",
                   help="diagnostic: skip pure ACKs the script does not expect and do not time pure ACKs "
                        "(sees past delayed-ACK policy differences)")
    p.add_argument("--knob", dest="knobs", action="append", default=[], metavar="NAME=VALUE",
                   help="set a minitcp knob before each script (repeatable), e.g. tcp_max_quickacks=0; "
                        "not with --target kernel")
    p.add_argument("-D", dest="defines", action="append", metavar="NAME[=VALUE]",
                   help=f"a name #ifdef sees, or packetdrill's -D NAME=VALUE: NAME written in a packet or "
                        f"a call reads as VALUE (repeatable; default: {', '.join(sorted(DEFAULT_DEFINES))})")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="trace every event and every packet the stack sends (virtual time for minitcp, "
                        "real time for the kernel)")
    p.add_argument("-q", "--quiet", action="store_true", help="only the table and the totals")
    p.add_argument("--referee", choices=("packetdrill",),
                   help="also run every script under real packetdrill against this machine's kernel (built "
                        "from --packetdrill-source; root and namespaces) and report, per folder, the "
                        "kernel's passes beside --target's (default minitcp; kernel: the runner's own "
                        "kernel target; both) and where they disagree (`make conformance-linux`)")
    p.add_argument("--packetdrill-source", type=Path, default=DEFAULT_SOURCE, metavar="DIR",
                   help=f"--referee, --compare: packetdrill's source, built out of tree "
                        f"(default {DEFAULT_SOURCE})")
    p.add_argument("--packetdrill-build", type=Path, default=DEFAULT_BUILD, metavar="DIR",
                   help=f"--referee, --compare: where packetdrill is built and cached "
                        f"(default {DEFAULT_BUILD})")
    p.add_argument("--ip-version", choices=IP_VERSIONS, default="4",
                   help="6 plays each script not ending in v4.pkt over IPv6 (AF_INET6 sockets in "
                        "2001:2::/64; --referee: packetdrill too), as google/packetdrill's run_all.py does "
                        "with --ip_version=ipv6; both: over IPv4 and then over IPv6, rows `FOLDER (ipv6)`; "
                        "not with --compare (default 4)")
    p.add_argument("--listed-ok", action="store_true",
                   help="exit 0 when every failure is a listed Linux difference failing for its stated "
                        "reason (what `make conformance` checks); --compare exits 0 when the two agree")


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    defines = args.defines if args.defines is not None else DEFAULT_DEFINES
    knobs = {}
    for item in args.knobs:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"--knob wants NAME=VALUE, not {item!r}", file=sys.stderr)
            return 2
        knobs[name] = value
    try:
        for name, value in knobs.items():
            Knobs().set(name, value)
    except (KeyError, ValueError) as e:
        print(f"--knob: {e}", file=sys.stderr)
        return 2
    if knobs and args.target == "kernel":
        print("--knob sets minitcp knobs: it has no meaning with --target kernel", file=sys.stderr)
        return 2
    if args.ip_version != "4" and args.target == "both" and not args.referee:
        print("--ip-version 6 or both: not with --compare (the referee, or one target)", file=sys.stderr)
        return 2
    if args.referee:
        return _referee(args, defines)
    if args.target == "both" and args.kernel_side == "packetdrill" and os.geteuid() != 0:
        print("--compare runs real packetdrill, which needs root (a TUN device, mounts in its "
              "namespaces); --kernel-side runner compares with the runner's kernel target", file=sys.stderr)
        return 2
    if args.target == "kernel" or (args.target == "both" and args.kernel_side == "runner"):
        problem = kernel_problem()
        if problem is not None:
            print(f"the kernel target cannot run here: {problem}", file=sys.stderr)
            return 2
    options = dict(strict=args.strict, pattern=args.pattern, defines=defines,
                   trace=print if args.verbose else None, lenient_acks=args.lenient_acks)
    try:
        if args.target == "both":
            return _compare(args, options, knobs)
        if args.target == "kernel":
            report = run_paths(args.paths, target="kernel", workers=args.workers, ip_version=args.ip_version,
                               **options)
        else:
            report = run_paths(args.paths, knobs=knobs, ip_version=args.ip_version, **options)
    except FileNotFoundError as e:
        print(f"no such file or directory: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(report.to_json())
    elif args.quiet:
        text = report.format_text(show_ignored=False)
        table, _, rest = text.partition("\n\nFirst mismatch")
        print(table)
        if rest:
            print("\n".join(line for line in rest.splitlines() if " passed" in line and "/" in line))
    else:
        print(report.format_text())
    if not report.results:
        return 1
    return 0 if report.ok or (args.listed_ok and report.failed == report.listed) else 1


def _compare(args: argparse.Namespace, options: dict[str, Any], knobs: dict[str, str]) -> int:
    try:
        comparison = compare_paths(args.paths, knobs=knobs, workers=args.workers,
                                   kernel=args.kernel_side, source=args.packetdrill_source,
                                   build_dir=args.packetdrill_build, **options)
    except BuildError as e:
        print(f"packetdrill cannot be built: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(comparison.to_json())
    else:
        print(comparison.format_text(details=not args.quiet))
    if not comparison.rows:
        return 1
    return 0 if comparison.agreed == len(comparison.rows) else 1


def _referee(args: argparse.Namespace, defines: list[str] | frozenset[str]) -> int:
    """`--referee packetdrill`: exit 0 when every target passes every script the kernel passes."""
    targets = ("minitcp", "kernel") if args.target == "both" else (args.target,)
    if os.geteuid() != 0:
        print("--referee packetdrill needs root: packetdrill makes a TUN device and mounts in its "
              "namespaces", file=sys.stderr)
        return 2
    try:
        report = referee_paths(args.paths, targets=targets, pattern=args.pattern, defines=defines,
                               kernel_workers=args.workers, source=args.packetdrill_source,
                               build_dir=args.packetdrill_build, ip_version=args.ip_version)
    except BuildError as e:
        print(f"packetdrill cannot be built: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"no such file or directory: {e}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report.format_text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
