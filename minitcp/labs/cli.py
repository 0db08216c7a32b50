"""`minitcp lab list [--json]` and `minitcp lab NAME [--sim] [--ipv6] [--json] [--svg FILE] [--lang en|zh]`,
with what a learner changes: `--sysctl NAME=VALUE`, `--fault RULE`, `--no-lab-faults`, `--pcap FILE`.

Every `--sysctl` and `--fault` is checked as the command line is read (argparse types shared
with `minitcp up`, cli_options.py), so a typo is a usage error before any stack exists.

minitcp/cli.py adds the parser with `add_lab_parser(subparsers)` and calls
`run_lab_command(args)`; the exit status is 0 only when the lab's verdict is pass.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from minitcp.cli_options import build_knobs, fault_rule, sysctl_setting
from minitcp.trace.pcap import create_private
from minitcp.trace.svg import write_svg

from .base import HOST, Lab, LabOptions, Result
from .registry import LABS, get, load_file
from .render import render
from .runner import SIM_RTT, run_lab
from .script import run_script_lab


def add_lab_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "lab",
        help="run one lab: a question of the teaching text, answered by an experiment with a verdict",
        description="Run a lab: minitcp against the Linux kernel in a private network namespace "
        "(needs /dev/net/tun and root or user namespaces), or with --sim against a second minitcp "
        "stack in virtual time (no privileges, a few milliseconds). `minitcp lab list` names the labs.",
    )
    p.add_argument("name", metavar="NAME", help="a lab name, `list`, a lab of your own FILE.py (its `LAB`, "
                   "see docs/labs.md), or a packetdrill script FILE.pkt (played against minitcp in virtual "
                   "time, drawn as a lab)")
    p.add_argument("--sim", action="store_true", help="the peer is a second minitcp stack, in virtual time")
    p.add_argument("--ipv6", action="store_true",
                   help="the lab's connections use IPv6 (2001:2::2 and 2001:2::1) instead of IPv4")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--svg", metavar="FILE", help="also write the ladder diagram as SVG")
    p.add_argument("--lang", choices=("en", "zh"), default="en",
                   help="language of what the learner reads: title, headings, checks, explanation")
    p.add_argument("--ascii", action="store_true", help="draw with plain ASCII")
    p.add_argument("--sysctl", type=sysctl_setting, action="append", default=[], metavar="NAME=VALUE",
                   help="set one of minitcp's knobs by its Linux sysctl name, e.g. "
                   "net.ipv4.tcp_fin_timeout=5, checked against Linux's range before the lab runs; "
                   "it holds over the lab's own setting of the same knob (repeatable)")
    p.add_argument("--fault", type=fault_rule, action="append", default=[], metavar="RULE",
                   help="a fault rule added after the lab's own, e.g. drop:dir=out,flags=F,nth=1 "
                   "(repeatable; see minitcp/faults.py)")
    p.add_argument("--no-lab-faults", action="store_true",
                   help="leave the lab's own fault rules out (e.g. to see its verdict fail)")
    p.add_argument("--pcap", type=new_file, metavar="FILE",
                   help="write minitcp's side of the wire to FILE (pcapng, for `tcpdump -r` or Wireshark), "
                   "each injected fault marked by a packet comment; FILE must not exist")
    p.add_argument("--rtt", type=float, default=SIM_RTT * 1000, metavar="MS",
                   help="--sim: the wire's round-trip time in ms (default %(default)g), so segments cross")
    p.add_argument("--conn", default=None, metavar="all|N|PORT",
                   help="which connection the ladder draws: all, the Nth, or the one with this port "
                        "(default: the one the lab is about, usually the last; the others are summed up "
                        "in a line)")
    p.add_argument("--web", nargs="?", const="127.0.0.1:8470", metavar="ADDR:PORT",
                   help="then serve the lab in the browser, stepped, with a question before each "
                   "retransmission, FIN and RST (default 127.0.0.1:8470, a kernel socket of the host)")
    p.add_argument("--export", metavar="FILE.html",
                   help="write the browser view as one standalone HTML file, the events inside "
                   "(it opens offline)")
    return p


def new_file(path: str) -> str:
    """A path a capture can be created at: nothing there yet, in a directory we may write."""
    if os.path.lexists(path):
        raise argparse.ArgumentTypeError(f"{path!r} exists, and a capture never overwrites a file")
    directory = os.path.dirname(path) or "."
    if not os.access(directory, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot create {path!r}: {directory} is not a directory "
                                         "we may write")
    return path


def lab_options(args: argparse.Namespace) -> LabOptions:
    return LabOptions(sysctls=list(args.sysctl), faults=[str(rule) for rule in args.fault],
                      own_faults=not args.no_lab_faults, pcap=args.pcap is not None)


def run_lab_command(args: argparse.Namespace) -> int:
    if args.name == "list":
        if args.json:
            print(json.dumps([{"name": lab.name, "title": lab.title, "title_zh": lab.title_zh,
                               "seed": lab.seed, "group": lab.group} for lab in LABS.values()],
                             ensure_ascii=False, indent=1))
        else:
            width = max(map(len, LABS))
            for each in LABS.values():
                title = each.title_zh if args.lang == "zh" else each.title
                print(f"{each.name:{width}}  {title}  — {each.seed}")
        return 0
    if args.name.endswith(".pkt"):
        if not os.path.isfile(args.name):
            print(f"minitcp lab: no packetdrill script at {args.name}", file=sys.stderr)
            return 2
        if args.fault or args.no_lab_faults:
            print("minitcp lab: --fault and --no-lab-faults do not apply to a script, which plays the "
                  "wire itself", file=sys.stderr)
            return 2
        lab: Lab | None = None
        result = run_script_lab(args.name, build_knobs(args.sysctl), pcap=args.pcap is not None)
    else:
        try:
            lab = load_file(args.name) if args.name.endswith(".py") else get(args.name)
        except (KeyError, OSError) as e:
            print(f"minitcp lab: {e.args[0]}", file=sys.stderr)
            return 2
        result = run_lab(lab, sim=args.sim, options=lab_options(args), rtt=args.rtt / 1000,
                         ipv6=args.ipv6)
    if args.svg:
        conn = args.conn if args.conn is not None else (lab.ladder if lab is not None else None)
        write_svg(args.svg, result.trace, left=HOST, conn=conn, lang=args.lang)
    if args.pcap and result.pcap is not None:
        with create_private(args.pcap) as capture:
            capture.write(result.pcap)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=1))
    else:
        print(render(result, lang=args.lang, ascii=args.ascii, conn=args.conn))
    if args.web is not None or args.export:
        web_view(result, args)
    return 0 if result.passed else 1


def web_view(result: Result, args: argparse.Namespace) -> None:
    """--export FILE.html and --web ADDR:PORT: the lab in the browser (minitcp/web)."""
    from minitcp.web.lab import lab_settings
    from minitcp.web.page import export_page
    from minitcp.web.server import parse_addr, serve_settings

    settings = lab_settings(result, lang=args.lang)
    if args.export:
        export_page(args.export, settings)
        print(f"minitcp lab: wrote {args.export}", file=sys.stderr)
    if args.web is not None:
        serve_settings(settings, *parse_addr(args.web))


def main(argv: list[str] | None = None) -> int:
    """`python -m minitcp.labs.cli ...` until the lead wires `lab` into the minitcp command."""
    parser = argparse.ArgumentParser(prog="minitcp")
    add_lab_parser(parser.add_subparsers(dest="command", required=True))
    return run_lab_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
