"""`python -m minitcp.conformance PATH... [--json] [-k PATTERN] [--strict] [-D NAME]`."""

from __future__ import annotations

import argparse
import sys

from ..tcp.knobs import Knobs
from . import DEFAULT_DEFINES, run_paths

DESCRIPTION = "Run packetdrill scripts against minitcp (in virtual time, no TUN, no root)."


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m minitcp.conformance", description=DESCRIPTION)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options, shared by `python -m minitcp.conformance` and `minitcp conformance`."""
    p.add_argument("paths", nargs="+", metavar="PATH", help="a .pkt script or a directory of them")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("-k", dest="pattern", metavar="PATTERN",
                   help="only scripts whose relative name contains PATTERN (or matches it as a glob)")
    p.add_argument("--strict", action="store_true",
                   help="also compare windows, IP TOS/TTL and the values of the other TCP options")
    p.add_argument("--lenient-acks", action="store_true",
                   help="diagnostic: skip pure ACKs the script does not expect and do not time pure ACKs "
                        "(sees past delayed-ACK policy differences)")
    p.add_argument("--knob", dest="knobs", action="append", default=[], metavar="NAME=VALUE",
                   help="set a minitcp knob before each script (repeatable), e.g. tcp_max_quickacks=0")
    p.add_argument("-D", dest="defines", action="append", metavar="NAME",
                   help=f"a name #ifdef sees (repeatable; default: {', '.join(sorted(DEFAULT_DEFINES))})")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="trace every event and every packet minitcp sends (virtual time)")
    p.add_argument("-q", "--quiet", action="store_true", help="only the table and the totals")
    p.add_argument("--listed-ok", action="store_true",
                   help="exit 0 when every failure is a listed Linux difference failing for its stated "
                        "reason (what `make conformance` checks)")


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
    try:
        report = run_paths(args.paths, strict=args.strict, pattern=args.pattern, defines=defines,
                           trace=print if args.verbose else None, lenient_acks=args.lenient_acks,
                           knobs=knobs)
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


if __name__ == "__main__":
    sys.exit(main())
