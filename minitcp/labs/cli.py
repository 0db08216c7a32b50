"""`minitcp lab list [--json]` and `minitcp lab NAME [--sim] [--ipv6] [--json] [--svg FILE] [--lang en|zh]`.

minitcp/cli.py adds the parser with `add_lab_parser(subparsers)` and calls
`run_lab_command(args)`; the exit status is 0 only when the lab's verdict is pass.
"""

from __future__ import annotations

import argparse
import json
import sys

from minitcp.trace.svg import write_svg

from .registry import LABS, get
from .render import render
from .runner import run_lab


def add_lab_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "lab",
        help="run one lab: a question of the teaching text, answered by an experiment with a verdict",
        description="Run a lab: minitcp against the Linux kernel in a private network namespace "
        "(needs /dev/net/tun and root or user namespaces), or with --sim against a second minitcp "
        "stack in virtual time (no privileges, a few milliseconds). `minitcp lab list` names the labs.",
    )
    p.add_argument("name", metavar="NAME", help="a lab name, or `list`")
    p.add_argument("--sim", action="store_true", help="the peer is a second minitcp stack, in virtual time")
    p.add_argument("--ipv6", action="store_true",
                   help="the lab's connections use IPv6 (2001:2::2 and 2001:2::1) instead of IPv4")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--svg", metavar="FILE", help="also write the ladder diagram as SVG")
    p.add_argument("--lang", choices=("en", "zh"), default="en",
                   help="language of what the learner reads: title, headings, checks, explanation")
    p.add_argument("--ascii", action="store_true", help="draw with plain ASCII")
    p.add_argument("--fault", action="append", metavar="RULE",
                   help="replace the lab's own fault rules (repeatable; e.g. to see its verdict fail)")
    return p


def run_lab_command(args: argparse.Namespace) -> int:
    if args.name == "list":
        if args.json:
            print(json.dumps([{"name": lab.name, "title": lab.title, "title_zh": lab.title_zh,
                               "seed": lab.seed, "group": lab.group} for lab in LABS.values()],
                             ensure_ascii=False, indent=1))
        else:
            width = max(map(len, LABS))
            for lab in LABS.values():
                title = lab.title_zh if args.lang == "zh" else lab.title
                print(f"{lab.name:{width}}  {title}  — {lab.seed}")
        return 0
    try:
        lab = get(args.name)
    except KeyError as e:
        print(f"minitcp lab: {e.args[0]}", file=sys.stderr)
        return 2
    result = run_lab(lab, sim=args.sim, faults=args.fault, ipv6=args.ipv6)
    if args.svg:
        write_svg(args.svg, result.trace)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=1))
    else:
        print(render(result, lang=args.lang, ascii=args.ascii))
    return 0 if result.passed else 1


def main(argv: list[str] | None = None) -> int:
    """`python -m minitcp.labs.cli ...` until the lead wires `lab` into the minitcp command."""
    parser = argparse.ArgumentParser(prog="minitcp")
    add_lab_parser(parser.add_subparsers(dest="command", required=True))
    return run_lab_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
